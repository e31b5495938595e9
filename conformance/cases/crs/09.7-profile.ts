// [§9.7 PROFILE] [§5.15 PROFILE], CRS side: a read of one's own or another user's profile, a change of
// one's own (fields not given kept, an empty value deletes), and the refusals (another user's
// profile, an unknown user, a stale epoch, a value over maxTextValue).
import type { CaseDef } from '../../lib/case.js';
import { expectProfile, profile } from '../../lib/crs-accounts.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

export const profileCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/profile/1',
    section: 'profile',
    title:
      "PROFILE with fields changes only those of the sender's profile (an empty value deletes one); a read returns the profile, one's own or another user's",
    reqs: ['PROFILE-1', 'PROFILE-2', 'PROFILE-3'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const sb = await ctx.login(m1, bob!);
      expectProfile(ctx, await profile(sa), 'PROFILE-1', 'a read of a fresh profile', alice!.name, {});
      expectProfile(
        ctx,
        await profile(sa, [
          ['Full-name', 'Alice Kit'],
          ['Location', 'Lisbon'],
        ]),
        'PROFILE-2',
        'PROFILE Full-name and Location',
        alice!.name,
        { 'Full-name': 'Alice Kit', Location: 'Lisbon' },
      );
      expectProfile(
        ctx,
        await profile(sa, [['About', 'testing the CRS']]),
        'PROFILE-2',
        'PROFILE About alone (the other fields are kept)',
        alice!.name,
        { 'Full-name': 'Alice Kit', Location: 'Lisbon', About: 'testing the CRS' },
      );
      expectProfile(
        ctx,
        await profile(sa, [
          ['User', alice!.name],
          ['Location', ''],
        ]),
        'PROFILE-2',
        'PROFILE User: self with an empty Location (deletes it)',
        alice!.name,
        { 'Full-name': 'Alice Kit', About: 'testing the CRS' },
      );
      expectProfile(
        ctx,
        await profile(sb, [['User', alice!.name]]),
        'PROFILE-1',
        "another user's read of the profile",
        alice!.name,
        { 'Full-name': 'Alice Kit', About: 'testing the CRS' },
      );
      expectProfile(ctx, await profile(sb), 'PROFILE-1', "a read of one's own untouched profile", bob!.name, {});
    },
  },
  {
    id: 'crs/profile/2',
    section: 'profile',
    title:
      "PROFILE refusals: a change of another user's profile 403, a read of an unknown user 404, a stale epoch 410, a Full-name over maxTextValue 422; none changes the profile",
    reqs: ['PROFILE-3', 'PROFILE-1', 'USER-2', 'LOCK-6', 'HDR-TEXT-1', 'ERR-1', 'WIRE-22'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const sb = await ctx.login(m1, bob!);
      checkError(
        ctx,
        await profile(sb, [
          ['User', alice!.name],
          ['Full-name', 'Not Alice'],
        ]),
        'ERR_FORBIDDEN',
        "PROFILE changing another user's Full-name",
        'PROFILE-3',
      );
      checkError(
        ctx,
        await profile(sb, [['User', ctx.uniq('nobody')]]),
        'ERR_UNKNOWN_USER',
        'PROFILE read of an unregistered user',
        'PROFILE-1',
      );
      checkError(
        ctx,
        await profile(sa, [['Full-name', 'Stale Alice']], String(Number(sa.epoch) + 7)),
        'ERR_STALE_EPOCH',
        'PROFILE change with a stale epoch',
        'LOCK-6',
      );
      const max = ctx.limits.get('maxTextValue');
      checkError(
        ctx,
        await profile(sa, [['Full-name', 'a'.repeat(max + 1)]]),
        'ERR_BAD_VALUE',
        `PROFILE Full-name of ${max + 1} characters (maxTextValue ${max})`,
        'HDR-TEXT-1',
      );
      expectProfile(ctx, await profile(sa), 'PROFILE-3', 'the profile after the refused changes', alice!.name, {});
    },
  },
];
