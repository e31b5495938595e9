// Section "session lifetime" [§11 Session Lifetime, Rate Limits and Restarts], client side: heartbeats to the MS, the silence timer, NOTICEs
// that end the session or slow the client down.
import { header, request, response } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';
import { Limits } from '../../lib/registry.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const clientLifetimeCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/lifetime/1',
    section: 'lifetime',
    title: 'an idle client PINGs its MS at the Heartbeat interval of its login response',
    reqs: ['HB-1'],
    async run(ctx: ClientContext) {
      const hb = 300;
      const a = ctx.account([], { heartbeat: hb, sessionTimeout: 60_000 });
      await ctx.startLoggedIn(a);
      const since = Date.now();
      await sleep(hb * 5 + 500);
      const pings = ctx.msRequests(a, 'PING').filter((r) => r.at >= since);
      ctx.must(
        pings.length >= 3,
        'HB-1',
        `an idle client must PING every ${hb} ms (its Heartbeat); the kit MS saw ${pings.length} PINGs in ${Date.now() - since} ms`,
      );
    },
  },
  {
    id: 'client/lifetime/2',
    section: 'lifetime',
    title: 'a client whose MS falls silent ends its session after the Session-timeout of its login response',
    reqs: ['HB-6', 'CTL-4'],
    async run(ctx: ClientContext) {
      const st = 1200;
      const a = ctx.account([], { heartbeat: 300, sessionTimeout: st });
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      ms.auto = null; // silence: no answer, no push
      const t0 = Date.now();
      const out = await c.waitFor((e) => e.event === 'logout', st + 3 * ctx.timeout);
      ctx.must(
        out,
        'HB-6',
        `the MS was silent for ${Date.now() - t0} ms (Session-timeout ${st}): the client must end its session`,
      );
      ctx.must(
        await ms.closedWithin(ctx.timeout),
        'HB-6',
        'the client must close the connection of a session it ended',
      );
    },
  },
  {
    id: 'client/lifetime/3',
    section: 'lifetime',
    title: 'NOTICE ERR_SESSION_ENDED from the MS ends the session at once, even while the MS keeps the connection open',
    reqs: ['ERR-7', 'CTL-4'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { sessionTimeout: 60_000 });
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      ms.send(
        request('NOTICE', [
          ['Error-code', 'ERR_SESSION_ENDED'],
          ['Reason', 'kit: session ended'],
        ]),
        'drop',
      );
      const out = await c.waitFor((e) => e.event === 'logout', ctx.timeout * 2);
      ctx.must(
        out,
        'ERR-7',
        'after NOTICE ERR_SESSION_ENDED the client must treat its session as ended (no logout event)',
      );
      ctx.must(
        await ms.closedWithin(ctx.timeout),
        'ERR-7',
        'the client must close the connection of the ended session',
      );
    },
  },
  {
    id: 'client/lifetime/4',
    section: 'lifetime',
    title:
      'after NOTICE ERR_RATE_LIMITED with Retry-after, the client sends no request but PING before Retry-after has passed',
    reqs: ['RATE-6', 'ERR-7', 'CTL-2'],
    async run(ctx: ClientContext) {
      const retry = 1500;
      const a = ctx.account([], { sessionTimeout: 60_000 });
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      const t0 = Date.now();
      ms.send(
        request('NOTICE', [
          ['Error-code', 'ERR_RATE_LIMITED'],
          ['Retry-after', String(retry)],
        ]),
        'drop',
      );
      await c.waitFor((e) => e.event === 'notice', ctx.timeout);
      const r = await c.command('status busy', retry + ctx.timeout * 3);
      ctx.must(r?.event === 'ok', 'CTL-2', `status failed: ${JSON.stringify(r)}`);
      const st = ctx.msRequests(a, 'STATUS')[0];
      ctx.must(st, 'CTL-2', 'the client never sent STATUS');
      ctx.mustHoldBack('STATUS', st.at, t0, retry, 'NOTICE ERR_RATE_LIMITED');
      ctx.must(header(st.msg, 'Status') === 'busy', 'CTL-2', `STATUS carried ${header(st.msg, 'Status')}`);
    },
  },
  {
    id: 'client/lifetime/7',
    section: 'lifetime',
    title:
      'after a 429 ERR_RATE_LIMITED response with Retry-after, the client sends no request but PING before Retry-after has passed',
    reqs: ['RATE-6', 'CTL-2', 'CTL-3'],
    async run(ctx: ClientContext) {
      const retry = 1500;
      const a = ctx.account([], { sessionTimeout: 60_000 });
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      const prev = ms.auto;
      let refusedAt = 0;
      ms.auto = (req, link) => {
        if (req.method !== 'STATUS' || refusedAt) return prev?.(req, link);
        refusedAt = Date.now();
        const tag = header(req, 'Tag');
        return response(429, [
          ['Error-code', 'ERR_RATE_LIMITED'],
          ['Retry-after', String(retry)],
          ...(tag ? ([['Tag', tag]] as [string, string][]) : []),
        ]);
      };
      const r1 = await c.command('status busy', ctx.timeout * 2);
      ctx.must(
        r1?.event === 'error' && r1.code === 'ERR_RATE_LIMITED' && r1.status === 429,
        'CTL-3',
        `a STATUS answered 429 ERR_RATE_LIMITED must fail the command with that code and status: ${JSON.stringify(r1)}`,
      );
      const r2 = await c.command('status away', retry + ctx.timeout * 3);
      ctx.must(r2?.event === 'ok', 'CTL-2', `the second status failed: ${JSON.stringify(r2)}`);
      // The refused STATUS was answered above, not by the kit MS's own handler: only the second is recorded.
      const second = ctx.msRequests(a, 'STATUS')[0];
      ctx.must(second, 'CTL-2', 'the client never sent the second STATUS');
      ctx.mustHoldBack('the next STATUS', second.at, refusedAt, retry, 'a 429');
    },
  },
  {
    id: 'client/lifetime/5',
    section: 'lifetime',
    title:
      'a silent peer session: the client PINGs after the fixed 30 s and keeps the session past the fixed 90 s (slow: only with --slow)',
    reqs: ['HB-12', 'P2P-9'],
    async run(ctx: ClientContext) {
      // [HB-12] fixed by the document: the registry defaults, whatever --set says for the MS link.
      const fixed = new Limits();
      const hb = fixed.get('clientHeartbeatInterval');
      const st = fixed.get('sessionTimeout');
      if (!ctx.opts.slow) ctx.skip(`waits out the fixed peer-session timeout (${st} ms): run with --slow`);
      const { conn } = await ctx.buddySession();
      conn.auto = (req) =>
        req.method === 'PING' ? response(200, header(req, 'Tag') ? [['Tag', header(req, 'Tag')!]] : []) : undefined;
      const t0 = Date.now();
      await sleep(hb + 5000);
      const pinged = conn.received.some((m) => m.msg.kind === 'request' && m.msg.method === 'PING');
      ctx.should(
        pinged,
        'HB-12',
        `the client sent nothing on a peer session for ${Date.now() - t0} ms: it should PING after ${hb} ms`,
      );
      const left = st - (Date.now() - t0) - 2000;
      if (left > 0) await sleep(left);
      ctx.must(
        !conn.closed,
        'HB-12',
        `the client ended a silent peer session ${Date.now() - t0} ms after it opened, before the fixed sessionTimeout ${st} ms`,
      );
    },
  },
  {
    id: 'client/lifetime/6',
    section: 'lifetime',
    title:
      'a client keeps its session while its MS is silent for less than the announced Session-timeout, even well past three Heartbeat intervals',
    reqs: ['HB-6'],
    async run(ctx: ClientContext) {
      const hb = 300;
      const st = 60_000;
      const a = ctx.account([], { heartbeat: hb, sessionTimeout: st });
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      ms.auto = null; // silence: no answer, no push
      // Three Heartbeat intervals are the timeout only when the login response carries none [HB-6].
      const quiet = 8 * hb;
      const t0 = Date.now();
      const out = await c.waitFor((e) => e.event === 'logout', quiet);
      ctx.must(
        !out,
        'HB-6',
        `the client ended its session after ${Date.now() - t0} ms of MS silence; its login response announced Session-timeout ${st} (three Heartbeat intervals, ${3 * hb} ms, apply only when none is announced)`,
      );
      ctx.must(
        !ms.closed,
        'HB-6',
        `the client closed its MS connection after ${quiet} ms of silence (Session-timeout ${st})`,
      );
    },
  },
];
