// Section "ADD" (spec 9), MS side: From stamped from the session.
import { header, request } from '../../../generated/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { MsContext } from '../../roles/ms.js';
import { checkError } from '../wire.js';
import { since, sentSince } from './helpers.js';

export const msAddCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/add/1',
    section: 'add',
    title: 'the MS stamps From from the session on requests it forwards, and refuses a client-supplied From',
    reqs: ['AUTH-10', 'REG-4'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const n = since(ctx);
      const r = await c.request(request('ADD', [['To', 'someone']]), ctx.timeout);
      ctx.must(r.status < 400, 'ADD-2', `ADD must be forwarded, got ${r.status}`);
      const fwd = sentSince(ctx, n, 'ADD');
      ctx.must(fwd && header(fwd, 'From') === u.name, 'AUTH-10', `the forwarded ADD must carry From: ${u.name}, carried ${fwd ? header(fwd, 'From') : 'nothing'}`);
      const forged = await c.request(request('ADD', [['To', 'someone'], ['From', 'mallory']]), ctx.timeout);
      checkError(ctx, forged, 'ERR_HEADER_NOT_ALLOWED', 'ADD with a client-supplied From');
    },
  },
];
