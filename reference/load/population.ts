// Synthetic users for load runs: names, one shared password and salt, and a mutual contact graph,
// written straight into the CRS's SQLite file in one transaction.
//
// Cheap on purpose, and honestly so ([§6.5 Identity Keys and the Sealed Key Blob] allows scrypt log2N 10 for synthetic users):
// - every synthetic user has the same password and the same SCRAM salt, so the verifier (one PBKDF2)
//   and the client's ClientKey are computed once; RFC 5802 lets a client cache them. The servers'
//   login work does not change: they never run PBKDF2, only HMAC/SHA-256 and X25519 per login;
// - identities come from a small pool (user i gets identity i mod pool), each user's key blob is
//   sealed under one scrypt key (log2N 10) with the user's own aad and a fresh iv;
// - contacts form a ring lattice: user i is a buddy of i +- 1..K/2 (mod N), so every list has
//   exactly K entries and the relation is mutual.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import {
  aeadSeal,
  b64,
  clientKey,
  generateIdentity,
  keyBlobAad,
  keyBlobKey,
  makeVerifier,
  saltedPassword,
  serverKey,
  storedKey,
  type Identity,
} from '../crypto/index.js';
import { SqliteStore } from '../store/sqlite.js';

/** The password of every synthetic user. */
export const LOAD_PASSWORD = 'imsp-load-password';
/** Key-blob cost of synthetic users (the spec's minimum, for load tests only). */
export const LOAD_LOG2N = 10;

/** What a simulated client needs to log in as any synthetic user without PBKDF2. */
export interface SharedCredentials {
  /** b64 salt every synthetic user's verifier uses. */
  salt: string;
  iterations: number;
  /** b64 ClientKey = HMAC(SaltedPassword, "Client Key") (RFC 5802 lets a client cache it). */
  clientKey: string;
  /** b64 ServerKey, to check Server-proof. */
  serverKey: string;
}

/** Name of synthetic user `i` (0-based): `u` and seven digits, e.g. u0000042. */
export function userName(i: number, prefix = 'u'): string {
  return `${prefix}${String(i).padStart(7, '0')}`;
}

/** The buddies of user `i` among `n` users with lists of size `k` (ring lattice, mutual). */
export function buddiesOf(i: number, n: number, k: number): number[] {
  const half = Math.floor(Math.min(k, n - 1) / 2);
  const out: number[] = [];
  for (let d = 1; d <= half; d++) out.push((i + d) % n, (i - d + n) % n);
  // An odd k adds the user across the ring (mutual when n is even).
  if (k % 2 === 1 && k < n && n % 2 === 0) out.push((i + n / 2) % n);
  return out;
}

/**
 * The users of the fan-out probes (issue 15, Appendix A.8), `rounds` rounds of `perRound` evenly spaced
 * users each. Within a round the spacing users/perRound exceeds half a contact list, so no probe is
 * another's contact. Round r is shifted by r/rounds of the spacing, so no user probes twice. Several
 * rounds give enough probes for a p99 that is not the maximum where one round cannot (76 probes at
 * 2,000 users x 50 contacts). The XMPP anchors use the same users.
 */
export function probeRounds(users: number, perRound: number, rounds = 1): number[][] {
  const out: number[][] = [];
  const taken = new Set<number>();
  const n = Math.max(0, Math.min(perRound, users));
  for (let r = 0; r < rounds && n > 0; r++) {
    const shift = (r * users) / (n * rounds);
    const round = [...new Set(Array.from({ length: n }, (_, j) => Math.floor((j * users) / n + shift)))].filter(
      (k) => k < users && !taken.has(k),
    );
    for (const k of round) taken.add(k);
    out.push(round);
  }
  return out;
}

/** Derives the shared credentials from the password and a salt (one PBKDF2). */
export function sharedCredentials(salt: Buffer, iterations = 4096): SharedCredentials {
  const salted = saltedPassword(LOAD_PASSWORD, salt, iterations);
  const ck = clientKey(salted);
  return { salt: b64(salt), iterations, clientKey: b64(ck), serverKey: b64(serverKey(salted)) };
}

/** Options of populate(). */
export interface PopulateOptions {
  /** Number of users. */
  users: number;
  /** Contact-list size (mutual buddies). */
  buddies: number;
  /** Name prefix (default 'u'). */
  prefix?: string;
  /** Distinct identities to cycle through (default 64). */
  identityPool?: number;
  /**
   * Warm-up users (issue 15): a second ring lattice of this many users named with
   * {@link warmupPrefix}, with the same credentials and list size, and no contact in the first group.
   */
  warmupUsers?: number;
}

/**
 * Name prefix of the warm-up users of a population with `prefix`: they are logged in and out before a
 * storm is measured, and share no contact (and no name prefix) with the measured users.
 */
export function warmupPrefix(prefix = 'u'): string {
  return `w${prefix}`;
}

/** Result of populate(): what load clients need. */
export interface Population {
  users: number;
  buddies: number;
  prefix: string;
  credentials: SharedCredentials;
  /** ms spent writing the store. */
  elapsedMs: number;
}

/** The identity pool, as private seeds so that workers can rebuild it (chat scenario). */
export function identityPool(n: number): Identity[] {
  return Array.from({ length: n }, () => generateIdentity());
}

/**
 * Registers `users` synthetic users with mutual contact lists of size `buddies` in the SQLite file at
 * `path` (created with the store's schema when new). The file must not hold any of these names yet
 * (their verifiers would differ from the shared credentials): use a fresh file per run.
 */
export async function populateSqlite(path: string, opts: PopulateOptions): Promise<Population> {
  const t0 = performance.now();
  const prefix = opts.prefix ?? 'u';
  // The store creates (or checks) its schema; then one bulk transaction on the same file.
  const store = await SqliteStore.open(path, { durability: 'normal' });
  await store.close();
  const salt = randomBytes(16);
  const verifier = makeVerifier(LOAD_PASSWORD, { salt, iterations: 4096 });
  const credentials = sharedCredentials(salt);
  if (b64(storedKey(Buffer.from(credentials.clientKey, 'base64url'))) !== verifier.storedKey)
    throw new Error('populate: verifier mismatch');
  const pool = identityPool(Math.max(1, Math.min(opts.identityPool ?? 64, opts.users)));
  const blobSalt = randomBytes(16);
  const blobKey = keyBlobKey(LOAD_PASSWORD, blobSalt, LOAD_LOG2N);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const insertUser =
      db.prepare(`INSERT INTO users (username, salt, iterations, stored_key, server_key, public_key, key_blob, created_at)
                                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertBuddy = db.prepare('INSERT OR IGNORE INTO buddies (owner, other, since) VALUES (?, ?, ?)');
    const now = Date.now();
    const ring = (n: number, pre: string): void => {
      for (let i = 0; i < n; i++) {
        const name = userName(i, pre);
        const id = pool[i % pool.length]!;
        const iv = randomBytes(12);
        const sealed = aeadSeal(blobKey, iv, keyBlobAad(name), Buffer.concat([id.edSeed, id.xPrivate]));
        const blob = `v1.${b64(blobSalt)}.${LOAD_LOG2N}.${b64(iv)}.${b64(sealed)}`;
        insertUser.run(
          name,
          verifier.salt,
          verifier.iterations,
          verifier.storedKey,
          verifier.serverKey,
          id.publicKey,
          blob,
          now,
        );
        for (const j of buddiesOf(i, n, opts.buddies)) insertBuddy.run(name, userName(j, pre), now);
      }
    };
    db.transaction(() => {
      ring(opts.users, prefix);
      ring(opts.warmupUsers ?? 0, warmupPrefix(prefix));
    })();
  } finally {
    db.close();
  }
  for (const id of pool) {
    id.edSeed.fill(0);
    id.xPrivate.fill(0);
  }
  return { users: opts.users, buddies: opts.buddies, prefix, credentials, elapsedMs: performance.now() - t0 };
}

/**
 * How many of the synthetic users (names starting with `prefix`) the CRS holds online right now: a
 * read-only count in its SQLite file (WAL: safe beside the running CRS). The load runs' proof that
 * every session is logged in comes from the CRS's own record, not from the load generator.
 */
export function countOnline(path: string, prefix = 'u'): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare("SELECT count(*) FROM users WHERE state = 'online' AND substr(username, 1, ?) = ?")
      .pluck()
      .get(prefix.length, prefix) as number;
  } finally {
    db.close();
  }
}
