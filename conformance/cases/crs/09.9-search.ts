// [§9.9 SEARCH] [§5.17 SEARCH], CRS side: matches in ascending username order with the profile's
// Full-name and Location and nothing more, pages bounded by Limit with a Next-cursor that gives the
// next page, each Field, and the refusals (empty or over-long Query, a stale epoch).
import { header, parseRecords, type Header, type ResponseMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { rec, type CrsContext, type Session, type TestUser } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';
import { expectProfile, profile, registerNamed, search } from '../../lib/crs-accounts.js';

/** The result records of a 200 SEARCH answer (a failure of [SEARCH-1] when they do not parse). */
function results(ctx: CrsContext, r: ResponseMessage, what: string): Header[][] {
  ctx.expectStatus(r, 200, 'SEARCH-1', what);
  try {
    return r.body.length ? parseRecords(r.body) : [];
  } catch (e) {
    ctx.must(false, 'SEARCH-1', `${what}: the results do not parse as records: ${(e as Error).message}`);
    return [];
  }
}

const names = (rs: Header[][]): string[] => rs.map((r) => rec(r, 'User') ?? '?');

/** The usernames a SEARCH for `query` in `field` (no Field header: any) finds, checked as results() does. */
async function found(
  ctx: CrsContext,
  s: Session,
  query: string,
  field: 'name' | 'location' | 'username' | undefined,
  what: string,
): Promise<string[]> {
  const hs: [string, string][] = [['Query', query]];
  if (field) hs.push(['Field', field]);
  return names(results(ctx, await search(s, hs), what));
}

/** Three registered users whose names share a prefix no other user has: `${prefix}a`, `b`, `c`. */
async function threeWithPrefix(ctx: CrsContext): Promise<{ prefix: string; users: TestUser[] }> {
  const prefix = ctx.uniq('s');
  // Registered out of order, so that an answer in store order is not by chance in username order.
  const users = await registerNamed(ctx, prefix, ['c', 'a', 'b']);
  users.sort((x, y) => (x.name < y.name ? -1 : 1));
  return { prefix, users };
}

export const searchCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/search/1',
    section: 'search',
    title:
      'SEARCH by username prefix: ascending order, pages of at most Limit with a Next-cursor that gives the next page, records with User, Full-name and Location only',
    reqs: ['SEARCH-1', 'SEARCH-3', 'SEARCH-5', 'PROFILE-2'],
    async run(ctx: CrsContext) {
      const { prefix, users } = await threeWithPrefix(ctx);
      const m1 = await ctx.enroll();
      // The first match (in username order) gets a profile, and is online: its presence, address and
      // key must not show in the results.
      const sa = await ctx.login(m1, users[0]!);
      const setp = await profile(sa, [
        ['Full-name', 'Kit Searcher'],
        ['Location', 'Porto'],
        ['About', 'not in results'],
      ]);
      ctx.pre(setp.status === 200, 'PROFILE-2', `PROFILE to set up the search got ${setp.status}`);
      const page1 = await search(sa, [
        ['Query', prefix],
        ['Field', 'username'],
        ['Limit', '2'],
      ]);
      const r1 = results(ctx, page1, 'SEARCH Field: username Limit: 2');
      ctx.must(r1.length <= 2, 'SEARCH-3', `a page must hold at most Limit (2) records, got ${r1.length}`);
      ctx.must(
        names(r1).join() ===
          users
            .slice(0, 2)
            .map((u) => u.name)
            .join(),
        'SEARCH-1',
        `the first page must be the first two matches in ascending username order (${users
          .slice(0, 2)
          .map((u) => u.name)
          .join(', ')}), got ${names(r1).join(', ') || 'nothing'}`,
      );
      const first = r1[0];
      ctx.must(
        first && rec(first, 'Full-name') === 'Kit Searcher' && rec(first, 'Location') === 'Porto',
        'SEARCH-1',
        `a result must carry the Full-name and Location of the profile, got ${JSON.stringify(first ?? null)}`,
      );
      for (const r of r1) {
        const extra = r.map(([n]) => n).filter((n) => !['User', 'Full-name', 'Location'].includes(n));
        ctx.must(
          extra.length === 0,
          'SEARCH-5',
          `a search result must not carry ${extra.join(', ')} (presence, address, key, contacts or profile beyond Full-name and Location)`,
        );
      }
      const cursor = header(page1, 'Next-cursor');
      ctx.must(cursor, 'SEARCH-3', 'a page followed by more results must carry Next-cursor');
      const r2 = results(
        ctx,
        await search(sa, [
          ['Query', prefix],
          ['Field', 'username'],
          ['Limit', '2'],
          ['Cursor', cursor],
        ]),
        'SEARCH with the Next-cursor',
      );
      ctx.must(
        names(r2).join() === users[2]!.name,
        'SEARCH-3',
        `the page after the cursor must hold the remaining match ${users[2]!.name}, got ${names(r2).join(', ') || 'nothing'}`,
      );
      const all = results(
        ctx,
        await search(sa, [
          ['Query', prefix.toUpperCase()],
          ['Field', 'username'],
        ]),
        'SEARCH by the prefix in upper case, no Limit',
      );
      ctx.must(
        names(all).join() === users.map((u) => u.name).join(),
        'SEARCH-1',
        `a username search is a case-insensitive prefix match: expected ${users.map((u) => u.name).join(', ')}, got ${names(all).join(', ') || 'nothing'}`,
      );
    },
  },
  {
    id: 'crs/search/2',
    section: 'search',
    title: 'SEARCH by name and by location matches a substring of the profile field; Field any matches all three',
    reqs: ['SEARCH-1', 'PROFILE-2'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const sb = await ctx.login(m1, bob!);
      const token = ctx.uniq('z').replace(/\W/g, '');
      expectProfile(
        ctx,
        await profile(sa, [
          ['Full-name', `Ann ${token}Q`],
          ['Location', 'Nowhere'],
        ]),
        'PROFILE-2',
        'PROFILE to set up the search',
        alice!.name,
        { 'Full-name': `Ann ${token}Q`, Location: 'Nowhere' },
      );
      expectProfile(
        ctx,
        await profile(sb, [['Location', `Town ${token}Q`]]),
        'PROFILE-2',
        'PROFILE to set up the search',
        bob!.name,
        { Location: `Town ${token}Q` },
      );
      const q = token.slice(2).toLowerCase();
      const byName = await found(ctx, sb, q, 'name', 'SEARCH Field: name');
      ctx.must(
        byName.join() === alice!.name,
        'SEARCH-1',
        `Field name must match a substring of Full-name only: expected ${alice!.name}, got ${byName.join(', ') || 'nothing'}`,
      );
      const byLoc = await found(ctx, sa, q, 'location', 'SEARCH Field: location');
      ctx.must(
        byLoc.join() === bob!.name,
        'SEARCH-1',
        `Field location must match a substring of Location only: expected ${bob!.name}, got ${byLoc.join(', ') || 'nothing'}`,
      );
      // Each Field matches its own field only: the usernames are not in either profile field, and
      // the token is in the profile fields only (a store that ORs the username prefix into a name or
      // location search, or the profile into a username search, fails here).
      for (const field of ['name', 'location'] as const) {
        const got = await found(ctx, sa, alice!.name, field, `SEARCH Field: ${field} with a Query that is a username`);
        ctx.must(
          !got.includes(alice!.name),
          'SEARCH-1',
          `Field ${field} must not match usernames: Query ${alice!.name} (in no profile field) found ${got.join(', ')}`,
        );
      }
      const byUser = await found(ctx, sa, 'Ann', 'username', 'SEARCH Field: username with a Query in a Full-name only');
      ctx.must(
        !byUser.includes(alice!.name),
        'SEARCH-1',
        `Field username must match usernames only: Query Ann (in ${alice!.name}'s Full-name) found ${byUser.join(', ')}`,
      );
      const byAny = await found(ctx, sa, q, undefined, 'SEARCH with no Field (any)');
      const want = [alice!.name, bob!.name].sort();
      ctx.must(
        byAny.join() === want.join(),
        'SEARCH-1',
        `Field any (the default) must match name and location: expected ${want.join(', ')}, got ${byAny.join(', ') || 'nothing'}`,
      );
    },
  },
  {
    id: 'crs/search/3',
    section: 'search',
    title: 'SEARCH refusals: an empty Query and one over maxQueryLength 422, a stale epoch 410',
    reqs: ['SEARCH-2', 'LOCK-6', 'ERR-1', 'WIRE-22'],
    async run(ctx: CrsContext) {
      const [alice] = await ctx.users(1);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const max = ctx.limits.get('maxQueryLength');
      checkError(ctx, await search(sa, [['Query', '']]), 'ERR_BAD_VALUE', 'SEARCH with an empty Query', 'SEARCH-2');
      checkError(
        ctx,
        await search(sa, [['Query', 'q'.repeat(max + 1)]]),
        'ERR_BAD_VALUE',
        `SEARCH with a Query of ${max + 1} characters (maxQueryLength ${max})`,
        'SEARCH-2',
      );
      checkError(
        ctx,
        await search(sa, [['Query', 'kit']], String(Number(sa.epoch) + 9)),
        'ERR_STALE_EPOCH',
        'SEARCH with a stale epoch',
        'LOCK-6',
      );
      const ok = await search(sa, [['Query', 'q'.repeat(max)]]);
      ctx.expectStatus(ok, 200, 'SEARCH-2', `SEARCH with a Query of exactly maxQueryLength (${max}) characters`);
    },
  },
  {
    id: 'crs/search/4',
    section: 'search',
    title:
      'SEARCH Cursor: forged cursors (any token) are answered 200 with a page within Limit or 422 ERR_BAD_VALUE; a Next-cursor continues after the last username returned even when users that sort before it are registered in between',
    reqs: ['SEARCH-4', 'SEARCH-3', 'SEARCH-1', 'ERR-1', 'WIRE-22'],
    async run(ctx: CrsContext) {
      const prefix = ctx.uniq('k');
      const [b] = await registerNamed(ctx, prefix, ['b', 'd', 'f', 'h']);
      const m1 = await ctx.enroll();
      const sb = await ctx.login(m1, b!);
      const page = (cursor?: string): Promise<ResponseMessage> =>
        search(sb, [
          ['Query', prefix],
          ['Field', 'username'],
          ['Limit', '2'],
          ...(cursor ? [['Cursor', cursor] as [string, string]] : []),
        ]);
      const p1 = await page();
      const r1 = names(results(ctx, p1, 'SEARCH Field: username Limit: 2'));
      ctx.must(
        r1.join() === `${prefix}b,${prefix}d`,
        'SEARCH-1',
        `the first page must be ${prefix}b, ${prefix}d, got ${r1.join(', ')}`,
      );
      const cursor = header(p1, 'Next-cursor');
      ctx.must(cursor, 'SEARCH-3', 'a page followed by more results must carry Next-cursor');
      // [SEARCH-4] the cursor holds the last username returned, not an offset: users registered before
      // it (a, c) do not move the next page, and one registered after it (e) is on it.
      await registerNamed(ctx, prefix, ['a', 'c', 'e']);
      const r2 = names(results(ctx, await page(cursor), 'SEARCH with the Next-cursor, after three more registrations'));
      ctx.should(
        r2.join() === `${prefix}e,${prefix}f`,
        'SEARCH-4',
        `the page after ${prefix}d must be ${prefix}e, ${prefix}f (the cursor encodes the last username returned), got ${r2.join(', ') || 'nothing'}: the cursor is a position that registrations shift`,
      );
      // [SEARCH-4] a forged Cursor cannot make the CRS do unbounded work: each is answered, at once,
      // with a bounded page or a refusal.
      for (const forged of ['~', '0', 'z'.repeat(128), '-'.repeat(128), `${prefix}a.`, '9'.repeat(40)]) {
        const t0 = Date.now();
        const r = await page(forged);
        const took = Date.now() - t0;
        if (r.status === 422) {
          checkError(ctx, r, 'ERR_BAD_VALUE', `SEARCH with the forged Cursor ${forged.slice(0, 20)}`, 'SEARCH-4');
          continue;
        }
        ctx.must(
          r.status === 200,
          'SEARCH-4',
          `a SEARCH with the forged Cursor ${forged.slice(0, 20)} must get 200 or 422 ERR_BAD_VALUE, got ${r.status}`,
        );
        const n = results(ctx, r, `SEARCH with the forged Cursor ${forged.slice(0, 20)}`).length;
        ctx.must(n <= 2, 'SEARCH-4', `a page after a forged Cursor must stay within Limit 2, got ${n} records`);
        ctx.note(`forged Cursor ${forged.slice(0, 20)}: 200 with ${n} records in ${took} ms`);
      }
    },
  },
];
