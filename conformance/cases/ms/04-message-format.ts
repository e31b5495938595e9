// Section "message format" [§4 Message Format], MS side: the limits of [§4.5 Limits] on the values a client
// sends inside its session (the wire cases every server role runs are in cases/common).
import { header, request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { since, sentSince, type MsContext } from '../../lib/ms-context.js';

export const msFormatCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/format/1',
    section: 'format',
    title:
      'a free-text value of maxTextValue + 1 characters (PROFILE About, SEARCH Query) is refused 422 ERR_BAD_VALUE and not relayed; one of maxTextValue characters is relayed',
    reqs: ['HDR-TEXT-1'],
    async run(ctx: MsContext) {
      const max = ctx.limits.get('maxTextValue');
      const u = ctx.user();
      const c = await ctx.login(u);
      for (const [method, name] of [
        ['PROFILE', 'About'],
        ['SEARCH', 'Query'],
      ] as const) {
        const n = since(ctx);
        const r = await c.request(request(method, [[name, 'a'.repeat(max + 1)]]), ctx.timeout);
        ctx.must(
          r.status === 422 && header(r, 'Error-code') === 'ERR_BAD_VALUE',
          'HDR-TEXT-1',
          `${method} with a ${name} of ${max + 1} characters (maxTextValue ${max}) must be refused 422 ERR_BAD_VALUE, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
        );
        ctx.must(
          !sentSince(ctx, n, method),
          'HDR-TEXT-1',
          `the MS relayed a ${method} whose ${name} is longer than maxTextValue to the CRS`,
        );
      }
      const n = since(ctx);
      const ok = await c.request(request('PROFILE', [['About', 'a'.repeat(max)]]), ctx.timeout);
      ctx.must(
        ok.status === 200 && sentSince(ctx, n, 'PROFILE'),
        'HDR-TEXT-1',
        `PROFILE with an About of exactly maxTextValue (${max}) characters must be relayed and answered, got ${ok.status} ${header(ok, 'Error-code') ?? ''}`,
      );
    },
  },
];
