// Section "session lifetime" (spec 11), MS side.
import type { CaseDef } from '../../lib/case.js';
import type { MsContext } from '../../lib/ms-context.js';
import { since, sentSince } from '../../lib/ms-context.js';

export const msHeartbeatCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/heartbeat/1',
    section: 'heartbeat',
    title: 'a client silent for sessionTimeout is logged out: OFFLINE to the CRS, and the connection closed',
    reqs: ['HB-2'],
    async run(ctx: MsContext) {
      const limit = ctx.limits.get('sessionTimeout');
      if (limit > 5000 && !ctx.opts.slow)
        ctx.skip(`sessionTimeout is ${limit} ms; pass --slow or --set sessionTimeout=N matching the MS`);
      const u = ctx.user();
      const c = await ctx.login(u);
      c.auto = () => undefined; // silent: not even PING answers
      const n = since(ctx);
      ctx.must(
        await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), limit * 3 + ctx.timeout),
        'HB-2',
        `the MS must end a session silent for sessionTimeout (${limit} ms) with OFFLINE`,
      );
      ctx.must(await c.closedWithin(ctx.timeout), 'HB-2', "the MS must close the silent client's connection");
    },
  },
];
