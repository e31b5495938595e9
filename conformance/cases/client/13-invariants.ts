// [§13 Invariants], client side: [INV-3], the client's view of a buddy converges to the last word of its MS,
// whatever order the login bundle and the pushes behind it arrive in.
import { request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';

export const clientInvariantCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/inv/1',
    section: 'inv',
    title:
      'three PRESENCE pushes right behind the login 200 (busy, offline, online at a new address): the view ends as the last',
    reqs: ['INV-3', 'CTL-2'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const moved = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)], {
        pushAfterLogin: [
          request('PRESENCE', [
            ['User', p.name],
            ['Status', 'busy'],
            ['Address', p.address],
            ['Public-key', p.identity.publicKey],
          ]),
          request('PRESENCE', [
            ['User', p.name],
            ['Status', 'offline'],
          ]),
          request('PRESENCE', [
            ['User', p.name],
            ['Status', 'away'],
            ['Address', moved.address],
            ['Public-key', p.identity.publicKey],
          ]),
        ],
      });
      const c = await ctx.startLoggedIn(a);
      await c.waitFor((e) => e.event === 'presence' && e.user === p.name && e.status === 'away', ctx.timeout);
      const view = await c.command('contacts', ctx.timeout);
      ctx.pre(view?.event === 'ok', 'CTL-2', `contacts failed: ${JSON.stringify(view)}`);
      const entry = (view.contacts as { user: string; status: string; address?: string }[] | undefined)?.find(
        (x) => x.user === p.name,
      );
      ctx.must(
        entry?.status === 'away' && entry.address === moved.address,
        'INV-3',
        `the last PRESENCE said away at ${moved.address}; the client's view is ${JSON.stringify(entry)}`,
      );
    },
  },
];
