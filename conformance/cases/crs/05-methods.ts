// [§5 Methods], CRS side, what the method sections themselves require of REGISTER: the bounds of
// the verifier and the key blob [REGISTER-4] and of the username [USER-1], a value type of [§4.3 Header Lines].
import { header } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

export const crsMethodCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/register/2',
    section: 'register',
    title:
      'REGISTER with Iterations below scramMinIterations, a key blob of log2N 9 or 21, or a username over maxUsernameLength is refused 422 and stores no user',
    reqs: ['REGISTER-4', 'USER-1', 'REGISTER-1', 'ERR-1', 'WIRE-22'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll();
      const min = ctx.limits.get('scramMinIterations');
      const reg = (u: ReturnType<CrsContext['makeUser']>, change: Record<string, string>) =>
        ms.req(
          'REGISTER',
          ctx.registerHeaders(u).map(([n, v]): [string, string] => [n, change[n] ?? v]),
        );
      const low = ctx.makeUser();
      checkError(
        ctx,
        await reg(low, { Iterations: String(min - 1) }),
        'ERR_BAD_VALUE',
        `REGISTER with Iterations ${min - 1} (scramMinIterations ${min})`,
        'REGISTER-4',
      );
      for (const log2N of [9, 21]) {
        const u = ctx.makeUser();
        const blob = patchLog2N(u.keyBlob, log2N);
        checkError(
          ctx,
          await reg(u, { 'Key-blob': blob }),
          'ERR_BAD_VALUE',
          `REGISTER with a key blob of log2N ${log2N}`,
          'REGISTER-4',
        );
      }
      const maxLen = ctx.limits.get('maxUsernameLength');
      const long = ctx.makeUser(`${ctx.uniq('l')}${'x'.repeat(maxLen)}`.slice(0, maxLen + 1));
      const r = await reg(long, {});
      ctx.must(
        r.status === 422,
        'USER-1',
        `REGISTER of a username of ${maxLen + 1} characters (maxUsernameLength ${maxLen}) must be refused 422, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
      );
      // None of the refused users exists: the same names register now.
      ctx.expectStatus(await reg(low, {}), 201, 'REGISTER-4', 'REGISTER of the name a refused REGISTER used');
    },
  },
];

/** The key blob (`v1.salt.log2N.iv.sealed`, [§6.5 Identity Keys and the Sealed Key Blob]) with another log2N. */
function patchLog2N(blob: string, log2N: number): string {
  const parts = blob.split('.');
  parts[2] = String(log2N);
  return parts.join('.');
}
