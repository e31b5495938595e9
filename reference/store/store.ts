// The CRS's storage: ONE async interface for everything the Central Repository Server keeps
// ([§6.1 The Password Verifier] [§6.5 Identity Keys and the Sealed Key Blob] [§7 MS Enrollment and Discovery] [§8.3 The Lock and the Epoch] [§9 Presence, Contacts and the User's Data]), with two implementations that pass the same
// test suite: embedded SQLite (reference/store/sqlite.ts, the default) and PostgreSQL
// (reference/store/postgres.ts, several CRS processes on one database).
//
// Conventions
// - Every expected outcome is a value: a discriminated union on `ok` (and `error` when not ok).
//   Exceptions mean a broken store (disk, connection), never a protocol outcome.
// - Time is passed in (`now`, milliseconds since the Unix epoch) so that tests control it.
// - Every session-bound write names its actor with the epoch of the actor's lock grant; a write
//   whose epoch is not the user's current epoch, or whose user is not online, is refused with
//   `{ ok: false, error: 'stale' }` (the CRS answers 410 ERR_STALE_EPOCH) [LOCK-6]; when the
//   actor names its MS enrollment (`ms`), a write from another MS incarnation is refused too.
//   `{ user, admin: true }` skips that check: for the operator's CLI and for seeding test data.
// - Every operation is atomic, race-free among concurrent callers of one store and, for
//   PostgreSQL, among several processes on one database.
// - Changes are announced through `onChange` (in process for SQLite, LISTEN/NOTIFY for
//   PostgreSQL) to every store instance on the same data, the originating one included; an
//   event's `origin` is the `id` of the store instance that made the change.
import {
  LIMITS,
  VALUE_TYPES,
  type Decision,
  type LimitName,
  type Presence,
  type Relation,
  type SearchField,
  type Status,
  type ValueTypeName,
} from '../../codec/index.js';

// ---------------------------------------------------------------------------------------------
// Values

// The value unions are generated from spec/registry/value-types.json (generated/values.ts).
/** A presence state a user may set (value type `status`). */
export type UserStatus = Status;
/** A presence as seen by others (value type `presence`); relation of a contact (value type
 *  `relation`); an ADD answer (value type `decision`); the profile field a search matches. */
export type { Decision, Presence, Relation, SearchField };

/** SCRAM-SHA-256 verifier [§6.1 The Password Verifier]; every binary value in base64url without padding. */
export interface Verifier {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

export interface Profile {
  fullName: string;
  location: string;
  about: string;
}

/** A user as registered: no password, the private keys only inside the sealed `keyBlob`. */
export interface NewUser {
  username: string;
  verifier: Verifier;
  /** b64(Ed25519 public) + "." + b64(X25519 public) [§6.5 Identity Keys and the Sealed Key Blob]. */
  publicKey: string;
  /** v1.salt.log2N.iv.ciphertext [§6.5 Identity Keys and the Sealed Key Blob]. */
  keyBlob: string;
  profile?: Partial<Profile>;
}

/** An MS as one enrollment: the id and the incarnation of that enrollment. */
export interface MsRef {
  msId: string;
  incarnation: number;
}

/** The user record state machine [§12.4 User record (at the CRS)], [§8.3 The Lock and the Epoch]. `epoch` is the epoch of the current grant. */
export type UserState =
  | { kind: 'offline' }
  | { kind: 'locked'; msId: string; incarnation: number; epoch: number; leaseExpiresAt: number }
  | { kind: 'online'; msId: string; incarnation: number; epoch: number; address: string; status: UserStatus };

export interface UserRecord {
  username: string;
  verifier: Verifier;
  publicKey: string;
  keyBlob: string;
  profile: Profile;
  createdAt: number;
  /** The last epoch granted (persisted; raised at every lock grant, never lowered). */
  epoch: number;
  state: UserState;
}

/** One entry of a user's contact list, as LIST and the login bundle show it [§4.8 Record Bodies]. */
export interface ContactEntry {
  user: string;
  relation: Exclude<Relation, 'none'>;
  /** 'offline' unless a buddy, online, and neither blocks the other. */
  status: Presence;
  /** Present only when `relation` is 'buddy' and the contact is online (and not blocked). */
  address?: string;
  publicKey?: string;
}

/** An unanswered ADD [§9.3 ADD]: from `from` to `to`, sent at `time`. */
export interface PendingAdd {
  from: string;
  to: string;
  time: number;
}

/** What ONLINE returns to the MS ([§5.10 ONLINE] [§8.1 Login], step 5). */
export interface LoginBundle {
  keyBlob: string;
  publicKey: string;
  status: UserStatus;
  contacts: ContactEntry[];
  /** Incoming unanswered ADD requests, oldest first [ADD-9]. */
  pending: PendingAdd[];
}

export interface MsInfo extends MsRef {
  listen: string;
  capacity: number;
  load: number;
  enrolledAt: number;
  lastSeen: number;
  leaseExpiresAt: number;
}

export interface MsEnrollment extends MsRef {
  listen: string;
  capacity: number;
}

/** An online buddy that should see a user's presence (not blocked either way). */
export interface Watcher {
  user: string;
  msId: string;
  incarnation: number;
}

export interface SearchResult {
  username: string;
  fullName?: string;
  location?: string;
}

/** Who performs a session-bound operation: a logged-in user (epoch-checked, and checked to be
 *  held by `ms` when given [LOCK-6]) or the operator. */
export type Actor = { user: string; epoch: number; ms?: MsRef } | { user: string; admin: true };

// ---------------------------------------------------------------------------------------------
// Results

export type Stale = {
  ok: false;
  error: 'stale';
  /** Why: the epoch is not the current one, the user is not in the needed state, the lock's
   *  lease ended, or another MS (or incarnation) holds it. The CRS answers 410 for all. */
  detail: 'epoch' | 'state' | 'expired' | 'wrong-ms';
};
export type Unknown = { ok: false; error: 'unknown' };
export type Invalid = { ok: false; error: 'invalid'; detail: string };

export type LockResult =
  | { ok: true; epoch: number; leaseExpiresAt: number; verifier: Verifier }
  | Unknown
  /** [LOCK-2] 409 */
  | { ok: false; error: 'online' }
  /** [LOCK-1] 423 */
  | { ok: false; error: 'locked' }
  /** The MS is not enrolled with that incarnation (it must re-enroll). */
  | { ok: false; error: 'ms-unknown' };

export type OkResult = { ok: true };
export type OnlineResult = ({ ok: true } & LoginBundle) | Stale | Unknown;
export type OfflineResult = { ok: true; wasOnline: boolean } | Stale | Unknown;

export type RegisterResult = { ok: true } | { ok: false; error: 'exists' } | Invalid;
export type DeleteResult = { ok: true } | Unknown | { ok: false; error: 'online' };

export type EnrollResult =
  | { ok: true; leaseExpiresAt: number; replaced: null | { incarnation: number; freed: FreedUsers } }
  /** [ENROLL-6] an enrollment of this id with an equal or higher incarnation exists. */
  | { ok: false; error: 'conflict'; incarnation: number }
  | Invalid;
export type RenewResult = { ok: true; leaseExpiresAt: number } | { ok: false; error: 'ms-unknown' };
export type LeaveResult = { ok: true; freed: FreedUsers } | { ok: false; error: 'ms-unknown' };

/** Users an MS held: those online were set offline, those locked were unlocked. */
export interface FreedUsers {
  offline: string[];
  unlocked: string[];
}

export type AddResult =
  /** Stored; the target is online at `targetMs` and should get the push now (200). */
  | { ok: true; outcome: 'delivered'; time: number; targetMs: MsRef }
  /** Stored until answered or withdrawn; the target is offline (202). */
  | { ok: true; outcome: 'stored'; time: number }
  /** [ADD-8] The target had a pending ADD to the sender: both are buddies now (200). */
  | { ok: true; outcome: 'granted' }
  /** [BLOCK-6] The target blocks the sender: stored as pending in the sender's list, never
   *  delivered while the block lasts; answer 202 as if stored, revealing nothing. */
  | { ok: true; outcome: 'blocked-silently'; time: number }
  | { ok: false; error: 'unknown' }
  /** [ADD-4] 409: already buddies. */
  | { ok: false; error: 'buddy' }
  /** [ADD-4] 409: this ADD is pending already. */
  | { ok: false; error: 'duplicate' }
  /** [ADD-6] 403: an ADD to oneself. */
  | { ok: false; error: 'self' }
  /** [ADD-6] 403: the target is on the sender's own block list. */
  | { ok: false; error: 'forbidden' }
  /** [ADD-LIMIT-1] the sender's list is full, or [ADD-LIMIT-2] the target has too many pending (413). */
  | { ok: false; error: 'limit'; which: 'contacts' | 'pending' }
  | Stale;

export type AnswerResult =
  | { ok: true; outcome: 'granted' | 'denied' }
  /** [ADD-9] 404: no unanswered ADD from that user. */
  | { ok: false; error: 'no-pending' }
  | { ok: false; error: 'limit'; which: 'contacts' }
  | Stale;

export type RemoveResult =
  /** [REM-1] a buddy, both directions; [REM-3] one's unanswered ADD; [REM-4] a blocked user, unblocked. */
  | { ok: true; removed: Exclude<Relation, 'none'> }
  /** [REM-2] 404 */
  | { ok: false; error: 'not-contact' }
  | Stale;

export type BlockResult =
  /** [BLOCK-7] `already`: was blocked, nothing changed. */
  | { ok: true; already: boolean }
  | Unknown
  /** [BLOCK-7] 403 */
  | { ok: false; error: 'self' }
  /** [BLOCK-LIMIT-1] */
  | { ok: false; error: 'limit'; which: 'blocked' }
  | Stale;

/** 'not-blocked': [BLOCK-9] 404 ERR_NOT_CONTACT. */
export type UnblockResult = { ok: true } | { ok: false; error: 'not-blocked' } | Stale;

export type SearchPage = { ok: true; results: SearchResult[]; nextCursor: string | null } | Invalid;

export type ProfileResult = { ok: true } | Stale | Invalid;
export type PasswdResult = { ok: true } | Stale | Invalid;
export type SessionCheck = { ok: true } | Stale | Unknown;

// ---------------------------------------------------------------------------------------------
// Change feed

export type StoreEvent =
  /** A user's presence changed. With `to`, only that user is to be told (a block/unblock). */
  | {
      type: 'presence';
      origin: string;
      user: string;
      status: Presence;
      msId?: string;
      address?: string;
      publicKey?: string;
      to?: string;
    }
  /** An entry of `owner`'s contact list changed; relation 'none' = removed. */
  | {
      type: 'contact';
      origin: string;
      owner: string;
      contact: ContactEntry | { user: string; relation: 'none'; status: 'offline' };
    }
  /** A new ADD to push to `to` when online [ADD-2] (none for an ADD withheld by a block). */
  | { type: 'add'; origin: string; from: string; to: string; time: number }
  /** `from` answered the ADD that `to` had sent. */
  | { type: 'answer'; origin: string; from: string; to: string; decision: Decision }
  | { type: 'ms-enrolled'; origin: string; msId: string; incarnation: number }
  | { type: 'ms-gone'; origin: string; msId: string; incarnation: number; reason: 'left' | 'expired' | 'replaced' };

export type StoreListener = (event: StoreEvent) => void;

// ---------------------------------------------------------------------------------------------
// The interface

export interface Store {
  /** Identifies this store instance in the `origin` of the events it causes. */
  readonly id: string;
  readonly kind: 'sqlite' | 'postgres';
  readonly limits: StoreLimits;

  // Users
  registerUser(user: NewUser, now: number): Promise<RegisterResult>;
  getUser(username: string): Promise<UserRecord | null>;
  /** Usernames in order, after `cursor`; for the operator's CLI. */
  listUsers(cursor: string | null, limit: number): Promise<string[]>;
  countUsers(): Promise<number>;
  /** Deletes a user and every relation naming it; refused while locked or online unless `force`. */
  deleteUser(username: string, force?: boolean): Promise<DeleteResult>;

  // The lock and the session [§8.3 The Lock and the Epoch]
  /** [LOCK-1] [LOCK-2] Grant the login lock: offline, or locked with an expired lease. Raises the epoch. */
  tryLock(username: string, ms: MsRef, now: number, leaseMs: number): Promise<LockResult>;
  /** [LOCK-8] Release a lock without logging in (wrong password): current epoch (from the holder
   *  `ms` when given); a record already offline with that epoch is answered ok and unchanged. */
  unlock(username: string, epoch: number, ms?: MsRef): Promise<OkResult | Stale | Unknown>;
  /** [LOGIN-10] [LOCK-11] Convert the lock into a session: current epoch, lease not expired, held by
   *  that same MS enrollment, which is still enrolled. Returns the login bundle [LOGIN-12]. */
  goOnline(
    username: string,
    epoch: number,
    ms: MsRef,
    address: string,
    status: UserStatus,
    now: number,
  ): Promise<OnlineResult>;
  /** [LOGOUT-5] End the session (or the lock) of that epoch; already offline with it: ok, unchanged. */
  goOffline(username: string, epoch: number, ms?: MsRef): Promise<OfflineResult>;
  /** [PRESENCE-3] */
  setStatus(username: string, epoch: number, status: UserStatus, ms?: MsRef): Promise<OkResult | Stale | Unknown>;
  /** Is `epoch` the current epoch of an online `username` (held by `ms` when given)? For session-bound reads. */
  checkSession(username: string, epoch: number, ms?: MsRef): Promise<SessionCheck>;
  /** Free every lock whose lease ended at or before `now`; returns those users. */
  expireLocks(now: number): Promise<string[]>;
  /** [LOCK-9] Set offline every user online or locked at `msId` (only incarnations below `olderThanIncarnation` when given). */
  offlineAllOfMs(msId: string, olderThanIncarnation?: number): Promise<FreedUsers>;
  /** [PERSIST-2] A CRS starting: no MS enrolled, every user record offline (epochs kept). Call it at
   *  the start of the only CRS process on the data (never from tools such as `imsp user`). */
  resetSessions(): Promise<FreedUsers>;

  // Messaging Servers
  /** [ENROLL-6] Enroll; a higher incarnation replaces the old one and frees all its users. */
  enrollMs(ms: MsEnrollment, now: number, leaseMs: number): Promise<EnrollResult>;
  /** Renew the lease of that enrollment (every message of the MS), optionally recording its load. */
  renewMs(ms: MsRef, now: number, leaseMs: number, load?: number): Promise<RenewResult>;
  /** De-enroll (LEAVE): frees all its users. */
  leaveMs(ms: MsRef): Promise<LeaveResult>;
  /** [HB-4] Remove every MS whose lease ended at or before `now`, freeing its users. */
  expireMs(now: number): Promise<Array<MsRef & { freed: FreedUsers }>>;
  listMs(): Promise<MsInfo[]>;
  getMs(msId: string): Promise<MsInfo | null>;
  /** [LOCATE-1] Live, not full MSs, at most `n` (default 3): lowest load/capacity first, then lower
   *  load, then Ms-id in octet order. Empty: answer 503 [LOCATE-3]. */
  locateMs(now: number, n?: number): Promise<MsInfo[]>;
  /** The first of locateMs, or null. */
  pickMs(now: number): Promise<MsInfo | null>;

  // Contacts [§9 Presence, Contacts and the User's Data]
  addRequest(actor: Actor, to: string, now: number): Promise<AddResult>;
  /** `actor` answers the pending ADD that `from` sent. */
  answer(actor: Actor, from: string, decision: Decision, now: number): Promise<AnswerResult>;
  /** REM: remove a buddy (both directions), withdraw one's unanswered ADD, or unblock [REM-1] [REM-2] [REM-3] [REM-4]. */
  remove(actor: Actor, other: string): Promise<RemoveResult>;
  block(actor: Actor, other: string): Promise<BlockResult>;
  unblock(actor: Actor, other: string): Promise<UnblockResult>;
  /** The contact list: buddies, ADDs sent and unanswered ('pending'), blocked users; by username. */
  listContacts(username: string): Promise<ContactEntry[]>;
  /** [ADD-3] Incoming unanswered, deliverable ADDs to `username` (none from users it blocks), oldest first. */
  pendingFor(username: string): Promise<PendingAdd[]>;
  /** Online buddies of `username` that should see its presence (neither blocks the other). */
  watchers(username: string): Promise<Watcher[]>;

  // Profile, search, password
  getProfile(username: string): Promise<Profile | null>;
  /** [PROFILE-3] Set fields of the actor's own profile (absent fields unchanged). */
  setProfile(actor: Actor, profile: Partial<Profile>): Promise<ProfileResult>;
  /** [SEARCH-1] [SEARCH-2] [SEARCH-3] [SEARCH-4] Case-insensitive: a prefix of the username, a substring of Full-name or
   *  Location, or any of the three; by username after `cursor` (the last username of the previous
   *  page); at most min(limit, maxSearchResults). Reveals no block lists [SEARCH-5]. */
  searchUsers(query: string, field: SearchField, cursor: string | null, limit: number): Promise<SearchPage>;
  /** [PASSWD-3] Replace the verifier and the sealed key blob together. */
  passwd(actor: Actor, verifier: Verifier, keyBlob: string): Promise<PasswdResult>;

  // Change feed
  /** Subscribe to changes on the data (from every store instance on it); returns the unsubscribe. */
  onChange(listener: StoreListener): () => void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Limits and validation shared by both implementations

export interface StoreLimits {
  maxContacts: number;
  maxBlocked: number;
  maxPendingAdds: number;
  maxSearchResults: number;
  maxQueryLength: number;
  maxUsernameLength: number;
  maxTextValue: number;
}

/** A limit of the registry (generated/registry.ts, from spec/registry/limits.json). */
function registryLimit(name: LimitName): number {
  return LIMITS[name];
}

/** The registry's defaults (spec/registry/limits.json). */
export const DEFAULT_LIMITS: Readonly<StoreLimits> = Object.freeze({
  maxContacts: registryLimit('maxContacts'),
  maxBlocked: registryLimit('maxBlocked'),
  maxPendingAdds: registryLimit('maxPendingAdds'),
  maxSearchResults: registryLimit('maxSearchResults'),
  maxQueryLength: registryLimit('maxQueryLength'),
  maxUsernameLength: registryLimit('maxUsernameLength'),
  maxTextValue: registryLimit('maxTextValue'),
});

/** Where the CRS and `imsp user` keep their data unless told otherwise. */
export const DEFAULT_SQLITE_PATH = './imsp.db';

// Value syntaxes, from spec/registry/value-types.json (generated/registry.ts).
function valuePattern(name: ValueTypeName): RegExp {
  return new RegExp(VALUE_TYPES[name].pattern);
}
export const USERNAME_RE = valuePattern('username');
const MS_ID_RE = valuePattern('ms-id');
const TEXT_RE = valuePattern('text');
const SALT_RE = valuePattern('salt');
const KEY32_RE = valuePattern('key32');
const PUBLIC_KEY_RE = valuePattern('public-key');
const KEY_BLOB_RE = valuePattern('key-blob');
const HOSTPORT_RE = valuePattern('hostport');
const STATUS_RE = valuePattern('status');
const SCRAM_MIN = registryLimit('scramMinIterations');
const SCRAM_MAX = registryLimit('scramMaxIterations');

/** [USER-1] */
export function isUsername(s: string): boolean {
  return typeof s === 'string' && USERNAME_RE.test(s);
}

export function validateVerifier(v: Verifier): string | null {
  if (!SALT_RE.test(v.salt)) return 'salt';
  // [AUTH-5] at least scramMinIterations
  if (!Number.isSafeInteger(v.iterations) || v.iterations < SCRAM_MIN || v.iterations > SCRAM_MAX) return 'iterations';
  if (!KEY32_RE.test(v.storedKey)) return 'storedKey';
  if (!KEY32_RE.test(v.serverKey)) return 'serverKey';
  return null;
}

export function validateProfile(p: Partial<Profile>): string | null {
  for (const k of ['fullName', 'location', 'about'] as const) {
    const v = p[k];
    // [HDR-TEXT-1] printable ASCII, at most maxTextValue characters
    if (v !== undefined && (typeof v !== 'string' || !TEXT_RE.test(v))) return k;
  }
  return null;
}

export function validateNewUser(u: NewUser): string | null {
  if (!isUsername(u.username)) return 'username';
  const v = validateVerifier(u.verifier);
  if (v) return v;
  if (!PUBLIC_KEY_RE.test(u.publicKey)) return 'publicKey';
  if (!isKeyBlob(u.keyBlob)) return 'keyBlob';
  return u.profile ? validateProfile(u.profile) : null;
}

/** [REGISTER-4] [PASSWD-3] The key blob's syntax, and its log2N from 10 to 20. */
export function isKeyBlob(s: string): boolean {
  if (!KEY_BLOB_RE.test(s)) return false;
  const log2N = Number(s.split('.')[2]);
  return log2N >= 10 && log2N <= 20;
}
export function isMsId(s: string): boolean {
  return typeof s === 'string' && MS_ID_RE.test(s);
}
export function isHostPort(s: string): boolean {
  return HOSTPORT_RE.test(s);
}
export function isStatus(s: string): s is UserStatus {
  return STATUS_RE.test(s);
}
export function validateEnrollment(ms: MsEnrollment): string | null {
  if (!MS_ID_RE.test(ms.msId)) return 'msId';
  if (!Number.isSafeInteger(ms.incarnation) || ms.incarnation < 0) return 'incarnation';
  if (!HOSTPORT_RE.test(ms.listen)) return 'listen';
  if (!Number.isSafeInteger(ms.capacity) || ms.capacity < 0) return 'capacity';
  return null;
}

/** Escape a LIKE pattern (escape character '\'). */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

export function stale(detail: Stale['detail']): Stale {
  return { ok: false, error: 'stale', detail };
}

export function isAdmin(a: Actor): a is { user: string; admin: true } {
  return 'admin' in a && a.admin === true;
}

/** The MS enrollment an actor names, if any. */
export function actorMs(a: Actor): MsRef | undefined {
  return 'ms' in a ? a.ms : undefined;
}

export interface OpenStoreOptions {
  limits?: Partial<StoreLimits>;
  /** SQLite: 'full' (default) syncs the WAL at every commit, so a reported change survives a power
   *  loss [PERSIST-1]; 'normal' syncs at checkpoints only (survives a process crash, not a power
   *  loss), for load tests. PostgreSQL follows the server's synchronous_commit. */
  durability?: 'full' | 'normal';
}
