// Starts a whole IMSP service in process for tests: one CRS and N MSs on 127.0.0.1 port 0, over a
// throwaway store (a temp SQLite file by default, or PostgreSQL), with a fresh MS key. Everything is
// torn down by dispose(). Used by the server, client, conformance and property tests.
//
//   const cluster = await startCluster({ ms: 2, limits: { msLease: 300 } });
//   t.after(() => cluster.dispose());
//   const alice = await cluster.addUser('alice');            // password 'pw-alice'
//   const server = await cluster.locate();                   // what LOCATE answers
//   // log in at cluster.ms[0].address ...
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LevelWithSilent } from 'pino';
import { CrsServer } from '../../reference/crs/crs.js';
import { MsServer, type MsOptions } from '../../reference/ms/ms.js';
import type { Store, StoreLimits } from '../../reference/store/store.js';
import { SqliteStore } from '../../reference/store/sqlite.js';
import { openStore } from '../../reference/store/index.js';
import { createLogger } from '../../reference/ops/log.js';
import type { ServerLimits } from '../../reference/proto/limits.js';
import { makeVerifier } from '../../reference/crypto/scram.js';
import { generateIdentity, type Identity } from '../../reference/crypto/keys.js';
import { sealKeyBlob } from '../../reference/crypto/key-blob.js';

export interface ClusterOptions {
  /** Number of MSs to start (default 2). */
  ms?: number;
  /** 'sqlite' (a temp file, the default), 'postgres' (IMSP_PG_URL or a throwaway cluster), or a ready Store (not closed by dispose). */
  store?: 'sqlite' | 'postgres' | Store;
  /** Limits for every server (configurable ones only; see spec/registry/limits.json). */
  limits?: Partial<ServerLimits>;
  /** Extra limits for the CRS only. */
  crsLimits?: Partial<ServerLimits>;
  /** Extra limits for the MSs only. */
  msLimits?: Partial<ServerLimits>;
  /** Store limits (maxContacts, maxBlocked, maxPendingAdds...). */
  storeLimits?: Partial<StoreLimits>;
  /** Capacity of each MS (one number for all, or one per MS). Default 1000. */
  capacity?: number | number[];
  /** Users to register at start (password 'pw-' + name unless given). */
  users?: Array<string | { name: string; password?: string }>;
  /** Log level for all servers; default from IMSP_TEST_LOG or 'silent'. */
  logLevel?: LevelWithSilent;
}

export interface TestUser {
  name: string;
  password: string;
  /** The user's identity keys (the private keys are also sealed in the stored key blob). */
  identity: Identity;
}

export interface Cluster {
  crs: CrsServer;
  /** host:port of the CRS. */
  crsAddress: string;
  /** The MSs started so far, in order. */
  ms: MsServer[];
  store: Store;
  /** The shared MS key. */
  msKey: Buffer;
  /** Registers a user directly in the store (cheap key blob: scrypt log2N 10; 4096 iterations). */
  addUser(
    name: string,
    password?: string,
    profile?: { fullName?: string; location?: string; about?: string },
  ): Promise<TestUser>;
  /** Starts one more MS (enrolled when this resolves). */
  startMs(opts?: Partial<MsOptions>): Promise<MsServer>;
  /** Everything the cluster started is stopped; temp files removed. Idempotent. */
  dispose(): Promise<void>;
}

let msCounter = 0;

/**
 * A fresh schema on the shared throwaway PostgreSQL server (test/helpers/pg.ts, or IMSP_PG_URL);
 * `open()` gives a store on it (call it twice for two CRS processes on one database), `drop()` removes it.
 */
export async function freshPgSchema(
  limits?: Partial<StoreLimits>,
): Promise<{ url: string; schema: string; open: () => Promise<Store>; drop: () => Promise<void> }> {
  const { sharedPg } = await import('./pg.js');
  const server = await sharedPg();
  if (!server) throw new Error('PostgreSQL unavailable (IMSP_SKIP_PG=1 and no PostgreSQL binaries)');
  const schema = `c_${randomBytes(6).toString('hex')}`;
  return {
    url: server.url,
    schema,
    open: () => openStore(server.url, { schema, poolSize: 4, limits }),
    async drop() {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: server.url });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const level = opts.logLevel ?? (process.env.IMSP_TEST_LOG as LevelWithSilent | undefined) ?? 'silent';
  const logger = createLogger({ level, pretty: false, destination: process.stderr });
  const cleanups: Array<() => Promise<void> | void> = [];
  let store: Store;
  if (typeof opts.store === 'object') {
    store = opts.store;
  } else if (opts.store === 'postgres') {
    const db = await freshPgSchema(opts.storeLimits);
    store = await db.open();
    cleanups.push(
      () => db.drop(),
      () => store.close(),
    );
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'imsp-cluster-'));
    store = await SqliteStore.open(join(dir, 'imsp.db'), { limits: opts.storeLimits });
    cleanups.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => store.close(),
    );
  }
  const msKey = randomBytes(32);
  const limits = opts.limits ?? {};
  let crs: CrsServer;
  try {
    crs = await CrsServer.start({
      store,
      msKey,
      host: '127.0.0.1',
      port: 0,
      limits: { ...limits, ...opts.crsLimits },
      logger: logger.child({ role: 'crs' }),
    });
  } catch (e) {
    for (const c of cleanups.reverse()) await c();
    throw e;
  }
  const servers: MsServer[] = [];
  const startMs = async (o: Partial<MsOptions> = {}): Promise<MsServer> => {
    const i = servers.length;
    const cap = Array.isArray(opts.capacity) ? opts.capacity[i] : opts.capacity;
    const ms = await MsServer.start({
      crs: crs.address,
      msKey,
      msId: `ms-${++msCounter}`,
      host: '127.0.0.1',
      port: 0,
      capacity: cap ?? 1000,
      limits: { ...limits, ...opts.msLimits },
      logger: logger.child({ role: 'ms' }),
      reconnectDelay: 20,
      ...o,
    });
    servers.push(ms);
    await ms.ready();
    return ms;
  };
  const addUser = async (
    name: string,
    password = `pw-${name}`,
    profile?: { fullName?: string; location?: string; about?: string },
  ): Promise<TestUser> => {
    const identity = generateIdentity();
    const r = await store.registerUser(
      {
        username: name,
        verifier: makeVerifier(password, { iterations: 4096 }),
        publicKey: identity.publicKey,
        keyBlob: sealKeyBlob(password, name, identity, { log2N: 10 }),
        profile,
      },
      Date.now(),
    );
    if (!r.ok) throw new Error(`registering ${name}: ${r.error}`);
    return { name, password, identity };
  };
  let disposed = false;
  const cluster: Cluster = {
    crs,
    crsAddress: crs.address,
    ms: servers,
    store,
    msKey,
    addUser,
    startMs,
    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const ms of servers) ms.kill();
      await crs.close();
      for (const c of cleanups.reverse()) await c();
    },
  };
  try {
    for (let i = 0; i < (opts.ms ?? 2); i++) await startMs();
    for (const u of opts.users ?? []) {
      if (typeof u === 'string') await addUser(u);
      else await addUser(u.name, u.password);
    }
  } catch (e) {
    await cluster.dispose();
    throw e;
  }
  return cluster;
}
