// [§9.7 PROFILE], client side: `profile [USER]` ([§90.6 The Client Control Interface]) reads a profile with
// PROFILE, naming the user whose profile it wants and carrying no profile field (fields would change the
// sender's own profile [PROFILE-2]); the result holds what the MS answered.
import { header, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';

const FIELDS = ['Full-name', 'Location', 'About'] as const;
const tagOf = (m: RequestMessage): [string, string][] => (header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : []);

export const clientProfileCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/profile/1',
    section: 'profile',
    title:
      "profile USER sends PROFILE with User: USER and no profile field, and reports the answer; profile alone reads one's own",
    reqs: ['CTL-2'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const c = await ctx.startLoggedIn(a);
      const other = ctx.uniq('q');
      const fullName = `Kit ${ctx.uniq('n')}`;
      // The kit MS answers a read with the user asked for (the sender when User is absent) and a Full-name.
      const ms = ctx.ms(a);
      const auto = ms.auto;
      // The kit MS's own handler still runs first: it records the request.
      ms.auto = (m, conn) => {
        const own = auto?.(m, conn) ?? undefined;
        if (m.method !== 'PROFILE') return own;
        return response(200, [...tagOf(m), ['User', header(m, 'User') ?? a.name], ['Full-name', fullName]]);
      };
      const r = await c.command(`profile ${other}`, ctx.timeout * 2);
      ctx.must(r?.event === 'ok', 'CTL-2', `profile ${other} failed: ${JSON.stringify(r)}`);
      const sent = ctx.msRequests(a, 'PROFILE');
      ctx.must(sent.length === 1, 'CTL-2', `profile ${other} must send one PROFILE, the client sent ${sent.length}`);
      const read = sent[0]!.msg;
      ctx.must(
        header(read, 'User') === other,
        'CTL-2',
        `profile ${other} must send PROFILE with User: ${other}, got User: ${header(read, 'User') ?? '(none)'}`,
      );
      ctx.must(
        FIELDS.every((f) => header(read, f) === undefined),
        'CTL-2',
        `a read must carry no profile field (it would change the sender's own profile), got ${FIELDS.filter((f) => header(read, f) !== undefined).join(', ')}`,
      );
      const got = (r as { profile?: Record<string, unknown> }).profile ?? {};
      ctx.must(
        Object.values(got).includes(other) && Object.values(got).includes(fullName),
        'CTL-2',
        `the result must report the profile the MS answered (User ${other}, Full-name ${fullName}), got ${JSON.stringify(got)}`,
      );
      const own = await c.command('profile', ctx.timeout * 2);
      ctx.must(own?.event === 'ok', 'CTL-2', `profile failed: ${JSON.stringify(own)}`);
      const second = ctx.msRequests(a, 'PROFILE')[1]?.msg;
      ctx.must(second, 'CTL-2', 'profile (no user) must send PROFILE');
      ctx.must(
        (header(second, 'User') ?? a.name) === a.name && FIELDS.every((f) => header(second, f) === undefined),
        'CTL-2',
        `profile (no user) must read one's own profile: no User or User ${a.name}, no profile field; got User ${header(second, 'User')}`,
      );
    },
  },
];
