// Section "SEALED" (spec 6), on the client link of an MS.
import { request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { MsContext } from '../../lib/ms-context.js';
import { checkError } from '../../lib/wire-target.js';

export const msSealCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/seal/1',
    section: 'seal',
    title: 'a client envelope with a replayed sequence number is refused 450 ERR_REPLAY and the session closed',
    reqs: ['SEAL-3', 'ERR-1'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      c.send(request('PING', []));
      await c.nextResponse(ctx.timeout);
      c.sealing!.sendSeq -= 1;
      c.send(request('PING', []));
      const r = await c.nextResponse(ctx.timeout, 'an answer to the replayed envelope');
      if (r) checkError(ctx, r, 'ERR_REPLAY', 'a replayed Seq');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-3', 'the MS must close after a bad Seq');
    },
  },
];
