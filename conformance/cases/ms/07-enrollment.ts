// Section "MS enrollment" (spec 7), MS side.
import type { CaseDef } from '../../lib/case.js';
import type { MsContext } from '../../lib/ms-context.js';

export const msEnrollCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/enroll/1',
    section: 'enroll',
    title: 'the MS enrolled with the kit CRS with a valid proof over a fresh handshake',
    reqs: ['ENROLL-2', 'ENROLL-13', 'ENROLL-3'],
    async run(ctx: MsContext) {
      ctx.must(
        ctx.crs.enrollments > 0,
        'ENROLL-3',
        `the MS did not enroll (${ctx.crs.lastEnrollError ?? 'no connection'})`,
      );
      ctx.must(
        ctx.crs.listenAddr && /:\d+$/.test(ctx.crs.listenAddr),
        'ENROLL-2',
        'ENROLL must carry the Listen address',
      );
    },
  },
];
