// The PostgreSQL store: several CRS processes may serve one database.
//
// - The login lock is a row (users.state, epoch, lease_expires_at) changed by one conditional
//   UPDATE ... WHERE ... RETURNING: under READ COMMITTED, of two concurrent UPDATEs of one row the
//   second waits for the first and re-checks its WHERE on the new row, so two processes can never
//   both grant [LOCK-1].
// - Every other multi-step operation is one transaction that first locks the user rows it is about
//   in username order (SELECT ... ORDER BY username FOR UPDATE), so operations on one pair of users
//   are serialized across processes and cannot deadlock one another; a deadlock or serialization
//   failure anyway is retried a bounded number of times.
// - The change feed is LISTEN/NOTIFY on one channel per schema: events are sent in the
//   transaction that makes the change (delivered only if it commits, in commit order) in JSON
//   payloads of at most ~7,000 octets, and every store instance on the database (this one included)
//   hears them.
// - The schema is created on connect, idempotently, under an advisory lock.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  buddyEntry,
  checkSearch,
  mergeContacts,
  msFromRow,
  searchPage,
  sessionStale,
  userFromRow,
  type MsRow,
  type PeerRow,
  type UserRow,
} from './rows.js';
import {
  DEFAULT_LIMITS,
  actorMs,
  escapeLike,
  isAdmin,
  isHostPort,
  isKeyBlob,
  isMsId,
  isStatus,
  isUsername,
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

export const PG_SCHEMA_VERSION = 1;

export interface PostgresStoreOptions extends OpenStoreOptions {
  /** Schema holding the tables (default 'imsp'); tests use one schema per data set. */
  schema?: string;
  /** Most connections of this process's pool (default 10). */
  poolSize?: number;
}

function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.users (
  username TEXT COLLATE "C" PRIMARY KEY,
  salt TEXT NOT NULL,
  iterations INTEGER NOT NULL,
  stored_key TEXT NOT NULL,
  server_key TEXT NOT NULL,
  public_key TEXT NOT NULL,
  key_blob TEXT NOT NULL,
  full_name TEXT NOT NULL DEFAULT '',
  location TEXT NOT NULL DEFAULT '',
  about TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  epoch BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'offline' CHECK (state IN ('offline', 'locked', 'online')),
  ms_id TEXT,
  ms_incarnation BIGINT,
  lease_expires_at BIGINT,
  address TEXT,
  status TEXT
);
CREATE INDEX IF NOT EXISTS users_by_ms ON ${s}.users (ms_id, ms_incarnation) WHERE state <> 'offline';
CREATE INDEX IF NOT EXISTS users_by_lease ON ${s}.users (lease_expires_at) WHERE state = 'locked';
CREATE TABLE IF NOT EXISTS ${s}.buddies (owner TEXT NOT NULL, other TEXT NOT NULL, since BIGINT NOT NULL, PRIMARY KEY (owner, other));
CREATE TABLE IF NOT EXISTS ${s}.adds (from_user TEXT NOT NULL, to_user TEXT NOT NULL, time BIGINT NOT NULL, PRIMARY KEY (from_user, to_user));
CREATE INDEX IF NOT EXISTS adds_by_target ON ${s}.adds (to_user, time);
CREATE TABLE IF NOT EXISTS ${s}.blocks (owner TEXT NOT NULL, blocked TEXT NOT NULL, PRIMARY KEY (owner, blocked));
CREATE INDEX IF NOT EXISTS blocks_by_blocked ON ${s}.blocks (blocked, owner);
CREATE TABLE IF NOT EXISTS ${s}.ms (
  ms_id TEXT PRIMARY KEY,
  incarnation BIGINT NOT NULL,
  listen TEXT NOT NULL,
  capacity INTEGER NOT NULL,
  load INTEGER NOT NULL DEFAULT 0,
  enrolled_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  lease_expires_at BIGINT NOT NULL
);
`;
}

// int8 (BIGINT, OID 20) and the count(*) results as JavaScript numbers: every value we keep is
// far below 2^53 (milliseconds, epochs, counts).
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (v: string) => unknown {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? 'text') as (v: string) => unknown;
  },
};

type EventBody = StoreEvent extends infer E ? (E extends StoreEvent ? Omit<E, 'origin'> : never) : never;
type Q = (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;

/** Largest NOTIFY payload we send (PostgreSQL's limit is 8000 octets). */
const MAX_PAYLOAD = 7000;
const MAX_ATTEMPTS = 5;
/** Attempts to re-open a lost LISTEN connection (backoff 0.1 s doubling to 5 s: about 8 minutes). */
const MAX_RELISTEN = 100;

const statementNames = new Map<string, string>();
/** Every statement is a named prepared statement (parsed and planned once per connection); the
 *  name is derived from the text, so each text has one name. */
function prepared(text: string, values?: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (!name) {
    name = 'imsp_' + createHash('sha256').update(text).digest('base64url').slice(0, 20);
    if (statementNames.size < 10_000) statementNames.set(text, name);
  }
  return { name, text, values: values ?? [] };
}

function retryable(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === '40P01' || code === '40001';
}

export class PostgresStore implements Store {
  readonly id = randomUUID();
  readonly kind = 'postgres' as const;
  readonly limits: StoreLimits;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly channel: string;
  private readonly listeners = new Set<StoreListener>();
  private listenClient: pg.Client | null = null;
  private readonly url: string;
  private closed = false;
  private seq = 0;
  private readonly stop = new AbortController();
  /**
   * The LISTEN connection's state: 'down' when it is lost (changes made by other processes are
   * missed until it is back: a CRS should then re-read what it pushes), 'up' when it is back,
   * 'failed' after MAX_RELISTEN attempts.
   */
  readonly feed = new EventEmitter();

  static async connect(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const s = new PostgresStore(url, opts);
    try {
      await s.init();
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  private constructor(url: string, opts: PostgresStoreOptions) {
    this.url = url;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    const schema = opts.schema ?? 'imsp';
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) throw new Error(`store: bad schema name '${schema}'`);
    this.schema = schema;
    this.channel = `imsp_store_${schema}`;
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 10,
      types,
      options: `-c search_path=${schema}`,
    });
    // An idle connection that fails is dropped by the pool; the next query opens another.
    this.pool.on('error', () => undefined);
  }

  private async init(): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('imsp-store-schema'))`);
      await c.query(schemaSql(this.schema));
      const v = await c.query(`SELECT value FROM ${this.schema}.meta WHERE key = 'schema_version'`);
      const have = v.rows.length ? Number(v.rows[0].value) : 0;
      if (have > PG_SCHEMA_VERSION)
        throw new Error(`store: database schema version ${have} is newer than this program's (${PG_SCHEMA_VERSION})`);
      if (have < PG_SCHEMA_VERSION) {
        await c.query(
          `INSERT INTO ${this.schema}.meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = $1`,
          [String(PG_SCHEMA_VERSION)],
        );
      }
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
    await this.listen();
  }

  /** The LISTEN connection. When it is lost it is opened again, with backoff (see `feed`). */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, types });
    client.on('notification', (n) => {
      if (n.channel !== this.channel || !n.payload) return;
      let events: unknown;
      try {
        events = (JSON.parse(n.payload) as { events?: unknown }).events;
      } catch {
        return;
      }
      if (!Array.isArray(events)) return;
      for (const e of events as StoreEvent[]) this.deliver(e);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (e) {
      client.end().catch(() => undefined);
      throw e;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listenClient = client;
  }

  private lost(client: pg.Client): void {
    if (this.closed || this.listenClient !== client) return;
    this.listenClient = null;
    client.end().catch(() => undefined);
    this.feed.emit('down');
    void this.relisten();
  }

  private async relisten(): Promise<void> {
    for (let attempt = 0; attempt < MAX_RELISTEN && !this.closed; attempt++) {
      try {
        await this.listen();
        if (this.listenClient) this.feed.emit('up');
        return;
      } catch {
        try {
          await sleep(Math.min(100 * 2 ** attempt, 5000), undefined, { signal: this.stop.signal });
        } catch {
          return; // closed
        }
      }
    }
    this.feed.emit('failed');
  }

  private deliver(e: StoreEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /** NOTIFY payloads for `events`: `{"seq": n, "events": [...]}` below MAX_PAYLOAD octets; the
   *  sequence number makes each unique (NOTIFY folds identical payloads of one transaction). */
  private payloads(events: EventBody[]): string[] {
    const out: string[] = [];
    let batch: string[] = [];
    let size = 2;
    const flush = () => {
      if (batch.length) out.push(`{"seq":${this.seq++},"events":[${batch.join(',')}]}`);
      batch = [];
      size = 2;
    };
    for (const e of events) {
      const s = JSON.stringify({ ...e, origin: this.id });
      if (size + s.length + 1 > MAX_PAYLOAD) flush();
      batch.push(s);
      size += s.length + 1;
    }
    flush();
    return out;
  }

  /** One transaction; `events` are sent with NOTIFY before COMMIT. Retries deadlocks. */
  private async tx<T>(f: (q: Q, emit: (e: EventBody) => void) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('store: closed');
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect();
      // A checked-out client that loses its connection emits 'error'; the failed query rejects as
      // well, so the error is handled below. Without a listener the process would crash.
      const onError = (): void => undefined;
      c.on('error', onError);
      const events: EventBody[] = [];
      try {
        await c.query('BEGIN');
        const result = await f(
          (sql, params) => c.query(prepared(sql, params)),
          (e) => events.push(e),
        );
        if (events.length)
          await c.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [this.channel, this.payloads(events)]);
        await c.query('COMMIT');
        c.off('error', onError);
        c.release();
        return result;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        c.off('error', onError);
        // A broken connection is not returned to the pool.
        c.release(e instanceof Error && !retryable(e) ? e : undefined);
        if (retryable(e) && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
    }
  }

  private q(sql: string, params?: unknown[]): Promise<pg.QueryResult> {
    if (this.closed) return Promise.reject(new Error('store: closed'));
    return this.pool.query(prepared(sql, params));
  }

  /** Locks the named user rows in username order; returns the rows found, by name. */
  private async lockUsers(q: Q, names: string[]): Promise<Map<string, UserRow>> {
    const r = await q('SELECT * FROM users WHERE username = ANY($1::text[]) ORDER BY username FOR UPDATE', [
      [...new Set(names)],
    ]);
    return new Map((r.rows as UserRow[]).map((u) => [u.username, u]));
  }

  /** [LOCK-6] The actor's epoch must be current, the user online, held by the actor's MS (its row is locked by the caller). */
  private checkActor(actor: Actor, row: UserRow | undefined): Stale | null {
    if (!row) return stale('state');
    if (isAdmin(actor)) return null;
    return sessionStale(row, actor.epoch, actorMs(actor), 'online');
  }

  // ------------------------------------------------------------------------------------------
  // Users

  async registerUser(user: NewUser, now: number): Promise<RegisterResult> {
    const bad = validateNewUser(user);
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    const r = await this.q(
      `INSERT INTO users (username, salt, iterations, stored_key, server_key, public_key, key_blob, full_name, location, about, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (username) DO NOTHING`,
      [
        user.username,
        user.verifier.salt,
        user.verifier.iterations,
        user.verifier.storedKey,
        user.verifier.serverKey,
        user.publicKey,
        user.keyBlob,
        user.profile?.fullName ?? '',
        user.profile?.location ?? '',
        user.profile?.about ?? '',
        now,
      ],
    );
    // [REGISTER-2]
    return r.rowCount === 1 ? { ok: true } : { ok: false, error: 'exists' };
  }

  async getUser(username: string): Promise<UserRecord | null> {
    // names outside the registry syntax (a NUL, above all, which PostgreSQL text refuses) match no row
    if (!isUsername(username)) return null;
    const r = await this.q('SELECT * FROM users WHERE username = $1', [username]);
    return r.rows.length ? userFromRow(r.rows[0] as UserRow) : null;
  }

  async listUsers(cursor: string | null, limit: number): Promise<string[]> {
    if (cursor !== null && !isUsername(cursor)) return [];
    const r = await this.q('SELECT username FROM users WHERE username > $1 ORDER BY username LIMIT $2', [
      cursor ?? '',
      Math.max(0, Math.min(limit, 100000)),
    ]);
    return r.rows.map((x: { username: string }) => x.username);
  }

  async countUsers(): Promise<number> {
    const r = await this.q('SELECT count(*) AS n FROM users');
    return Number(r.rows[0].n);
  }

  async deleteUser(username: string, force = false): Promise<DeleteResult> {
    if (!isUsername(username)) return { ok: false, error: 'unknown' };
    return this.tx(async (q, emit): Promise<DeleteResult> => {
      const row = (await this.lockUsers(q, [username])).get(username);
      if (!row) return { ok: false, error: 'unknown' };
      if (row.state !== 'offline' && !force) return { ok: false, error: 'online' };
      const buddies = (await q('SELECT other FROM buddies WHERE owner = $1', [username])).rows.map(
        (x: { other: string }) => x.other,
      );
      await q('DELETE FROM buddies WHERE owner = $1 OR other = $1', [username]);
      await q('DELETE FROM adds WHERE from_user = $1 OR to_user = $1', [username]);
      await q('DELETE FROM blocks WHERE owner = $1 OR blocked = $1', [username]);
      await q('DELETE FROM users WHERE username = $1', [username]);
      if (row.state === 'online') emit({ type: 'presence', user: username, status: 'offline' });
      for (const b of buddies)
        emit({ type: 'contact', owner: b, contact: { user: username, relation: 'none', status: 'offline' } });
      return { ok: true };
    });
  }

  // ------------------------------------------------------------------------------------------
  // The lock [§8.3 The Lock and the Epoch]

  async tryLock(username: string, ms: MsRef, now: number, leaseMs: number): Promise<LockResult> {
    // names outside the registry syntax (a NUL, above all, which PostgreSQL text refuses) match no row
    if (!isUsername(username)) return { ok: false, error: 'unknown' };
    if (!isMsId(ms.msId)) return { ok: false, error: 'ms-unknown' };
    const leaseExpiresAt = now + leaseMs;
    // One statement: the conditional UPDATE is the lock [LOCK-1]; `cur` (the statement's snapshot)
    // says why when it did not match.
    const r = await this.q(
      `WITH m AS (SELECT 1 FROM ms WHERE ms_id = $2 AND incarnation = $3 AND lease_expires_at > $4),
            cur AS (SELECT state, lease_expires_at FROM users WHERE username = $1),
            upd AS (
              UPDATE users SET state = 'locked', epoch = epoch + 1, ms_id = $2, ms_incarnation = $3, lease_expires_at = $5, address = NULL, status = NULL
              WHERE username = $1 AND EXISTS (SELECT 1 FROM m)
                AND (state = 'offline' OR (state = 'locked' AND lease_expires_at <= $4))
              RETURNING epoch, salt, iterations, stored_key, server_key)
       SELECT cur.state, cur.lease_expires_at, EXISTS (SELECT 1 FROM m) AS ms_ok, upd.*
       FROM cur LEFT JOIN upd ON true`,
      [username, ms.msId, ms.incarnation, now, leaseExpiresAt],
    );
    if (!r.rows.length) return { ok: false, error: 'unknown' };
    const row = r.rows[0] as {
      state: string;
      lease_expires_at: number | null;
      ms_ok: boolean;
      epoch: number | null;
      salt: string;
      iterations: number;
      stored_key: string;
      server_key: string;
    };
    if (row.epoch !== null && row.epoch !== undefined) {
      return {
        ok: true,
        epoch: row.epoch,
        leaseExpiresAt,
        verifier: { salt: row.salt, iterations: row.iterations, storedKey: row.stored_key, serverKey: row.server_key },
      };
    }
    if (!row.ms_ok) return { ok: false, error: 'ms-unknown' };
    if (row.state === 'online') return { ok: false, error: 'online' }; // [LOCK-2]
    // locked and live, or another process took it between our snapshot and our update
    return { ok: false, error: 'locked' };
  }

  async unlock(username: string, epoch: number, ms?: MsRef): Promise<OkResult | Stale | Unknown> {
    if (!isUsername(username)) return { ok: false, error: 'unknown' };
    if (ms && !isMsId(ms.msId)) return stale('wrong-ms');
    const r = await this.q(
      `WITH cur AS (SELECT epoch, state, ms_id, ms_incarnation FROM users WHERE username = $1),
            upd AS (UPDATE users SET state = 'offline', ms_id = NULL, ms_incarnation = NULL, lease_expires_at = NULL, address = NULL, status = NULL
                    WHERE username = $1 AND epoch = $2 AND state = 'locked' AND ($3::text IS NULL OR (ms_id = $3 AND ms_incarnation = $4))
                    RETURNING 1 AS done)
       SELECT cur.*, upd.done FROM cur LEFT JOIN upd ON true`,
      [username, epoch, ms?.msId ?? null, ms?.incarnation ?? null],
    );
    if (!r.rows.length) return { ok: false, error: 'unknown' };
    const row = r.rows[0] as UserRow & { done: number | null };
    if (row.done) return { ok: true };
    if (row.epoch !== epoch) return stale('epoch'); // [LOCK-6]
    if (row.state === 'offline') return { ok: true }; // [LOCK-8]
    return sessionStale(row, epoch, ms, 'locked') ?? stale('state');
  }

  async goOnline(
    username: string,
    epoch: number,
    ms: MsRef,
    address: string,
    status: UserStatus,
    now: number,
  ): Promise<OnlineResult> {
    if (!isUsername(username)) return { ok: false, error: 'unknown' };
    if (!isMsId(ms.msId)) return stale('wrong-ms');
    if (!isHostPort(address) || !isStatus(status)) return stale('state');
    // The presence event carries the public key, which only the statement reads: the payload is
    // built around a marker that the statement replaces ('#' appears in no name, address or key).
    const [pre, post] = this.payloads([
      { type: 'presence', user: username, status, msId: ms.msId, address, publicKey: '#KEY#' },
    ])[0].split('#KEY#');
    const r = await this.q(
      `WITH cur AS (SELECT epoch, state, lease_expires_at, ms_id, ms_incarnation FROM users WHERE username = $1),
            upd AS (
              UPDATE users SET state = 'online', address = $5, status = $6, lease_expires_at = NULL
              WHERE username = $1 AND epoch = $2 AND state = 'locked' AND lease_expires_at > $7 AND ms_id = $3 AND ms_incarnation = $4
                AND EXISTS (SELECT 1 FROM ms WHERE ms_id = $3 AND incarnation = $4 AND lease_expires_at > $7)
              RETURNING key_blob, public_key)
       SELECT cur.*, upd.key_blob, upd.public_key,
              CASE WHEN upd.public_key IS NOT NULL THEN pg_notify($8, $9 || upd.public_key || $10) END AS notified
       FROM cur LEFT JOIN upd ON true`,
      [username, epoch, ms.msId, ms.incarnation, address, status, now, this.channel, pre, post],
    );
    if (!r.rows.length) return { ok: false, error: 'unknown' };
    const row = r.rows[0] as {
      epoch: number;
      state: string;
      lease_expires_at: number | null;
      ms_id: string | null;
      ms_incarnation: number | null;
      key_blob: string | null;
      public_key: string | null;
    };
    if (row.key_blob === null || row.public_key === null) {
      if (row.epoch !== epoch) return stale('epoch'); // [LOCK-6]
      if (row.state !== 'locked') return stale('state');
      if ((row.lease_expires_at ?? 0) <= now) return stale('expired'); // [LOCK-3]
      if (row.ms_id !== ms.msId || row.ms_incarnation !== ms.incarnation) return stale('wrong-ms');
      return stale('wrong-ms'); // the MS enrollment is gone
    }
    const { contacts, pending } = await this.contactsAndPending(username);
    return { ok: true, keyBlob: row.key_blob, publicKey: row.public_key, status, contacts, pending };
  }

  private async contactsAndPending(
    user: string,
    q: Q = (s, p) => this.q(s, p),
  ): Promise<{ contacts: ContactEntry[]; pending: PendingAdd[] }> {
    const r = await q(
      `SELECT 'b' AS kind, b.other AS "user", u.state, u.status, u.address, u.public_key,
              EXISTS (SELECT 1 FROM blocks k WHERE k.owner = b.other AND k.blocked = b.owner)::int AS blocked_by_them, NULL::bigint AS time
         FROM buddies b JOIN users u ON u.username = b.other WHERE b.owner = $1
       UNION ALL SELECT 'o', to_user, NULL, NULL, NULL, NULL, 0, time FROM adds WHERE from_user = $1
       UNION ALL SELECT 'k', blocked, NULL, NULL, NULL, NULL, 0, NULL FROM blocks WHERE owner = $1
       UNION ALL SELECT 'i', from_user, NULL, NULL, NULL, NULL, 0, time FROM adds a WHERE a.to_user = $1
         AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = a.to_user AND k.blocked = a.from_user)`,
      [user],
    );
    const peers: PeerRow[] = [];
    const outgoing: string[] = [];
    const blocked: string[] = [];
    const pending: PendingAdd[] = [];
    for (const x of r.rows as Array<PeerRow & { kind: string; time: number | null }>) {
      if (x.kind === 'b') peers.push(x);
      else if (x.kind === 'o') outgoing.push(x.user);
      else if (x.kind === 'k') blocked.push(x.user);
      else pending.push({ from: x.user, to: user, time: x.time ?? 0 });
    }
    pending.sort((a, b) => a.time - b.time || (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
    return { contacts: mergeContacts(peers, outgoing.sort(), blocked.sort()), pending };
  }

  async goOffline(username: string, epoch: number, ms?: MsRef): Promise<OfflineResult> {
    if (!isUsername(username)) return { ok: false, error: 'unknown' };
    if (ms && !isMsId(ms.msId)) return stale('wrong-ms');
    // One statement: `old` locks the row (READ COMMITTED then reads its latest version), the
    // UPDATE acts on what `old` saw, and the presence event is sent when the user was online.
    const r = await this.q(
      `WITH old AS (SELECT username, epoch, state, ms_id, ms_incarnation FROM users WHERE username = $1 FOR UPDATE),
            upd AS (
              UPDATE users u SET state = 'offline', ms_id = NULL, ms_incarnation = NULL, lease_expires_at = NULL, address = NULL, status = NULL
              FROM old WHERE u.username = old.username AND old.epoch = $2 AND old.state <> 'offline'
                AND ($3::text IS NULL OR (old.ms_id = $3 AND old.ms_incarnation = $4))
              RETURNING old.state AS was)
       SELECT old.*, upd.was, CASE WHEN upd.was = 'online' THEN pg_notify($5, $6) END AS notified
       FROM old LEFT JOIN upd ON true`,
      [
        username,
        epoch,
        ms?.msId ?? null,
        ms?.incarnation ?? null,
        this.channel,
        this.payloads([{ type: 'presence', user: username, status: 'offline' }])[0],
      ],
    );
    if (!r.rows.length) return { ok: false, error: 'unknown' };
    const row = r.rows[0] as UserRow & { was: string | null };
    if (row.was) return { ok: true, wasOnline: row.was === 'online' }; // [LOGOUT-5]
    if (row.epoch !== epoch) return stale('epoch'); // [LOCK-6]
    if (row.state === 'offline') return { ok: true, wasOnline: false }; // repeated cleanup changes nothing
    return sessionStale(row, epoch, ms, row.state === 'locked' ? 'locked' : 'online') ?? stale('state');
  }

  private async setOffline(q: Q, users: string[]): Promise<void> {
    if (!users.length) return;
    await q(
      `UPDATE users SET state = 'offline', ms_id = NULL, ms_incarnation = NULL, lease_expires_at = NULL, address = NULL, status = NULL WHERE username = ANY($1::text[])`,
      [users],
    );
  }

  async setStatus(
    username: string,
    epoch: number,
    status: UserStatus,
    ms?: MsRef,
  ): Promise<OkResult | Stale | Unknown> {
    if (!isUsername(username)) return { ok: false, error: 'unknown' };
    if (ms && !isMsId(ms.msId)) return stale('wrong-ms');
    if (!isStatus(status)) return stale('state');
    return this.tx(async (q, emit): Promise<OkResult | Stale | Unknown> => {
      const row = (await this.lockUsers(q, [username])).get(username);
      if (!row) return { ok: false, error: 'unknown' };
      const bad = sessionStale(row, epoch, ms, 'online'); // [LOCK-6]
      if (bad) return bad;
      await q('UPDATE users SET status = $1 WHERE username = $2', [status, username]);
      emit({
        type: 'presence',
        user: username,
        status,
        msId: row.ms_id ?? undefined,
        address: row.address ?? undefined,
        publicKey: row.public_key,
      });
      return { ok: true };
    });
  }

  async checkSession(username: string, epoch: number, ms?: MsRef): Promise<SessionCheck> {
    if (!isUsername(username)) return { ok: false, error: 'unknown' };
    if (ms && !isMsId(ms.msId)) return stale('wrong-ms');
    const r = await this.q('SELECT epoch, state, ms_id, ms_incarnation FROM users WHERE username = $1', [username]);
    if (!r.rows.length) return { ok: false, error: 'unknown' };
    return sessionStale(r.rows[0] as UserRow, epoch, ms, 'online') ?? { ok: true };
  }

  async expireLocks(now: number): Promise<string[]> {
    // [LOCK-3] one statement: a lock re-granted meanwhile has a later lease and is not matched
    const r = await this.q(
      `UPDATE users SET state = 'offline', ms_id = NULL, ms_incarnation = NULL, lease_expires_at = NULL, address = NULL, status = NULL
       WHERE state = 'locked' AND lease_expires_at <= $1 RETURNING username`,
      [now],
    );
    return r.rows.map((x: { username: string }) => x.username).sort();
  }

  async offlineAllOfMs(msId: string, olderThanIncarnation?: number): Promise<FreedUsers> {
    if (!isMsId(msId)) return { offline: [], unlocked: [] };
    return this.tx((q, emit) => this.freeUsersOf(q, emit, msId, olderThanIncarnation));
  }

  async resetSessions(): Promise<FreedUsers> {
    return this.tx(async (q, emit) => {
      // [PERSIST-2] enrollments, locks and sessions do not survive a CRS restart; epochs do
      await q('LOCK TABLE ms IN EXCLUSIVE MODE');
      const r = await q(`SELECT username, state FROM users WHERE state <> 'offline' ORDER BY username FOR UPDATE`);
      const rows = r.rows as Array<{ username: string; state: string }>;
      await this.setOffline(
        q,
        rows.map((x) => x.username),
      );
      await q('DELETE FROM ms');
      const freed: FreedUsers = { offline: [], unlocked: [] };
      for (const x of rows) (x.state === 'online' ? freed.offline : freed.unlocked).push(x.username);
      for (const u of freed.offline) emit({ type: 'presence', user: u, status: 'offline' });
      return freed;
    });
  }

  private async freeUsersOf(q: Q, emit: (e: EventBody) => void, msId: string, olderThan?: number): Promise<FreedUsers> {
    const r = await q(
      `SELECT username, state FROM users WHERE ms_id = $1 AND state <> 'offline' AND ($2::bigint IS NULL OR ms_incarnation < $2)
       ORDER BY username FOR UPDATE`,
      [msId, olderThan ?? null],
    );
    const rows = r.rows as Array<{ username: string; state: string }>;
    await this.setOffline(
      q,
      rows.map((x) => x.username),
    );
    const freed: FreedUsers = { offline: [], unlocked: [] };
    for (const x of rows) {
      if (x.state === 'online') {
        freed.offline.push(x.username);
        emit({ type: 'presence', user: x.username, status: 'offline' });
      } else freed.unlocked.push(x.username);
    }
    return freed;
  }

  // ------------------------------------------------------------------------------------------
  // Messaging Servers

  async enrollMs(ms: MsEnrollment, now: number, leaseMs: number): Promise<EnrollResult> {
    const bad = validateEnrollment(ms);
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    return this.tx(async (q, emit): Promise<EnrollResult> => {
      // Serialize enrollments of one id across processes (the row may not exist yet).
      await q(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`imsp-ms:${this.schema}:${ms.msId}`]);
      const old = (await q('SELECT * FROM ms WHERE ms_id = $1', [ms.msId])).rows[0] as MsRow | undefined;
      // [ENROLL-6]
      if (old && old.lease_expires_at > now && old.incarnation >= ms.incarnation)
        return { ok: false, error: 'conflict', incarnation: old.incarnation };
      const freed = await this.freeUsersOf(q, emit, ms.msId);
      let replaced: { incarnation: number; freed: FreedUsers } | null = null;
      if (old) {
        replaced = { incarnation: old.incarnation, freed };
        emit({
          type: 'ms-gone',
          msId: old.ms_id,
          incarnation: old.incarnation,
          reason: old.lease_expires_at > now ? 'replaced' : 'expired',
        });
      }
      const leaseExpiresAt = now + leaseMs;
      await q(
        `INSERT INTO ms (ms_id, incarnation, listen, capacity, load, enrolled_at, last_seen, lease_expires_at) VALUES ($1, $2, $3, $4, 0, $5, $5, $6)
         ON CONFLICT (ms_id) DO UPDATE SET incarnation = $2, listen = $3, capacity = $4, load = 0, enrolled_at = $5, last_seen = $5, lease_expires_at = $6`,
        [ms.msId, ms.incarnation, ms.listen, ms.capacity, now, leaseExpiresAt],
      );
      emit({ type: 'ms-enrolled', msId: ms.msId, incarnation: ms.incarnation });
      return { ok: true, leaseExpiresAt, replaced };
    });
  }

  async renewMs(ms: MsRef, now: number, leaseMs: number, load?: number): Promise<RenewResult> {
    if (!isMsId(ms.msId)) return { ok: false, error: 'ms-unknown' };
    const l = load === undefined || !Number.isSafeInteger(load) || load < 0 || load > 2 ** 31 - 1 ? null : load;
    const leaseExpiresAt = now + leaseMs;
    const r = await this.q(
      `UPDATE ms SET last_seen = $1, lease_expires_at = $2, load = coalesce($3, load) WHERE ms_id = $4 AND incarnation = $5 AND lease_expires_at > $1`,
      [now, leaseExpiresAt, l, ms.msId, ms.incarnation],
    );
    return r.rowCount === 1 ? { ok: true, leaseExpiresAt } : { ok: false, error: 'ms-unknown' };
  }

  async leaveMs(ms: MsRef): Promise<LeaveResult> {
    if (!isMsId(ms.msId)) return { ok: false, error: 'ms-unknown' };
    return this.tx(async (q, emit): Promise<LeaveResult> => {
      await q(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`imsp-ms:${this.schema}:${ms.msId}`]);
      const del = await q('DELETE FROM ms WHERE ms_id = $1 AND incarnation = $2', [ms.msId, ms.incarnation]);
      if (del.rowCount !== 1) return { ok: false, error: 'ms-unknown' };
      const freed = await this.freeUsersOf(q, emit, ms.msId);
      emit({ type: 'ms-gone', msId: ms.msId, incarnation: ms.incarnation, reason: 'left' });
      return { ok: true, freed };
    });
  }

  async expireMs(now: number): Promise<Array<MsRef & { freed: FreedUsers }>> {
    return this.tx(async (q, emit) => {
      // SKIP LOCKED: another process expiring (or an MS renewing) concurrently keeps its rows.
      const del = await q(
        `DELETE FROM ms WHERE ms_id IN (SELECT ms_id FROM ms WHERE lease_expires_at <= $1 ORDER BY ms_id FOR UPDATE SKIP LOCKED) RETURNING ms_id, incarnation`,
        [now],
      );
      const out: Array<MsRef & { freed: FreedUsers }> = [];
      for (const r of (del.rows as Array<{ ms_id: string; incarnation: number }>).sort((a, b) =>
        a.ms_id < b.ms_id ? -1 : 1,
      )) {
        const freed = await this.freeUsersOf(q, emit, r.ms_id); // [HB-4]
        emit({ type: 'ms-gone', msId: r.ms_id, incarnation: r.incarnation, reason: 'expired' });
        out.push({ msId: r.ms_id, incarnation: r.incarnation, freed });
      }
      return out;
    });
  }

  async listMs(): Promise<MsInfo[]> {
    return ((await this.q('SELECT * FROM ms ORDER BY ms_id')).rows as MsRow[]).map(msFromRow);
  }

  async getMs(msId: string): Promise<MsInfo | null> {
    if (!isMsId(msId)) return null;
    const r = await this.q('SELECT * FROM ms WHERE ms_id = $1', [msId]);
    return r.rows.length ? msFromRow(r.rows[0] as MsRow) : null;
  }

  async locateMs(now: number, n = 3): Promise<MsInfo[]> {
    // [LOCATE-1] ratio, then load, then Ms-id in octet order. The load is the number of the MS's users
    // held as locked or online, or its PING Load if higher [§7.3 LOCATE and Load Balancing].
    const r = await this.q(
      `SELECT * FROM (SELECT ms.*, GREATEST(load, (SELECT count(*) FROM users u
                                              WHERE u.ms_id = ms.ms_id AND u.ms_incarnation = ms.incarnation)) AS held_load
                        FROM ms WHERE lease_expires_at > $1) m
        WHERE held_load < capacity ORDER BY held_load::float8 / capacity, held_load, ms_id COLLATE "C" LIMIT $2`,
      [now, Math.max(0, Math.min(n, 1000))],
    );
    return (r.rows as MsRow[]).map(msFromRow);
  }

  async pickMs(now: number): Promise<MsInfo | null> {
    return (await this.locateMs(now, 1))[0] ?? null;
  }

  // ------------------------------------------------------------------------------------------
  // Contacts [§9 Presence, Contacts and the User's Data]

  private async one(q: Q, sql: string, params: unknown[]): Promise<boolean> {
    return (await q(sql, params)).rows.length > 0;
  }
  private isBuddy(q: Q, a: string, b: string): Promise<boolean> {
    return this.one(q, 'SELECT 1 FROM buddies WHERE owner = $1 AND other = $2', [a, b]);
  }
  private addExists(q: Q, from: string, to: string): Promise<boolean> {
    return this.one(q, 'SELECT 1 FROM adds WHERE from_user = $1 AND to_user = $2', [from, to]);
  }
  private isBlocked(q: Q, owner: string, other: string): Promise<boolean> {
    return this.one(q, 'SELECT 1 FROM blocks WHERE owner = $1 AND blocked = $2', [owner, other]);
  }
  private async contactCount(q: Q, user: string): Promise<number> {
    // [ADD-LIMIT-1] buddies and ADDs sent, unanswered
    const r = await q(
      'SELECT (SELECT count(*) FROM buddies WHERE owner = $1) + (SELECT count(*) FROM adds WHERE from_user = $1) AS n',
      [user],
    );
    return Number(r.rows[0].n);
  }

  private async buddyPeer(q: Q, viewer: string, other: string): Promise<PeerRow | undefined> {
    const r = await q(
      `SELECT u.username AS "user", u.state, u.status, u.address, u.public_key,
              EXISTS (SELECT 1 FROM blocks k WHERE k.owner = u.username AND k.blocked = $1)::int AS blocked_by_them
       FROM users u WHERE u.username = $2`,
      [viewer, other],
    );
    return r.rows[0] as PeerRow | undefined;
  }

  private async emitBuddy(q: Q, emit: (e: EventBody) => void, owner: string, other: string): Promise<void> {
    const p = await this.buddyPeer(q, owner, other);
    if (!p) return;
    const contact: ContactEntry = (await this.isBlocked(q, owner, other))
      ? { user: other, relation: 'blocked', status: 'offline' }
      : buddyEntry(p);
    emit({ type: 'contact', owner, contact });
  }

  private async makeBuddies(q: Q, emit: (e: EventBody) => void, a: string, b: string, now: number): Promise<void> {
    await q('INSERT INTO buddies (owner, other, since) VALUES ($1, $2, $3), ($2, $1, $3) ON CONFLICT DO NOTHING', [
      a,
      b,
      now,
    ]);
    await q('DELETE FROM adds WHERE (from_user = $1 AND to_user = $2) OR (from_user = $2 AND to_user = $1)', [a, b]);
    await this.emitBuddy(q, emit, a, b);
    await this.emitBuddy(q, emit, b, a);
  }

  async addRequest(actor: Actor, to: string, now: number): Promise<AddResult> {
    if (!isUsername(actor.user)) return stale('state');
    if (!isUsername(to)) return { ok: false, error: 'unknown' };
    return this.tx(async (q, emit): Promise<AddResult> => {
      const rows = await this.lockUsers(q, [actor.user, to]);
      const bad = this.checkActor(actor, rows.get(actor.user));
      if (bad) return bad;
      const from = actor.user;
      if (to === from) return { ok: false, error: 'self' }; // [ADD-6]
      const target = rows.get(to);
      if (!target) return { ok: false, error: 'unknown' }; // [ADD-5]
      if (await this.isBlocked(q, from, to)) return { ok: false, error: 'forbidden' }; // [ADD-6]
      if (await this.isBuddy(q, from, to)) return { ok: false, error: 'buddy' }; // [ADD-4]
      if (await this.addExists(q, from, to)) return { ok: false, error: 'duplicate' }; // [ADD-4]
      if (await this.addExists(q, to, from)) {
        // [ADD-8] granted at once
        if ((await this.contactCount(q, from)) >= this.limits.maxContacts)
          return { ok: false, error: 'limit', which: 'contacts' };
        await this.makeBuddies(q, emit, from, to, now);
        return { ok: true, outcome: 'granted' };
      }
      if ((await this.contactCount(q, from)) >= this.limits.maxContacts)
        return { ok: false, error: 'limit', which: 'contacts' }; // [ADD-LIMIT-1]
      const incoming = Number(
        (
          await q(
            'SELECT count(*) AS n FROM adds a WHERE a.to_user = $1 AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = a.to_user AND k.blocked = a.from_user)',
            [to],
          )
        ).rows[0].n,
      );
      // [ADD-LIMIT-2] before the block: a blocked sender meets a full list as a stranger does [ERR-6]
      if (incoming >= this.limits.maxPendingAdds) return { ok: false, error: 'limit', which: 'pending' };
      if (await this.isBlocked(q, to, from)) {
        // [BLOCK-6] stored, withheld from the target, nothing revealed
        await q('INSERT INTO adds (from_user, to_user, time) VALUES ($1, $2, $3)', [from, to, now]);
        return { ok: true, outcome: 'blocked-silently', time: now };
      }
      await q('INSERT INTO adds (from_user, to_user, time) VALUES ($1, $2, $3)', [from, to, now]); // [ADD-1]
      emit({ type: 'add', from, to, time: now });
      if (target.state === 'online') {
        // [ADD-2]
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
    if (!isUsername(actor.user)) return stale('state');
    if (!isUsername(from)) return { ok: false, error: 'no-pending' };
    return this.tx(async (q, emit): Promise<AnswerResult> => {
      const rows = await this.lockUsers(q, [actor.user, from]);
      const bad = this.checkActor(actor, rows.get(actor.user));
      if (bad) return bad;
      const me = actor.user;
      // [ADD-9] an ADD withheld by a block cannot be answered either
      if (!(await this.addExists(q, from, me)) || (await this.isBlocked(q, me, from)))
        return { ok: false, error: 'no-pending' };
      if (decision === 'deny') {
        await q('DELETE FROM adds WHERE from_user = $1 AND to_user = $2', [from, me]);
        emit({ type: 'answer', from: me, to: from, decision: 'deny' });
        return { ok: true, outcome: 'denied' };
      }
      // [ADD-LIMIT-4] a grant makes the answerer's list grow
      if ((await this.contactCount(q, me)) >= this.limits.maxContacts)
        return { ok: false, error: 'limit', which: 'contacts' };
      await this.makeBuddies(q, emit, me, from, now);
      emit({ type: 'answer', from: me, to: from, decision: 'grant' });
      return { ok: true, outcome: 'granted' };
    });
  }

  async remove(actor: Actor, other: string): Promise<RemoveResult> {
    if (!isUsername(actor.user)) return stale('state');
    if (!isUsername(other)) return { ok: false, error: 'not-contact' };
    return this.tx(async (q, emit): Promise<RemoveResult> => {
      const rows = await this.lockUsers(q, [actor.user, other]);
      const bad = this.checkActor(actor, rows.get(actor.user));
      if (bad) return bad;
      const me = actor.user;
      if (await this.isBuddy(q, me, other)) {
        await q('DELETE FROM buddies WHERE (owner = $1 AND other = $2) OR (owner = $2 AND other = $1)', [me, other]);
        emit({ type: 'contact', owner: me, contact: { user: other, relation: 'none', status: 'offline' } });
        emit({ type: 'contact', owner: other, contact: { user: me, relation: 'none', status: 'offline' } });
        return { ok: true, removed: 'buddy' };
      }
      if (await this.addExists(q, me, other)) {
        await q('DELETE FROM adds WHERE from_user = $1 AND to_user = $2', [me, other]); // [REM-3] withdrawn
        emit({ type: 'contact', owner: me, contact: { user: other, relation: 'none', status: 'offline' } });
        return { ok: true, removed: 'pending' };
      }
      if (await this.isBlocked(q, me, other)) {
        await this.unblockIn(q, emit, me, other); // [REM-4]
        return { ok: true, removed: 'blocked' };
      }
      return { ok: false, error: 'not-contact' }; // [REM-2]
    });
  }

  async block(actor: Actor, other: string): Promise<BlockResult> {
    if (!isUsername(actor.user)) return stale('state');
    if (!isUsername(other)) return { ok: false, error: 'unknown' };
    return this.tx(async (q, emit): Promise<BlockResult> => {
      const rows = await this.lockUsers(q, [actor.user, other]);
      const bad = this.checkActor(actor, rows.get(actor.user));
      if (bad) return bad;
      const me = actor.user;
      if (other === me) return { ok: false, error: 'self' }; // [BLOCK-7]
      if (!rows.has(other)) return { ok: false, error: 'unknown' }; // [USER-2]
      if (await this.isBlocked(q, me, other)) return { ok: true, already: true }; // [BLOCK-7]
      const n = Number((await q('SELECT count(*) AS n FROM blocks WHERE owner = $1', [me])).rows[0].n);
      if (n >= this.limits.maxBlocked) return { ok: false, error: 'limit', which: 'blocked' }; // [BLOCK-LIMIT-1]
      // [BLOCK-1] no relation and no unanswered ADD either way, then the block
      const wereBuddies = await this.isBuddy(q, me, other);
      const theirAdd = await this.addExists(q, other, me);
      await q('DELETE FROM buddies WHERE (owner = $1 AND other = $2) OR (owner = $2 AND other = $1)', [me, other]);
      await q('DELETE FROM adds WHERE (from_user = $1 AND to_user = $2) OR (from_user = $2 AND to_user = $1)', [
        me,
        other,
      ]);
      await q('INSERT INTO blocks (owner, blocked) VALUES ($1, $2)', [me, other]);
      // [BLOCK-2] [BLOCK-4] to the blocked user it looks like a logout, a REM or a denial
      emit({ type: 'presence', user: me, status: 'offline', to: other });
      if (wereBuddies)
        emit({ type: 'contact', owner: other, contact: { user: me, relation: 'none', status: 'offline' } });
      if (theirAdd) emit({ type: 'answer', from: me, to: other, decision: 'deny' });
      emit({ type: 'contact', owner: me, contact: { user: other, relation: 'blocked', status: 'offline' } });
      return { ok: true, already: false };
    });
  }

  /** Inside a transaction: lift `owner`'s block of `other` [BLOCK-5]. */
  private async unblockIn(q: Q, emit: (e: EventBody) => void, owner: string, other: string): Promise<void> {
    await q('DELETE FROM blocks WHERE owner = $1 AND blocked = $2', [owner, other]);
    emit({ type: 'contact', owner, contact: { user: other, relation: 'none', status: 'offline' } });
  }

  async unblock(actor: Actor, other: string): Promise<UnblockResult> {
    if (!isUsername(actor.user)) return stale('state');
    if (!isUsername(other)) return { ok: false, error: 'not-blocked' };
    return this.tx(async (q, emit): Promise<UnblockResult> => {
      const rows = await this.lockUsers(q, [actor.user, other]);
      const bad = this.checkActor(actor, rows.get(actor.user));
      if (bad) return bad;
      const me = actor.user;
      if (!(await this.isBlocked(q, me, other))) return { ok: false, error: 'not-blocked' }; // [BLOCK-9]
      await this.unblockIn(q, emit, me, other); // [BLOCK-5]
      return { ok: true };
    });
  }

  async listContacts(username: string): Promise<ContactEntry[]> {
    if (!isUsername(username)) return [];
    return (await this.contactsAndPending(username)).contacts;
  }

  async pendingFor(username: string): Promise<PendingAdd[]> {
    if (!isUsername(username)) return [];
    // [ADD-3] [BLOCK-6] withheld while the target blocks the sender
    const r = await this.q(
      `SELECT from_user AS "from", to_user AS "to", time FROM adds a WHERE a.to_user = $1
         AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = a.to_user AND k.blocked = a.from_user) ORDER BY time, from_user`,
      [username],
    );
    return r.rows as PendingAdd[];
  }

  async watchers(username: string): Promise<Watcher[]> {
    if (!isUsername(username)) return [];
    const r = await this.q(
      `SELECT u.username AS "user", u.ms_id AS "msId", u.ms_incarnation AS incarnation
       FROM buddies b JOIN users u ON u.username = b.other
       WHERE b.owner = $1 AND u.state = 'online'
         AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = b.owner AND k.blocked = b.other)
         AND NOT EXISTS (SELECT 1 FROM blocks k WHERE k.owner = b.other AND k.blocked = b.owner)
       ORDER BY u.username`,
      [username],
    );
    return r.rows as Watcher[];
  }

  // ------------------------------------------------------------------------------------------
  // Profile, search, password

  async getProfile(username: string): Promise<Profile | null> {
    if (!isUsername(username)) return null;
    const r = await this.q('SELECT full_name, location, about FROM users WHERE username = $1', [username]);
    if (!r.rows.length) return null;
    const x = r.rows[0] as { full_name: string; location: string; about: string };
    return { fullName: x.full_name, location: x.location, about: x.about };
  }

  async setProfile(actor: Actor, profile: Partial<Profile>): Promise<ProfileResult> {
    if (!isUsername(actor.user)) return stale('state');
    const bad = validateProfile(profile);
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    return this.tx(async (q): Promise<ProfileResult> => {
      const s = this.checkActor(actor, (await this.lockUsers(q, [actor.user])).get(actor.user)); // [PROFILE-3]
      if (s) return s;
      await q(
        'UPDATE users SET full_name = coalesce($1, full_name), location = coalesce($2, location), about = coalesce($3, about) WHERE username = $4',
        [profile.fullName ?? null, profile.location ?? null, profile.about ?? null, actor.user],
      );
      return { ok: true };
    });
  }

  async searchUsers(query: string, field: SearchField, cursor: string | null, limit: number): Promise<SearchPage> {
    const bad = checkSearch(query, field, cursor, this.limits);
    if (bad) return bad;
    // [SEARCH-3]
    const n = Math.max(
      1,
      Math.min(Number.isSafeInteger(limit) ? limit : this.limits.maxSearchResults, this.limits.maxSearchResults),
    );
    // [SEARCH-1] a prefix of the username, a substring of Full-name or Location, case-insensitive
    const prefix = escapeLike(query) + '%';
    const sub = '%' + escapeLike(query) + '%';
    const [cond, params]: [string, unknown[]] =
      field === 'username'
        ? [`username ILIKE $3 ESCAPE '\\'`, [prefix]]
        : field === 'name'
          ? [`full_name ILIKE $3 ESCAPE '\\'`, [sub]]
          : field === 'location'
            ? [`location ILIKE $3 ESCAPE '\\'`, [sub]]
            : [
                `(username ILIKE $3 ESCAPE '\\' OR full_name ILIKE $4 ESCAPE '\\' OR location ILIKE $4 ESCAPE '\\')`,
                [prefix, sub],
              ];
    // users.username is COLLATE "C": octet order, and the primary key index serves the page
    const r = await this.q(
      `SELECT username, full_name, location FROM users WHERE username > $1 AND ${cond} ORDER BY username LIMIT $2`,
      [cursor ?? '', n + 1, ...params],
    );
    return searchPage(r.rows as Array<{ username: string; full_name: string; location: string }>, n);
  }

  async passwd(actor: Actor, verifier: Verifier, keyBlob: string): Promise<PasswdResult> {
    if (!isUsername(actor.user)) return stale('state');
    const bad = validateVerifier(verifier) ?? (isKeyBlob(keyBlob) ? null : 'keyBlob');
    if (bad) return { ok: false, error: 'invalid', detail: bad };
    return this.tx(async (q): Promise<PasswdResult> => {
      const s = this.checkActor(actor, (await this.lockUsers(q, [actor.user])).get(actor.user));
      if (s) return s;
      await q(
        'UPDATE users SET salt = $1, iterations = $2, stored_key = $3, server_key = $4, key_blob = $5 WHERE username = $6',
        [verifier.salt, verifier.iterations, verifier.storedKey, verifier.serverKey, keyBlob, actor.user],
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
    this.closed = true;
    this.stop.abort();
    this.listeners.clear();
    const l = this.listenClient;
    this.listenClient = null;
    if (l) await l.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
