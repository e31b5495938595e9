// `make bench-xmpp` (issue 15): IMSP and its XMPP anchors measured side by side in one run, on one
// machine, and every ratio computed from figures of this run only. Compiled by tsc first (never
// benchmark through tsx).
//
//   node dist/bench/xmpp.js [--quick] [--sizes 2000,10000] [--prosody-max N] [--no-extras] [--json FILE] [--warmup N]
//                           [--servers ejabberd,prosody,imsp] [--server-node-flag FLAG ...] [--worker-node-flag FLAG ...]
//                           [--imsp-ms N] [--imsp-workers N] [--idle-max S] [--help]
//
// For each size (default 2,000 and 10,000 users, 50 mutual contacts, 100 logins in flight):
//   1. ejabberd 23.01, SASL PLAIN without TLS (its fastest path);
//   2. ejabberd 23.01, SCRAM-SHA-256 over STARTTLS (the like-for-like security);
//   3. Prosody 0.12, PLAIN without TLS (at sizes up to --prosody-max, default 2,000: it runs on one
//      core at ~33 logins/s);
//   4. IMSP: a CRS (SQLite, --durability normal) and one MS per two cores (--imsp-ms N), one load worker
//      process (--imsp-workers N; several hold blocks of consecutive users, so that a user's buddies
//      share its worker), as the XMPP anchors' one load generator process.
// Each server runs alone with its load generator; a warm-up (--warmup N other users, default 2,000, log
// in and out, then the server goes idle), a storm, the wait until the server has worked off
// the presence wave, then fan-out probes with everyone online. Then, IMSP only: one P2P pair, the
// codec against llhttp, RSS per session at ~15,000 sessions per MS.
// CPU time per process comes from /proc (utime + stime): robust to other load, unlike throughput.
// Everything started is stopped at the end, also on failure; every phase is bounded in count and time.
import { execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runLoad, type LoadOptions, type LoadReport } from '../reference/load/run.js';
import { buddiesOf, userName, warmupPrefix } from '../reference/load/population.js';
import { fmt } from '../reference/load/stats.js';
import { renderReportStages } from '../reference/load/stages.js';
import { machineLoad, othersShare, type CpuReport } from '../reference/load/cpu.js';
import { missingGcFlags } from '../reference/load/spawn.js';
import {
  EjabberdAnchor,
  cleanUpOnSignal,
  ensureInstalled,
  startProsody,
  XMPP_DOMAIN,
  XMPP_PASSWORD,
  type XmppServer,
} from './xmpp/servers.js';
import { unfinishedReport, xmppStorm, type StormResult } from './xmpp/storm.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  // The usage is this file's opening comment (one source): printed, and nothing is started.
  const self = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  const usage = self
    .slice(
      0,
      self.findIndex((l) => !l.startsWith('//')),
    )
    .map((l) => l.replace(/^\/\/ ?/, ''));
  process.stdout.write(`${usage.join('\n')}\n`);
  process.exit(0);
}
// The XMPP anchors' load generator is this process: it runs with the V8 flags of the IMSP load
// workers (WORKER_GC_FLAGS, Appendix A.8), so this file runs itself again with them when started
// without (the exit status is the child's).
const missingFlags = missingGcFlags(process.execArgv);
if (missingFlags.length > 0) {
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...missingFlags, fileURLToPath(import.meta.url), ...argv],
    {
      stdio: 'inherit',
    },
  );
  // SIGINT from a terminal reaches the whole process group (the child's own handler cleans up once);
  // SIGTERM and SIGHUP sent to this process are passed on.
  process.on('SIGINT', () => undefined);
  for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, () => child.kill(s));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  process.exit(code);
}
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes('--quick');
const sizes = (flag('--sizes') ?? (quick ? '500,2000' : '2000,10000'))
  .split(',')
  .map(Number)
  .filter((n) => n >= 100);
const prosodyMax = Number(flag('--prosody-max') ?? 2000);
const extras = !argv.includes('--no-extras');
// Development: --servers imsp (or ejabberd,prosody) runs only those; the table needs all three.
const servers = new Set((flag('--servers') ?? 'ejabberd,prosody,imsp').split(','));
// Development: node flags for the spawned IMSP servers, e.g. --server-node-flag --cpu-prof.
const serverNodeFlags = argv.flatMap((a, i) => (a === '--server-node-flag' && argv[i + 1] ? [argv[i + 1]!] : []));
// Development: node flags for the IMSP load workers (profiling the generator), e.g. --worker-node-flag --cpu-prof.
const workerNodeFlags = argv.flatMap((a, i) => (a === '--worker-node-flag' && argv[i + 1] ? [argv[i + 1]!] : []));
const jsonPath = flag('--json') ?? 'dist/bench-xmpp.json';
// The MS processes of the IMSP storms, sized to the machine (issue 15, Appendix A.8): one per two
// cores, the other half left to the CRS and the load workers. On 2 cores that is one MS: in
// alternating runs at 2,000 users (load 12-16) one MS took 1.84 and 1.64 ms of server CPU per login
// against 2.24 and 2.37 ms for two (no CRS -> later MS hop, one process fewer on the cores).
// --imsp-ms N overrides it (2 was the layout of sessions 1-7).
const IMSP_MS = Math.max(1, Math.floor(Number(flag('--imsp-ms') ?? Math.floor(availableParallelism() / 2)))) || 1;
const imspName = `IMSP (${IMSP_MS} MS${IMSP_MS === 1 ? '' : 's'} + CRS)`;
// The load worker processes of the IMSP storms (issue 15, Appendix A.8): one, as the XMPP anchors
// have one generator process, so that a probe's push to its 50 buddies wakes one generator process on
// either side. Two workers (sessions 6-9) held users i mod 2, so every probe woke both, and four
// processes of ours (CRS, MS, 2 workers) contended for the 2 cores at each fan-out. In alternating
// runs at 10,000 users with others using at most 3% of the cores (2026-12-07) the fan-out p99 was 4.00
// and 5.20 ms with one worker against 29.19 and 15.27 ms with two, at 1,155 and 1,219 logins/s
// against 1,045 and 1,090. --imsp-workers N (N > 1) gives each worker a block of consecutive users,
// so that a user's ring-lattice buddies share its worker (6.07 and 5.28 ms with two).
const IMSP_WORKERS = Math.max(1, Math.floor(Number(flag('--imsp-workers') ?? 1))) || 1;
const BUDDIES = 50;
const CONCURRENCY = 100;
const RATE = 40;
// The warm-up before each measured storm, the same for every server (issue 15): this many other users,
// a ring lattice of their own with the same list size, log in and out, and the server goes idle. A
// JIT-compiled server runs its first logins slower than the rest: IMSP's server CPU per login was
// 3.15 ms cold against 1.83 ms after a warm-up in one run (2,000 users, 2026-12-07), and ejabberd's
// (BEAM's JIT) 5.65 ms at 2,000 against 4.47 ms at 10,000 in the cold quiet run of 2026-12-06, so a
// short storm measured mostly warm-up. --warmup 0 measures cold servers.
const WARMUP = Math.max(0, Math.floor(Number(flag('--warmup') ?? 2000))) || 0;
// Bound of the wait for a server to work off a storm's presence wave before the probes. ejabberd
// with TLS at 10,000 users was still busy after 120 s in the 2026-12-06 quiet run, so its probes
// queued behind the backlog and none arrived in the straggler window (0/10000): a bound that cuts
// the anchor's scenario short makes its ratios meaningless. A server that is still busy at this
// bound is reported as not having completed the scenario (DID NOT FINISH, with what it did, and no
// ratio against it; Appendix A.8).
// --idle-max S changes it (development: a small bound shows how an anchor that did not finish is reported).
const IDLE_MAX_MS = Math.max(1, Number(flag('--idle-max') ?? 300)) * 1000;
/** Bound of a storm's login phase (ms): logins not started by then are not tried. */
const LOGIN_MAX_MS = 600_000;
const say = (line: string): void => void process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
const note = (line: string): void => void process.stderr.write(`\n${line}\n`);

/** Probes of one round, spaced so that no probe is another's contact (the same count for every server). */
const probesFor = (users: number): number => Math.min(200, Math.floor(users / (Math.floor(BUDDIES / 2) + 1)));
// The fan-out probes of every server come in rounds (probeRounds in reference/load/population.ts), at
// least PROBES_MIN in all, so that the p99 by nearest rank is the third largest, not the maximum
// (Appendix A.8). One round at 2,000 users is 76 probes, whose p99 was its maximum until 2026-12-07:
// one probe behind one GC pause decided the comparison. 3 rounds of 76 there, 1 of 200 at 10,000.
const PROBES_MIN = 200;
const roundsFor = (users: number): number => Math.max(1, Math.ceil(PROBES_MIN / Math.max(1, probesFor(users))));
const probeCount = (users: number): number => probesFor(users) * roundsFor(users);

const t0 = performance.now();
const load0 = machineLoad();
const results: StormResult[] = [];
const failures: string[] = [];
/** The stage tables of the IMSP storms (issue 15). */
const stageTables: string[] = [];

function imspResult(r: LoadReport): StormResult {
  const cpu: CpuReport = r.cpu ?? { uses: [], wallSeconds: 0, machineBusySeconds: 0, cores: 0 };
  return {
    server: imspName,
    users: r.options.users,
    attempted: r.logins.attempted,
    ok: r.logins.ok,
    perSecond: r.logins.perSecond,
    latency: r.logins.latency,
    fanout: r.fanout.fromProof,
    fanoutOpened: r.fanout.fromProofOpened,
    expected: r.fanout.expected,
    delivered: r.fanout.delivered,
    cpu,
    tailMs: r.cpu?.tailMs ?? 0,
    idle: r.cpu?.idle ?? true,
    errors: { ...r.errors, ...Object.fromEntries(Object.entries(r.serverErrors).map(([k, v]) => [`server ${k}`, v])) },
    ...(r.warmup ? { warmup: r.warmup } : {}),
  };
}

async function xmppPhase(
  server: XmppServer,
  /** The measured users, then the WARMUP warm-up users. */
  names: string[],
  bud: (i: number) => number[],
  mechanism: 'PLAIN' | 'SCRAM-SHA-256',
  starttls: boolean,
): Promise<void> {
  try {
    results.push(
      await xmppStorm({
        target: {
          host: '127.0.0.1',
          port: server.port,
          domain: XMPP_DOMAIN,
          password: XMPP_PASSWORD,
          mechanism,
          starttls,
          timeoutMs: 60_000,
        },
        names,
        buddies: bud,
        warmup: WARMUP,
        concurrency: CONCURRENCY,
        probes: probesFor(names.length - WARMUP),
        probeRounds: roundsFor(names.length - WARMUP),
        rate: RATE,
        maxMs: LOGIN_MAX_MS,
        idleMaxMs: IDLE_MAX_MS,
        serverPid: server.pid,
        serverName: server.name,
        ...(server.diagnose ? { diagnose: server.diagnose } : {}),
        progress: say,
      }),
    );
  } finally {
    await server.stop();
  }
}

const imspBase: Partial<LoadOptions> = { spawn: true, progress: say, heartbeats: true, serverDurability: 'normal' };

cleanUpOnSignal();
ensureInstalled(note);
for (const users of sizes) {
  // The anchors hold the measured users and, after them, the warm-up users (their own ring lattice).
  const names = [
    ...Array.from({ length: users }, (_, i) => userName(i)),
    ...Array.from({ length: WARMUP }, (_, j) => userName(j, warmupPrefix())),
  ];
  const bud = (i: number): number[] =>
    i < users ? buddiesOf(i, users, BUDDIES) : buddiesOf(i - users, WARMUP, BUDDIES).map((j) => users + j);
  note(
    `== ${users} users x ${BUDDIES} mutual contacts, ${CONCURRENCY} logins in flight, ${probeCount(users)} fan-out probes${roundsFor(users) > 1 ? ` (${roundsFor(users)} rounds)` : ''}, after a warm-up of ${WARMUP} other users`,
  );
  let ej: EjabberdAnchor | null = null;
  if (servers.has('ejabberd'))
    try {
      ej = new EjabberdAnchor(names, bud);
      await xmppPhase(await ej.start('plain', note), names, bud, 'PLAIN', false);
      await xmppPhase(await ej.start('scram-tls', note), names, bud, 'SCRAM-SHA-256', true);
    } catch (e) {
      failures.push(`ejabberd at ${users}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      ej?.dispose();
    }
  if (servers.has('prosody') && users <= prosodyMax) {
    try {
      await xmppPhase(await startProsody(names, bud, note), names, bud, 'PLAIN', false);
    } catch (e) {
      failures.push(`Prosody at ${users}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (servers.has('imsp'))
    try {
      note(`IMSP at ${users}`);
      const report = await runLoad({
        ...imspBase,
        scenario: 'storm',
        users,
        buddies: BUDDIES,
        concurrency: CONCURRENCY,
        spawnMs: IMSP_MS,
        processes: IMSP_WORKERS,
        placement: 'blocks',
        probes: probesFor(users),
        probeRounds: roundsFor(users),
        rate: RATE,
        warmup: WARMUP,
        loginTimeoutMs: LOGIN_MAX_MS,
        cpuIdleMaxMs: IDLE_MAX_MS,
        serverNodeFlags,
        workerNodeFlags,
        // where IMSP's fan-out and login time goes (issue 15): printed below the goals
        stageTrace: true,
      });
      results.push(imspResult(report));
      if (report.stages) stageTables.push(`IMSP at ${users} users: ${renderReportStages(report.stages)}`);
    } catch (e) {
      failures.push(`IMSP at ${users}: ${e instanceof Error ? e.message : String(e)}`);
    }
}

/**
 * An anchor that did not finish the scenario within its bounds (still busy IDLE_MAX_MS after its
 * storm, or logins cut at the login bound) is reported with what it did, not as a failure of the run
 * (Appendix A.8): the run measured it, and the anchor was too slow for the bounds. IMSP not finishing
 * is a failure: it is the server under test.
 */
const didNotFinish: string[] = [];
for (const r of results) {
  const what = unfinishedReport(r, { loginMaxMs: LOGIN_MAX_MS, idleMaxMs: IDLE_MAX_MS });
  if (what === null) continue;
  if (r.server === imspName) failures.push(what);
  else didNotFinish.push(what);
}

// IMSP only: P2P, codec, memory.
let chat: LoadReport | null = null;
let memory: LoadReport | null = null;
let codec: { ratio: number; peggyRatio?: number } | null = null;
if (extras) {
  try {
    note('== P2P: one pair, pipelined MSGs');
    chat = await runLoad({
      ...imspBase,
      scenario: 'chat',
      users: 4,
      buddies: 2,
      spawnMs: 1,
      processes: 2,
      durationMs: quick ? 3000 : 10_000,
      chatWindow: 256,
      chatSize: 100,
      cpuIdleMaxMs: 1,
    });
  } catch (e) {
    failures.push(`chat: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    note('== codec: decode against llhttp');
    const out = execFileSync(
      process.execPath,
      [
        join(fileURLToPath(import.meta.url), '..', 'codec.js'),
        '--json',
        ...(quick ? ['--messages', '20000', '--runs', '3'] : []),
      ],
      { encoding: 'utf8', timeout: 600_000 },
    );
    codec = JSON.parse(out.trim().split('\n').pop()!) as { ratio: number; peggyRatio?: number };
  } catch (e) {
    failures.push(`codec: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    note('== memory: ~15,000 sessions per MS');
    memory = await runLoad({
      ...imspBase,
      scenario: 'steady',
      users: quick ? 4000 : 30_000,
      buddies: 10,
      concurrency: 200,
      spawnMs: 2,
      processes: 2,
      sources: ['127.0.0.2', '127.0.0.3'],
      durationMs: 2000,
      probes: 0,
      loginTimeoutMs: 300_000,
    });
  } catch (e) {
    failures.push(`memory: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ------------------------------------------------------------------------------------------------
// The table: every figure and every ratio from this run.
const perLogin = (r: StormResult, role: 'server' | 'generator'): number =>
  r.ok > 0 ? (r.cpu.uses.filter((u) => u.role === role).reduce((a, u) => a + u.seconds, 0) * 1000) / r.ok : Number.NaN;
/**
 * The busiest load generator process's CPU over the storm and its tail, as a share of one core (a
 * process runs on one): near 100% the generator, not the server, set the pace (Appendix A.8).
 */
const genBusy = (r: StormResult): number =>
  r.cpu.wallSeconds > 0
    ? Math.max(0, ...r.cpu.uses.filter((u) => u.role === 'generator').map((u) => u.seconds)) / r.cpu.wallSeconds
    : Number.NaN;
/** The generator's share of the CPU the servers and the generator used together over the storm and its tail. */
const genShare = (r: StormResult): number => {
  const g = perLogin(r, 'generator');
  return g / (g + perLogin(r, 'server'));
};
const opened = results
  .filter((r) => r.fanoutOpened && r.fanoutOpened.n > 0)
  .map(
    (r) =>
      `  ${r.users} ${r.server}: p50 ${fmt(r.fanoutOpened!.p50, 2)}, p99 ${fmt(r.fanoutOpened!.p99, 2)} ms (from its octets' arrival, as in the table: ${fmt(r.fanout.p50, 2)}, ${fmt(r.fanout.p99, 2)} ms)`,
  )
  .join('\n');
const openedNote = opened
  ? `IMSP fan-out from PROOF until the last buddy's load worker had decoded the push and opened its envelope (the generator's receive path included; same probes):\n${opened}`
  : '';
const pad = (rows: string[][]): string => {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === 0 || i === 1 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};
const head = [
  'users',
  'server',
  'logins/s',
  'login p50',
  'p99 ms',
  'fan-out p50',
  'p99',
  'max ms',
  'probes',
  'delivered',
  'server CPU/login',
  'gen CPU/login',
  'gen busy',
  'gen share',
  'tail s',
  'others',
];
const storms = pad([
  head,
  ...results.map((r) => [
    String(r.users),
    r.server,
    fmt(r.perSecond, 0),
    fmt(r.latency.p50, 1),
    fmt(r.latency.p99, 0),
    fmt(r.fanout.p50, 2),
    fmt(r.fanout.p99, 2),
    fmt(r.fanout.max, 2),
    String(r.fanout.n),
    `${r.delivered}/${r.expected}`,
    `${fmt(perLogin(r, 'server'), 2)} ms`,
    `${fmt(perLogin(r, 'generator'), 2)} ms`,
    `${fmt(genBusy(r) * 100, 0)}%`,
    `${fmt(genShare(r) * 100, 0)}%`,
    r.idle ? fmt(r.tailMs / 1000, 1) : `>${fmt(r.tailMs / 1000, 0)}`,
    `${fmt(othersShare(r.cpu) * 100, 0)}%`,
  ]),
]);
const warmups = results
  .filter((r) => r.warmup && r.warmup.ok > 0)
  .map((r) => {
    const w = r.warmup!;
    const per = (role: 'server' | 'generator'): string =>
      fmt((w.cpu.uses.filter((u) => u.role === role).reduce((a, u) => a + u.seconds, 0) * 1000) / w.ok, 2);
    return `  ${r.users} ${r.server}: ${w.ok}/${w.ok + w.failed} in ${fmt(w.seconds, 1)} s; CPU per login in+out: server ${per('server')}, generator ${per('generator')} ms`;
  })
  .join('\n');
const byProcess = results
  .map(
    (r) =>
      `  ${r.users} ${r.server}: ${r.cpu.uses.map((u) => `${u.name} ${fmt(r.ok ? (u.seconds * 1000) / r.ok : Number.NaN, 2)}`).join(', ')}`,
  )
  .join('\n');

interface Goal {
  goal: string;
  measured: string;
  ratio: string;
  met: boolean | null;
}
const goals: Goal[] = [];
const find = (users: number, server: string): StormResult | undefined =>
  results.find((r) => r.users === users && r.server.startsWith(server));
const x = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
/**
 * An anchor that did not complete the scenario (still busy at the idle bound, or pushes missing)
 * gives no ratio: its goals are listed with '-' and the reason, not as met or missed.
 */
const incomplete = (e: StormResult): string | null =>
  !e.idle
    ? `${e.server} still busy at the ${IDLE_MAX_MS / 1000} s bound`
    : e.attempted < e.users
      ? `${e.server} tried ${e.attempted}/${e.users} logins by the ${LOGIN_MAX_MS / 1000} s bound`
      : e.delivered < e.expected
        ? `${e.server} delivered ${e.delivered}/${e.expected}`
        : null;
const against = (e: StormResult, g: Goal): Goal => {
  const why = incomplete(e);
  return why ? { goal: g.goal, measured: `${g.measured} (no ratio: ${why})`, ratio: '-', met: null } : g;
};
for (const users of sizes) {
  const i = find(users, 'IMSP');
  const plain = find(users, 'ejabberd PLAIN');
  const scram = find(users, 'ejabberd SCRAM');
  if (!i) continue;
  if (plain)
    goals.push(
      against(plain, {
        goal: `${users}: logins/s >= 1x ejabberd PLAIN`,
        measured: `${fmt(i.perSecond, 0)} vs ${fmt(plain.perSecond, 0)}`,
        ratio: x(i.perSecond / plain.perSecond),
        met: i.perSecond >= plain.perSecond,
      }),
    );
  if (scram)
    goals.push(
      against(scram, {
        goal: `${users}: logins/s >= 2x ejabberd SCRAM+TLS`,
        measured: `${fmt(i.perSecond, 0)} vs ${fmt(scram.perSecond, 0)}`,
        ratio: x(i.perSecond / scram.perSecond),
        met: i.perSecond >= 2 * scram.perSecond,
      }),
    );
  for (const e of [plain, scram]) {
    if (!e) continue;
    goals.push(
      against(e, {
        goal: `${users}: login p99 below ${e.server}'s`,
        measured: `${fmt(i.latency.p99, 0)} vs ${fmt(e.latency.p99, 0)} ms`,
        ratio: x(e.latency.p99 / i.latency.p99),
        met: i.latency.p99 < e.latency.p99,
      }),
    );
    goals.push(
      against(e, {
        goal: `${users}: server CPU/login below ${e.server}'s`,
        measured: `${fmt(perLogin(i, 'server'), 2)} vs ${fmt(perLogin(e, 'server'), 2)} ms`,
        ratio: x(perLogin(e, 'server') / perLogin(i, 'server')),
        met: perLogin(i, 'server') < perLogin(e, 'server'),
      }),
    );
    goals.push(
      against(e, {
        goal: `${users}: fan-out p99 (from PROOF) below ${e.server}'s, all delivered`,
        measured: `${fmt(i.fanout.p99, 2)} vs ${fmt(e.fanout.p99, 2)} ms; ${i.delivered}/${i.expected}`,
        ratio: x(e.fanout.p99 / i.fanout.p99),
        met: i.fanout.p99 < e.fanout.p99 && i.delivered === i.expected,
      }),
    );
  }
}
if (extras) {
  const mps = chat?.chat?.msgsPerSecond ?? Number.NaN;
  goals.push({
    goal: 'P2P MSG/s per pair >= 100,000 (AEAD)',
    measured: `${fmt(mps, 0)} /s`,
    ratio: x(mps / 100_000),
    met: chat?.chat ? mps >= 100_000 : null,
  });
  goals.push({
    goal: 'codec decode >= 3x llhttp (same run)',
    measured: codec ? `${fmt(codec.ratio, 2)}x llhttp` : '-',
    ratio: codec ? x(codec.ratio / 3) : '-',
    met: codec ? codec.ratio >= 3 : null,
  });
  const ms = memory?.memory.filter((m) => m.name.startsWith('ms') && m.rssPerSession !== null) ?? [];
  const sessions = ms.reduce((a, m) => a + m.sessions, 0);
  const kb =
    sessions > 0 ? ms.reduce((a, m) => a + (m.rssPerSession ?? 0) * m.sessions, 0) / sessions / 1024 : Number.NaN;
  goals.push({
    goal: 'MS RSS/session <= 12 kB (~15k per MS)',
    measured: `${fmt(kb, 1)} kB (${ms.map((m) => m.sessions).join('+')} sessions)`,
    ratio: x(12 / kb),
    met: Number.isFinite(kb) ? kb <= 12 : null,
  });
}
/** CPU per MSG of each process over the chat (workers renamed by their role: worker 1 initiates). */
function p2pCpu(r: LoadReport): Array<[string, number]> {
  const n = r.chat?.messages ?? 0;
  return (r.cpu?.uses ?? [])
    .filter((u) => u.seconds > 0 || u.role === 'generator')
    .map((u): [string, number] => [
      u.name === 'load worker 1' ? 'initiator' : u.name === 'load worker 2' ? 'responder' : u.name,
      n > 0 ? (u.seconds * 1e6) / n : Number.NaN,
    ]);
}
const goalTable = pad([
  ['goal', 'measured', 'ratio', 'met'],
  ...goals.map((g) => [g.goal, g.measured, g.ratio, g.met === null ? '-' : g.met ? 'yes' : 'no']),
]);

const load1 = machineLoad();
const out = [
  '',
  `IMSP vs ejabberd 23.01 and Prosody 0.12, measured in one run, ${new Date().toISOString()}, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  `machine: ${load1.cores} cores; load average ${fmt(load0.load1, 2)} at start, ${fmt(load1.load1, 2)} at end; 'others' = the share of all cores used by processes outside the measured ones during each storm`,
  `storm: ${CONCURRENCY} logins in flight, ${BUDDIES} mutual contacts; login latency: connect to the bind result (XMPP) / to the 200 (IMSP);`,
  `fan-out: from the trigger (marked <presence/> sent, XMPP; PROOF sent, IMSP) to the last online contact's receipt (its octets read by the load generator, before it decodes them), probes at ${RATE}/s with everyone online;`,
  "gen busy: the busiest load generator process's CPU over the same window, as a share of one core (an average over the storm and its tail: near 100%, the generator, not the server, set the pace); gen share: the load generator's share of the CPU the server and the generator used together;",
  `CPU per login: utime+stime from /proc from the first login until the servers and the load generators went idle (tail s = how long after the last login; at most ${IDLE_MAX_MS / 1000} s, '>N' = still busy then: no ratio against it), divided by the logins;`,
  `IMSP: CRS on SQLite (--durability normal) + ${IMSP_MS} MS${IMSP_MS === 1 ? '' : 's'}, ${IMSP_WORKERS} load worker process${IMSP_WORKERS === 1 ? '' : 'es'}; XMPP: one lean load generator process (Node net, substring scanning)`,
  `warm-up: before each storm, ${WARMUP} other users (contacts only among themselves) logged in and out and the server went idle, the same for every server; the figures start after it (--warmup N)`,
  '',
  storms,
  '',
  'CPU per login by process (ms):',
  byProcess,
  ...(openedNote ? ['', openedNote] : []),
  ...(warmups
    ? [
        '',
        `Warm-up before each storm (${WARMUP} other users in and out, then idle; not in the figures above):`,
        warmups,
      ]
    : []),
  '',
  goalTable,
  ...stageTables.flatMap((t) => ['', t]),
  ...(extras && chat?.chat
    ? [
        '',
        `P2P: ${fmt(chat.chat.msgsPerSecond, 0)} MSG/s, ${fmt(chat.chat.mbPerSecond, 2)} MB/s of 100-octet text, handshake ${fmt(chat.chat.handshakeMs, 1)} ms; others used ${chat.cpu ? fmt(othersShare(chat.cpu) * 100, 0) : '-'}% of the cores`,
        ...(chat.cpu
          ? [
              `P2P CPU per MSG (us): ${p2pCpu(chat)
                .map(([n, us]) => `${n} ${fmt(us, 1)}`)
                .join(', ')}; with a core for each end at most ${fmt(
                1e6 /
                  Math.max(
                    ...p2pCpu(chat)
                      .filter(([n]) => n.startsWith('initiator') || n.startsWith('responder'))
                      .map(([, us]) => us),
                  ),
                0,
              )} MSG/s`,
            ]
          : []),
      ]
    : []),
  ...(didNotFinish.length
    ? [
        '',
        'DID NOT FINISH (an anchor too slow for the bounds: reported, not a failure of the run):',
        ...didNotFinish.map((f) => `  ${f}`),
      ]
    : []),
  ...(failures.length ? ['', 'FAILED:', ...failures.map((f) => `  ${f}`)] : []),
  ...results
    .filter((r) => Object.keys(r.errors).length)
    .map((r) => `errors ${r.users} ${r.server}: ${JSON.stringify(r.errors)}`),
  '',
].join('\n');
process.stdout.write(out);
try {
  writeFileSync(
    jsonPath,
    JSON.stringify(
      {
        sizes,
        results,
        goals,
        chat: chat?.chat ?? null,
        codec,
        memory: memory?.memory ?? null,
        didNotFinish,
        failures,
      },
      null,
      2,
    ) + '\n',
  );
  process.stdout.write(`report: ${jsonPath}\n`);
} catch (e) {
  process.stderr.write(`could not write the report: ${e instanceof Error ? e.message : String(e)}\n`);
}
process.exitCode = failures.length ? 1 : 0;
