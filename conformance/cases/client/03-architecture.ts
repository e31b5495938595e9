// [§3 Architecture], client side: pushes from the MS are never answered, and the client keeps accepting peer
// connections on its address for as long as it is logged in.
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
];
