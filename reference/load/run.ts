// The load coordinator: registers synthetic users, starts (or finds) the servers, spreads simulated
// clients over worker processes, runs a scenario in bounded phases and builds the report.
//
// Scenarios (issue 8):
// - steady: every user logs in (`concurrency` logins in flight) and stays for `durationMs` with
//   heartbeats; then fan-out probes.
// - storm: every user logs in as fast as `concurrency` allows (the "9 am" spike); then probes.
// - churn: every user logs in; then for `durationMs`, users log out and in again at `rate` per second
//   (each such re-login is also a fan-out probe).
// - chat: two buddies log in, open a peer session (INIT/INIT-ACK) and one streams pipelined MSGs.
//
// Fan-out probe: with everyone online, a user logs out and in again; every online buddy must get its
// PRESENCE. Its latency is the last buddy's receipt minus the login's completion (the 200 at the
// client; a push that overtakes the 200 counts as 0), and, more conservatively, minus the moment PROOF
// was sent (the ONLINE transaction at the CRS included).
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { headerOf } from '../../codec/index.js';
import { Link } from '../net/link.js';
import { parseHostPort } from '../net/address.js';
import { req } from '../proto/messages.js';
import {
  buddiesOf,
  countOnline,
  probeRounds,
  populateSqlite,
  userName,
  warmupPrefix,
  type Population,
} from './population.js';
import {
  WORKER_GC_FLAGS,
  childExecArgv,
  entryPath,
  rssOf,
  scrapeMetrics,
  metric,
  spawnServers,
  type SpawnedCluster,
  removeOnExit,
} from './spawn.js';
import {
  WorkerCore,
  type LoginRecord,
  type PresenceReceipt,
  type WorkerCommand,
  type WorkerProgress,
  type WorkerReply,
} from './worker.js';
import { count, summarize, percentile, type Summary } from './stats.js';
import type { ChatResult } from './chat.js';
import type { SeriesPoint } from './plot.js';
import { connectTcp, nowMs } from './sim-client.js';
import { cpuWindow, waitGroupsIdleOrBound, type CpuReport, type Tracked } from './cpu.js';
import {
  loopReport,
  readLoopTraces,
  readStageTraces,
  readStageTracesByProcess,
  schedWindow,
  stageTable,
  type ClientTimes,
  type LoopReport,
  type SchedUse,
  type StageRow,
} from './stages.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The clients' times of a run, for the stage table. */
interface RunTimes {
  logins: ClientTimes[];
  probes: ClientTimes[];
  /** With a stage trace: the servers' main threads on a CPU and in the run queue during the probes. */
  sched?: SchedUse[];
}

export type Scenario = 'steady' | 'storm' | 'churn' | 'chat';

/** Everything a run needs. Every phase is bounded in count and time. */
export interface LoadOptions {
  scenario: Scenario;
  users: number;
  buddies: number;
  /** Logins in flight, over all workers. */
  concurrency: number;
  /** steady: how long to hold; churn: how long to churn; chat: how long to send (ms). */
  durationMs: number;
  /** Upper bound of the whole login phase (ms). */
  loginTimeoutMs: number;
  /** Worker processes (0 = clients in this process). */
  processes: number;
  /**
   * How the users are spread over the workers ({@link workerOf}): 'interleaved' (user i on worker
   * i mod n, the default) or 'blocks' (consecutive users together, so that a user's ring-lattice
   * buddies share its worker, as they share the XMPP anchors' one generator process; issue 15).
   */
  placement?: 'interleaved' | 'blocks';
  /** Loopback source addresses for the clients' connections. */
  sources: string[];
  /** Fan-out probes after the logins (steady, storm): the users of one round. */
  probes: number;
  /**
   * Rounds of `probes` probes, each round shifted so that no user probes twice (probeRounds; issue 15,
   * Appendix A.8). Default 1.
   */
  probeRounds?: number;
  /** Probes (and churn re-logins) started per second. */
  rate: number;
  /** Start a CRS and `spawnMs` MS processes on a temp SQLite store. */
  spawn: boolean;
  spawnMs: number;
  /** Extra `--limit name=value` for spawned servers. */
  serverLimits: string[];
  /** node flags for spawned servers (profiling: --cpu-prof --cpu-prof-dir=DIR). */
  serverNodeFlags: string[];
  /** node flags for the load worker processes (profiling the generator: --cpu-prof --cpu-prof-dir=DIR). */
  workerNodeFlags?: string[];
  /** `--durability` of a spawned CRS (default: its own default, full). */
  serverDurability?: 'full' | 'normal';
  /** Running servers: a CRS to LOCATE MSs from, or the MS addresses themselves. */
  crs?: string;
  ms?: string[];
  /** Running servers: the CRS's SQLite file to register the users in. */
  store?: string;
  /** Running servers: their metrics endpoints (host:port) for memory figures. */
  metrics?: string[];
  /** Name prefix of the synthetic users. */
  prefix: string;
  /** chat: MSGs in flight, octets per MSG, most MSGs. */
  chatWindow: number;
  chatSize: number;
  chatMax: number;
  /** Heartbeats (PING) from the simulated clients. */
  heartbeats: boolean;
  /** Request timeout of the simulated clients (ms). */
  timeoutMs: number;
  /**
   * Times a failed login is tried again, after every user was tried once (default 0). Each attempt
   * is a record of its own: logins.ok counts users in, logins.failed the failed attempts.
   */
  loginRetries?: number;
  /** Progress line writer (default: none). */
  progress?: (line: string) => void;
  /**
   * CPU accounting of the login phase (issue 15): CPU time per process from /proc, from the first
   * login until the servers went idle again (at most this many ms after the last login); 0 = off.
   */
  cpuIdleMaxMs?: number;
  /**
   * Warm-up (issue 15): before the measured logins, this many other users (a ring lattice of their
   * own, {@link warmupPrefix}) log in and out again, and the servers are let go idle. JIT compilation
   * and heap growth then happen before the measurement, as in any benchmark of a JIT-compiled server;
   * bench/xmpp.ts gives its XMPP anchors the same warm-up. 0 or absent: none (not for chat).
   */
  warmup?: number;
  /**
   * Spawned servers: the stage table of the logins and the probes (issue 15), from the servers' stage
   * traces (reference/ops/stage-trace.ts) joined with the clients' times.
   */
  stageTrace?: boolean;
}

export const DEFAULT_OPTIONS: LoadOptions = {
  scenario: 'storm',
  users: 1000,
  buddies: 10,
  concurrency: 100,
  durationMs: 10_000,
  loginTimeoutMs: 300_000,
  processes: 1,
  sources: [],
  probes: 200,
  rate: 50,
  spawn: false,
  spawnMs: 2,
  serverLimits: [],
  serverNodeFlags: [],
  prefix: 'u',
  chatWindow: 256,
  chatSize: 100,
  chatMax: 5_000_000,
  heartbeats: true,
  timeoutMs: 30_000,
};

/** Memory of one server process before and after the sessions were opened. */
export interface ServerMemory {
  name: string;
  /** Client sessions (MS) or online users (CRS) when measured after. */
  sessions: number;
  rssBefore: number | null;
  rssAfter: number | null;
  heapBefore: number | null;
  heapAfter: number | null;
  /** (rssAfter - rssBefore) / sessions, octets. */
  rssPerSession: number | null;
  heapPerSession: number | null;
}

/** The result of a run (printed as a table, written as JSON). */
export interface LoadReport {
  scenario: Scenario;
  options: Omit<LoadOptions, 'progress'>;
  startedAt: string;
  elapsedSeconds: number;
  registration: { users: number; buddies: number; seconds: number };
  logins: {
    attempted: number;
    ok: number;
    failed: number;
    /** ok logins / (last completion - first start), per second. */
    perSecond: number;
    seconds: number;
    /** ms from connect to the 200. */
    latency: Summary;
  };
  /** Re-logins (probes, churn). */
  relogins: { ok: number; failed: number; latency: Summary };
  fanout: {
    probes: number;
    /** Buddies expected to be told (online at the time), and receipts seen. */
    expected: number;
    delivered: number;
    /** ms from the login's 200 to the last buddy's PRESENCE (0 when the push came first). */
    fromLogin: Summary;
    /** ms from PROOF sent to the last buddy's PRESENCE (its octets arrived at the buddy). */
    fromProof: Summary;
    /**
     * ms from PROOF sent until the last buddy's load worker had decoded and opened it: fromProof plus
     * the generator's receive path, in the same run (the measure before issue 15's change).
     */
    fromProofOpened: Summary;
  };
  sessions: { peak: number; held: number };
  /**
   * The synthetic users the CRS holds online after the logins (read from its SQLite file while the
   * sessions are held), or null when the store was not readable.
   */
  crsOnline: number | null;
  memory: ServerMemory[];
  /** Load-generator memory (all workers), octets. */
  generator: { rss: number; heap: number };
  chat?: ChatResult;
  /** Refusals and local errors seen by the clients, by code. */
  errors: Record<string, number>;
  /** imsp_errors_total of the servers, by code (spawned or --metrics servers). */
  serverErrors: Record<string, number>;
  series: SeriesPoint[];
  /**
   * With cpuIdleMaxMs: CPU seconds per process over the login phase and the servers' tail after it;
   * idle false when the servers were still busy at the bound.
   */
  cpu?: CpuReport & { tailMs: number; idle?: boolean };
  /** Pid -> name of the processes of the run (servers and load workers), for profile files. */
  pids: Record<string, string>;
  /** With warmup: the warm-up's logins and its CPU per process (login, logout and the idle wait). */
  warmup?: { ok: number; failed: number; seconds: number; cpu: CpuReport };
  /**
   * With stageTrace: where the time goes, for the probes' re-logins and for the storm's logins; and
   * what held the servers during the probes (event-loop delay, GC, run-queue wait).
   */
  stages?: { probes: StageRow[]; logins: StageRow[]; loop?: LoopReport | null };
}

// ------------------------------------------------------------------------------------------------
// Workers

/**
 * The worker (0..workers-1) that holds user `i` of `users` measured users (indexes from `users` on
 * are the `warmup` warm-up users, placed among themselves alike). 'interleaved': i mod workers, so
 * a user's buddies are spread over every worker and one push wakes them all. 'blocks': consecutive
 * users together, so that a user's ring-lattice buddies ({@link buddiesOf}) share its worker except
 * at the ends of a block: a probe's push then wakes one generator process, as with the XMPP anchors'
 * single generator (issue 15, Appendix A.8).
 */
export function workerOf(
  i: number,
  users: number,
  warmup: number,
  workers: number,
  placement: LoadOptions['placement'] = 'interleaved',
): number {
  if (workers <= 1) return 0;
  if (placement !== 'blocks') return i % workers;
  const [j, n] = i < users ? [i, users] : [i - users, warmup];
  return Math.min(workers - 1, Math.floor((j * workers) / Math.max(1, n)));
}

interface WorkerHandle {
  call(cmd: WorkerCommand): Promise<WorkerReply>;
  kill(): void;
  pid?: number;
}

function localWorker(onProgress: (p: WorkerProgress) => void): WorkerHandle {
  const core = new WorkerCore(onProgress);
  return { call: (cmd) => core.handle(cmd), kill: () => undefined };
}

function childWorker(onProgress: (p: WorkerProgress) => void, nodeFlags: readonly string[] = []): WorkerHandle {
  const child: ChildProcess = fork(entryPath('worker'), ['--imsp-load-worker'], {
    execArgv: [...childExecArgv(), ...WORKER_GC_FLAGS, ...nodeFlags],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map<number, (r: WorkerReply) => void>();
  child.on('message', (m: { id?: number; reply?: WorkerReply; progress?: WorkerProgress }) => {
    if (m.progress) onProgress(m.progress);
    if (m.id !== undefined && m.reply) {
      waiting.get(m.id)?.(m.reply);
      waiting.delete(m.id);
    }
  });
  child.on('exit', () => {
    for (const w of waiting.values()) w({ ok: false, error: 'worker exited' });
    waiting.clear();
  });
  return {
    pid: child.pid,
    call(cmd) {
      if (!child.connected) return Promise.resolve({ ok: false, error: 'worker not connected' });
      const id = nextId++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        child.send({ id, cmd });
      });
    },
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * The warm-up before a measured login phase (issue 15): `warmNames` log in (`o.concurrency` in flight
 * over the workers) and out again; then the servers get up to `o.cpuIdleMaxMs` (60 s by default) to
 * go idle, so that the measured phase starts from quiet servers whose code V8 has compiled.
 */
async function warmUp(
  workers: WorkerHandle[],
  warmNames: string[],
  ownerOf: (j: number) => number,
  o: LoadOptions,
  tracked: Tracked[],
): Promise<NonNullable<LoadReport['warmup']>> {
  o.progress?.(`warm-up: ${warmNames.length} other users log in and out...`);
  const window = cpuWindow(tracked);
  const t0 = nowMs();
  const per = Math.max(1, Math.ceil(o.concurrency / workers.length));
  const mine = (wi: number): string[] => warmNames.filter((_, j) => ownerOf(j) === wi);
  const replies = await Promise.all(
    workers.map((w, wi) =>
      must(w.call({ op: 'login', names: mine(wi), concurrency: per, maxMs: o.loginTimeoutMs, retries: 0 })),
    ),
  );
  const seconds = (nowMs() - t0) / 1000;
  await Promise.all(workers.map((w, wi) => must(w.call({ op: 'logout-all', names: mine(wi), concurrency: per }))));
  // The servers and the load workers alike: as after the storm.
  if (tracked.some((t) => t.role === 'server'))
    await waitGroupsIdleOrBound(idleGroups(tracked), { maxMs: o.cpuIdleMaxMs || 60_000 });
  const all = replies.flatMap((r) => r.logins ?? []);
  const ok = all.filter((r) => r.ok).length;
  return { ok, failed: all.length - ok, seconds, cpu: window() };
}

/**
 * What must go idle before a measured phase: the servers together, and each load generator process on
 * its own (a worker's heartbeats for thousands of sessions are steady work, not a backlog).
 */
function idleGroups(tracked: Tracked[]): Array<Array<number | undefined>> {
  return [
    tracked.filter((t) => t.role === 'server').map((t) => t.pid),
    ...tracked.filter((t) => t.role === 'generator').map((t) => [t.pid]),
  ];
}

async function must(p: Promise<WorkerReply>): Promise<Extract<WorkerReply, { ok: true }>> {
  const r = await p;
  if (!r.ok) throw new Error(`load worker: ${r.error}`);
  return r;
}

// ------------------------------------------------------------------------------------------------
// Helpers

/** Asks a CRS for the MSs it would give a client (LOCATE). */
export async function locate(crs: string): Promise<string[]> {
  const socket = await connectTcp(crs);
  socket.on('error', () => undefined);
  const link = new Link(socket, { local: 'client', remote: 'crs' });
  try {
    const r = await link.request(req('LOCATE'));
    if (r.status !== 200) throw new Error(`LOCATE at ${crs}: ${r.status} ${headerOf(r, 'Error-code') ?? ''}`);
    return r.headers.filter(([n]) => n.toLowerCase() === 'server').map(([, v]) => v);
  } finally {
    link.close();
  }
}

function isLoopback(hostPort: string): boolean {
  const { host } = parseHostPort(hostPort);
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

interface Sampled {
  name: string;
  pid?: number;
  metrics?: string;
  kind: 'client' | 'online_users';
}

async function sample(
  s: Sampled,
): Promise<{ rss: number | null; heap: number | null; sessions: number; errors: Record<string, number> }> {
  let rss = rssOf(s.pid);
  let heap: number | null = null;
  let sessions = 0;
  const errors: Record<string, number> = {};
  if (s.metrics) {
    try {
      const m = await scrapeMetrics(s.metrics);
      heap = metric(m, 'nodejs_heap_size_used_bytes') ?? null;
      rss ??= metric(m, 'process_resident_memory_bytes') ?? null;
      for (const [k, v] of m) {
        if (k.startsWith('imsp_sessions{') && k.includes(`kind="${s.kind}"`)) sessions = v;
        const c = /^imsp_errors_total\{.*code="([^"]+)"/.exec(k);
        if (c) count(errors, c[1]!, v);
      }
    } catch {
      // endpoint unreachable: memory from /proc only
    }
  }
  return { rss, heap, sessions, errors };
}

function series(records: LoginRecord[], t0: number): SeriesPoint[] {
  const ok = records.filter((r) => r.ok);
  if (ok.length === 0) return [];
  const end = Math.max(...ok.map((r) => r.tDone));
  const buckets = Math.max(1, Math.ceil((end - t0) / 1000));
  const lat: number[][] = Array.from({ length: buckets }, () => []);
  for (const r of ok) lat[Math.min(buckets - 1, Math.floor((r.tDone - t0) / 1000))]!.push(r.tDone - r.tStart);
  let held = 0;
  return lat.map((l, i) => {
    held += l.length;
    return { t: i + 1, loginsPerSecond: l.length, sessions: held, p50: percentile(l, 50), p99: percentile(l, 99) };
  });
}

// ------------------------------------------------------------------------------------------------
// The run

/** Runs one scenario and returns its report. Stops everything it started, also on failure. */
export async function runLoad(partial: Partial<LoadOptions>): Promise<LoadReport> {
  const o: LoadOptions = { ...DEFAULT_OPTIONS, ...partial };
  if (!o.stageTrace || !o.spawn) return (await runOnce(o)).report;
  // The servers write their traces when they stop, at the end of runOnce.
  const dir = mkdtempSync(join(tmpdir(), 'imsp-stages-'));
  const forget = removeOnExit(dir);
  try {
    const { report, times } = await runOnce(o, dir);
    const traces = readStageTraces(dir);
    const probeUsers = new Set(times.probes.map((c) => c.user));
    report.stages = {
      probes: stageTable(times.probes, traces),
      logins: stageTable(
        times.logins.filter((c) => !probeUsers.has(c.user)),
        traces,
      ),
      loop: loopReport(times.probes, readLoopTraces(dir), readStageTracesByProcess(dir), times.sched),
    };
    return report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    forget();
  }
}

async function runOnce(o: LoadOptions, stageTraceDir?: string): Promise<{ report: LoadReport; times: RunTimes }> {
  const say = o.progress ?? (() => undefined);
  const started = nowMs();
  const startedAt = new Date().toISOString();
  if (o.scenario === 'chat') o.users = Math.max(o.users, 2);
  if (!(o.users >= 1) || !(o.concurrency >= 1)) throw new Error('users and concurrency must be at least 1');
  for (const s of o.sources)
    if (!net.isIPv4(s) || !s.startsWith('127.')) throw new Error(`source ${s} is not a 127.x address`);

  let cluster: SpawnedCluster | null = null;
  const workers: WorkerHandle[] = [];
  const progress = new Map<number, WorkerProgress>();
  const nWarm = o.scenario === 'chat' ? 0 : Math.max(0, Math.floor(o.warmup ?? 0));
  try {
    // 1. Users and servers.
    let population: Population;
    let msAddrs: string[];
    let sampled: Sampled[] = [];
    if (o.spawn) {
      let pop: Population | null = null;
      say(`registering ${o.users} users with ${o.buddies} buddies...`);
      cluster = await spawnServers(
        {
          ms: o.spawnMs,
          capacity: Math.max(1000, Math.ceil(o.users / o.spawnMs) + 100),
          limits: o.serverLimits,
          nodeFlags: o.serverNodeFlags,
          durability: o.serverDurability,
          ...(stageTraceDir ? { stageTraceDir } : {}),
        },
        async (path) => {
          pop = await populateSqlite(path, {
            users: o.users,
            buddies: o.buddies,
            prefix: o.prefix,
            warmupUsers: nWarm,
          });
        },
      );
      population = pop!;
      msAddrs = cluster.ms.map((m) => m.address);
      sampled = [
        ...cluster.ms.map((m): Sampled => ({ name: m.name, pid: m.child.pid, metrics: m.metrics, kind: 'client' })),
        { name: 'crs', pid: cluster.crs.child.pid, metrics: cluster.crs.metrics, kind: 'online_users' },
      ];
    } else {
      if (!o.store)
        throw new Error(
          "running servers: --store FILE (the CRS's SQLite file) is needed to register the synthetic users",
        );
      msAddrs = o.ms && o.ms.length > 0 ? o.ms : o.crs ? await locate(o.crs) : [];
      if (msAddrs.length === 0) throw new Error('no MS: give --ms HOST:PORT,... or --crs HOST:PORT');
      say(`registering ${o.users} users with ${o.buddies} buddies in ${o.store}...`);
      population = await populateSqlite(o.store, {
        users: o.users,
        buddies: o.buddies,
        prefix: o.prefix,
        warmupUsers: nWarm,
      });
      sampled = (o.metrics ?? []).map((m, i): Sampled => ({ name: `server${i + 1}@${m}`, metrics: m, kind: 'client' }));
    }
    for (const a of msAddrs)
      if (!isLoopback(a)) throw new Error(`${a} is not a loopback address: load runs stay on this machine`);
    say(`registered in ${(population.elapsedMs / 1000).toFixed(1)} s; MS: ${msAddrs.join(', ')}`);

    // 2. Workers.
    const nw = Math.max(1, o.processes);
    const onProgress = (p: WorkerProgress): void => void progress.set(p.index, p);
    for (let w = 0; w < nw; w++)
      workers.push(o.processes === 0 ? localWorker(onProgress) : childWorker(onProgress, o.workerNodeFlags));
    const owner = (i: number): number => workerOf(i, o.users, nWarm, nw, o.placement);
    const names = Array.from({ length: o.users }, (_, i) => userName(i, o.prefix));
    // Warm-up users have global indexes after the measured ones (their MS and worker follow from it).
    const warmNames = Array.from({ length: nWarm }, (_, j) => userName(j, warmupPrefix(o.prefix)));
    await Promise.all(
      workers.map((w, wi) =>
        must(
          w.call({
            op: 'init',
            init: {
              index: wi,
              credentials: population.credentials,
              ms: msAddrs,
              sources: o.sources,
              users: [...names, ...warmNames].map((n, i): [number, string] => [i, n]).filter(([i]) => owner(i) === wi),
              timeoutMs: o.timeoutMs,
              heartbeats: o.heartbeats,
              // what holds a load worker during the probes (GC, loop delay), beside the servers' (issue 15)
              ...(stageTraceDir && o.processes > 0
                ? { loopTraceFile: join(stageTraceDir, `load worker ${wi + 1}.loop.json`) }
                : {}),
            },
          }),
        ),
      ),
    );

    const tracked: Tracked[] = [
      ...(cluster
        ? [
            ...cluster.ms.map((m): Tracked => ({ name: m.name, pid: m.child.pid, role: 'server' })),
            { name: 'crs', pid: cluster.crs.child.pid, role: 'server' } as Tracked,
          ]
        : []),
      ...workers.map(
        (w, i): Tracked => ({ name: `load worker ${i + 1}`, pid: w.pid ?? process.pid, role: 'generator' }),
      ),
      ...(workers.some((w) => w.pid === undefined)
        ? []
        : [{ name: 'load coordinator', pid: process.pid, role: 'generator' } as Tracked]),
    ];
    let cpu: LoadReport['cpu'];
    let before = await Promise.all(sampled.map(sample));
    const errors: Record<string, number> = {};
    let logins: LoginRecord[] = [];
    const relogins: LoginRecord[] = [];
    const fanFromLogin: number[] = [];
    const fanFromProof: number[] = [];
    const fanFromProofOpened: number[] = [];
    const probeTimes: ClientTimes[] = [];
    let expected = 0;
    let delivered = 0;
    let chat: ChatResult | undefined;
    let warmup: LoadReport['warmup'];
    let schedUse: SchedUse[] | undefined;
    let loginT0 = nowMs();
    let peak = 0;

    const ticker = setInterval(() => {
      let online = 0;
      let ok = 0;
      let fail = 0;
      for (const p of progress.values()) {
        online += p.online;
        ok += p.logins;
        fail += p.failures;
      }
      peak = Math.max(peak, online);
      say(`[${((nowMs() - started) / 1000).toFixed(0)}s] online ${online}/${o.users}  logins ${ok}  failed ${fail}`);
    }, 1000);
    ticker.unref();

    try {
      if (o.scenario === 'chat') {
        // 3a. Chat: the responder in one worker, the initiator in another (both ends get a core).
        const a = names[0]!;
        const b = names[1]!;
        if (!buddiesOf(0, o.users, o.buddies).includes(1))
          throw new Error('chat: the first two users must be buddies (use --buddies 2 or more)');
        const rw = workers[workers.length - 1]!;
        await must(rw.call({ op: 'chat-responder', name: b, ms: msAddrs[1 % msAddrs.length]! }));
        // CPU of each end over the chat (login and handshake included: small against the stream).
        const window = o.cpuIdleMaxMs ? cpuWindow(tracked) : null;
        const r = await must(
          workers[0]!.call({
            op: 'chat-initiator',
            name: a,
            peer: b,
            ms: msAddrs[0]!,
            opts: { durationMs: o.durationMs, maxMessages: o.chatMax, window: o.chatWindow, size: o.chatSize },
          }),
        );
        if (window) cpu = { ...window(), tailMs: 0 };
        chat = r.chat;
        await must(rw.call({ op: 'chat-stop' }));
        for (const [c, n] of Object.entries(chat?.errors ?? {})) count(errors, c, n);
      } else {
        // 3a'. The warm-up: other users in and out, then the servers idle again.
        if (nWarm > 0) {
          warmup = await warmUp(workers, warmNames, (j) => owner(o.users + j), o, tracked);
          // memory per session counts from here: the warm-up's heap growth is not a session's
          before = await Promise.all(sampled.map(sample));
        }
        // 3b. Everyone logs in.
        say(`logging in ${o.users} users, ${o.concurrency} in flight, ${nw} worker(s)...`);
        loginT0 = nowMs();
        const window = o.cpuIdleMaxMs ? cpuWindow(tracked) : null;
        const per = Math.max(1, Math.ceil(o.concurrency / nw));
        const replies = await Promise.all(
          workers.map((w, wi) =>
            must(
              w.call({
                op: 'login',
                // the measured users only (a worker also holds warm-up users)
                names: names.filter((_, i) => owner(i) === wi),
                concurrency: per,
                maxMs: o.loginTimeoutMs,
                retries: o.loginRetries ?? 0,
              }),
            ),
          ),
        );
        if (window) {
          const tLast = nowMs();
          say('waiting for the servers to go idle after the logins...');
          // The servers and the load workers: a worker still reading pushes would hold the probes'
          // receipts behind that backlog (issue 15, Appendix A.8), as the XMPP generator's would.
          const { idle } = await waitGroupsIdleOrBound(idleGroups(tracked), { maxMs: o.cpuIdleMaxMs });
          cpu = { ...window(), tailMs: nowMs() - tLast, idle };
        }
        logins = replies.flatMap((r) => r.logins ?? []);
        for (const r of logins) if (!r.ok) count(errors, r.code ?? '?');
        const online = new Set(logins.filter((r) => r.ok).map((r) => r.user));
        peak = Math.max(peak, online.size);

        if (o.scenario === 'steady') {
          say(`holding ${online.size} sessions for ${(o.durationMs / 1000).toFixed(0)} s with heartbeats...`);
          await new Promise((r) => setTimeout(r, o.durationMs));
        }

        // 3c. Fan-out probes (and churn): distinct users, re-logged in at `rate` per second.
        const nProbes =
          o.scenario === 'churn'
            ? Math.min(online.size, Math.max(1, Math.ceil((o.rate * o.durationMs) / 1000)))
            : Math.min(o.probes, online.size);
        if (nProbes > 0) {
          // Evenly spaced users, in rounds (probeRounds): within a round no probe is another probe's buddy.
          const rounds = probeRounds(
            o.users,
            nProbes,
            o.scenario === 'churn' ? 1 : Math.max(1, o.probeRounds ?? 1),
          ).map((r) => r.filter((k) => online.has(names[k]!)));
          const total = rounds.reduce((a, r) => a + r.length, 0);
          say(
            `${o.scenario === 'churn' ? 'churning' : 'probing fan-out with'} ${total} re-logins at ${o.rate}/s${rounds.length > 1 ? ` in ${rounds.length} rounds` : ''}...`,
          );
          const sched =
            stageTraceDir && cluster
              ? schedWindow([
                  ...[...cluster.ms, cluster.crs].map((s) => ({ name: s.name, pid: s.child.pid })),
                  ...workers.map((w, i) => ({ name: `load worker ${i + 1}`, pid: w.pid })),
                ])
              : null;
          for (const pick of rounds) {
            // Receipts are kept per round: a probe's buddy that probed in an earlier round is online again,
            // and its own re-login must not count as a receipt of anything but its round's probes.
            await Promise.all(workers.map((w) => must(w.call({ op: 'record', on: true }))));
            const roundRelogins: LoginRecord[] = [];
            const deadline =
              nowMs() +
              (o.scenario === 'churn'
                ? o.durationMs
                : Math.max(o.durationMs, (pick.length / o.rate) * 1000 * 2 + 5000));
            const inflight = new Set<Promise<void>>();
            for (let j = 0; j < pick.length && nowMs() < deadline; j++) {
              const k = pick[j]!;
              const p = must(workers[owner(k)]!.call({ op: 'relogin', name: names[k]! })).then((r) => {
                if (r.login) {
                  relogins.push(r.login);
                  roundRelogins.push(r.login);
                }
              });
              inflight.add(p);
              void p.finally(() => inflight.delete(p));
              const wait = 1000 / o.rate;
              await new Promise((r) => setTimeout(r, wait));
            }
            await Promise.all(inflight);
            // Stragglers: a push still in flight gets a moment (bounded).
            await new Promise((r) => setTimeout(r, 1000));
            await Promise.all(workers.map((w) => must(w.call({ op: 'record', on: false }))));
            const probeNames = pick.map((k) => names[k]!);
            const got = await Promise.all(workers.map((w) => must(w.call({ op: 'presence', names: probeNames }))));
            const byUser = new Map(roundRelogins.map((r) => [r.user, r]));
            const probeSet = new Set(pick);
            for (const k of pick) {
              const n = names[k]!;
              const r = byUser.get(n);
              if (!r?.ok) continue;
              // A buddy that is itself a probe of this round logs out and in meanwhile: it may learn of this
              // login from its own login bundle instead of a push, so it is not counted as a receiver
              // [§9.1.1 Ordering the Login Bundle Against Pushes].
              const buddies = buddiesOf(k, o.users, o.buddies).filter((b) => online.has(names[b]!) && !probeSet.has(b));
              expected += buddies.length;
              let last = -Infinity;
              let lastOpened = -Infinity;
              let seen = 0;
              for (const g of got) {
                const rec: PresenceReceipt | undefined = g.presence?.[n];
                if (rec) {
                  seen += rec.count;
                  last = Math.max(last, rec.last);
                  lastOpened = Math.max(lastOpened, rec.lastOpened);
                }
              }
              delivered += Math.min(seen, buddies.length);
              if (seen >= buddies.length && buddies.length > 0) {
                fanFromLogin.push(Math.max(0, last - r.tDone));
                fanFromProof.push(last - r.tProof);
                fanFromProofOpened.push(lastOpened - r.tProof);
                probeTimes.push({ user: n, tStart: r.tStart, tProof: r.tProof, tDone: r.tDone, tLast: last });
              }
            }
          }
          if (sched) schedUse = sched();
          for (const r of relogins) if (!r.ok) count(errors, r.code ?? '?');
        }
      }
    } finally {
      clearInterval(ticker);
    }

    // 4. Memory while the sessions are held, then the generator's own.
    const after = await Promise.all(sampled.map(sample));
    const gen = await Promise.all(workers.map((w) => w.call({ op: 'stats' })));
    let held = 0;
    let genRss = 0;
    let genHeap = 0;
    for (const g of gen) {
      if (g.ok) {
        held += g.online ?? 0;
        genRss += g.rss ?? 0;
        genHeap += g.heap ?? 0;
      }
    }
    const memory: ServerMemory[] = sampled.map((s, i) => {
      const b = before[i]!;
      const a = after[i]!;
      // The CRS's gauge counts enrolled MSs; its sessions are all the logged-in users.
      const n = s.kind === 'online_users' && a.sessions === 0 ? held : a.sessions;
      const per = (x: number | null, y: number | null): number | null =>
        x !== null && y !== null && n > 0 ? (y - x) / n : null;
      return {
        name: s.name,
        sessions: n,
        rssBefore: b.rss,
        rssAfter: a.rss,
        heapBefore: b.heap,
        heapAfter: a.heap,
        rssPerSession: per(b.rss, a.rss),
        heapPerSession: per(b.heap, a.heap),
      };
    });
    let crsOnline: number | null = null;
    try {
      const storePath = cluster?.storePath ?? o.store;
      if (storePath) crsOnline = countOnline(storePath, o.prefix);
    } catch {
      // not a readable SQLite file: no count
    }
    const serverErrors: Record<string, number> = {};
    for (const a of after) for (const [c, n] of Object.entries(a.errors)) count(serverErrors, c, n);

    const ok = logins.filter((r) => r.ok);
    const first = logins.length ? Math.min(...logins.map((r) => r.tStart)) : loginT0;
    const last = ok.length ? Math.max(...ok.map((r) => r.tDone)) : first;
    const seconds = Math.max(1e-3, (last - first) / 1000);
    const { progress: _p, ...options } = o;
    const times: RunTimes = { logins: ok, probes: probeTimes, ...(schedUse ? { sched: schedUse } : {}) };
    const report: LoadReport = {
      scenario: o.scenario,
      options,
      startedAt,
      elapsedSeconds: (nowMs() - started) / 1000,
      registration: { users: population.users, buddies: population.buddies, seconds: population.elapsedMs / 1000 },
      logins: {
        attempted: logins.length,
        ok: ok.length,
        failed: logins.length - ok.length,
        perSecond: ok.length / seconds,
        seconds,
        latency: summarize(ok.map((r) => r.tDone - r.tStart)),
      },
      relogins: {
        ok: relogins.filter((r) => r.ok).length,
        failed: relogins.filter((r) => !r.ok).length,
        latency: summarize(relogins.filter((r) => r.ok).map((r) => r.tDone - r.tStart)),
      },
      fanout: {
        probes: fanFromLogin.length,
        expected,
        delivered,
        fromLogin: summarize(fanFromLogin),
        fromProof: summarize(fanFromProof),
        fromProofOpened: summarize(fanFromProofOpened),
      },
      sessions: { peak, held },
      crsOnline,
      memory,
      generator: { rss: genRss, heap: genHeap },
      ...(chat ? { chat } : {}),
      errors,
      serverErrors,
      series: series(logins, first),
      ...(cpu ? { cpu } : {}),
      ...(warmup ? { warmup } : {}),
      pids: Object.fromEntries(tracked.filter((t) => t.pid !== undefined).map((t) => [String(t.pid), t.name])),
    };
    return { report, times };
  } finally {
    await Promise.all(
      workers.map((w) => Promise.race([w.call({ op: 'shutdown' }), new Promise((r) => setTimeout(r, 15_000))])),
    );
    for (const w of workers) w.kill();
    await cluster?.stop();
  }
}
