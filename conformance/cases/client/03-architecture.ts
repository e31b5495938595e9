// [§3 Architecture], client side: pushes from the MS are never answered, the client keeps accepting peer
// connections on its address for as long as it is logged in, closes one whose handshake does not
// complete within handshakeTimeout, and fails a command at once when the MS closes the connection with
// its request unanswered [CONN-18].
import { header, request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';

export const clientArchitectureCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/arch/1',
    section: 'arch',
    title: 'the ADD and ANSWER pushes of the MS are notifications: the client answers neither',
    reqs: ['CONN-17', 'PRESENCE-9', 'HB-5'],
    async run(ctx: ClientContext) {
      const q = ctx.uniq('asker');
      const r = ctx.uniq('granter');
      const a = ctx.account([]);
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      ms.send(
        request('ADD', [
          ['From', q],
          ['Time', String(Date.now())],
        ]),
        'drop',
      );
      ms.send(
        request('ANSWER', [
          ['From', r],
          ['Decision', 'deny'],
        ]),
        'drop',
      );
      ctx.pre(
        await c.waitFor((e) => e.event === 'request' && e.from === q, ctx.timeout),
        'PRESENCE-9',
        'no request event for the ADD push',
      );
      ctx.pre(
        await c.waitFor((e) => e.event === 'answer' && e.from === r, ctx.timeout),
        'PRESENCE-9',
        'no answer event for the ANSWER push',
      );
      // A PING after the pushes: its 200 comes after anything the client wrote for them. (The kit's Conn queues
      // an expectation for every request it sends, pushes included, so the 200 is looked for in what arrived.)
      ms.send(request('PING', [['Tag', 'flush']]), 'drop');
      const flushed = (): boolean =>
        ms.received.some((m) => m.msg.kind === 'response' && header(m.msg, 'Tag') === 'flush');
      const deadline = Date.now() + ctx.timeout;
      while (!flushed() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      ctx.pre(flushed(), 'HB-5', 'the client did not answer PING');
      const answers = ms.received.filter((m) => m.msg.kind === 'response' && header(m.msg, 'Tag') !== 'flush');
      ctx.must(
        answers.length === 0,
        'CONN-17',
        `the ADD and ANSWER pushes must not be answered; the client sent ${answers.map((m) => (m.msg.kind === 'response' ? m.msg.status : '')).join(', ')}`,
      );
    },
  },
  {
    id: 'client/arch/2',
    section: 'arch',
    title:
      'the client accepts peer connections for as long as it is logged in: a second session after the first ended, seconds later',
    reqs: ['CONN-14', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, conn } = await ctx.buddySession();
      conn.send(request('BYE', []), 'drop');
      await conn.closedWithin(ctx.timeout);
      // Past a few heartbeats of the kit's login (clientHeartbeatInterval of --set).
      await new Promise((res) => setTimeout(res, Math.min(3 * ctx.limits.get('clientHeartbeatInterval'), 5000)));
      let ok = false;
      try {
        await ctx.initFrom(p, a);
        ok = true;
      } catch {
        ok = false;
      }
      ctx.must(ok, 'CONN-14', 'a logged-in client must accept a new peer connection and INIT on its address');
    },
  },
  {
    id: 'client/arch/3',
    section: 'arch',
    title:
      'a peer connection whose handshake never completes is closed within handshakeTimeout, with no 408: one that sends nothing, one that stops inside the INIT head',
    reqs: ['CONN-4'],
    async run(ctx: ClientContext) {
      // The client's handshakeTimeout is the --set one (start the client with the same value); more
      // than 5 s (the registry's 10 s) is waited out only with --slow, as [§90.5 Running the Kit] says.
      const limit = ctx.limitUpTo('handshakeTimeout', 5000);
      const silent = await ctx.connect('kit-silent');
      const partial = await ctx.connect('kit-partial');
      // No complete request, so nothing for a 408 to answer.
      partial.writeRaw(Buffer.from('INIT\r\nFrom: kit\r\n'), 'an INIT head that never ends');
      const t0 = Date.now();
      for (const [conn, what] of [
        [silent, 'a peer connection on which nothing was sent'],
        [partial, 'a peer connection that stopped inside the INIT head'],
      ] as const) {
        ctx.must(
          await conn.closedWithin(Math.max(0, t0 + limit + ctx.timeout - Date.now())),
          'CONN-4',
          `${what} must be closed within handshakeTimeout (${limit} ms, +${ctx.timeout} ms the kit allows); it is still open`,
        );
        const answered = conn.received.filter((m) => m.msg.kind === 'response');
        ctx.must(
          answered.length === 0,
          'CONN-4',
          `${what} has no request outstanding: the client must close it without a response (no 408), it sent ${answered.map((m) => (m.msg.kind === 'response' ? m.msg.status : '')).join(', ')}`,
        );
      }
    },
  },
  {
    id: 'client/arch/4',
    section: 'arch',
    title:
      'the MS closes the connection while a STATUS is unanswered: the command fails at once with 503 ERR_UNAVAILABLE, not after requestTimeout with 408',
    reqs: ['CONN-18', 'CTL-3', 'CTL-2'],
    async run(ctx: ClientContext) {
      const rt = ctx.limits.get('requestTimeout');
      const a = ctx.account([], { sessionTimeout: 120_000 });
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      // The kit MS answers nothing from the STATUS on, and notes when the STATUS arrived.
      let statusAt = 0;
      const kit = ms.auto;
      ms.auto = (req, conn) => {
        const def = kit?.(req, conn); // the kit MS records every request
        if (req.method === 'STATUS' && statusAt === 0) statusAt = Date.now();
        return statusAt !== 0 ? undefined : def;
      };
      const pending = c.command('status busy', rt + 2 * ctx.timeout);
      ctx.pre(
        (await ms.waitUntil(() => (statusAt !== 0 ? true : undefined), ctx.timeout)) === true,
        'CTL-2',
        'the client sent no STATUS for `status busy`',
      );
      ms.end();
      const r = await pending;
      const after = Date.now() - statusAt;
      // The bound is the kit's own answer timeout, far below requestTimeout (the registry's 10 s): a client
      // that only times the request out fails it requestTimeout after the STATUS, with 408 ERR_TIMEOUT.
      ctx.must(
        r?.event === 'error' && after <= ctx.timeout,
        'CONN-18',
        `the connection closed with the STATUS unanswered: the command must fail then (within ${ctx.timeout} ms), not after requestTimeout (${rt} ms); it ${r ? `reported ${JSON.stringify(r)} ${after} ms after the STATUS` : 'reported nothing'}`,
      );
      ctx.must(
        r?.code === 'ERR_UNAVAILABLE' && r.status === 503,
        'CONN-18',
        `a request unanswered at the close fails with 503 ERR_UNAVAILABLE [CTL-3], got ${JSON.stringify(r)}`,
      );
    },
  },
];
