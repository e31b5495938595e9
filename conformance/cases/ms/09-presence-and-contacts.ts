// Spec 9 (presence and contacts), MS side: presence forwarded only to buddies; From stamped on
// the requests the MS forwards for a user.
import { header, request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { newIdentity } from '../../lib/crypto.js';
import { since, sentSince, type MsContext } from '../../lib/ms-context.js';
import { checkError } from '../../lib/wire-target.js';

export const msPresenceCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/presence/1',
    section: 'presence',
    title: 'a PRESENCE push reaches only local clients that have the user as a buddy',
    reqs: ['PRESENCE-4', 'INV-6'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const alice = ctx.user([
        [
          ['User', bob],
          ['Relation', 'buddy'],
          ['Status', 'offline'],
        ],
      ]);
      const carol = ctx.user([]);
      const ca = await ctx.login(alice);
      const cc = await ctx.login(carol);
      ctx.crs.push('PRESENCE', [
        ['User', bob],
        ['Status', 'online'],
        ['Address', '127.0.0.1:4242'],
        ['Public-key', newIdentity().publicKey],
      ]);
      const got = await ca.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, ctx.timeout);
      ctx.must(got, 'PRESENCE-4', "a buddy's PRESENCE must be forwarded to the client");
      const leaked = await cc.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, 300);
      ctx.must(!leaked, 'INV-6', 'PRESENCE of a user must not reach a client that does not have him as a buddy');
    },
  },
];

export const msAddCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/add/1',
    section: 'add',
    title: 'the MS stamps From from the session on requests it forwards, and refuses a client-supplied From',
    reqs: ['AUTH-10', 'REG-4', 'ADD-2', 'ERR-1', 'WIRE-22'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const n = since(ctx);
      const r = await c.request(request('ADD', [['To', 'someone']]), ctx.timeout);
      ctx.must(r.status < 400, 'ADD-2', `ADD must be forwarded, got ${r.status}`);
      const fwd = sentSince(ctx, n, 'ADD');
      ctx.must(
        fwd && header(fwd, 'From') === u.name,
        'AUTH-10',
        `the forwarded ADD must carry From: ${u.name}, carried ${fwd ? header(fwd, 'From') : 'nothing'}`,
      );
      const forged = await c.request(
        request('ADD', [
          ['To', 'someone'],
          ['From', 'mallory'],
        ]),
        ctx.timeout,
      );
      checkError(ctx, forged, 'ERR_HEADER_NOT_ALLOWED', 'ADD with a client-supplied From');
    },
  },
];
