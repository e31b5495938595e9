// CRS accounts [§9.7 PROFILE] [§9.8 PASSWD] [§9.9 SEARCH]: REGISTER, PROFILE, PASSWD and SEARCH on the store.
import type { Header, RequestOf, SearchField } from '../../codec/index.js';
import type { Verifier } from '../store/store.js';
import { requiredHeaderOf, headerOf } from '../../codec/index.js';
import { ok, fail, fields, records } from '../proto/messages.js';
import type { CrsContext, MsHandlers } from './context.js';

/** The SCRAM verifier a REGISTER or PASSWD carries [§6.1 The Password Verifier]. */
function verifierOf(m: RequestOf<'REGISTER' | 'PASSWD'>): Verifier {
  return {
    salt: requiredHeaderOf(m, 'Salt'),
    iterations: Number(requiredHeaderOf(m, 'Iterations')),
    storedKey: requiredHeaderOf(m, 'Stored-key'),
    serverKey: requiredHeaderOf(m, 'Server-key'),
  };
}

/** The profile fields a PROFILE sets: those it carries (none: a read). */
function profileChange(m: RequestOf<'PROFILE'>): { fullName?: string; location?: string; about?: string } {
  const change: { fullName?: string; location?: string; about?: string } = {};
  const fn = headerOf(m, 'Full-name');
  const loc = headerOf(m, 'Location');
  const about = headerOf(m, 'About');
  if (fn !== undefined) change.fullName = fn;
  if (loc !== undefined) change.location = loc;
  if (about !== undefined) change.about = about;
  return change;
}

export function profileModule(crs: CrsContext): Pick<MsHandlers, 'REGISTER' | 'PROFILE' | 'PASSWD' | 'SEARCH'> {
  const s = crs.store;
  return {
    async REGISTER(_ms, m, now) {
      const r = await s.registerUser(
        {
          username: requiredHeaderOf(m, 'User'),
          verifier: verifierOf(m),
          publicKey: requiredHeaderOf(m, 'Public-key'),
          keyBlob: requiredHeaderOf(m, 'Key-blob'),
          profile: {
            fullName: headerOf(m, 'Full-name'),
            location: headerOf(m, 'Location'),
            about: headerOf(m, 'About'),
          },
        },
        now,
      );
      if (r.ok) return ok(201);
      return r.error === 'exists' ? fail('ERR_USER_EXISTS') : fail('ERR_BAD_VALUE', { Reason: r.detail });
    },
    async PROFILE(ms, m) {
      const from = requiredHeaderOf(m, 'From');
      const epoch = Number(requiredHeaderOf(m, 'Epoch'));
      const target = headerOf(m, 'User') ?? from;
      const change = profileChange(m);
      if (Object.keys(change).length > 0) {
        // [PROFILE-3] only one's own profile may be changed.
        if (target !== from) return fail('ERR_FORBIDDEN');
        const r = await s.setProfile({ user: from, epoch, ms: ms.ref }, change);
        if (!r.ok) return r.error === 'stale' ? fail('ERR_STALE_EPOCH') : fail('ERR_BAD_VALUE', { Reason: r.detail });
      } else {
        const chk = await s.checkSession(from, epoch, ms.ref);
        if (!chk.ok) return fail('ERR_STALE_EPOCH');
      }
      const p = await s.getProfile(target);
      if (!p) return fail('ERR_UNKNOWN_USER');
      return ok(200, {
        User: target,
        'Full-name': p.fullName || undefined,
        Location: p.location || undefined,
        About: p.about || undefined,
      });
    },
    async PASSWD(ms, m) {
      const r = await s.passwd(
        { user: requiredHeaderOf(m, 'User'), epoch: Number(requiredHeaderOf(m, 'Epoch')), ms: ms.ref },
        verifierOf(m),
        requiredHeaderOf(m, 'Key-blob'),
      );
      if (r.ok) return ok(200);
      return r.error === 'stale' ? fail('ERR_STALE_EPOCH') : fail('ERR_BAD_VALUE', { Reason: r.detail });
    },
    async SEARCH(ms, m) {
      const from = requiredHeaderOf(m, 'From');
      const chk = await s.checkSession(from, Number(requiredHeaderOf(m, 'Epoch')), ms.ref);
      if (!chk.ok) return fail('ERR_STALE_EPOCH');
      const limitH = headerOf(m, 'Limit');
      const limit = Math.min(
        limitH === undefined ? crs.limits.maxSearchResults : Number(limitH),
        crs.limits.maxSearchResults,
      ); // [SEARCH-3]
      const field = (headerOf(m, 'Field') ?? 'any') as SearchField;
      const page = await s.searchUsers(
        requiredHeaderOf(m, 'Query'),
        field,
        headerOf(m, 'Cursor') ?? null,
        Math.max(1, limit),
      );
      if (!page.ok) return fail('ERR_BAD_VALUE', { Reason: page.detail });
      const rec = records(
        page.results.map((u): Header[] =>
          fields({ User: u.username, 'Full-name': u.fullName || undefined, Location: u.location || undefined }),
        ),
      );
      return ok(200, { 'Next-cursor': page.nextCursor ?? undefined, 'Content-type': rec.contentType }, rec.body);
    },
  };
}
