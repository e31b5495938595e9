// Account helpers of the CRS-role cases (PROFILE and SEARCH, [§9.7 PROFILE] [§9.9 SEARCH]): requests through a
// session's MS link and the check of a profile answer.
import { header, type ResponseMessage } from '../../codec/index.js';
import type { CrsContext, Session, TestUser } from './crs-context.js';

export type ProfileFields = Partial<Record<'Full-name' | 'Location' | 'About', string>>;

/** PROFILE through the session's MS link: From and Epoch of the session, then the given headers. */
export function profile(s: Session, headers: [string, string][] = [], epoch = s.epoch): Promise<ResponseMessage> {
  return s.ms.req('PROFILE', [['From', s.user.name], ['Epoch', epoch], ...headers]);
}

/** SEARCH through the session's MS link. */
export function search(s: Session, headers: [string, string][], epoch = s.epoch): Promise<ResponseMessage> {
  return s.ms.req('SEARCH', [['From', s.user.name], ['Epoch', epoch], ...headers]);
}

/** Check a 200 PROFILE answer: User, and exactly the profile fields expected (absent ones absent). */
export function expectProfile(
  ctx: CrsContext,
  r: ResponseMessage,
  req: string,
  what: string,
  user: string,
  want: ProfileFields,
): void {
  ctx.expectStatus(r, 200, req, what);
  ctx.must(header(r, 'User') === user, req, `${what}: the answer must carry User ${user}, got ${header(r, 'User')}`);
  for (const f of ['Full-name', 'Location', 'About'] as const) {
    const got = header(r, f);
    const exp = want[f];
    ctx.must(
      exp === undefined ? got === undefined || got === '' : got === exp,
      req,
      `${what}: ${f} must be ${exp === undefined ? 'absent' : JSON.stringify(exp)}, got ${got === undefined ? 'none' : JSON.stringify(got)}`,
    );
  }
}

/** Register users named `${prefix}${suffix}` through the provisioning link (out of order is fine). */
export async function registerNamed(ctx: CrsContext, prefix: string, suffixes: string[]): Promise<TestUser[]> {
  const ms = await ctx.provisioner();
  const out: TestUser[] = [];
  for (const suffix of suffixes) {
    const u = ctx.makeUser(`${prefix}${suffix}`);
    ctx.preStatus(await ms.req('REGISTER', ctx.registerHeaders(u)), 201, 'REGISTER-1', `REGISTER ${u.name}`);
    out.push(u);
  }
  return out;
}
