// Store benchmark: logins per second, where a login is what the CRS does for one (tryLock, then
// goOnline, which returns the login bundle: key blob, contact list with presence, pending ADDs),
// then the logout (goOffline) that frees the user for the next round.
//
//   make bench-store            (compiles with tsc, never through tsx)
//   node dist/bench/store.js [--users N] [--buddies B] [--seconds S] [--concurrency C] [--only sqlite|postgres]
//
// SQLite runs in this process, sequentially (better-sqlite3 is synchronous) with durability
// 'full' (the default: fsync per commit) and 'normal'. PostgreSQL uses IMSP_PG_URL or a throwaway
// cluster (test/helpers/pg.ts) and is driven with C logins in flight; also with two store instances
// (two pools, as two CRS processes) splitting the users.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PostgresStore } from '../reference/store/postgres.js';
import { SqliteStore } from '../reference/store/sqlite.js';
import type { MsRef, NewUser, Store } from '../reference/store/store.js';
import { startPg } from '../test/helpers/pg.js';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '2000' },
    buddies: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    only: { type: 'string' },
  },
});
const USERS = Number(args.users);
const BUDDIES = Number(args.buddies);
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const MS: MsRef = { msId: 'bench-ms', incarnation: 1 };
const LEASE = 15_000;

const b64 = (n: number): string => randomBytes(n).toString('base64url');
function user(i: number): NewUser {
  return {
    username: `u${i}`,
    verifier: { salt: b64(16), iterations: 4096, storedKey: b64(32), serverKey: b64(32) },
    publicKey: `${b64(32)}.${b64(32)}`,
    keyBlob: `v1.${b64(16)}.10.${b64(12)}.${b64(80)}`,
    profile: { fullName: `User ${i}` },
  };
}

/** Runs `f(i)` for i < n, `width` at a time. */
async function parallel(n: number, width: number, f: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await f(next++);
    }),
  );
}

async function seed(store: Store): Promise<void> {
  const now = Date.now();
  await parallel(USERS, 32, (i) => store.registerUser(user(i), now));
  // a ring: each user is a buddy of its BUDDIES/2 successors (and so of as many predecessors)
  const half = Math.floor(BUDDIES / 2);
  await parallel(USERS * half, 32, async (x) => {
    const i = Math.floor(x / half);
    const j = (i + 1 + (x % half)) % USERS;
    await store.addRequest({ user: `u${i}`, admin: true }, `u${j}`, now);
    await store.answer({ user: `u${j}`, admin: true }, `u${i}`, 'grant', now);
  });
  const e = await store.enrollMs({ ...MS, listen: '127.0.0.1:7100', capacity: 1_000_000 }, now, 3_600_000);
  if (!e.ok) throw new Error(`enroll: ${JSON.stringify(e)}`);
}

async function login(store: Store, i: number): Promise<number> {
  const name = `u${i}`;
  const now = Date.now();
  const l = await store.tryLock(name, MS, now, LEASE);
  if (!l.ok) throw new Error(`${name}: lock ${JSON.stringify(l)}`);
  const o = await store.goOnline(name, l.epoch, MS, '127.0.0.1:7200', 'online', now);
  if (!o.ok) throw new Error(`${name}: online ${JSON.stringify(o)}`);
  if (o.contacts.length !== BUDDIES) throw new Error(`${name}: ${o.contacts.length} contacts`);
  return l.epoch;
}

/** Logins per second over SECONDS: `workers` loops, each on its own slice of the users. */
async function run(stores: Store[], workers: number): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const deadline = performance.now() + SECONDS * 1000;
  const lat: number[] = [];
  let n = 0;
  const per = Math.floor(USERS / workers);
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const store = stores[w % stores.length];
      let k = 0;
      while (performance.now() < deadline) {
        const i = w * per + (k++ % per);
        const t0 = performance.now();
        const epoch = await login(store, i);
        lat.push(performance.now() - t0);
        n++;
        const off = await store.goOffline(`u${i}`, epoch);
        if (!off.ok) throw new Error(`offline ${JSON.stringify(off)}`);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return {
    rate: n / SECONDS,
    n,
    p50: lat[Math.floor(lat.length / 2)] ?? 0,
    p99: lat[Math.floor(lat.length * 0.99)] ?? 0,
    cpuUs: (cpu.user + cpu.system) / Math.max(1, n),
  };
}

interface Result {
  rate: number;
  n: number;
  p50: number;
  p99: number;
  /** CPU time of this process per login cycle (independent of other load on the machine; for
   *  PostgreSQL the server's own CPU is not included). */
  cpuUs: number;
}

function report(name: string, r: Result): void {
  console.log(
    `${name.padEnd(44)} ${r.rate.toFixed(0).padStart(7)} logins/s  (${r.n} in ${SECONDS} s; login p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms; ` +
      `${r.cpuUs.toFixed(0)} us CPU/cycle here = ${(1e6 / r.cpuUs).toFixed(0)}/s per core)`,
  );
}

console.log(
  `store bench: ${USERS} users, ${BUDDIES} buddies each; a cycle = tryLock + goOnline (returns the bundle), then goOffline`,
);
if (args.only !== 'postgres') {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-bench-'));
  try {
    const path = join(dir, 'bench.db');
    const seeding = await SqliteStore.open(path, { durability: 'normal' });
    await seed(seeding);
    await seeding.close();
    for (const durability of ['full', 'normal'] as const) {
      const store = await SqliteStore.open(path, { durability });
      await run([store], 1); // warm-up
      report(`sqlite ${durability}, sequential`, await run([store], 1));
      report(`sqlite ${durability}, ${CONCURRENCY} in flight (group commit)`, await run([store], CONCURRENCY));
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
if (args.only !== 'sqlite') {
  const pg = await startPg();
  if (!pg) console.log('postgres: skipped (no binaries, IMSP_SKIP_PG=1)');
  else {
    try {
      const schema = `bench_${randomBytes(4).toString('hex')}`;
      const a = await PostgresStore.connect(pg.url, { schema, poolSize: CONCURRENCY });
      const b = await PostgresStore.connect(pg.url, { schema, poolSize: CONCURRENCY });
      await seed(a);
      await run([a], CONCURRENCY);
      report(`postgres, 1 instance, ${CONCURRENCY} in flight`, await run([a], CONCURRENCY));
      report(`postgres, 2 instances, ${CONCURRENCY} in flight`, await run([a, b], CONCURRENCY));
      report(`postgres, 1 instance, sequential`, await run([a], 1));
      await a.close();
      await b.close();
    } finally {
      await pg.stop();
    }
  }
}
