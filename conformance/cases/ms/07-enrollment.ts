// Section "MS enrollment" [§7 MS Enrollment and Discovery], MS side: the enrollment itself, the MS's PINGs to the CRS, and
// what the MS does when its CRS link is lost (closed, silent for msLease, or ended by a NOTICE):
// end every session with NOTICE ERR_SESSION_ENDED, answer 503 while it has no CRS (at once to a LOGIN
// whose LOCK the lost link left unanswered [CONN-18]), and enroll again with a higher Incarnation.
import { header, request, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { Conn } from '../../lib/conn.js';
import { loginOn } from '../../lib/as-client.js';
import type { MsContext } from '../../lib/ms-context.js';
import { checkError } from '../../lib/wire-target.js';

const isNotice = (code: string) => (m: RequestMessage) => m.method === 'NOTICE' && header(m, 'Error-code') === code;

/** How long the MS may take to enroll again (its backoff starts short; a real one may start at a few seconds). */
const reenrollMs = (ctx: MsContext): number => Math.max(15000, 3 * ctx.timeout);

/**
 * After the CRS link is gone: the client got NOTICE ERR_SESSION_ENDED and was closed [ENROLL-12], the MS
 * enrolls again with a higher Incarnation [ENROLL-11], and the user can log in again.
 */
async function expectReenrolled(
  ctx: MsContext,
  c: Conn,
  before: number,
  how: string,
  req: 'ENROLL-12' | 'ERR-9',
  lossMs: number,
): Promise<void> {
  const n = await c.waitEvent(isNotice('ERR_SESSION_ENDED'), lossMs);
  ctx.must(n, req, `${how}: the MS must end every client session with NOTICE ERR_SESSION_ENDED`);
  ctx.must(await c.closedWithin(ctx.timeout), req, `${how}: the MS must close the ended session's connection`);
  const inc0 = ctx.crs.incarnations.at(-1) ?? 0;
  ctx.must(
    await ctx.crs.until(() => ctx.crs.enrollments > before, reenrollMs(ctx)),
    req,
    `${how}: the MS must enroll again (no new enrollment within ${reenrollMs(ctx)} ms)`,
  );
  const inc1 = ctx.crs.incarnations.at(-1) ?? 0;
  const prev = ctx.crs.incarnations.at(-2) ?? inc0;
  ctx.must(
    inc1 > prev,
    'ENROLL-11',
    `${how}: the new enrollment must carry a higher Incarnation than the lost one (${prev}), carried ${inc1}`,
  );
}

export const msEnrollCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/enroll/1',
    section: 'enroll',
    title: 'the MS enrolled with the kit CRS with a valid proof over a fresh handshake',
    reqs: ['ENROLL-2', 'ENROLL-13', 'ENROLL-3'],
    async run(ctx: MsContext) {
      ctx.must(
        ctx.crs.enrollments > 0,
        'ENROLL-3',
        `the MS did not enroll (${ctx.crs.lastEnrollError ?? 'no connection'})`,
      );
      ctx.must(
        ctx.crs.listenAddr && /:\d+$/.test(ctx.crs.listenAddr),
        'ENROLL-2',
        'ENROLL must carry the Listen address',
      );
    },
  },
  {
    id: 'ms/enroll/2',
    section: 'enroll',
    title: 'an MS with nothing else to send PINGs the CRS at least every Heartbeat interval the CRS announced',
    reqs: ['HB-3'],
    async run(ctx: MsContext) {
      const hb = ctx.limits.get('msHeartbeatInterval');
      const window = 5 * hb;
      if (window > 20000 && !ctx.opts.slow)
        ctx.skip(
          `msHeartbeatInterval is ${hb} ms; pass --slow or --set msHeartbeatInterval=N (the kit CRS announces it)`,
        );
      const n = ctx.crs.requests.length;
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, window));
      const times = ctx.crs.times.slice(n);
      // Generous slack: a loaded machine delays timers; an MS that does not PING misses by whole intervals.
      const slack = Math.max(500, hb);
      let last = t0;
      for (const t of [...times, Date.now()]) {
        ctx.must(
          t - last <= hb + slack,
          'HB-3',
          `the MS sent nothing to the CRS for ${t - last} ms; it must PING when it has sent nothing for ${hb} ms (the Heartbeat of its enrollment)`,
        );
        last = t;
      }
      const pings = ctx.crs.requests.slice(n).filter((m) => m.method === 'PING').length;
      ctx.must(pings >= 3, 'HB-3', `only ${pings} PING(s) to the CRS in ${window} ms with a Heartbeat of ${hb} ms`);
    },
  },
  {
    id: 'ms/enroll/3',
    section: 'enroll',
    title:
      'when the CRS closes the link, the MS ends every session (NOTICE ERR_SESSION_ENDED), answers LOGIN 503 ERR_UNAVAILABLE while it has no CRS, and enrolls again with a higher Incarnation',
    reqs: ['ENROLL-12', 'ENROLL-11', 'CONN-7', 'ERR-1'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const before = ctx.crs.enrollments;
      ctx.crs.refuseEnroll = true;
      ctx.crs.dropLink();
      const n = await c.waitEvent(isNotice('ERR_SESSION_ENDED'), ctx.timeout);
      ctx.must(
        n,
        'ENROLL-12',
        'the link was closed: the MS must end every client session with NOTICE ERR_SESSION_ENDED',
      );
      // No CRS now: a LOGIN cannot be taken [CONN-7].
      const d = await ctx.connect('cl');
      const o = await loginOn(d, u.name, u.password, '127.0.0.1:9', ctx.timeout);
      checkError(ctx, o.challenge, 'ERR_UNAVAILABLE', 'LOGIN while the MS has no CRS link', 'CONN-7');
      ctx.crs.refuseEnroll = false;
      c.takeEvents();
      await expectReenrolledAfterNotice(ctx, c, before, 'after the CRS closed the link');
      const again = await ctx.login(u);
      const r = await again.request(request('PING', []), ctx.timeout);
      ctx.must(r.status === 200, 'ENROLL-12', 'after the MS enrolled again, a new login must work');
    },
  },
  {
    id: 'ms/enroll/7',
    section: 'enroll',
    title:
      'the CRS closes the link while the LOCK of a LOGIN is unanswered: the MS answers the LOGIN 503 ERR_UNAVAILABLE at once, not after requestTimeout, and enrolls again',
    reqs: ['CONN-18', 'ENROLL-12', 'LOGIN-2', 'ERR-1'],
    async run(ctx: MsContext) {
      const rt = ctx.limits.get('requestTimeout');
      const u = ctx.user();
      const before = ctx.crs.enrollments;
      ctx.crs.override = (req) => (req.method === 'LOCK' && header(req, 'User') === u.name ? 'hold' : undefined);
      const n = ctx.crs.requests.length;
      const c = await ctx.connect('cl');
      const login = loginOn(c, u.name, u.password, '127.0.0.1:9', rt + 2 * ctx.timeout);
      const locked = await ctx.crs.until(() => ctx.crs.sentSince(n, 'LOCK', u.name) !== undefined, ctx.timeout);
      ctx.pre(locked, 'LOGIN-2', 'the MS sent no LOCK to the kit CRS for the LOGIN');
      ctx.crs.dropLink();
      const t0 = Date.now();
      const r = (await login).challenge;
      const after = Date.now() - t0;
      ctx.crs.reset();
      // The bound is the kit's own answer timeout, far below requestTimeout (the registry's 10 s): an MS that
      // only times the LOCK out answers the LOGIN requestTimeout after it.
      ctx.must(
        after <= ctx.timeout,
        'CONN-18',
        `the CRS link closed with the LOCK unanswered: the MS must answer the LOGIN then (within ${ctx.timeout} ms), not after requestTimeout (${rt} ms); it answered ${r ? `${r.status} ${header(r, 'Error-code') ?? ''}` : 'nothing'} after ${after} ms`,
      );
      checkError(ctx, r, 'ERR_UNAVAILABLE', 'LOGIN whose LOCK was pending when the CRS link closed', 'CONN-18');
      ctx.must(
        await ctx.crs.until(() => ctx.crs.enrollments > before, reenrollMs(ctx)),
        'ENROLL-12',
        `the MS must enroll again after losing its CRS link (no new enrollment within ${reenrollMs(ctx)} ms)`,
      );
    },
  },
  {
    id: 'ms/enroll/4',
    section: 'enroll',
    title:
      'NOTICE ERR_SHUTDOWN from the CRS ends the enrollment: the MS ends its sessions (NOTICE ERR_SESSION_ENDED) and enrolls again with a higher Incarnation',
    reqs: ['ERR-9', 'ENROLL-11'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const before = ctx.crs.enrollments;
      ctx.crs.push('NOTICE', [
        ['Error-code', 'ERR_SHUTDOWN'],
        ['Reason', 'kit CRS restarting'],
      ]);
      await expectReenrolled(ctx, c, before, 'after NOTICE ERR_SHUTDOWN from the CRS', 'ERR-9', ctx.timeout);
    },
  },
  {
    id: 'ms/enroll/6',
    section: 'enroll',
    title:
      'an MS whose CRS leaves its ENROLL, then its PROOF, unanswered gives up each enrollment within its handshakeTimeout, closes the connection and enrolls again',
    reqs: ['CONN-13', 'ENROLL-12'],
    async run(ctx: MsContext) {
      const hs = ctx.limits.get('handshakeTimeout');
      if (2 * hs > 20000 && !ctx.opts.slow)
        ctx.skip(`handshakeTimeout is ${hs} ms; pass --slow or --set handshakeTimeout=N matching the MS`);
      const before = ctx.crs.enrollments;
      ctx.crs.silentEnroll.push('ENROLL', 'PROOF');
      ctx.crs.dropLink();
      for (const at of ['ENROLL', 'PROOF'] as const) {
        ctx.must(
          await ctx.crs.until(() => ctx.crs.silenced.some((s) => s.at === at), reenrollMs(ctx)),
          'ENROLL-12',
          `the MS must enroll again after losing its CRS link (no new enrollment reached ${at} within ${reenrollMs(ctx)} ms)`,
        );
        const s = ctx.crs.silenced.find((x) => x.at === at)!;
        // Judged on the late side only (twice the timer plus the answer timeout [§11.1 Heartbeats]): an MS may
        // give up sooner on its own requestTimeout [CONN-5].
        const closed = await s.conn.closedWithin(Math.max(0, s.opened + 2 * hs + ctx.timeout - Date.now()));
        const after = Date.now() - s.opened;
        ctx.must(
          closed,
          'CONN-13',
          `the kit CRS left the MS's ${at} unanswered: the MS must give up the enrollment and close the connection once its handshakeTimeout (${hs} ms) has passed; still open after ${after} ms`,
        );
        ctx.note(
          `${at} unanswered: the MS closed the connection ${after} ms after it opened (handshakeTimeout ${hs} ms)`,
        );
      }
      ctx.must(
        await ctx.crs.until(() => ctx.crs.enrollments > before, reenrollMs(ctx)),
        'ENROLL-12',
        `the MS must enroll again once its CRS answers (no enrollment within ${reenrollMs(ctx)} ms)`,
      );
    },
  },
  {
    id: 'ms/enroll/5',
    section: 'enroll',
    title:
      'a CRS that falls silent (PINGs unanswered) is lost after msLease: the MS ends its sessions and enrolls again with a higher Incarnation',
    reqs: ['ENROLL-12', 'ENROLL-11'],
    async run(ctx: MsContext) {
      const lease = ctx.limitUpTo('msLease', 10000);
      const u = ctx.user();
      const c = await ctx.login(u);
      const before = ctx.crs.enrollments;
      const old = ctx.crs.link;
      ctx.crs.override = () => (ctx.crs.link === old ? 'drop' : undefined);
      await expectReenrolled(
        ctx,
        c,
        before,
        `the CRS answered nothing for msLease (${lease} ms)`,
        'ENROLL-12',
        2 * lease + ctx.limits.get('msHeartbeatInterval') + ctx.timeout,
      );
    },
  },
];

/** enroll/3: the NOTICE was already checked; the close, the new enrollment and the Incarnation. */
async function expectReenrolledAfterNotice(ctx: MsContext, c: Conn, before: number, how: string): Promise<void> {
  ctx.must(await c.closedWithin(ctx.timeout), 'ENROLL-12', `${how}: the MS must close the ended session's connection`);
  ctx.must(
    await ctx.crs.until(() => ctx.crs.enrollments > before, reenrollMs(ctx)),
    'ENROLL-12',
    `${how}: the MS must enroll again (no new enrollment within ${reenrollMs(ctx)} ms)`,
  );
  const inc = ctx.crs.incarnations;
  ctx.must(
    inc.at(-1)! > inc.at(-2)!,
    'ENROLL-11',
    `${how}: the new enrollment must carry a higher Incarnation than the lost one (${inc.at(-2)}), carried ${inc.at(-1)}`,
  );
}
