// Functional tests of the load generator (reference/load) against an in-process cluster: the numbers
// it reports are sane and consistent with what happened. Timing goals belong to bench/load.ts, never here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { startCluster } from '../helpers/cluster.js';
import { SqliteStore } from '../../reference/store/sqlite.js';
import {
  buddiesOf,
  countOnline,
  populateSqlite,
  userName,
  warmupPrefix,
  LOAD_PASSWORD,
  probeRounds,
} from '../../reference/load/population.js';
import { runLoad, workerOf, type LoadOptions } from '../../reference/load/run.js';
import { HEARTBEAT_SLOTS, WorkerCore } from '../../reference/load/worker.js';
import { readLoopTraces } from '../../reference/load/stages.js';
import { collectGarbage } from '../../reference/load/cpu.js';
import { percentile } from '../../reference/load/stats.js';
import { renderSvg } from '../../reference/load/plot.js';
import { reportRows, table } from '../../reference/load/report.js';
import { openKeyBlob } from '../../reference/crypto/key-blob.js';
import { SimClient, nowMs } from '../../reference/load/sim-client.js';
import { WORKER_GC_FLAGS, childExecArgv, missingGcFlags } from '../../reference/load/spawn.js';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

/** An in-process cluster on a SQLite file of our own: the synthetic users are written there directly. */
async function clusterOnFile(
  ms: number,
): Promise<{ cluster: Awaited<ReturnType<typeof startCluster>>; storePath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-load-test-'));
  const storePath = join(dir, 'crs.db');
  const store = await SqliteStore.open(storePath, { durability: 'normal' });
  const cluster = await startCluster({ ms, store });
  const dispose = cluster.dispose.bind(cluster);
  cluster.dispose = async () => {
    await dispose();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { cluster, storePath };
}

/** 20 users with 4 buddies, 5 in flight, 4 probes, clients in this process, on the cluster's store. */
function smallStorm(cluster: Awaited<ReturnType<typeof startCluster>>, storePath: string): Partial<LoadOptions> {
  return {
    scenario: 'storm',
    users: 20,
    buddies: 4,
    concurrency: 5,
    processes: 0,
    probes: 4,
    rate: 200,
    ms: cluster.ms.map((m) => m.address),
    store: storePath,
    prefix: 's',
    heartbeats: false,
  };
}

test('buddiesOf: a mutual ring lattice with exactly K contacts, never oneself (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 60 }), fc.integer({ min: 1, max: 12 }), (n, k) => {
      const lists = Array.from({ length: n }, (_, i) => buddiesOf(i, n, k));
      for (let i = 0; i < n; i++) {
        const l = lists[i]!;
        assert.equal(new Set(l).size, l.length, 'no duplicates');
        assert.ok(!l.includes(i), 'not oneself');
        if (k < n && (k % 2 === 0 || n % 2 === 0))
          assert.equal(l.length, Math.min(k, n - 1) - (k === n - 1 && k % 2 === 1 && n % 2 === 1 ? 1 : 0));
        for (const j of l) assert.ok(lists[j]!.includes(i), `mutual ${i} ${j}`);
      }
    }),
    { numRuns: 60 },
  );
});

test('workerOf: every user on one worker; with blocks a user and its ring-lattice buddies share it except across a block end (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 60, max: 400 }),
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 1, max: 4 }),
      // even list sizes, as the benchmarks' 50 (an odd k adds the user across the ring: see buddiesOf)
      fc.integer({ min: 1, max: 5 }).map((h) => 2 * h),
      (users, warmup, workers, k) => {
        const half = k / 2;
        let apart = 0;
        for (let i = 0; i < users + warmup; i++) {
          const w = workerOf(i, users, warmup, workers, 'blocks');
          assert.ok(Number.isInteger(w) && w >= 0 && w < workers, `user ${i} on worker ${w}`);
          assert.equal(workerOf(i, users, warmup, workers), i % workers, 'interleaved is i mod n');
          if (i >= users) continue;
          if (buddiesOf(i, users, k).some((b) => workerOf(b, users, warmup, workers, 'blocks') !== w)) apart++;
        }
        // only the users within k/2 of a block's end (each of `workers` ends, both sides) have a buddy elsewhere
        assert.ok(apart <= (workers === 1 ? 0 : 2 * workers * Math.ceil(half)), `${apart} users apart`);
      },
    ),
    { numRuns: 80 },
  );
});

test('probeRounds: no user probes twice, no probe is a contact of another probe of its round, round 0 is the one-round set (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 60, max: 3000 }),
      fc.integer({ min: 1, max: 5 }).map((h) => 2 * h),
      fc.integer({ min: 1, max: 4 }),
      (users, k, rounds) => {
        const perRound = Math.min(200, Math.floor(users / (k / 2 + 1)));
        const got = probeRounds(users, perRound, rounds);
        assert.equal(got.length, rounds);
        assert.deepEqual(got[0], probeRounds(users, perRound)[0]);
        assert.equal(got[0]!.length, perRound);
        const all = got.flat();
        assert.equal(new Set(all).size, all.length, 'a user probes once');
        for (const k2 of all) assert.ok(Number.isInteger(k2) && k2 >= 0 && k2 < users);
        for (const round of got) {
          const set = new Set(round);
          for (const p of round)
            assert.ok(!buddiesOf(p, users, k).some((b) => set.has(b)), `probe ${p} has a probe contact`);
        }
        // with a spacing of at least `rounds` users, the shifts land on distinct users: every round is full
        if (users / perRound >= rounds) assert.equal(all.length, rounds * perRound);
      },
    ),
    { numRuns: 100 },
  );
  // the benchmark's 2,000 users x 50 contacts: 3 rounds of 76
  assert.equal(probeRounds(2000, 76, 3).flat().length, 228);
});

test('removeOnExit: a process that exits from a signal handler (bench-xmpp stopped by SIGTERM) removes the temp dirs runLoad made, except one whose owner cancelled or keeps it', (t) => {
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'imsp-exit-test-')));
  t.after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const spawnTs = fileURLToPath(new URL('../../reference/load/spawn.ts', import.meta.url));
  const code = `
    const { removeOnExit } = await import(${JSON.stringify(spawnTs)});
    const [gone, cancelled, kept] = ${JSON.stringify(dirs)};
    removeOnExit(gone);
    removeOnExit(cancelled)();
    removeOnExit(kept, () => true);
    process.exit(130);`;
  assert.throws(
    () => execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: 'pipe' }),
    (e: { status?: number }) => e.status === 130,
  );
  assert.deepEqual(
    dirs.map((d) => existsSync(d)),
    [false, true, true],
  );
});

test('percentile by nearest rank', () => {
  assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
  assert.equal(percentile([5, 1, 3, 2, 4], 99), 5);
  assert.equal(percentile([7], 1), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('[USER-1] populateSqlite registers users the store can read, with mutual buddies and an openable key blob', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-load-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'crs.db');
  const pop = await populateSqlite(path, { users: 12, buddies: 4, prefix: 'p' });
  assert.equal(pop.users, 12);
  const store = await SqliteStore.open(path);
  t.after(() => store.close());
  assert.equal(await store.countUsers(), 12);
  const u = await store.getUser(userName(3, 'p'));
  assert.ok(u);
  assert.equal(u.verifier.salt, pop.credentials.salt);
  const contacts = await store.listContacts(userName(3, 'p'));
  assert.deepEqual(
    contacts.map((c) => c.user).sort(),
    [1, 2, 4, 5].map((i) => userName(i, 'p')),
  );
  assert.ok(contacts.every((c) => c.relation === 'buddy'));
  // The blob opens with the shared password and matches the stored public key [KEYBLOB-4].
  const id = openKeyBlob(LOAD_PASSWORD, u.username, u.keyBlob, u.publicKey);
  assert.equal(id.publicKey, u.publicKey);
});

test('[LOGIN-1] a 20-user storm against an in-process cluster: every login succeeds and the report is consistent', async (t) => {
  const { cluster, storePath } = await clusterOnFile(2);
  t.after(() => cluster.dispose());
  const report = await runLoad(smallStorm(cluster, storePath));
  assert.equal(report.logins.attempted, 20);
  assert.equal(report.logins.ok, 20, JSON.stringify(report.errors));
  assert.deepEqual(report.errors, {});
  assert.ok(report.logins.perSecond > 0);
  assert.ok(report.logins.latency.p50 > 0 && report.logins.latency.p50 <= report.logins.latency.p99);
  assert.equal(report.relogins.ok, 4);
  // Every probe's online buddies (4 each) were told.
  assert.equal(report.fanout.expected, 16);
  assert.equal(report.fanout.delivered, 16);
  assert.equal(report.fanout.fromLogin.n, 4);
  assert.ok(report.fanout.fromLogin.p50 >= 0 && report.fanout.fromProof.p99 >= report.fanout.fromLogin.p99);
  assert.equal(report.sessions.held, 20);
  assert.equal(report.series.at(-1)?.sessions, 20);
  const text = table(reportRows(report));
  assert.match(text, /logins\/s/);
  const svg = renderSvg('t', report.series);
  assert.match(svg, /^<\?xml/);
  assert.match(svg, /<polyline/);
});

test('[LOGIN-1] fan-out probes in rounds: every round re-logs in distinct users, and a buddy that probed in an earlier round is online again and counted as a receiver', async (t) => {
  const { cluster, storePath } = await clusterOnFile(2);
  t.after(() => cluster.dispose());
  const report = await runLoad({ ...smallStorm(cluster, storePath), probeRounds: 3 });
  assert.deepEqual(report.errors, {});
  assert.equal(report.relogins.ok, 12, '3 rounds of 4');
  // 20 users 5 apart per round, shifted by 1 and 3: a probe's 4 buddies are never probes of its own
  // round, and some are probes of an earlier round, online again: all 4 are told, in every round
  assert.equal(report.fanout.expected, 48);
  assert.equal(report.fanout.delivered, 48);
  assert.equal(report.fanout.fromProof.n, 12);
  assert.equal(report.sessions.held, 20);
});

test('[LOGIN-1] a warm-up: other users, with contacts only among themselves, log in and out before the measured storm', async (t) => {
  const { cluster, storePath } = await clusterOnFile(2);
  t.after(() => cluster.dispose());
  const report = await runLoad({ ...smallStorm(cluster, storePath), warmup: 12 });
  assert.deepEqual(report.errors, {});
  assert.equal(report.warmup?.ok, 12);
  assert.equal(report.warmup?.failed, 0);
  // the measured storm is the 20 users only, and the warm-up users are offline again
  assert.equal(report.logins.attempted, 20);
  assert.equal(report.logins.ok, 20);
  assert.equal(report.sessions.held, 20);
  assert.equal(report.crsOnline, 20);
  assert.equal(countOnline(storePath, warmupPrefix('s')), 0);
  assert.equal(report.fanout.expected, 16);
  assert.equal(report.fanout.delivered, 16);
  const store = await SqliteStore.open(storePath);
  t.after(() => store.close());
  const warm = await store.listContacts(userName(0, warmupPrefix('s')));
  assert.deepEqual(
    warm.map((c) => c.user).sort(),
    [1, 2, 10, 11].map((i) => userName(i, warmupPrefix('s'))),
  );
  assert.match(table(reportRows(report)), /warm-up: logins ok \/ failed.*12 \/ 0/);
});

test('[P2P-1] chat: two buddies open a peer session and exchange pipelined MSGs, all answered 200', async (t) => {
  const { cluster, storePath } = await clusterOnFile(1);
  t.after(() => cluster.dispose());
  const report = await runLoad({
    scenario: 'chat',
    users: 4,
    buddies: 2,
    processes: 0,
    crs: cluster.crsAddress, // the MS comes from LOCATE
    store: storePath,
    prefix: 'c',
    durationMs: 5000,
    chatMax: 500,
    chatWindow: 32,
    heartbeats: false,
  });
  assert.ok(report.chat);
  assert.equal(report.chat.messages, 500, JSON.stringify(report.chat.errors));
  assert.equal(report.chat.bytes, 500 * 100);
  assert.deepEqual(report.chat.errors, {});
  assert.ok(report.chat.msgsPerSecond > 0);
});

test('load worker heartbeats: every client is checked once a second, spread over the ticks of that second (issue 15)', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const core = new WorkerCore();
  const users: Array<[number, string]> = Array.from({ length: 60 }, (_, i) => [i, `h${i}`]);
  const init = { index: 0, ms: [], sources: [], users, timeoutMs: 1000, heartbeats: true };
  const r = await core.handle({
    op: 'init',
    init: { ...init, credentials: { salt: '', iterations: 4096, clientKey: '', serverKey: '' } },
  });
  assert.equal(r.ok, true);
  const checks = new Map<string, number>();
  const clients = (core as unknown as { clients: Map<string, { heartbeatTick(now: number): void }> }).clients;
  for (const [, n] of users) clients.set(n, { heartbeatTick: () => void checks.set(n, (checks.get(n) ?? 0) + 1) });
  t.mock.timers.tick(1000 / HEARTBEAT_SLOTS);
  // one tick checks one slot's clients, not all of them
  assert.equal(checks.size, 60 / HEARTBEAT_SLOTS);
  t.mock.timers.tick(1000 - 1000 / HEARTBEAT_SLOTS);
  assert.equal(checks.size, 60);
  assert.ok(
    [...checks.values()].every((n) => n === 1),
    'each client once a second',
  );
  await core.handle({ op: 'shutdown' });
});

test("a load worker given a loop trace file writes its GC pauses and loop delay at shutdown, beside the servers' (issue 15)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-load-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const core = new WorkerCore();
  const init = { index: 0, ms: [], sources: [], users: [], timeoutMs: 1000, heartbeats: false };
  const file = join(dir, 'load worker 1.loop.json');
  const r = await core.handle({
    op: 'init',
    init: { ...init, credentials: { salt: '', iterations: 4096, clientKey: '', serverKey: '' }, loopTraceFile: file },
  });
  assert.equal(r.ok, true);
  assert.equal((await core.handle({ op: 'record', on: true })).ok, true);
  await core.handle({ op: 'shutdown' });
  const traces = readLoopTraces(dir);
  assert.deepEqual([...traces.keys()], ['load worker 1']);
  assert.ok(Array.isArray(traces.get('load worker 1')!.gc) && Array.isArray(traces.get('load worker 1')!.delay));
});

test('every load generator process starts with a 256 MiB young generation, and the XMPP generator re-runs itself with the same flags (Appendix A.8)', () => {
  // what a process started with WORKER_GC_FLAGS has as its new space at start (V8 grows from 1 MiB without a minimum)
  const out = execFileSync(
    process.execPath,
    [
      ...WORKER_GC_FLAGS,
      '-e',
      "process.stdout.write(String(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))",
    ],
    { encoding: 'utf8' },
  );
  assert.ok(Number(out) >= 256 * 2 ** 20, `new space ${out} octets`);
  // bench/xmpp.ts runs itself again with the flags it lacks, and not again once it has them
  assert.deepEqual(missingGcFlags([]), [...WORKER_GC_FLAGS]);
  assert.deepEqual(missingGcFlags(['--inspect', ...WORKER_GC_FLAGS]), []);
  assert.deepEqual(missingGcFlags([WORKER_GC_FLAGS[0]!]), WORKER_GC_FLAGS.slice(1));
});

test("the servers a load generator starts keep V8's young generation: childExecArgv drops the generator's sizing flags (Appendix A.8)", () => {
  const generator = [...WORKER_GC_FLAGS, '--max_semi_space_size=8', '--inspect-port=0', '--cpu-prof'];
  const passed = childExecArgv(generator);
  assert.ok(
    passed.every((a) => !/semi.space/.test(a)),
    `passed on: ${passed.join(' ')}`,
  );
  assert.ok(passed.includes('--inspect-port=0'), 'other flags are passed on');
  assert.ok(!passed.includes('--cpu-prof'), 'profiler flags are not');
  // a node started with what is passed on has V8's default new space, not the generator's 256 MiB
  const out = execFileSync(
    process.execPath,
    [
      ...passed.filter((a) => a !== '--import' && !a.includes('tsx') && !a.startsWith('--inspect')),
      '-e',
      "process.stdout.write(String(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))",
    ],
    { encoding: 'utf8' },
  );
  assert.ok(Number(out) < 64 * 2 ** 20, `new space ${out} octets`);
});

test('collectGarbage runs a full collection of the generator now (issue 15: its garbage is not collected inside the probes)', async () => {
  let o: object | null = { big: new Array(1000).fill(1) };
  const w = new WeakRef(o);
  o = null;
  // a WeakRef's target is kept until the end of the job that created it
  await new Promise((r) => setImmediate(r));
  collectGarbage();
  assert.equal(w.deref(), undefined);
});

test('a push is timed when its octets arrive, before the pushes read with it are decoded and opened (issue 15)', async (t) => {
  // One load worker holds many clients: a PRESENCE reaching two of them in one turn must not have its
  // second receipt timed after the first one's processing, as if that were the server's time.
  const { cluster, storePath } = await clusterOnFile(1);
  t.after(() => cluster.dispose());
  const pop = await populateSqlite(storePath, { users: 3, buddies: 2, prefix: 'r' });
  const names = [0, 1, 2].map((i) => userName(i, 'r'));
  const ms = cluster.ms[0]!.address;
  let armed = false;
  let slowEnd = 0;
  const got: Array<{ to: string; t: number }> = [];
  let bothGot: () => void = () => undefined;
  const both = new Promise<void>((r) => {
    bothGot = r;
  });
  const onPresence = (user: string, status: string, at: number, to: SimClient): void => {
    if (!armed || user !== names[0] || status === 'offline') return;
    got.push({ to: to.user, t: at });
    if (got.length === 1) {
      // a slow receive of the first push (decode, open, bookkeeping of thousands of clients)
      const end = nowMs() + 50;
      while (nowMs() < end);
      slowEnd = nowMs();
    }
    if (got.length === 2) bothGot();
  };
  const clients = names.map((n) => new SimClient(n, pop.credentials, onPresence));
  t.after(() => {
    for (const c of clients) c.close();
  });
  for (const c of clients.slice(1)) assert.equal((await c.login(ms)).ok, true);
  armed = true;
  // user 0 logs in: the MS pushes its PRESENCE to both buddies in one turn
  assert.equal((await clients[0]!.login(ms)).ok, true);
  await both;
  assert.deepEqual(got.map((g) => g.to).sort(), [names[1], names[2]]);
  // Both octets were read in one poll: the second push was timed before the first one's processing ended.
  assert.ok(
    got[1]!.t < slowEnd,
    `second receipt timed ${(got[1]!.t - slowEnd).toFixed(2)} ms after the first was processed`,
  );
});
