// Section "reconnecting" [§8.5 Reconnecting], client side: the kit, as the client's CRS and MS, ends the session
// in the ways a client meets (the link closes, NOTICE ERR_SHUTDOWN, NOTICE ERR_SESSION_ENDED as after a CRS restart)
// and checks that the client logs in again by itself, when, how, and when it must stop. The client is told
// `reconnect on` ([§90.6 The Client Control Interface]); one that refuses it does not reconnect: [RECONNECT-1] is a
// SHOULD (a warning), and the other cases are skipped.
import { header, request, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext, HandshakeSeen } from '../../lib/client-context.js';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import type { ControlledClient } from '../../lib/control.js';
import { Conn, fmtHostPort } from '../../lib/conn.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** b of attempt 1: clientReconnectDelay, as the client under test is configured (give it with --set). */
const base = (ctx: ClientContext): number => ctx.limits.get('clientReconnectDelay');

/**
 * What the kit allows above a timer of the client: the end of the session reaches the client through its
 * socket, and a loaded machine runs timers late. Never below: a client cannot see the end before the kit
 * makes it, so a delay measured by the kit is never shorter than the client's own.
 */
const slack = (ctx: ClientContext): number => Math.max(1000, ctx.timeout / 2);

/** A logged-in client told to reconnect; skips the case (after a warning on [RECONNECT-1]) when it cannot. */
async function reconnecting(
  ctx: ClientContext,
  extra: Parameters<ClientContext['account']>[1] = {},
  bundle: Parameters<ClientContext['account']>[0] = [],
): Promise<{ a: ReturnType<ClientContext['account']>; c: ControlledClient }> {
  const a = ctx.account(bundle, { sessionTimeout: 60_000, ...extra });
  const c = await ctx.startLoggedIn(a);
  if (!(await ctx.reconnectOn(c))) {
    ctx.should(
      false,
      'RECONNECT-1',
      'the client answered `reconnect on` with an error: it does not log in again by itself',
    );
    ctx.skip('the client does not reconnect (`reconnect on` refused)');
  }
  return { a, c };
}

const fmt = (h: HandshakeSeen | undefined): string => (h ? `${h.method}${h.user ? ` ${h.user}` : ''}` : 'nothing');

export const clientReconnectCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/reconnect/1',
    section: 'reconnect',
    title:
      'the MS link closes: the client waits a delay in [b/2, b], then LOCATE and a complete new login with a fresh Nonce and Key-share',
    reqs: ['RECONNECT-1', 'RECONNECT-2', 'RECONNECT-3', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { a, c } = await reconnecting(ctx);
      const b = base(ctx);
      const first = ctx.svc.handshakes.find((h) => h.method === 'LOGIN' && h.user === a.name)!.msg;
      const old = ctx.ms(a);
      const t0 = Date.now();
      const m0 = ctx.svc.mark;
      old.destroy();
      const locate = await ctx.waitHandshake(
        (h) => h.seq > m0 && (h.method === 'LOCATE' || h.user === a.name),
        b + slack(ctx) + 30_000,
      );
      ctx.must(locate, 'RECONNECT-1', 'after its MS link closed the client never logged in again (30 s past b)');
      ctx.must(
        locate.method === 'LOCATE',
        'RECONNECT-3',
        `the client knows a CRS: each attempt must begin with LOCATE, it sent ${fmt(locate)} first`,
      );
      const d = locate.at - t0;
      ctx.must(
        d >= b / 2 - 5,
        'RECONNECT-2',
        `the first reconnect came ${d} ms after the session ended, before b/2 = ${b / 2} ms (b = clientReconnectDelay ${b})`,
      );
      ctx.must(
        d <= b + slack(ctx),
        'RECONNECT-2',
        `the first reconnect came ${d} ms after the session ended; it must come within b = clientReconnectDelay ${b} ms (+${slack(ctx)} ms the kit allows for timers)`,
      );
      const login = await ctx.waitHandshake(
        (h) => h.seq > locate.seq && h.method === 'LOGIN' && h.user === a.name,
        ctx.timeout * 2,
      );
      ctx.must(login, 'RECONNECT-3', 'after LOCATE the client must LOGIN at the MS it names');
      const again = (m: RequestMessage, n: string): boolean => header(m, n) === header(first, n);
      ctx.must(!again(login.msg, 'Nonce'), 'RECONNECT-3', 'the new LOGIN repeats the first login Nonce');
      ctx.must(!again(login.msg, 'Key-share'), 'RECONNECT-3', 'the new LOGIN repeats the first login Key-share');
      const proof = await ctx.waitHandshake(
        (h) => h.seq > login.seq && h.method === 'PROOF' && h.user === a.name,
        ctx.timeout * 2,
      );
      ctx.must(proof, 'RECONNECT-3', 'the new login must go on with PROOF (from the kept ClientKey)');
      // The session is usable: a command reaches the kit MS on the new session.
      const deadline = Date.now() + ctx.timeout * 2;
      while (ctx.svc.sessions.get(a.name) === old && Date.now() < deadline) await sleep(10);
      ctx.must(ctx.svc.sessions.get(a.name) !== old, 'RECONNECT-1', 'the new login did not complete');
      const r = await c.command('status away', ctx.timeout * 2);
      ctx.must(
        r?.event === 'ok',
        'RECONNECT-1',
        `after logging in again the client refused a command: ${JSON.stringify(r)}`,
      );
      ctx.must(
        ctx.msRequests(a, 'STATUS').some((s) => s.seq > proof.seq),
        'CTL-2',
        'status away sent no STATUS on the new session',
      );
    },
  },
  {
    id: 'client/reconnect/2',
    section: 'reconnect',
    title: 'after its own logout the client does not log in again',
    reqs: ['RECONNECT-2', 'CTL-2', 'RECONNECT-1'],
    async run(ctx: ClientContext) {
      const { a, c } = await reconnecting(ctx);
      const b = base(ctx);
      const r = await c.command('logout', ctx.timeout * 2);
      ctx.pre(r?.event === 'ok', 'CTL-2', `logout failed: ${JSON.stringify(r)}`);
      const t0 = Date.now();
      const m0 = ctx.svc.mark;
      await sleep(2 * b + slack(ctx));
      const seen = ctx.handshakesAfter(m0, a);
      ctx.must(
        seen.length === 0,
        'RECONNECT-2',
        `the session ended by the client's own logout, yet it sent ${fmt(seen[0])} ${seen[0] ? seen[0].at - t0 : 0} ms later`,
      );
    },
  },
  {
    id: 'client/reconnect/3',
    section: 'reconnect',
    title: 'NOTICE ERR_SHUTDOWN: the client closes the link, sends LOCATE within a few seconds and logs in again',
    reqs: ['MS-SHUTDOWN-4', 'ERR-7', 'RECONNECT-3', 'RECONNECT-1'],
    async run(ctx: ClientContext) {
      const { a } = await reconnecting(ctx);
      const ms = ctx.ms(a);
      const m0 = ctx.svc.mark;
      ms.send(request('NOTICE', [['Error-code', 'ERR_SHUTDOWN']]), 'drop');
      ctx.must(await ms.closedWithin(ctx.timeout), 'ERR-7', 'after NOTICE ERR_SHUTDOWN the client must close the link');
      // "a random delay of up to a few seconds": the kit allows 5 s.
      const locate = await ctx.waitHandshake((h) => h.seq > m0 && h.method === 'LOCATE', 5000 + slack(ctx));
      ctx.should(locate, 'MS-SHUTDOWN-4', 'after NOTICE ERR_SHUTDOWN the client should LOCATE within a few seconds');
      if (!locate) return;
      const login = await ctx.waitHandshake(
        (h) => h.seq > locate.seq && h.method === 'LOGIN' && h.user === a.name,
        ctx.timeout * 2,
      );
      ctx.must(login, 'RECONNECT-3', 'after LOCATE the client must LOGIN at the MS it names');
    },
  },
  {
    id: 'client/reconnect/4',
    section: 'reconnect',
    title:
      'the CRS restarted (NOTICE ERR_SESSION_ENDED, LOCATE refused 503): the second delay doubles, a 503 to LOGIN with Retry-after holds the next attempt back',
    reqs: ['RECONNECT-2', 'LOGIN-6', 'RECONNECT-1', 'RECONNECT-3'],
    async run(ctx: ClientContext) {
      const b = base(ctx);
      const retry = 5 * b;
      // LOGIN 1 is the client's own login; LOGIN 2 the first one that reaches the MS again.
      const { a } = await reconnecting(ctx, {
        loginFault: (n) =>
          n === 2
            ? {
                refuse: response(503, [
                  ['Error-code', 'ERR_UNAVAILABLE'],
                  ['Retry-after', String(retry)],
                ]),
              }
            : undefined,
      });
      // The first attempt's LOCATE is refused, as by a CRS that is not back yet.
      ctx.svc.refuseLocate((n) => (n === 1 ? response(503, [['Error-code', 'ERR_UNAVAILABLE']]) : undefined));
      const ms = ctx.ms(a);
      const t0 = Date.now();
      const m0 = ctx.svc.mark;
      ms.send(request('NOTICE', [['Error-code', 'ERR_SESSION_ENDED']]), 'drop');
      const l1 = await ctx.waitHandshake((h) => h.seq > m0 && h.method === 'LOCATE', b + slack(ctx) + 30_000);
      ctx.must(l1, 'RECONNECT-1', 'after NOTICE ERR_SESSION_ENDED the client never sent LOCATE again');
      const l2 = await ctx.waitHandshake((h) => h.seq > l1.seq && h.method === 'LOCATE', 2 * b + slack(ctx) + 30_000);
      ctx.must(l2, 'RECONNECT-2', 'after a refused LOCATE the client never tried again');
      const d2 = l2.at - l1.at;
      ctx.must(
        d2 >= b - 5 && d2 <= 2 * b + slack(ctx),
        'RECONNECT-2',
        `the second attempt came ${d2} ms after the first was refused; its delay must lie in [b, 2b] = [${b}, ${2 * b}] ms (${ctx
          .handshakesSince(t0, a)
          .map((h) => `${fmt(h)} +${h.at - t0}`)
          .join(', ')})`,
      );
      const login2 = await ctx.waitHandshake(
        (h) => h.seq > l2.seq && h.method === 'LOGIN' && h.user === a.name,
        ctx.timeout * 2,
      );
      ctx.must(login2, 'RECONNECT-3', 'after LOCATE the client must LOGIN at the MS it names');
      const next = await ctx.waitHandshake(
        (h) => h.seq > login2.seq && (h.method === 'LOCATE' || (h.method === 'LOGIN' && h.user === a.name)),
        retry + 4 * b + slack(ctx) + 30_000,
      );
      ctx.must(next, 'RECONNECT-1', 'after LOGIN answered 503 the client never tried again');
      const d3 = next.at - login2.at;
      ctx.must(
        d3 >= retry - 5,
        'LOGIN-6',
        `LOGIN was answered 503 with Retry-after ${retry}, and the client tried again ${d3} ms later (${fmt(next)})`,
      );
    },
  },
  {
    id: 'client/reconnect/5',
    section: 'reconnect',
    title: 'PROOF answered 401 while reconnecting: the client stops and does not try again',
    reqs: ['RECONNECT-5', 'RECONNECT-1'],
    async run(ctx: ClientContext) {
      const b = base(ctx);
      const { a } = await reconnecting(ctx, { loginFault: (n) => (n === 2 ? { proof401: true } : undefined) });
      const m0 = ctx.svc.mark;
      ctx.ms(a).destroy();
      const proof = await ctx.waitHandshake(
        (h) => h.seq > m0 && h.method === 'PROOF' && h.user === a.name,
        b + slack(ctx) + ctx.timeout * 3,
      );
      ctx.pre(proof, 'RECONNECT-1', 'the client did not log in again (no PROOF)');
      await sleep(4 * b + slack(ctx));
      const seen = ctx.handshakesAfter(proof.seq, a);
      ctx.must(
        seen.length === 0,
        'RECONNECT-5',
        `PROOF was answered 401: the client must stop reconnecting, yet it sent ${fmt(seen[0])} ${seen[0] ? seen[0].at - proof.at : 0} ms later`,
      );
    },
  },
  {
    id: 'client/reconnect/6',
    section: 'reconnect',
    title: 'a challenge with another Salt while reconnecting (the password changed): no PROOF, no further attempt',
    reqs: ['RECONNECT-5', 'RECONNECT-1'],
    async run(ctx: ClientContext) {
      const b = base(ctx);
      const { a } = await reconnecting(ctx, {
        loginFault: (n) => (n >= 2 ? { salt: randomBytes(16) } : undefined),
      });
      const t0 = Date.now();
      const m0 = ctx.svc.mark;
      ctx.ms(a).destroy();
      const login = await ctx.waitHandshake(
        (h) => h.seq > m0 && h.method === 'LOGIN' && h.user === a.name,
        b + slack(ctx) + ctx.timeout * 3,
      );
      ctx.pre(login, 'RECONNECT-1', 'the client did not log in again (no LOGIN)');
      await sleep(4 * b + slack(ctx));
      const seen = ctx.handshakesAfter(login.seq, a);
      ctx.must(
        !seen.some((h) => h.method === 'PROOF'),
        'RECONNECT-5',
        'the challenge carried another Salt (the password changed): the client must stop, and it sent PROOF',
      );
      ctx.must(
        seen.length === 0,
        'RECONNECT-5',
        `the challenge carried another Salt: the client must stop reconnecting, yet it sent ${fmt(seen[0])} (${ctx
          .handshakesSince(t0, a)
          .map((h) => `${fmt(h)} +${h.at - t0}`)
          .join(', ')})`,
      );
    },
  },
  {
    id: 'client/reconnect/7',
    section: 'reconnect',
    title: 'the bundle of a reconnect names another Public-key: the client ends that session and stops',
    reqs: ['RECONNECT-6', 'RECONNECT-1'],
    async run(ctx: ClientContext) {
      const b = base(ctx);
      const { a } = await reconnecting(ctx, { loginFault: (n) => (n === 2 ? { otherPublicKey: true } : undefined) });
      const old = ctx.ms(a);
      const m0 = ctx.svc.mark;
      old.destroy();
      const proof = await ctx.waitHandshake(
        (h) => h.seq > m0 && h.method === 'PROOF' && h.user === a.name,
        b + slack(ctx) + ctx.timeout * 3,
      );
      ctx.pre(proof, 'RECONNECT-1', 'the client did not log in again (no PROOF)');
      const deadline = Date.now() + ctx.timeout;
      while (ctx.svc.sessions.get(a.name) === old && Date.now() < deadline) await sleep(10);
      const s = ctx.svc.sessions.get(a.name);
      ctx.pre(s && s !== old, 'RECONNECT-1', 'the kit MS did not complete the second login');
      ctx.must(
        await s.closedWithin(ctx.timeout * 2),
        'RECONNECT-6',
        'the bundle named another Public-key than the client holds: it must end that session (close the link)',
      );
      await sleep(4 * b + slack(ctx));
      const seen = ctx.handshakesAfter(proof.seq, a);
      ctx.must(
        seen.length === 0,
        'RECONNECT-6',
        `after a bundle with another Public-key the client must stop reconnecting, yet it sent ${fmt(seen[0])}`,
      );
    },
  },
  {
    id: 'client/reconnect/8',
    section: 'reconnect',
    title:
      'what survives a reconnect: no old peer session resumed (a new INIT), no in-flight request repeated on the new session',
    reqs: ['RECONNECT-7', 'RECONNECT-1', 'P2P-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const { a, c } = await reconnecting(ctx, {}, [ctx.buddyRecord(p)]);
      const sent = c.command(`send ${p.name} before`, ctx.timeout * 3);
      const first = await ctx.acceptFrom(p, a);
      ctx.pre(first, 'P2P-1', 'the client opened no peer session to its buddy');
      ctx.pre((await sent)?.event === 'ok', 'CTL-2', 'send failed');
      // A STATUS that the kit MS never answers: in flight when the session ends.
      const ms = ctx.ms(a);
      const auto = ms.auto;
      ms.auto = (m, conn) => {
        if (m.method !== 'STATUS') return auto?.(m, conn) ?? undefined;
        ctx.svc.recordRequest(a.name, m);
        return undefined;
      };
      const pending = c.command('status busy', ctx.timeout * 4);
      const t0 = Date.now();
      while (!ctx.msRequests(a, 'STATUS').length && Date.now() - t0 < ctx.timeout * 2) await sleep(10);
      ctx.pre(ctx.msRequests(a, 'STATUS').length === 1, 'CTL-2', 'status busy sent no STATUS');
      const mEnd = ctx.svc.mark;
      ms.destroy();
      await pending;
      const proof = await ctx.waitHandshake(
        (h) => h.seq > mEnd && h.method === 'PROOF' && h.user === a.name,
        base(ctx) + slack(ctx) + ctx.timeout * 3,
      );
      ctx.pre(proof, 'RECONNECT-1', 'the client did not log in again (no PROOF)');
      const deadline = Date.now() + ctx.timeout;
      while (ctx.svc.sessions.get(a.name) === ms && Date.now() < deadline) await sleep(10);
      ctx.pre(ctx.svc.sessions.get(a.name) !== ms, 'RECONNECT-1', 'the second login did not complete');
      ctx.must(
        await first.closedWithin(ctx.timeout),
        'RECONNECT-7',
        'the old peer session must end with the old session (closed), not be resumed',
      );
      const r = await c.command(`send ${p.name} after`, ctx.timeout * 4).then((x) => x);
      const second = p.inbound[1];
      ctx.must(
        second,
        'RECONNECT-7',
        `after logging in again the client must open a new peer session to send (got ${JSON.stringify(r)})`,
      );
      ctx.must(
        second.received.some((m) => m.msg.kind === 'request' && m.msg.method === 'INIT'),
        'RECONNECT-7',
        'the new peer connection must open with INIT',
      );
      const repeated = ctx.msRequests(a, 'STATUS').filter((s) => s.seq > proof.seq);
      ctx.must(
        repeated.length === 0,
        'RECONNECT-7',
        'the STATUS in flight when the session ended was sent again on the new session',
      );
    },
  },
  {
    id: 'client/reconnect/9',
    section: 'reconnect',
    title:
      'LOCATE names two Servers: the client tries them in order, past one that refuses the connection and one that answers LOGIN 503',
    reqs: ['LOCATE-4', 'CTL-1'],
    async run(ctx: ClientContext) {
      // A port nobody listens on: bind one, then close it.
      const dead = net.createServer();
      await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
      const deadAddr = `127.0.0.1:${(dead.address() as net.AddressInfo).port}`;
      await new Promise((r) => dead.close(r));
      // An MS that answers LOGIN 503 ERR_UNAVAILABLE.
      const busy = net.createServer((s) => {
        const conn = new Conn(s, 'kit-busy-ms', ctx.tr);
        ctx.conns.push(conn);
        conn.auto = (m) => (m.method === 'LOGIN' ? response(503, [['Error-code', 'ERR_UNAVAILABLE']]) : undefined);
      });
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
      const busyAddr = `127.0.0.1:${(busy.address() as net.AddressInfo).port}`;
      try {
        ctx.svc.servers = [deadAddr, busyAddr, fmtHostPort(ctx.svc.msAddr)];
        const a = ctx.account();
        const { r } = await ctx.tryLogin(a);
        ctx.must(
          r?.event === 'ok' && ctx.svc.sessions.has(a.name),
          'LOCATE-4',
          `LOCATE named ${deadAddr} (refuses connections), ${busyAddr} (answers LOGIN 503) and the kit MS: the client must try them in order and log in at the third; it reported ${JSON.stringify(r)}`,
        );
      } finally {
        busy.close();
      }
    },
  },
  {
    id: 'client/reconnect/10',
    section: 'reconnect',
    title:
      'a client given an MS and no CRS (--client-ms-cmd) logs in at that MS, and after the link closes logs in there again with a complete login',
    reqs: ['RECONNECT-3', 'RECONNECT-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { sessionTimeout: 60_000 });
      const c = await ctx.startClient(a, true);
      const r = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.must(
        r?.event === 'ok' && ctx.svc.sessions.has(a.name),
        'CTL-2',
        `the client was given the kit MS and no CRS: login must LOGIN and PROOF at that MS, it reported ${JSON.stringify(r)} ${c.stderr.slice(-300)}`,
      );
      if (!(await ctx.reconnectOn(c))) {
        ctx.should(
          false,
          'RECONNECT-1',
          'the client answered `reconnect on` with an error: it does not log in again by itself',
        );
        ctx.skip('the client does not reconnect (`reconnect on` refused)');
      }
      const first = ctx.svc.handshakes.find((h) => h.method === 'LOGIN' && h.user === a.name)!.msg;
      const old = ctx.ms(a);
      const m0 = ctx.svc.mark;
      old.destroy();
      // It knows no CRS: each attempt is LOGIN at the MS it was given, with a fresh Nonce and Key-share [RECONNECT-3].
      const login = await ctx.waitHandshake(
        (h) => h.seq > m0 && h.method === 'LOGIN' && h.user === a.name,
        base(ctx) + slack(ctx) + 30_000,
      );
      ctx.must(login, 'RECONNECT-1', 'after its MS link closed the client never logged in again (30 s past b)');
      ctx.must(
        header(login.msg, 'Nonce') !== header(first, 'Nonce') &&
          header(login.msg, 'Key-share') !== header(first, 'Key-share'),
        'RECONNECT-3',
        'the new LOGIN must carry a fresh Nonce and Key-share',
      );
      const proof = await ctx.waitHandshake(
        (h) => h.seq > login.seq && h.method === 'PROOF' && h.user === a.name,
        ctx.timeout * 2,
      );
      ctx.must(proof, 'RECONNECT-3', 'the new login must go on with PROOF');
    },
  },
  {
    id: 'client/reconnect/11',
    section: 'reconnect',
    title:
      'after `reconnect on` then `reconnect off`, a session that ends without a logout of its own is not followed by a new login',
    reqs: ['CTL-9', 'CTL-2', 'RECONNECT-1'],
    async run(ctx: ClientContext) {
      const { a, c } = await reconnecting(ctx);
      const off = await c.command('reconnect off', ctx.timeout);
      ctx.must(off?.event === 'ok', 'CTL-2', `reconnect off failed: ${JSON.stringify(off)}`);
      const old = ctx.ms(a);
      const m0 = ctx.svc.mark;
      old.destroy();
      // A client that reconnects makes its first attempt within b [RECONNECT-2]: past b and the kit's slack, none comes.
      const b = base(ctx);
      const again = await ctx.waitHandshake(
        (h) => h.seq > m0 && (h.method === 'LOCATE' || h.user === a.name),
        b + slack(ctx),
      );
      ctx.must(
        !again,
        'CTL-9',
        `after \`reconnect off\` the client logged in again by itself when its MS link closed (${fmt(again ?? undefined)})`,
      );
    },
  },
];
