// The embedded store: one SQLite file in WAL mode through better-sqlite3 (synchronous, so each
// operation runs to its end without interleaving inside this process; every multi-step operation
// is one BEGIN IMMEDIATE transaction, so another process on the same file cannot interleave
// either). The change feed is in-process: events reach the listeners of every SqliteStore
// instance open on the same file in this process (not other processes: use PostgreSQL for that).
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { stage, stageTraceOn } from '../ops/stage-trace.js';
import { WalCheckpointer } from './sqlite-checkpointer.js';
import {
  DEFAULT_LIMITS,
  actorMs,
  escapeLike,
  isAdmin,
  isHostPort,
  isKeyBlob,
  isStatus,
  stale,
  validateEnrollment,
  validateNewUser,
  validateProfile,
  validateVerifier,
  type Actor,
  type AddResult,
  type AnswerResult,
  type BlockResult,
  type ContactEntry,
  type Decision,
  type DeleteResult,
  type EnrollResult,
  type FreedUsers,
  type LeaveResult,
  type LockResult,
  type LoginBundle,
  type MsEnrollment,
  type MsInfo,
  type MsRef,
  type NewUser,
  type OfflineResult,
  type OkResult,
  type OnlineResult,
  type OpenStoreOptions,
  type PasswdResult,
  type PendingAdd,
  type Presence,
  type Profile,
  type ProfileResult,
  type RegisterResult,
  type RemoveResult,
  type RenewResult,
  type SearchField,
  type SearchPage,
  type SessionCheck,
  type Stale,
  type Store,
  type StoreEvent,
  type StoreLimits,
  type StoreListener,
  type UnblockResult,
  type Unknown,
  type UserRecord,
  type UserStatus,
  type Verifier,
  type Watcher,
} from './store.js';
import {
  buddyEntry,
  checkSearch,
  contactList,
  msFromRow,
  searchPage,
  sessionStale,
  userFromRow,
  type MsRow,
  type PeerRow,
  type UserRow,
} from './rows.js';

/** What goOnline reads of the users row. */
type OnlineRow = Pick<
  UserRow,
  'username' | 'epoch' | 'state' | 'ms_id' | 'ms_incarnation' | 'lease_expires_at' | 'public_key' | 'key_blob'
>;
/** A row of the buddyPeers statement (raw): user, visible (1: online and not blocking), status, address, public key. */
type BuddyPeerRow = [string, number, string | null, string | null, string | null];

/** Schema version kept in PRAGMA user_version. */
export const SQLITE_SCHEMA_VERSION = 3;

const SCHEMA_V1 = `
CREATE TABLE users (
  username TEXT PRIMARY KEY,
  salt TEXT NOT NULL,
  iterations INTEGER NOT NULL,
  stored_key TEXT NOT NULL,
  server_key TEXT NOT NULL,
  public_key TEXT NOT NULL,
  key_blob TEXT NOT NULL,
  full_name TEXT NOT NULL DEFAULT '',
  location TEXT NOT NULL DEFAULT '',
  about TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'offline' CHECK (state IN ('offline', 'locked', 'online')),
  ms_id TEXT,
  ms_incarnation INTEGER,
  lease_expires_at INTEGER,
  address TEXT,
  status TEXT
);
CREATE INDEX users_by_ms ON users (ms_id, ms_incarnation) WHERE state <> 'offline';
CREATE INDEX users_by_lease ON users (lease_expires_at) WHERE state = 'locked';
CREATE TABLE buddies (
  owner TEXT NOT NULL,
  other TEXT NOT NULL,
  since INTEGER NOT NULL,
  PRIMARY KEY (owner, other)
) WITHOUT ROWID;
CREATE TABLE adds (
  from_user TEXT NOT NULL,
  to_user TEXT NOT NULL,
  time INTEGER NOT NULL,
  PRIMARY KEY (from_user, to_user)
) WITHOUT ROWID;
CREATE INDEX adds_by_target ON adds (to_user, time);
CREATE TABLE blocks (
  owner TEXT NOT NULL,
  blocked TEXT NOT NULL,
  PRIMARY KEY (owner, blocked)
) WITHOUT ROWID;
CREATE INDEX blocks_by_blocked ON blocks (blocked, owner);
CREATE TABLE ms (
  ms_id TEXT PRIMARY KEY,
  incarnation INTEGER NOT NULL,
  listen TEXT NOT NULL,
  capacity INTEGER NOT NULL,
  load INTEGER NOT NULL DEFAULT 0,
  enrolled_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  lease_expires_at INTEGER NOT NULL
);
`;

/** Version 2: the presence of online users in one covering index, so that a contact list (the login
 *  bundle, LIST) costs one lookup in a small index per buddy and reads no users row at all. */
const SCHEMA_V2 = `
CREATE INDEX users_online ON users (username, status, address, public_key) WHERE state = 'online';
`;

/** Version 3: users_by_ms holds the same rows (ms_id is set exactly while a user is locked or online)
 *  under a condition that does not name state, so that a lock turning into a session (goOnline)
 *  leaves the index alone: one page fewer written per login. */
const SCHEMA_V3 = `
DROP INDEX users_by_ms;
CREATE INDEX users_by_ms ON users (ms_id, ms_incarnation) WHERE ms_id IS NOT NULL;
`;

/** Open instances by resolved file path, so that the change feed reaches all of them. */
const peers = new Map<string, Set<SqliteStore>>();

/** Most operations committed together (group commit). */
const MAX_BATCH = 512;

/** issue 15: the load run's stage table times the commit of each login's ONLINE (its presence event). */
function traceCommit(outcomes: Array<{ ok: true; events: StoreEvent[] } | { ok: false }>, tBegin: number): void {
  const t = performance.timeOrigin + performance.now();
  for (const o of outcomes) {
    if (!o.ok) continue;
    for (const e of o.events) {
      if (e.type === 'presence' && !e.to && e.status !== 'offline') {
        stage(e.user, 'crs.begin', tBegin);
        stage(e.user, 'crs.commit', t);
      }
    }
  }
}

type EventBody = StoreEvent extends infer E ? (E extends StoreEvent ? Omit<E, 'origin'> : never) : never;

export class SqliteStore implements Store {
  readonly id = randomUUID();
  readonly kind = 'sqlite' as const;
  readonly limits: StoreLimits;
  private readonly db: Database.Database;
  private readonly listeners = new Set<StoreListener>();
  private pending: StoreEvent[] = [];
  private readonly txn: Database.Transaction<(f: () => unknown) => unknown>;
  private readonly q;
  private closed = false;
  private queue: Array<{ f: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  private flushScheduled = false;
  private readonly searchCache = new Map<string, Database.Statement>();
  private readonly peerKey: string | null;
  /** WAL checkpoints in a worker thread, off the commit path (file stores). */
  readonly checkpointer: WalCheckpointer | null;

  static async open(path: string, opts: OpenStoreOptions = {}): Promise<SqliteStore> {
    return new SqliteStore(path, opts);
  }

  constructor(path: string, opts: OpenStoreOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    const file = path === ':memory:' || path === '' ? null : resolve(path);
    const created = file !== null && !existsSync(file);
    this.db = new Database(path);
    // Verifiers and sealed key blobs: readable by the CRS's user only. SQLite gives the WAL and
    // shared-memory files the database file's permissions.
    if (created && file) chmodSync(file, 0o600);
    this.peerKey = file;
    this.db.pragma('journal_mode = WAL');
    // [PERSIST-1] FULL: a commit is on disk before the CRS answers (see OpenStoreOptions.durability)
    this.db.pragma(opts.durability === 'normal' ? 'synchronous = NORMAL' : 'synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.checkpointer = file ? new WalCheckpointer(this.db, file, opts.durability ?? 'full') : null;
    if (this.peerKey) {
      let set = peers.get(this.peerKey);
      if (!set) peers.set(this.peerKey, (set = new Set()));
      set.add(this);
    }
    this.txn = this.db.transaction((f: () => unknown) => f());
    const p = (sql: string) => this.db.prepare(sql);
    this.q = {
      user: p('SELECT * FROM users WHERE username = ?'),
      // the login path reads only what it needs (the users row also holds the profile)
      lockRow: p(
        'SELECT state, lease_expires_at, salt, iterations, stored_key, server_key FROM users WHERE username = ?',
      ),
      onlineRow: p(
        'SELECT username, epoch, state, ms_id, ms_incarnation, lease_expires_at, public_key, key_blob FROM users WHERE username = ?',
      ),
      userState: p(
        'SELECT username, epoch, state, ms_id, ms_incarnation, lease_expires_at, public_key, address, status FROM users WHERE username = ?',
      ),
      exists: p('SELECT 1 FROM users WHERE username = ?').pluck(),
      insertUser:
        p(`INSERT OR IGNORE INTO users (username, salt, iterations, stored_key, server_key, public_key, key_blob, full_name, location, about, created_at)
                     VALUES (@username, @salt, @iterations, @storedKey, @serverKey, @publicKey, @keyBlob, @fullName, @location, @about, @createdAt)`),
      listUsers: p('SELECT username FROM users WHERE username > ? ORDER BY username LIMIT ?').pluck(),
      countUsers: p('SELECT count(*) FROM users').pluck(),
      grantLock:
        p(`UPDATE users SET state = 'locked', epoch = epoch + 1, ms_id = ?, ms_incarnation = ?, lease_expires_at = ?, address = NULL, status = NULL
                    WHERE username = ? RETURNING epoch`).pluck(),
      setOnline: p(
        `UPDATE users SET state = 'online', address = ?, status = ?, lease_expires_at = NULL WHERE username = ?`,
      ),
      setOffline: p(
        `UPDATE users SET state = 'offline', ms_id = NULL, ms_incarnation = NULL, lease_expires_at = NULL, address = NULL, status = NULL WHERE username = ?`,
      ),
      setStatus: p('UPDATE users SET status = ? WHERE username = ?'),
      expiredLocks: p(`SELECT username FROM users WHERE state = 'locked' AND lease_expires_at <= ?`).pluck(),
      usersOfMs: p(`SELECT username, state, ms_incarnation FROM users WHERE ms_id = ? AND state <> 'offline'`),
      msRow: p('SELECT * FROM ms WHERE ms_id = ?'),
      msIncarnation: p('SELECT incarnation FROM ms WHERE ms_id = ? AND lease_expires_at > ?').pluck(),
      insertMs: p(
        `INSERT OR REPLACE INTO ms (ms_id, incarnation, listen, capacity, load, enrolled_at, last_seen, lease_expires_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)`,
      ),
      renewMs: p(
        `UPDATE ms SET last_seen = ?, lease_expires_at = ?, load = coalesce(?, load) WHERE ms_id = ? AND incarnation = ? AND lease_expires_at > ?`,
      ),
      deleteMs: p('DELETE FROM ms WHERE ms_id = ?'),
      expiredMs: p('SELECT ms_id, incarnation FROM ms WHERE lease_expires_at <= ?'),
      listMs: p('SELECT * FROM ms ORDER BY ms_id'),
      // [LOCATE-1] ratio, then load, then Ms-id in octet order (BINARY collation). The load is the
      // number of the MS's users held as locked or online, or its PING Load if higher [§7.3 LOCATE and Load Balancing]: the
      // held users are counted in users_by_ms, so a burst of logins between two PINGs spreads at once.
      locateMs: p(
        `SELECT *, max(load, (SELECT count(*) FROM users u INDEXED BY users_by_ms
                               WHERE u.ms_id = ms.ms_id AND u.ms_incarnation = ms.incarnation)) AS held_load
           FROM ms WHERE lease_expires_at > ? AND held_load < capacity
          ORDER BY CAST(held_load AS REAL) / capacity, held_load, ms_id COLLATE BINARY LIMIT ?`,
      ),
      heldUsers: p(`SELECT username, state FROM users WHERE state <> 'offline'`),
      resetUsers:
        p(`UPDATE users SET state = 'offline', ms_id = NULL, ms_incarnation = NULL, lease_expires_at = NULL, address = NULL, status = NULL
                     WHERE state <> 'offline'`),
      resetMs: p('DELETE FROM ms'),
      isBuddy: p('SELECT 1 FROM buddies WHERE owner = ? AND other = ?').pluck(),
      addBuddy: p('INSERT OR IGNORE INTO buddies (owner, other, since) VALUES (?, ?, ?)'),
      delBuddy: p('DELETE FROM buddies WHERE owner = ? AND other = ?'),
      buddyCount: p('SELECT count(*) FROM buddies WHERE owner = ?').pluck(),
      addExists: p('SELECT 1 FROM adds WHERE from_user = ? AND to_user = ?').pluck(),
      insertAdd: p('INSERT INTO adds (from_user, to_user, time) VALUES (?, ?, ?)'),
      delAdd: p('DELETE FROM adds WHERE from_user = ? AND to_user = ?'),
      outgoingCount: p('SELECT count(*) FROM adds WHERE from_user = ?').pluck(),
      // [ADD-LIMIT-2] deliverable ADDs only: those withheld by a block are bounded by their senders' maxContacts
      incomingCount: p(
        'SELECT count(*) FROM adds a WHERE a.to_user = ? AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = a.to_user AND k.blocked = a.from_user)',
      ).pluck(),
      // [ADD-3] [BLOCK-6] withheld while the target blocks the sender
      pendingFor: p(`SELECT from_user AS "from", to_user AS "to", time FROM adds a WHERE a.to_user = ?
                       AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = a.to_user AND k.blocked = a.from_user) ORDER BY time, from_user`),
      outgoing: p('SELECT to_user FROM adds WHERE from_user = ? ORDER BY to_user').pluck(),
      isBlocked: p('SELECT 1 FROM blocks WHERE owner = ? AND blocked = ?').pluck(),
      insertBlock: p('INSERT INTO blocks (owner, blocked) VALUES (?, ?)'),
      delBlock: p('DELETE FROM blocks WHERE owner = ? AND blocked = ?'),
      blockCount: p('SELECT count(*) FROM blocks WHERE owner = ?').pluck(),
      blockedBy: p('SELECT blocked FROM blocks WHERE owner = ? ORDER BY blocked').pluck(),
      // One row per buddy, as an array [user, visible, status, address, public key]: visible (1) when
      // the buddy is online and does not block the owner. Only online buddies are found in
      // users_online (a small covering index), and only for them is the block asked. A LEFT JOIN,
      // where a join on users would drop a buddy row naming no user: there is none, deleteUser
      // removes the user's buddy rows in the same transaction.
      buddyPeers: p(`SELECT b.other,
                       CASE WHEN o.username IS NULL THEN 0 ELSE NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = b.other AND k.blocked = b.owner) END,
                       o.status, o.address, o.public_key
                     FROM buddies b LEFT JOIN users o INDEXED BY users_online ON o.username = b.other AND o.state = 'online'
                     WHERE b.owner = ? ORDER BY b.other`).raw(),
      buddyPeer: p(`SELECT u.username AS user, u.state, u.status, u.address, u.public_key,
                      EXISTS (SELECT 1 FROM blocks k WHERE k.owner = u.username AND k.blocked = ?) AS blocked_by_them
                    FROM users u WHERE u.username = ?`),
      watchers: p(`SELECT u.username AS user, u.ms_id AS msId, u.ms_incarnation AS incarnation
                   FROM buddies b JOIN users u ON u.username = b.other
                   WHERE b.owner = ? AND u.state = 'online'
                     AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = b.owner AND k.blocked = b.other)
                     AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = b.other AND k.blocked = b.owner)
                   ORDER BY u.username`),
      buddiesOf: p('SELECT other FROM buddies WHERE owner = ?').pluck(),
      profile: p('SELECT full_name, location, about FROM users WHERE username = ?'),
      setProfile: p(
        'UPDATE users SET full_name = coalesce(?, full_name), location = coalesce(?, location), about = coalesce(?, about) WHERE username = ?',
      ),
      passwd: p(
        'UPDATE users SET salt = ?, iterations = ?, stored_key = ?, server_key = ?, key_blob = ? WHERE username = ?',
      ),
      delUserBuddies: p('DELETE FROM buddies WHERE owner = ? OR other = ?'),
      delUserAdds: p('DELETE FROM adds WHERE from_user = ? OR to_user = ?'),
      delUserBlocks: p('DELETE FROM blocks WHERE owner = ? OR blocked = ?'),
      delUser: p('DELETE FROM users WHERE username = ?'),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new Error(
        `store: database schema version ${version} is newer than this program's (${SQLITE_SCHEMA_VERSION})`,
      );
    }
    if (version < SQLITE_SCHEMA_VERSION) {
      this.db
        .transaction(() => {
          if (version < 1) this.db.exec(SCHEMA_V1);
          if (version < 2) this.db.exec(SCHEMA_V2);
          if (version < 3) this.db.exec(SCHEMA_V3);
          this.db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
        })
        .immediate();
    }
  }

  /**
   * Runs `f` as one atomic operation, with group commit: every operation queued during one turn of
   * the event loop runs in a single BEGIN IMMEDIATE transaction, each inside its own savepoint (an
   * operation that throws undoes only itself), so that one WAL sync covers them all. Results and
   * events are released after the commit, so nothing is reported before it is durable [PERSIST-1].
   */
  private tx<T>(f: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store: closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ f, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue.splice(0, MAX_BATCH);
    if (this.queue.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (batch.length === 0) return;
    const tBegin = stageTraceOn() ? performance.timeOrigin + performance.now() : 0;
    const outcomes: Array<{ ok: true; value: unknown; events: StoreEvent[] } | { ok: false; error: unknown }> = [];
    try {
      this.txn.immediate(() => {
        for (const item of batch) {
          this.pending = [];
          try {
            // nested: better-sqlite3 runs it in a savepoint
            outcomes.push({ ok: true, value: this.txn(item.f), events: this.pending });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // the commit failed: nothing of the batch happened
      this.pending = [];
      for (const item of batch) item.reject(error);
      return;
    }
    this.pending = [];
    this.checkpointer?.committed();
    if (tBegin > 0) traceCommit(outcomes, tBegin);
    const targets = this.peerKey ? [...(peers.get(this.peerKey) ?? [this])] : [this];
    batch.forEach((item, i) => {
      const o = outcomes[i];
      if (o.ok) {
        for (const e of o.events) for (const s of targets) s.deliver(e);
        item.resolve(o.value);
      } else item.reject(o.error);
    });
  }

  private emit(e: EventBody): void {
    this.pending.push({ ...e, origin: this.id } as StoreEvent);
  }

  private deliver(e: StoreEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure is its own; the change is committed and other listeners still hear it.
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Actors

  /** [LOCK-6] The actor's epoch must be the current one, the user online, held by the actor's MS. */
  private checkActor(actor: Actor): Stale | null {
    if (isAdmin(actor)) return this.q.exists.get(actor.user) ? null : stale('state');
    const r = this.q.userState.get(actor.user) as UserRow | undefined;
    if (!r) return stale('state');
    return sessionStale(r, actor.epoch, actorMs(actor), 'online');
  }

  // ------------------------------------------------------------------------------------------
  // Users

  async registerUser(user: NewUser, now: number): Promise<RegisterResult> {
    const bad = validateNewUser(user);
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    const info = await this.tx(() =>
      this.q.insertUser.run({
        username: user.username,
        salt: user.verifier.salt,
        iterations: user.verifier.iterations,
        storedKey: user.verifier.storedKey,
        serverKey: user.verifier.serverKey,
        publicKey: user.publicKey,
        keyBlob: user.keyBlob,
        fullName: user.profile?.fullName ?? '',
        location: user.profile?.location ?? '',
        about: user.profile?.about ?? '',
        createdAt: now,
      }),
    );
    // [REGISTER-2]
    return info.changes === 1 ? { ok: true } : { ok: false, error: 'exists' };
  }

  async getUser(username: string): Promise<UserRecord | null> {
    const r = this.q.user.get(username) as UserRow | undefined;
    return r ? userFromRow(r) : null;
  }

  async listUsers(cursor: string | null, limit: number): Promise<string[]> {
    return this.q.listUsers.all(cursor ?? '', Math.max(0, Math.min(limit, 100000))) as string[];
  }

  async countUsers(): Promise<number> {
    return this.q.countUsers.get() as number;
  }

  async deleteUser(username: string, force = false): Promise<DeleteResult> {
    return this.tx((): DeleteResult => {
      const r = this.q.userState.get(username) as UserRow | undefined;
      if (!r) return { ok: false, error: 'unknown' };
      if (r.state !== 'offline' && !force) return { ok: false, error: 'online' };
      const buddies = this.q.buddiesOf.all(username) as string[];
      this.q.delUserBuddies.run(username, username);
      this.q.delUserAdds.run(username, username);
      this.q.delUserBlocks.run(username, username);
      this.q.delUser.run(username);
      if (r.state === 'online') this.emit({ type: 'presence', user: username, status: 'offline' });
      for (const b of buddies)
        this.emit({ type: 'contact', owner: b, contact: { user: username, relation: 'none', status: 'offline' } });
      return { ok: true };
    });
  }

  // ------------------------------------------------------------------------------------------
  // The lock [§8.3 The Lock and the Epoch]

  async tryLock(username: string, ms: MsRef, now: number, leaseMs: number): Promise<LockResult> {
    return this.tx((): LockResult => {
      const r = this.q.lockRow.get(username) as
        | Pick<UserRow, 'state' | 'lease_expires_at' | 'salt' | 'iterations' | 'stored_key' | 'server_key'>
        | undefined;
      if (!r) return { ok: false, error: 'unknown' };
      const inc = this.q.msIncarnation.get(ms.msId, now) as number | undefined;
      if (inc !== ms.incarnation) return { ok: false, error: 'ms-unknown' };
      // [LOCK-2] already online: denied, no takeover
      if (r.state === 'online') return { ok: false, error: 'online' };
      // [LOCK-1] a live lock excludes every other login; [LOCK-3] an expired one is taken over
      if (r.state === 'locked' && (r.lease_expires_at ?? 0) > now) return { ok: false, error: 'locked' };
      const leaseExpiresAt = now + leaseMs;
      const epoch = this.q.grantLock.get(ms.msId, ms.incarnation, leaseExpiresAt, username) as number;
      return {
        ok: true,
        epoch,
        leaseExpiresAt,
        verifier: { salt: r.salt, iterations: r.iterations, storedKey: r.stored_key, serverKey: r.server_key },
      };
    });
  }

  async unlock(username: string, epoch: number, ms?: MsRef): Promise<OkResult | Stale | Unknown> {
    return this.tx((): OkResult | Stale | Unknown => {
      const r = this.q.userState.get(username) as UserRow | undefined;
      if (!r) return { ok: false, error: 'unknown' };
      if (r.epoch !== epoch) return stale('epoch'); // [LOCK-6]
      if (r.state === 'offline') return { ok: true }; // [LOCK-8] repeated cleanup
      if (r.state === 'online') return stale('state');
      const bad = sessionStale(r, epoch, ms, 'locked');
      if (bad) return bad;
      this.q.setOffline.run(username);
      return { ok: true };
    });
  }

  async goOnline(
    username: string,
    epoch: number,
    ms: MsRef,
    address: string,
    status: UserStatus,
    now: number,
  ): Promise<OnlineResult> {
    if (!isHostPort(address) || !isStatus(status)) return stale('state');
    return this.tx((): OnlineResult => {
      const r = this.q.onlineRow.get(username) as OnlineRow | undefined;
      if (!r) return { ok: false, error: 'unknown' };
      if (r.epoch !== epoch) return stale('epoch'); // [LOCK-6]
      if (r.state !== 'locked') return stale('state');
      if ((r.lease_expires_at ?? 0) <= now) return stale('expired'); // [LOCK-3]
      if (r.ms_id !== ms.msId || r.ms_incarnation !== ms.incarnation) return stale('wrong-ms');
      if (this.q.msIncarnation.get(ms.msId, now) !== ms.incarnation) return stale('wrong-ms');
      this.q.setOnline.run(address, status, username);
      this.emit({ type: 'presence', user: username, status, msId: ms.msId, address, publicKey: r.public_key });
      return { ok: true, ...this.bundle(r, status) };
    });
  }

  private bundle(r: OnlineRow, status: UserStatus): LoginBundle {
    return {
      keyBlob: r.key_blob,
      publicKey: r.public_key,
      status,
      contacts: this.contactsOf(r.username),
      pending: this.pendingOf(r.username),
    };
  }

  async goOffline(username: string, epoch: number, ms?: MsRef): Promise<OfflineResult> {
    return this.tx((): OfflineResult => {
      const r = this.q.userState.get(username) as UserRow | undefined;
      if (!r) return { ok: false, error: 'unknown' };
      if (r.epoch !== epoch) return stale('epoch'); // [LOCK-6]
      if (r.state === 'offline') return { ok: true, wasOnline: false }; // repeated cleanup changes nothing
      const bad = sessionStale(r, epoch, ms, r.state);
      if (bad) return bad;
      this.q.setOffline.run(username);
      if (r.state === 'online') this.emit({ type: 'presence', user: username, status: 'offline' });
      return { ok: true, wasOnline: r.state === 'online' };
    });
  }

  async setStatus(
    username: string,
    epoch: number,
    status: UserStatus,
    ms?: MsRef,
  ): Promise<OkResult | Stale | Unknown> {
    if (!isStatus(status)) return stale('state');
    return this.tx((): OkResult | Stale | Unknown => {
      const r = this.q.userState.get(username) as UserRow | undefined;
      if (!r) return { ok: false, error: 'unknown' };
      const bad = sessionStale(r, epoch, ms, 'online'); // [LOCK-6]
      if (bad) return bad;
      this.q.setStatus.run(status, username);
      this.emit({
        type: 'presence',
        user: username,
        status,
        msId: r.ms_id ?? undefined,
        address: r.address ?? undefined,
        publicKey: r.public_key,
      });
      return { ok: true };
    });
  }

  async checkSession(username: string, epoch: number, ms?: MsRef): Promise<SessionCheck> {
    const r = this.q.userState.get(username) as UserRow | undefined;
    if (!r) return { ok: false, error: 'unknown' };
    return sessionStale(r, epoch, ms, 'online') ?? { ok: true };
  }

  async expireLocks(now: number): Promise<string[]> {
    return this.tx(() => {
      const users = this.q.expiredLocks.all(now) as string[];
      for (const u of users) this.q.setOffline.run(u); // [LOCK-3]
      return users;
    });
  }

  async offlineAllOfMs(msId: string, olderThanIncarnation?: number): Promise<FreedUsers> {
    return this.tx(() => this.freeUsersOf(msId, olderThanIncarnation));
  }

  async resetSessions(): Promise<FreedUsers> {
    return this.tx(() => {
      // [PERSIST-2] enrollments, locks and sessions do not survive a CRS restart; epochs do
      const rows = this.q.heldUsers.all() as Array<{ username: string; state: string }>;
      this.q.resetUsers.run();
      this.q.resetMs.run();
      const freed: FreedUsers = { offline: [], unlocked: [] };
      for (const r of rows) (r.state === 'online' ? freed.offline : freed.unlocked).push(r.username);
      freed.offline.sort();
      freed.unlocked.sort();
      for (const u of freed.offline) this.emit({ type: 'presence', user: u, status: 'offline' });
      return freed;
    });
  }

  /** Inside a transaction: set offline every user of `msId` (below `olderThan` when given). */
  private freeUsersOf(msId: string, olderThan?: number): FreedUsers {
    const rows = this.q.usersOfMs.all(msId) as Array<{ username: string; state: string; ms_incarnation: number }>;
    const freed: FreedUsers = { offline: [], unlocked: [] };
    for (const r of rows) {
      if (olderThan !== undefined && r.ms_incarnation >= olderThan) continue;
      this.q.setOffline.run(r.username);
      if (r.state === 'online') {
        freed.offline.push(r.username);
        this.emit({ type: 'presence', user: r.username, status: 'offline' });
      } else {
        freed.unlocked.push(r.username);
      }
    }
    freed.offline.sort();
    freed.unlocked.sort();
    return freed;
  }

  // ------------------------------------------------------------------------------------------
  // Messaging Servers

  async enrollMs(ms: MsEnrollment, now: number, leaseMs: number): Promise<EnrollResult> {
    const bad = validateEnrollment(ms);
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    return this.tx((): EnrollResult => {
      const old = this.q.msRow.get(ms.msId) as MsRow | undefined;
      // [ENROLL-6] a live enrollment with an equal or higher incarnation keeps its place
      if (old && old.lease_expires_at > now && old.incarnation >= ms.incarnation) {
        return { ok: false, error: 'conflict', incarnation: old.incarnation };
      }
      let replaced: { incarnation: number; freed: FreedUsers } | null = null;
      // Any user still held under this id belongs to an older (or dead) incarnation: free them all.
      const freed = this.freeUsersOf(ms.msId);
      if (old) {
        replaced = { incarnation: old.incarnation, freed };
        this.emit({
          type: 'ms-gone',
          msId: old.ms_id,
          incarnation: old.incarnation,
          reason: old.lease_expires_at > now ? 'replaced' : 'expired',
        });
      }
      const leaseExpiresAt = now + leaseMs;
      this.q.insertMs.run(ms.msId, ms.incarnation, ms.listen, ms.capacity, now, now, leaseExpiresAt);
      this.emit({ type: 'ms-enrolled', msId: ms.msId, incarnation: ms.incarnation });
      return { ok: true, leaseExpiresAt, replaced };
    });
  }

  async renewMs(ms: MsRef, now: number, leaseMs: number, load?: number): Promise<RenewResult> {
    const l = load === undefined || !Number.isSafeInteger(load) || load < 0 ? null : load;
    const leaseExpiresAt = now + leaseMs;
    const info = await this.tx(() => this.q.renewMs.run(now, leaseExpiresAt, l, ms.msId, ms.incarnation, now));
    return info.changes === 1 ? { ok: true, leaseExpiresAt } : { ok: false, error: 'ms-unknown' };
  }

  async leaveMs(ms: MsRef): Promise<LeaveResult> {
    return this.tx((): LeaveResult => {
      const old = this.q.msRow.get(ms.msId) as MsRow | undefined;
      if (!old || old.incarnation !== ms.incarnation) return { ok: false, error: 'ms-unknown' };
      const freed = this.freeUsersOf(ms.msId);
      this.q.deleteMs.run(ms.msId);
      this.emit({ type: 'ms-gone', msId: ms.msId, incarnation: ms.incarnation, reason: 'left' });
      return { ok: true, freed };
    });
  }

  async expireMs(now: number): Promise<Array<MsRef & { freed: FreedUsers }>> {
    return this.tx(() => {
      const rows = this.q.expiredMs.all(now) as Array<{ ms_id: string; incarnation: number }>;
      const out: Array<MsRef & { freed: FreedUsers }> = [];
      for (const r of rows) {
        // [HB-4] a dead MS: all its sessions end
        const freed = this.freeUsersOf(r.ms_id);
        this.q.deleteMs.run(r.ms_id);
        this.emit({ type: 'ms-gone', msId: r.ms_id, incarnation: r.incarnation, reason: 'expired' });
        out.push({ msId: r.ms_id, incarnation: r.incarnation, freed });
      }
      return out;
    });
  }

  async listMs(): Promise<MsInfo[]> {
    return (this.q.listMs.all() as MsRow[]).map(msFromRow);
  }

  async getMs(msId: string): Promise<MsInfo | null> {
    const r = this.q.msRow.get(msId) as MsRow | undefined;
    return r ? msFromRow(r) : null;
  }

  async locateMs(now: number, n = 3): Promise<MsInfo[]> {
    return (this.q.locateMs.all(now, Math.max(0, Math.min(n, 1000))) as MsRow[]).map(msFromRow);
  }

  async pickMs(now: number): Promise<MsInfo | null> {
    return (await this.locateMs(now, 1))[0] ?? null;
  }

  // ------------------------------------------------------------------------------------------
  // Contacts [§9 Presence, Contacts and the User's Data]

  private contactCount(user: string): number {
    // [ADD-LIMIT-1] buddies and ADDs sent, unanswered
    return (this.q.buddyCount.get(user) as number) + (this.q.outgoingCount.get(user) as number);
  }

  /** `owner`'s entry for buddy `other`, as a contact event. */
  private emitBuddy(owner: string, other: string): void {
    const p = this.q.buddyPeer.get(owner, other) as PeerRow | undefined;
    if (!p) return;
    const blockedByOwner = !!this.q.isBlocked.get(owner, other);
    const contact: ContactEntry = blockedByOwner
      ? { user: other, relation: 'blocked', status: 'offline' }
      : buddyEntry(p);
    this.emit({ type: 'contact', owner, contact });
  }

  private makeBuddies(a: string, b: string, now: number): void {
    this.q.addBuddy.run(a, b, now);
    this.q.addBuddy.run(b, a, now);
    this.q.delAdd.run(a, b);
    this.q.delAdd.run(b, a);
    this.emitBuddy(a, b);
    this.emitBuddy(b, a);
  }

  async addRequest(actor: Actor, to: string, now: number): Promise<AddResult> {
    return this.tx((): AddResult => {
      const bad = this.checkActor(actor);
      if (bad) return bad;
      const from = actor.user;
      if (to === from) return { ok: false, error: 'self' }; // [ADD-6]
      const target = this.q.userState.get(to) as UserRow | undefined;
      if (!target) return { ok: false, error: 'unknown' }; // [ADD-5]
      if (this.q.isBlocked.get(from, to)) return { ok: false, error: 'forbidden' }; // [ADD-6]
      if (this.q.isBuddy.get(from, to)) return { ok: false, error: 'buddy' }; // [ADD-4]
      if (this.q.addExists.get(from, to)) return { ok: false, error: 'duplicate' }; // [ADD-4]
      if (this.q.addExists.get(to, from)) {
        // [ADD-8] a pending ADD in both directions is granted at once by the second ADD
        if (this.contactCount(from) >= this.limits.maxContacts) return { ok: false, error: 'limit', which: 'contacts' };
        this.makeBuddies(from, to, now);
        return { ok: true, outcome: 'granted' };
      }
      if (this.contactCount(from) >= this.limits.maxContacts) return { ok: false, error: 'limit', which: 'contacts' }; // [ADD-LIMIT-1]
      // [ADD-LIMIT-2] before the block: a blocked sender meets a full list as a stranger does [ERR-6]
      if ((this.q.incomingCount.get(to) as number) >= this.limits.maxPendingAdds)
        return { ok: false, error: 'limit', which: 'pending' };
      if (this.q.isBlocked.get(to, from)) {
        // [BLOCK-6] stored, pending in the sender's list, withheld from the target; nothing revealed
        this.q.insertAdd.run(from, to, now);
        return { ok: true, outcome: 'blocked-silently', time: now };
      }
      this.q.insertAdd.run(from, to, now); // [ADD-1]
      this.emit({ type: 'add', from, to, time: now });
      if (target.state === 'online') {
        // [ADD-2] pushed at once, answered 200
        return {
          ok: true,
          outcome: 'delivered',
          time: now,
          targetMs: { msId: target.ms_id ?? '', incarnation: target.ms_incarnation ?? 0 },
        };
      }
      return { ok: true, outcome: 'stored', time: now };
    });
  }

  async answer(actor: Actor, from: string, decision: Decision, now: number): Promise<AnswerResult> {
    return this.tx((): AnswerResult => {
      const bad = this.checkActor(actor);
      if (bad) return bad;
      const me = actor.user;
      // [ADD-9] an ADD withheld by a block cannot be answered either
      if (!this.q.addExists.get(from, me) || this.q.isBlocked.get(me, from)) return { ok: false, error: 'no-pending' };
      if (decision === 'deny') {
        this.q.delAdd.run(from, me);
        this.emit({ type: 'answer', from: me, to: from, decision: 'deny' }); // [ANSWER-3]
        return { ok: true, outcome: 'denied' };
      }
      // [ADD-LIMIT-4] the requester's pending entry turns into a buddy: only the answerer's list grows
      if (this.contactCount(me) >= this.limits.maxContacts) return { ok: false, error: 'limit', which: 'contacts' };
      this.makeBuddies(me, from, now); // [ANSWER-2]
      this.emit({ type: 'answer', from: me, to: from, decision: 'grant' });
      return { ok: true, outcome: 'granted' };
    });
  }

  async remove(actor: Actor, other: string): Promise<RemoveResult> {
    return this.tx((): RemoveResult => {
      const bad = this.checkActor(actor);
      if (bad) return bad;
      const me = actor.user;
      if (this.q.isBuddy.get(me, other)) {
        // [REM-1] both directions
        this.q.delBuddy.run(me, other);
        this.q.delBuddy.run(other, me);
        this.emit({ type: 'contact', owner: me, contact: { user: other, relation: 'none', status: 'offline' } });
        this.emit({ type: 'contact', owner: other, contact: { user: me, relation: 'none', status: 'offline' } });
        return { ok: true, removed: 'buddy' };
      }
      if (this.q.addExists.get(me, other)) {
        // [REM-3] withdrawn: never delivered again
        this.q.delAdd.run(me, other);
        this.emit({ type: 'contact', owner: me, contact: { user: other, relation: 'none', status: 'offline' } });
        return { ok: true, removed: 'pending' };
      }
      if (this.q.isBlocked.get(me, other)) {
        this.unblockIn(me, other); // [REM-4]
        return { ok: true, removed: 'blocked' };
      }
      return { ok: false, error: 'not-contact' }; // [REM-2]
    });
  }

  async block(actor: Actor, other: string): Promise<BlockResult> {
    return this.tx((): BlockResult => {
      const bad = this.checkActor(actor);
      if (bad) return bad;
      const me = actor.user;
      if (other === me) return { ok: false, error: 'self' }; // [BLOCK-7]
      if (!this.q.exists.get(other)) return { ok: false, error: 'unknown' }; // [USER-2]
      if (this.q.isBlocked.get(me, other)) return { ok: true, already: true }; // [BLOCK-7]
      if ((this.q.blockCount.get(me) as number) >= this.limits.maxBlocked)
        return { ok: false, error: 'limit', which: 'blocked' }; // [BLOCK-LIMIT-1]
      // [BLOCK-1] no relation and no unanswered ADD either way, then the block
      const wereBuddies = !!this.q.isBuddy.get(me, other);
      const theirAdd = !!this.q.addExists.get(other, me);
      this.q.delBuddy.run(me, other);
      this.q.delBuddy.run(other, me);
      this.q.delAdd.run(me, other);
      this.q.delAdd.run(other, me);
      this.q.insertBlock.run(me, other);
      // [BLOCK-2] [BLOCK-4] to the blocked user it looks like a logout, a REM or a denial
      this.emit({ type: 'presence', user: me, status: 'offline', to: other });
      if (wereBuddies)
        this.emit({ type: 'contact', owner: other, contact: { user: me, relation: 'none', status: 'offline' } });
      if (theirAdd) this.emit({ type: 'answer', from: me, to: other, decision: 'deny' });
      this.emit({ type: 'contact', owner: me, contact: { user: other, relation: 'blocked', status: 'offline' } });
      return { ok: true, already: false };
    });
  }

  /** Inside a transaction: lift `owner`'s block of `other` [BLOCK-5]. */
  private unblockIn(owner: string, other: string): void {
    this.q.delBlock.run(owner, other);
    this.emit({ type: 'contact', owner, contact: { user: other, relation: 'none', status: 'offline' } });
  }

  async unblock(actor: Actor, other: string): Promise<UnblockResult> {
    return this.tx((): UnblockResult => {
      const bad = this.checkActor(actor);
      if (bad) return bad;
      const me = actor.user;
      if (!this.q.isBlocked.get(me, other)) return { ok: false, error: 'not-blocked' }; // [BLOCK-9]
      // [BLOCK-5] withheld ADDs from `other` are deliverable again (pendingFor shows them)
      this.unblockIn(me, other);
      return { ok: true };
    });
  }

  private contactsOf(user: string): ContactEntry[] {
    const buddies: ContactEntry[] = [];
    for (const [other, visible, status, address, publicKey] of this.q.buddyPeers.all(user) as BuddyPeerRow[]) {
      // the same entries as buddyEntry: a buddy who blocks `user` shows offline, without address or key [BLOCK-2]
      buddies.push(
        visible
          ? {
              user: other,
              relation: 'buddy',
              status: (status ?? 'online') as Presence,
              address: address ?? '',
              publicKey: publicKey ?? '',
            }
          : { user: other, relation: 'buddy', status: 'offline' },
      );
    }
    return contactList(buddies, this.q.outgoing.all(user) as string[], this.q.blockedBy.all(user) as string[]);
  }

  private pendingOf(user: string): PendingAdd[] {
    return this.q.pendingFor.all(user) as PendingAdd[];
  }

  async listContacts(username: string): Promise<ContactEntry[]> {
    return this.contactsOf(username);
  }

  async pendingFor(username: string): Promise<PendingAdd[]> {
    return this.pendingOf(username);
  }

  async watchers(username: string): Promise<Watcher[]> {
    return this.q.watchers.all(username) as Watcher[];
  }

  // ------------------------------------------------------------------------------------------
  // Profile, search, password

  async getProfile(username: string): Promise<Profile | null> {
    const r = this.q.profile.get(username) as { full_name: string; location: string; about: string } | undefined;
    return r ? { fullName: r.full_name, location: r.location, about: r.about } : null;
  }

  async setProfile(actor: Actor, profile: Partial<Profile>): Promise<ProfileResult> {
    const bad = validateProfile(profile);
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    return this.tx((): ProfileResult => {
      const s = this.checkActor(actor); // [PROFILE-3] only one's own profile
      if (s) return s;
      this.q.setProfile.run(profile.fullName ?? null, profile.location ?? null, profile.about ?? null, actor.user);
      return { ok: true };
    });
  }

  async searchUsers(query: string, field: SearchField, cursor: string | null, limit: number): Promise<SearchPage> {
    const bad = checkSearch(query, field, cursor, this.limits);
    if (bad) return bad;
    // [SEARCH-3] pages of at most maxSearchResults
    const n = Math.max(
      1,
      Math.min(Number.isSafeInteger(limit) ? limit : this.limits.maxSearchResults, this.limits.maxSearchResults),
    );
    // SQLite's LIKE ignores ASCII case; profile texts are ASCII [HDR-TEXT-1]
    const prefix = escapeLike(query) + '%';
    const sub = '%' + escapeLike(query) + '%';
    const u = `username LIKE @prefix ESCAPE '\\'`;
    const name = `full_name LIKE @sub ESCAPE '\\'`;
    const loc = `location LIKE @sub ESCAPE '\\'`;
    const cond =
      field === 'username' ? u : field === 'name' ? name : field === 'location' ? loc : `(${u} OR ${name} OR ${loc})`;
    const sql = `SELECT username, full_name, location FROM users WHERE username > @cursor AND ${cond} ORDER BY username LIMIT @n`;
    let stmt = this.searchCache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.searchCache.set(sql, stmt);
    }
    const params: Record<string, string | number> = { cursor: cursor ?? '', n: n + 1 };
    if (field !== 'username') params.sub = sub;
    if (field === 'username' || field === 'any') params.prefix = prefix;
    const rows = stmt.all(params) as Array<{
      username: string;
      full_name: string;
      location: string;
    }>;
    return searchPage(rows, n);
  }

  async passwd(actor: Actor, verifier: Verifier, keyBlob: string): Promise<PasswdResult> {
    const bad = validateVerifier(verifier) ?? (isKeyBlob(keyBlob) ? null : 'keyBlob');
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    return this.tx((): PasswdResult => {
      const s = this.checkActor(actor);
      if (s) return s;
      this.q.passwd.run(
        verifier.salt,
        verifier.iterations,
        verifier.storedKey,
        verifier.serverKey,
        keyBlob,
        actor.user,
      );
      return { ok: true };
    });
  }

  // ------------------------------------------------------------------------------------------

  onChange(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // operations already queued are committed before the file closes
    while (this.queue.length > 0) this.flush();
    this.closed = true;
    this.listeners.clear();
    await this.checkpointer?.close();
    if (this.peerKey) {
      const set = peers.get(this.peerKey);
      set?.delete(this);
      if (set?.size === 0) peers.delete(this.peerKey);
    }
    this.db.close();
  }
}
