// Row shapes and conversions shared by the SQLite and PostgreSQL stores (same column names).
import type { StateOf } from '../../codec/index.js';
import {
  isUsername,
  stale,
  type MsRef,
  type Stale,
  type ContactEntry,
  type MsInfo,
  type PendingAdd,
  type Presence,
  type SearchField,
  type SearchPage,
  type StoreLimits,
  type UserRecord,
  type UserStatus,
} from './store.js';

/** A user's record state: the user-record machine (spec/machines/user-record.json). */
export type UserState = StateOf<'user-record'>;

export interface UserRow {
  username: string;
  salt: string;
  iterations: number;
  stored_key: string;
  server_key: string;
  public_key: string;
  key_blob: string;
  full_name: string;
  location: string;
  about: string;
  created_at: number;
  epoch: number;
  state: UserState;
  ms_id: string | null;
  ms_incarnation: number | null;
  lease_expires_at: number | null;
  address: string | null;
  status: string | null;
}
export interface MsRow {
  ms_id: string;
  incarnation: number;
  listen: string;
  capacity: number;
  load: number;
  enrolled_at: number;
  last_seen: number;
  lease_expires_at: number;
}
export interface PeerRow {
  user: string;
  state: UserState;
  status: string | null;
  address: string | null;
  public_key: string;
  blocked_by_them: number;
}

export function userFromRow(r: UserRow): UserRecord {
  const base = {
    username: r.username,
    verifier: { salt: r.salt, iterations: r.iterations, storedKey: r.stored_key, serverKey: r.server_key },
    publicKey: r.public_key,
    keyBlob: r.key_blob,
    profile: { fullName: r.full_name, location: r.location, about: r.about },
    createdAt: r.created_at,
    epoch: r.epoch,
  };
  if (r.state === 'locked') {
    return {
      ...base,
      state: {
        kind: 'locked',
        msId: r.ms_id ?? '',
        incarnation: r.ms_incarnation ?? 0,
        epoch: r.epoch,
        leaseExpiresAt: r.lease_expires_at ?? 0,
      },
    };
  }
  if (r.state === 'online') {
    return {
      ...base,
      state: {
        kind: 'online',
        msId: r.ms_id ?? '',
        incarnation: r.ms_incarnation ?? 0,
        epoch: r.epoch,
        address: r.address ?? '',
        status: (r.status ?? 'online') as UserStatus,
      },
    };
  }
  return { ...base, state: { kind: 'offline' } };
}

export function msFromRow(r: MsRow): MsInfo {
  return {
    msId: r.ms_id,
    incarnation: r.incarnation,
    listen: r.listen,
    capacity: r.capacity,
    load: r.load,
    enrolledAt: r.enrolled_at,
    lastSeen: r.last_seen,
    leaseExpiresAt: r.lease_expires_at,
  };
}

/** The contact entry of a buddy as `viewer` sees it. */
export function buddyEntry(p: PeerRow): ContactEntry {
  if (p.state === 'online' && !p.blocked_by_them) {
    return {
      user: p.user,
      relation: 'buddy',
      status: (p.status ?? 'online') as Presence,
      address: p.address ?? '',
      publicKey: p.public_key,
    };
  }
  return { user: p.user, relation: 'buddy', status: 'offline' };
}

export function byUser(a: { user: string }, b: { user: string }): number {
  return a.user < b.user ? -1 : a.user > b.user ? 1 : 0;
}

/** A contact list from its parts: buddies (with presence), ADDs sent, users blocked. A blocked
 *  user shows as 'blocked' only, whatever else it is [BLOCK-3]. */
export function mergeContacts(buddyPeers: PeerRow[], outgoing: string[], blockedList: string[]): ContactEntry[] {
  return contactList(buddyPeers.map(buddyEntry), outgoing, blockedList);
}

/** The same from buddy entries already made (an array the result may reuse). */
export function contactList(buddies: ContactEntry[], outgoing: string[], blockedList: string[]): ContactEntry[] {
  let out = buddies;
  if (blockedList.length > 0) {
    const blocked = new Set(blockedList);
    out = buddies.filter((e) => !blocked.has(e.user));
    for (const to of outgoing) if (!blocked.has(to)) out.push({ user: to, relation: 'pending', status: 'offline' });
    for (const b of blocked) out.push({ user: b, relation: 'blocked', status: 'offline' });
  } else {
    for (const to of outgoing) out.push({ user: to, relation: 'pending', status: 'offline' });
  }
  return out.sort(byUser);
}

/** [LOCK-6] Why a session-bound request with `epoch` (from `ms`, when given) is refused, or null. */
export function sessionStale(
  r: Pick<UserRow, 'epoch' | 'state' | 'ms_id' | 'ms_incarnation'>,
  epoch: number,
  ms: MsRef | undefined,
  want: Exclude<UserState, 'offline'>,
): Stale | null {
  if (r.epoch !== epoch) return stale('epoch');
  if (r.state !== want) return stale('state');
  if (ms && (r.ms_id !== ms.msId || r.ms_incarnation !== ms.incarnation)) return stale('wrong-ms');
  return null;
}

export function sortPending(p: PendingAdd[]): PendingAdd[] {
  return p.sort((a, b) => a.time - b.time || (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
}

/** Shared by both stores: the query rules of SEARCH. */
export function checkSearch(
  query: string,
  field: SearchField,
  cursor: string | null,
  limits: StoreLimits,
): SearchPage | null {
  if (
    typeof query !== 'string' ||
    query.length === 0 ||
    query.length > limits.maxQueryLength ||
    !/^[\t -~]*$/.test(query)
  ) {
    return { ok: false, error: 'invalid', detail: 'query' }; // [SEARCH-2]
  }
  if (!['username', 'name', 'location', 'any'].includes(field)) return { ok: false, error: 'invalid', detail: 'field' };
  if (cursor !== null && !isUsername(cursor)) return { ok: false, error: 'invalid', detail: 'cursor' };
  return null;
}

export function searchPage(
  rows: Array<{ username: string; full_name: string; location: string }>,
  n: number,
): SearchPage {
  const more = rows.length > n;
  const page = more ? rows.slice(0, n) : rows;
  return {
    ok: true,
    results: page.map((r) => ({
      username: r.username,
      ...(r.full_name ? { fullName: r.full_name } : {}),
      ...(r.location ? { location: r.location } : {}),
    })),
    nextCursor: more ? page[page.length - 1].username : null,
  };
}
