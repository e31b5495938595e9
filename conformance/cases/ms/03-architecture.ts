// [§3 Architecture], MS side: the rules of a link over time. A request the MS relays to its CRS that
// is never answered is given up after requestTimeout by closing the CRS link [CONN-5].
import { request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { MsContext } from '../../lib/ms-context.js';

export const msArchitectureCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/conn/2',
    section: 'conn',
    level: 'SHOULD',
    title:
      'a PROFILE the MS relays to its CRS that the CRS never answers (while the CRS keeps the link busy with pushes): the MS should give it up after requestTimeout and close its CRS link',
    reqs: ['CONN-5'],
    async run(ctx: MsContext) {
      const rt = ctx.limits.get('requestTimeout');
      if (rt > 5000 && !ctx.opts.slow)
        ctx.skip(`requestTimeout is ${rt} ms; pass --slow, or --set requestTimeout=N matching the target`);
      const u = ctx.user();
      const c = await ctx.login(u);
      const link = ctx.crs.link;
      if (!link || link.closed) ctx.skip('the MS under test has no CRS link');
      const enrolled = ctx.crs.enrollments;
      // The kit CRS holds the PROFILE and everything after it (answers stay in order [CONN-9]).
      ctx.crs.override = (req) => (req.method === 'PROFILE' ? 'hold' : undefined);
      const n = ctx.crs.requests.length;
      c.send(request('PROFILE', [['User', u.name]]));
      if (!(await ctx.crs.until(() => ctx.crs.requests.slice(n).some((r) => r.method === 'PROFILE'), ctx.timeout)))
        ctx.skip('the MS did not relay the PROFILE to the kit CRS');
      const t0 = Date.now();
      // Harmless pushes (PRESENCE of a user no client here has) keep the MS's silence timer from ending
      // the link first [HB-4]: only the unanswered request can.
      const ghost = ctx.uniq('ghost');
      const every = Math.max(50, Math.floor(ctx.limits.get('msHeartbeatInterval') / 2));
      const keep = setInterval(() => {
        if (!link.closed)
          ctx.crs.push('PRESENCE', [
            ['User', ghost],
            ['Status', 'offline'],
          ]);
      }, every);
      let closed: boolean;
      try {
        closed = await link.closedWithin(rt + Math.max(1000, ctx.timeout));
      } finally {
        clearInterval(keep);
        ctx.crs.reset();
      }
      ctx.should(
        closed,
        'CONN-5',
        `the PROFILE the MS relayed had no answer from the CRS for ${Date.now() - t0} ms (requestTimeout ${rt}), and the MS kept its CRS link open: it should give the request up and close the link`,
      );
      // The next cases need the MS enrolled again [ENROLL-12].
      if (closed && !(await ctx.crs.until(() => ctx.crs.enrollments > enrolled, 20000)))
        ctx.note('the MS did not enroll again within 20 s after closing its CRS link');
    },
  },
];
