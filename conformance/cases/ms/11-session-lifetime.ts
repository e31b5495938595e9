// Section "session lifetime" [§11 Session Lifetime, Rate Limits and Restarts], MS side: the silence timer, the MS's PINGs to its clients,
// sessions held past every timer (a session cut at a fixed time after login must fail here), and the
// shutdown of the MS (11.4), which runs last since it stops the MS under test.
import { header, request, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { Conn } from '../../lib/conn.js';
import { loginOn } from '../../lib/as-client.js';
import { announced, since, sentSince, type MsContext } from '../../lib/ms-context.js';
import { checkError } from '../../lib/wire-target.js';

const isNotice = (code: string) => (m: RequestMessage) => m.method === 'NOTICE' && header(m, 'Error-code') === code;

/**
 * The shortest hold that proves a session outlives the handshake and lock timers: 12 s (past the
 * registry's 10 s handshakeTimeout and requestTimeout, the classic "cut 10 s after login" bug) or 1.5
 * times the longest of handshakeTimeout and lockLease the kit is told (--set), whichever is longer.
 */
const holdMs = (ctx: MsContext): number =>
  Math.max(12000, 1.5 * Math.max(ctx.limits.get('handshakeTimeout'), ctx.limits.get('lockLease')));

/** Keep a session going for `ms`: the client PINGs every `every` ms (0: never) and answers the MS's PINGs. */
async function hold(ctx: MsContext, c: Conn, ms: number, every: number): Promise<string | null> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const step = Math.min(every > 0 ? every : 250, end - Date.now());
    const ev = await c.waitEvent((m) => m.method === 'NOTICE', Math.max(1, step));
    if (ev) return `NOTICE ${header(ev, 'Error-code') ?? ''}`;
    if (c.closed) return 'connection closed';
    if (every > 0 && Date.now() < end) {
      const r = await c.request(request('PING', []), ctx.timeout).catch(() => null);
      if (!r) return 'PING unanswered';
      if (r.status !== 200) return `PING answered ${r.status}`;
    }
  }
  return null;
}

/** The session is still usable: PING and STATUS answered 200, and the MS never told the CRS it ended. */
async function stillUsable(ctx: MsContext, c: Conn, user: string, n: number, req: string, what: string): Promise<void> {
  const ping = await c.request(request('PING', []), ctx.timeout).catch(() => null);
  ctx.must(ping?.status === 200, req, `${what}: PING must still be answered 200, got ${ping?.status ?? 'nothing'}`);
  const st = await c.request(request('STATUS', [['Status', 'away']]), ctx.timeout).catch(() => null);
  ctx.must(
    st?.status === 200,
    req,
    `${what}: STATUS must still be relayed and answered 200, got ${st?.status ?? 'nothing'}`,
  );
  ctx.must(!sentSince(ctx, n, 'OFFLINE', user), req, `${what}: the MS sent OFFLINE for a live session`);
  ctx.must(!sentSince(ctx, n, 'UNLOCK', user), req, `${what}: the MS sent UNLOCK for a live session`);
}

export const msHeartbeatCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/heartbeat/1',
    section: 'heartbeat',
    title:
      'a client silent for sessionTimeout is logged out: NOTICE ERR_SESSION_ENDED, OFFLINE to the CRS, and the connection closed',
    reqs: ['HB-2'],
    async run(ctx: MsContext) {
      const limit = ctx.limitUpTo('sessionTimeout', 5000);
      const u = ctx.user();
      const c = await ctx.login(u);
      c.auto = () => undefined; // silent: not even PING answers
      const n = since(ctx);
      ctx.must(
        await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), limit * 3 + ctx.timeout),
        'HB-2',
        `the MS must end a session silent for sessionTimeout (${limit} ms) with OFFLINE`,
      );
      ctx.must(await c.closedWithin(ctx.timeout), 'HB-2', "the MS must close the silent client's connection");
      ctx.must(
        c.received.some((r) => r.msg.kind === 'request' && isNotice('ERR_SESSION_ENDED')(r.msg)),
        'HB-2',
        'the MS must tell the silent client NOTICE ERR_SESSION_ENDED before it closes',
      );
    },
  },
  {
    id: 'ms/heartbeat/2',
    section: 'heartbeat',
    title:
      'the MS PINGs a client it has sent nothing to for the Heartbeat interval of the login response (clientHeartbeatInterval)',
    reqs: ['HB-8', 'HB-11'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const hb = Number(ctx.lastLogin?.result ? header(ctx.lastLogin.result, 'Heartbeat') : undefined);
      ctx.must(Number.isFinite(hb) && hb > 0, 'HB-8', 'the 200 to PROOF must carry the Heartbeat interval');
      const window = 4 * hb;
      if (window > 20000 && !ctx.opts.slow)
        ctx.skip(
          `the Heartbeat interval is ${hb} ms; pass --slow or configure the MS with a short clientHeartbeatInterval`,
        );
      const pings: number[] = [];
      c.auto = (m) => {
        if (m.method !== 'PING') return undefined;
        pings.push(Date.now());
        return { kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) };
      };
      const t0 = Date.now();
      await c.closedWithin(window);
      // Generous slack: a loaded machine delays timers; an MS that does not PING misses by whole intervals.
      const slack = Math.max(500, hb);
      let last = t0;
      for (const t of [...pings, Date.now()]) {
        ctx.must(
          t - last <= hb + slack,
          'HB-8',
          `the MS sent nothing to an idle client for ${t - last} ms; it must PING after ${hb} ms (Heartbeat) of silence`,
        );
        last = t;
      }
      ctx.must(pings.length >= 2, 'HB-8', `only ${pings.length} PING(s) in ${window} ms with a Heartbeat of ${hb} ms`);
    },
  },
  {
    id: 'ms/session/1',
    section: 'session',
    title:
      'a session whose client PINGs every Heartbeat interval stays logged in and usable for 12 s (past handshakeTimeout and lockLease)',
    reqs: ['HB-2', 'HB-1'],
    async run(ctx: MsContext) {
      const ms = holdMs(ctx);
      if (ms > 30000 && !ctx.opts.slow)
        ctx.skip(`holding a session past handshakeTimeout and lockLease takes ${ms} ms; pass --slow or --set them`);
      const u = ctx.user();
      const n = since(ctx);
      const c = await ctx.login(u);
      const hb = announced(ctx, 'Heartbeat');
      const cut = await hold(ctx, c, ms, hb);
      ctx.must(
        cut === null,
        'HB-2',
        `a session with a PING every ${hb} ms was ended after ${Math.round(ms / 100) / 10} s or less (${cut}); only silence for sessionTimeout may end it`,
      );
      await stillUsable(ctx, c, u.name, n, 'HB-2', `after ${ms} ms`);
    },
  },
  {
    id: 'ms/session/2',
    section: 'session',
    title:
      "a session whose client only answers the MS's PINGs outlives twice its Session-timeout and stays usable (answers count as traffic)",
    reqs: ['HB-2', 'HB-8', 'HB-11'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const n = since(ctx);
      const c = await ctx.login(u);
      const st = announced(ctx, 'Session-timeout');
      const ms = 2 * st + announced(ctx, 'Heartbeat');
      if (ms > 30000 && !ctx.opts.slow)
        ctx.skip(`the Session-timeout is ${st} ms; pass --slow or configure the MS with a short sessionTimeout`);
      const cut = await hold(ctx, c, ms, 0);
      ctx.must(
        cut === null,
        'HB-2',
        `a client that answers every PING of the MS was ended within twice the Session-timeout (${st} ms): ${cut}`,
      );
      await stillUsable(ctx, c, u.name, n, 'HB-2', `after ${ms} ms answering PINGs only`);
    },
  },
];

export const msShutdownCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/shutdown/1',
    section: 'shutdown',
    title:
      'an MS stopped on purpose sends NOTICE ERR_SHUTDOWN and OFFLINE for each session, answers LOGIN 503 ERR_SHUTDOWN meanwhile, closes, then sends LEAVE (runs last)',
    reqs: ['MS-SHUTDOWN-1', 'MS-SHUTDOWN-2', 'MS-SHUTDOWN-3', 'ENROLL-9', 'LOCK-6', 'ERR-1'],
    noProbe: true,
    async run(ctx: MsContext) {
      const stop = ctx.env.stopMs;
      if (!stop) ctx.skip('the kit cannot stop the MS under test: pass --ms-stop-cmd (e.g. kill -TERM PID)');
      const u = ctx.user();
      const ca = await ctx.login(u);
      const epoch = ctx.crs.records.get(u.name)?.epoch;
      const idle = await ctx.connect('idle');
      // Hold the CRS's answers to OFFLINE, so that the MS is still shutting down while the kit tries a LOGIN.
      ctx.crs.override = (m) => (m.method === 'OFFLINE' ? 'hold' : undefined);
      const n = since(ctx);
      const stopped = stop();
      const notice = await ca.waitEvent(isNotice('ERR_SHUTDOWN'), ctx.timeout * 2);
      ctx.must(notice, 'MS-SHUTDOWN-1', 'an MS stopping on purpose must send its clients NOTICE ERR_SHUTDOWN');
      const off = (await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), ctx.timeout))
        ? sentSince(ctx, n, 'OFFLINE', u.name)
        : undefined;
      ctx.must(off, 'MS-SHUTDOWN-1', 'an MS stopping on purpose must send OFFLINE for each of its users to the CRS');
      ctx.must(
        header(off, 'Epoch') === String(epoch),
        'LOCK-6',
        `the OFFLINE must carry the session's Epoch ${epoch}, carried ${header(off, 'Epoch') ?? 'none'}`,
      );
      // A LOGIN arriving now (the MS is shutting down) is refused 503 ERR_SHUTDOWN; an MS that closed
      // the idle connection first never received it.
      if (!idle.closed) {
        const o = await loginOn(idle, ctx.uniq('late'), 'pw', '127.0.0.1:9', ctx.timeout).catch(() => null);
        if (o?.challenge)
          checkError(ctx, o.challenge, 'ERR_SHUTDOWN', 'LOGIN while the MS shuts down', 'MS-SHUTDOWN-3');
        else ctx.note('the idle connection closed before the LOGIN was answered');
      }
      ctx.must(
        !sentSince(ctx, n, 'LOCK'),
        'MS-SHUTDOWN-3',
        'an MS that is shutting down must not LOCK a user for a new login',
      );
      ctx.crs.release();
      ctx.must(await ca.closedWithin(ctx.timeout), 'MS-SHUTDOWN-1', "the MS must close its clients' connections");
      const left = await ctx.crs.until(() => !!sentSince(ctx, n, 'LEAVE'), ctx.timeout);
      if (ctx.should(left, 'MS-SHUTDOWN-2', 'an MS stopping on purpose should send LEAVE to the CRS')) {
        const iLeave = ctx.crs.requests.findIndex((m, i) => i >= n && m.method === 'LEAVE');
        const iOff = ctx.crs.requests.findIndex((m, i) => i >= n && m.method === 'OFFLINE');
        ctx.should(iOff < iLeave, 'ENROLL-9', 'LEAVE should come after the OFFLINE of every session');
      }
      await Promise.race([stopped, new Promise((r) => setTimeout(r, ctx.timeout))]);
    },
  },
];
