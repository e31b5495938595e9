// `make bench-load`: the standard load set of issue 8 on this machine, CRS on SQLite and MSs as
// separate processes, clients in worker processes; prints one table of goal, measured figure and
// ratio to the goal. Every figure comes from a measurement in this run; the comparison with
// ejabberd and Prosody is `make bench-xmpp` (bench/xmpp.ts), which measures them in the same run
// (issue 15). Compiled by tsc first (never benchmark through tsx).
//
//   node dist/bench/load.js [--quick] [--durability normal|full] [--json FILE] [--plot FILE.svg] [--scale-users N] [--scale-seconds S]
//
// The CRS runs with `--durability normal` (SQLite WAL, synchronous=NORMAL: every reported change
// survives a CRS crash or restart, [PERSIST-4]; the last commits before an OS crash may be lost), as
// a deployment on one disk would choose for throughput; `--durability full` measures the default.
//
// Runs (each bounded in count and time; the whole set stays within ~15 minutes):
// 1. storm: after a warm-up (2,000 other users log in and out, the servers go idle: JIT and heap
//    warm-up, as bench-xmpp gives every server), 10,000 users with 50 buddies log in (2 MSs, 100 in
//    flight as in the anchors' runs), then fan-out probes with all 10,000 online;
// 2. memory: ~15,000 sessions per MS (2 MSs, 30,000 users, 10 buddies), RSS per session;
// 3. scale: as many concurrent sessions as the MS processes hold (aim 100,000: 6 MSs, 6 client
//    workers, 5 loopback source addresses), bounded by --scale-seconds of logging in (540 s: the
//    login rate falls as sessions accumulate, their heartbeats and heaps growing with them);
// 4. chat: one P2P pair, pipelined MSGs for 10 s.
import { writeFileSync } from 'node:fs';
import { runLoad, type LoadOptions, type LoadReport } from '../reference/load/run.js';
import { renderSvg } from '../reference/load/plot.js';
import { fmt } from '../reference/load/stats.js';
import { renderReportStages } from '../reference/load/stages.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes('--quick');
const jsonPath = flag('--json') ?? 'dist/bench-load.json';
const plotPath = flag('--plot') ?? 'dist/bench-load-storm.svg';
const scaleUsers = Number(flag('--scale-users') ?? (quick ? 20_000 : 100_000));
const scaleSeconds = Number(flag('--scale-seconds') ?? (quick ? 60 : 540));
const durabilityFlag = flag('--durability') ?? 'normal';
if (durabilityFlag !== 'normal' && durabilityFlag !== 'full') {
  process.stderr.write(`--durability: expected normal or full, got ${durabilityFlag}\n`);
  process.exit(2);
}
const durability: 'normal' | 'full' = durabilityFlag;
const progress = (line: string): void =>
  void process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);

interface Row {
  goal: string;
  target: number;
  /** true when higher is better. */
  higher: boolean;
  unit: string;
  measured: number | null;
  note?: string;
}

async function phase(name: string, o: Partial<LoadOptions>): Promise<LoadReport | null> {
  process.stderr.write(`\n== ${name}\n`);
  try {
    return await runLoad({ spawn: true, progress, heartbeats: true, serverDurability: durability, ...o });
  } catch (e) {
    process.stderr.write(`\n${name} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return null;
  }
}

const t0 = performance.now();
const storm = await phase('storm: 10,000 users x 50 buddies, then fan-out probes', {
  scenario: 'storm',
  users: quick ? 2000 : 10_000,
  buddies: 50,
  // 100 logins in flight: the scenario of the XMPP anchors (make bench-xmpp, issue 15).
  concurrency: 100,
  spawnMs: 2,
  processes: 2,
  probes: 200,
  rate: 40,
  loginTimeoutMs: quick ? 60_000 : 240_000,
  // 2,000 other users log in and out first, as bench-xmpp does for every server (issue 15)
  warmup: 2000,
  // where the time of a login and its presence push goes (issue 15): printed below the table
  stageTrace: true,
});
const memory = await phase('memory: ~15,000 sessions per MS', {
  scenario: 'steady',
  users: quick ? 4000 : 30_000,
  buddies: 10,
  concurrency: 200,
  spawnMs: 2,
  processes: 2,
  sources: ['127.0.0.2', '127.0.0.3'],
  durationMs: 2000,
  probes: 0,
  loginTimeoutMs: quick ? 60_000 : 150_000,
});
const scale = await phase(`scale: up to ${scaleUsers} concurrent sessions`, {
  scenario: 'steady',
  users: scaleUsers,
  buddies: 10,
  concurrency: 300,
  spawnMs: Math.max(2, Math.ceil(scaleUsers / 17_000)),
  processes: Math.max(2, Math.ceil(scaleUsers / 17_000)),
  sources: ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'],
  durationMs: 1000,
  probes: 0,
  loginTimeoutMs: scaleSeconds * 1000,
});
const chat = await phase('chat: one P2P pair, pipelined MSGs', {
  scenario: 'chat',
  users: 4,
  buddies: 2,
  spawnMs: 1,
  processes: 2,
  durationMs: quick ? 3000 : 10_000,
  chatWindow: 256,
  chatSize: 100,
});

const msRss = (r: LoadReport | null): number | null => {
  const ms = r?.memory.filter((m) => m.name.startsWith('ms') && m.rssPerSession !== null) ?? [];
  if (ms.length === 0) return null;
  const sessions = ms.reduce((a, m) => a + m.sessions, 0);
  return sessions > 0 ? ms.reduce((a, m) => a + (m.rssPerSession ?? 0) * m.sessions, 0) / sessions / 1024 : null;
};
const msSessions = (r: LoadReport | null): string =>
  r
    ? r.memory
        .filter((m) => m.name.startsWith('ms'))
        .map((m) => m.sessions)
        .join('+')
    : '-';

const rows: Row[] = [
  {
    goal: 'storm logins/s (10k users, 50 buddies)',
    target: 5000,
    higher: true,
    unit: '/s',
    measured: storm?.logins.perSecond ?? null,
    note: storm ? `${storm.logins.ok}/${storm.logins.attempted} ok` : 'failed',
  },
  { goal: 'storm login p99', target: 100, higher: false, unit: 'ms', measured: storm?.logins.latency.p99 ?? null },
  {
    goal: 'fan-out p99 (10k online, 50 buddies), from the 200',
    target: 25,
    higher: false,
    unit: 'ms',
    measured: storm?.fanout.fromLogin.p99 ?? null,
    note: storm
      ? `p50 ${fmt(storm.fanout.fromLogin.p50, 2)} ms; ${storm.fanout.delivered}/${storm.fanout.expected} delivered`
      : '',
  },
  {
    goal: 'fan-out p99, from PROOF sent (conservative)',
    target: 25,
    higher: false,
    unit: 'ms',
    measured: storm?.fanout.fromProof.p99 ?? null,
    note: storm ? `p50 ${fmt(storm.fanout.fromProof.p50, 2)} ms` : '',
  },
  {
    goal: 'MS RSS per session (~15k per MS)',
    target: 16,
    higher: false,
    unit: 'kB',
    measured: msRss(memory),
    note: `sessions per MS ${msSessions(memory)}`,
  },
  {
    goal: 'concurrent sessions across MS processes',
    target: 100_000,
    higher: true,
    unit: '',
    measured: scale?.sessions.peak ?? null,
    note: scale
      ? `${scale.options.spawnMs} MSs (${msSessions(scale)}), ${fmt(scale.logins.perSecond, 0)} logins/s, RSS/session ${fmt(msRss(scale), 1)} kB`
      : 'failed',
  },
  {
    goal: 'MSG/s per P2P pair',
    target: 100_000,
    higher: true,
    unit: '/s',
    measured: chat?.chat?.msgsPerSecond ?? null,
    note: chat?.chat ? `${fmt(chat.chat.mbPerSecond, 2)} MB/s of 100-octet text` : 'failed',
  },
];

const ratio = (r: Row, other: number | undefined | null): string => {
  if (r.measured === null || other === undefined || other === null || !(r.measured > 0)) return '-';
  return `${(r.higher ? r.measured / other : other / r.measured).toFixed(2)}x`;
};
const head = ['goal', 'target', 'measured', 'vs goal', 'met', 'note'];
const body = rows.map((r) => [
  r.goal,
  `${r.higher ? '>=' : '<='} ${r.target.toLocaleString('en-US')} ${r.unit}`.trim(),
  r.measured === null ? '-' : `${fmt(r.measured, r.measured < 100 ? 2 : 0)} ${r.unit}`.trim(),
  ratio(r, r.target),
  r.measured === null ? 'no' : (r.higher ? r.measured >= r.target : r.measured <= r.target) ? 'yes' : 'no',
  r.note ?? '',
]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
const line = (cells: string[]): string =>
  cells
    .map((c, i) => c.padEnd(widths[i]!))
    .join('  ')
    .trimEnd();
process.stdout.write(
  `\n\nIMSP load benchmark (${quick ? 'quick' : 'standard'} set), ${new Date().toISOString()}, ${((performance.now() - t0) / 1000) | 0} s\n`,
);
process.stdout.write(
  `CRS on SQLite with --durability ${durability} (${durability === 'normal' ? 'WAL, synchronous=NORMAL: survives a CRS crash or restart, not an OS crash or power loss' : 'WAL, synchronous=FULL: survives an OS crash or power loss'}), 2 MSs unless noted\n`,
);
process.stdout.write(
  'ratios: >1 means better than the goal; for ratios to ejabberd and Prosody measured in the same run: make bench-xmpp\n\n',
);
process.stdout.write(`${line(head)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${body.map(line).join('\n')}\n`);
if (storm?.stages) process.stdout.write(`\n${renderReportStages(storm.stages)}`);
const errs = (r: LoadReport | null): string =>
  r
    ? Object.entries({ ...r.errors })
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    : '-';
process.stdout.write(
  `\nclient errors: storm ${errs(storm)}; memory ${errs(memory)}; scale ${errs(scale)}; chat ${errs(chat)}\n`,
);
try {
  writeFileSync(jsonPath, JSON.stringify({ durability, rows, storm, memory, scale, chat }, null, 2) + '\n');
  if (storm)
    writeFileSync(
      plotPath,
      renderSvg('IMSP storm: 10,000 users, 50 buddies', storm.series, [
        `logins/s ${fmt(storm.logins.perSecond, 0)}, p99 ${fmt(storm.logins.latency.p99)} ms`,
      ]),
    );
  process.stdout.write(`report: ${jsonPath}${storm ? `, plot: ${plotPath}` : ''}\n`);
} catch (e) {
  process.stderr.write(`could not write the report: ${e instanceof Error ? e.message : String(e)}\n`);
}
