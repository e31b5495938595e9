// Section "presence" (spec 9), MS side: forwarding only to buddies.
import { header } from '../../../generated/index.js';
import type { CaseDef } from '../../lib/case.js';
import { newIdentity } from '../../lib/crypto.js';
import type { MsContext } from '../../roles/ms.js';

export const msPresenceCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/presence/1',
    section: 'presence',
    title: 'a PRESENCE push reaches only local clients that have the user as a buddy',
    reqs: ['PRESENCE-4', 'INV-6'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const alice = ctx.user([[['User', bob], ['Relation', 'buddy'], ['Status', 'offline']]]);
      const carol = ctx.user([]);
      const ca = await ctx.login(alice);
      const cc = await ctx.login(carol);
      ctx.crs.push('PRESENCE', [['User', bob], ['Status', 'online'], ['Address', '127.0.0.1:4242'], ['Public-key', newIdentity().publicKey]]);
      const got = await ca.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, ctx.timeout);
      ctx.must(got, 'PRESENCE-4', 'a buddy\'s PRESENCE must be forwarded to the client');
      const leaked = await cc.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, 300);
      ctx.must(!leaked, 'INV-6', 'PRESENCE of a user must not reach a client that does not have him as a buddy');
    },
  },
];
