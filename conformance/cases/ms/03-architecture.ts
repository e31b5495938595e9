// [§3 Architecture], MS side: the rules of a link over time. A client that does not read cannot make
// the MS queue more than maxOutboundQueue octets for it [CONN-6]; a request the MS relays to its CRS
// that is never answered is given up after requestTimeout by closing the CRS link [CONN-5].
import { header, request, response, type Header } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { MsContext } from '../../lib/ms-context.js';

export const msArchitectureCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/conn/1',
    section: 'conn',
    title:
      'a client that stops reading while its LISTs are answered with records bodies far beyond maxOutboundQueue: the MS closes the connection rather than hold every answer',
    reqs: ['CONN-6'],
    async run(ctx: MsContext) {
      const moq = ctx.limits.get('maxOutboundQueue');
      // What the kernel may hold between the MS and the kit (both socket buffers on loopback), generously.
      const volume = 2 * moq + 8 * 1024 * 1024;
      if (volume > 24 * 1024 * 1024 && !ctx.opts.slow)
        ctx.skip(`maxOutboundQueue is ${moq}; pass --slow, or --set maxOutboundQueue=N matching the target`);
      const records = Math.min(ctx.limits.get('maxRecordsPerBody'), 10_000);
      const body = Buffer.from(
        Array.from({ length: records }, (_, i) => `User: u${i}\r\nRelation: buddy\r\nStatus: offline\r\n`).join('\r\n'),
        'latin1',
      );
      if (body.length > ctx.limits.get('maxBodySize')) ctx.skip('maxBodySize is below one LIST answer of the case');
      const n = Math.ceil(volume / body.length);
      const rate = ctx.limits.get('rateLimitBurst');
      if (n + 4 > rate) ctx.skip(`${n} LISTs do not fit the rate limit burst of ${rate}`);
      const u = ctx.user();
      const c = await ctx.login(u);
      ctx.crs.override = (req) => {
        if (req.method !== 'LIST' || header(req, 'User') !== u.name) return undefined;
        const tag = header(req, 'Tag');
        return response(
          200,
          [...(tag ? ([['Tag', tag]] as Header[]) : []), ['Content-type', 'application/imsp-records']],
          body,
        );
      };
      try {
        c.socket.pause();
        c.sendBatch(Array.from({ length: n }, () => request('LIST', [])));
        // Paced PINGs keep the session from timing out while the kit reads nothing (free [RATE-8]).
        const every = Math.max(50, Math.floor(ctx.limits.get('clientHeartbeatInterval') / 2));
        const until = Date.now() + 2 * ctx.timeout;
        while (!c.closed && Date.now() < until) {
          await new Promise((res) => setTimeout(res, every));
          if (!c.closed) c.send(request('PING', []));
        }
      } finally {
        ctx.crs.override = null;
        c.socket.resume();
      }
      // Read what the MS sent: every answer arriving means it held about volume octets for a client that read nothing.
      const answered = (): number =>
        c.received.filter((r) => r.msg.kind === 'response' && r.msg.body.length === body.length).length;
      await c.waitUntil(() => (c.closed || answered() >= n ? true : undefined), 4 * ctx.timeout);
      ctx.must(
        answered() < n,
        'CONN-6',
        `all ${n} LIST answers (${n * body.length} octets, above 2 x maxOutboundQueue ${moq} plus what socket buffers hold) came to a client that read nothing for ${2 * ctx.timeout} ms: the MS queued them instead of closing the connection`,
      );
      ctx.note(`${answered()} of ${n} LIST answers arrived; the connection ${c.closed ? 'was closed' : 'is open'}`);
    },
  },
  {
    id: 'ms/conn/2',
    section: 'conn',
    level: 'SHOULD',
    title:
      'a PROFILE the MS relays to its CRS that the CRS never answers (while the CRS keeps the link busy with pushes): the MS should give it up after requestTimeout and close its CRS link',
    reqs: ['CONN-5'],
    async run(ctx: MsContext) {
      const rt = ctx.limitUpTo('requestTimeout', 5000);
      const u = ctx.user();
      const c = await ctx.login(u);
      const link = ctx.crs.link;
      if (!link || link.closed) ctx.skip('the MS under test has no CRS link');
      const enrolled = ctx.crs.enrollments;
      // The kit CRS holds the PROFILE and everything after it (answers stay in order [CONN-9]).
      ctx.crs.override = (req) => (req.method === 'PROFILE' ? 'hold' : undefined);
      const n = ctx.crs.requests.length;
      c.send(request('PROFILE', [['User', u.name]]));
      if (!(await ctx.crs.until(() => ctx.crs.requests.slice(n).some((r) => r.method === 'PROFILE'), ctx.timeout)))
        ctx.skip('the MS did not relay the PROFILE to the kit CRS');
      const t0 = Date.now();
      // Harmless pushes (PRESENCE of a user no client here has) keep the MS's silence timer from ending
      // the link first [HB-4]: only the unanswered request can.
      const ghost = ctx.uniq('ghost');
      const every = Math.max(50, Math.floor(ctx.limits.get('msHeartbeatInterval') / 2));
      const keep = setInterval(() => {
        if (!link.closed)
          ctx.crs.push('PRESENCE', [
            ['User', ghost],
            ['Status', 'offline'],
          ]);
      }, every);
      let closed: boolean;
      try {
        closed = await link.closedWithin(rt + Math.max(1000, ctx.timeout));
      } finally {
        clearInterval(keep);
        ctx.crs.reset();
      }
      ctx.should(
        closed,
        'CONN-5',
        `the PROFILE the MS relayed had no answer from the CRS for ${Date.now() - t0} ms (requestTimeout ${rt}), and the MS kept its CRS link open: it should give the request up and close the link`,
      );
      // The next cases need the MS enrolled again [ENROLL-12].
      if (closed && !(await ctx.crs.until(() => ctx.crs.enrollments > enrolled, 20000)))
        ctx.note('the MS did not enroll again within 20 s after closing its CRS link');
    },
  },
  {
    id: 'ms/conn/3',
    section: 'conn',
    title:
      'a client connection that sends nothing is closed after handshakeTimeout, with no response (no request is outstanding, so no 408)',
    reqs: ['CONN-4'],
    async run(ctx: MsContext) {
      const ht = ctx.limits.get('handshakeTimeout');
      const c = await ctx.connect('idle');
      const t0 = Date.now();
      const closed = await c.closedWithin(ht + Math.max(1000, ctx.timeout));
      ctx.must(
        closed,
        'CONN-4',
        `a connection with no handshake must be closed after handshakeTimeout ${ht} ms; still open after ${Date.now() - t0} ms`,
      );
      ctx.must(
        c.received.length === 0,
        'CONN-4',
        `the MS must close a silent connection without a response (no request is outstanding), it sent ${c.received
          .map((r) =>
            r.msg.kind === 'response' ? `${r.msg.status} ${header(r.msg, 'Error-code') ?? ''}` : r.msg.method,
          )
          .join(', ')}`,
      );
    },
  },
];
