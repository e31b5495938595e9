// Section "presence" (spec 9), client side.
import { request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';

export const clientPresenceCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/presence/1',
    section: 'presence',
    title: 'a PRESENCE push for a buddy is reported by the client',
    reqs: ['PRESENCE-7'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p, false)]);
      const c = await ctx.startLoggedIn(a);
      ctx.svc.sessions.get(a.name)!.send(
        request('PRESENCE', [
          ['User', p.name],
          ['Status', 'busy'],
          ['Address', p.address],
          ['Public-key', p.identity.publicKey],
        ]),
      );
      const ev = await c.waitFor(
        (e) => e.event === 'presence' && e.user === p.name && e.status === 'busy',
        ctx.timeout,
      );
      ctx.must(ev, 'PRESENCE-7', 'the client must take the PRESENCE push (no presence event seen)');
    },
  },
];
