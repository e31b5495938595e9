// `make bench-scale` (issue 15, memory at scale): N concurrent client sessions on this machine,
// spread over enough MS processes to hold about --per-ms each, and what they cost in memory.
// Compiled by tsc first (never benchmark through tsx).
//
//   node dist/bench/scale.js [--sessions 100000] [--per-ms 15000] [--concurrency 100]
//                            [--max-seconds 1800] [--hold 10] [--heartbeat 120000] [--json FILE]
//
// - Users are written straight into a fresh CRS store (reference/load/population.ts); every login
//   is the real one (LOGIN, PROOF, the CRS's LOCK and ONLINE, the login bundle), `--concurrency`
//   in flight at most (CPU stays bounded: this measures memory, not throughput).
// - Client connections come from several loopback source addresses (127.0.0.2, ...), so that no
//   address runs out of ephemeral ports, and from enough load workers that none needs more file
//   descriptors than `ulimit -n` gives (`make bench-scale` raises it first and says when it cannot).
// - Heartbeats run at --heartbeat ms (default 120 s, within [HB-1]'s configurable range; the
//   session timeout is three of them, as the spec's default is): at 100,000 sessions the default
//   30 s would cost ~4,000 PING exchanges per second on a 2-core machine, and memory per session
//   does not depend on it.
// - The report: RSS of every server process before and after, per session; the load workers' RSS;
//   logins/s; and how many users the CRS itself holds online (read from its store). The run fails
//   (exit 1) unless every session logged in and the CRS counts every one online.
// - Bounded: the login phase by --max-seconds, then --hold seconds; every process it started is
//   stopped at the end, also on failure.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { runLoad, type LoadReport } from '../reference/load/run.js';
import { fmt } from '../reference/load/stats.js';

export interface ScaleArgs {
  sessions: number;
  perMs: number;
  concurrency: number;
  maxSeconds: number;
  holdSeconds: number;
  heartbeatMs: number;
  json: string;
}

export const DEFAULT_SCALE: ScaleArgs = {
  sessions: 100_000,
  perMs: 15_000,
  concurrency: 100,
  maxSeconds: 1800,
  holdSeconds: 10,
  heartbeatMs: 120_000,
  json: 'dist/bench-scale.json',
};

/** How a run is laid out on this machine, or why it cannot run. */
export interface ScalePlan {
  ms: number;
  /** Load worker processes. */
  workers: number;
  /** Loopback source addresses of the clients' connections. */
  sources: string[];
  /** File descriptors the busiest process needs (its sockets plus a margin). */
  fdsNeeded: number;
  /** Reasons the run cannot go ahead (empty: it can). */
  problems: string[];
}

/** Descriptors a process keeps besides its sessions' sockets (stdio, IPC, metrics, the store). */
const FD_MARGIN = 512;
/** Sessions per load worker at most (their heartbeat sweep and heap stay modest). */
const MAX_PER_WORKER = 25_000;

/**
 * The layout of a run: MSs of about `perMs` sessions each; load workers so that none needs more than
 * `fdLimit` descriptors; source addresses so that each uses at most three quarters of the
 * `ephemeralPorts` (a connection from a bound source address takes a port of its own there).
 */
export function planScale(
  a: Pick<ScaleArgs, 'sessions' | 'perMs'>,
  fdLimit: number,
  ephemeralPorts: number,
): ScalePlan {
  const problems: string[] = [];
  if (!Number.isInteger(a.sessions) || a.sessions < 1) problems.push('--sessions must be a positive integer');
  if (!Number.isInteger(a.perMs) || a.perMs < 1) problems.push('--per-ms must be a positive integer');
  const sessions = Math.max(1, a.sessions | 0);
  const ms = Math.ceil(sessions / Math.max(1, a.perMs | 0));
  const perMs = Math.ceil(sessions / ms);
  const budget = fdLimit - FD_MARGIN;
  const workers = Math.max(2, Math.ceil(sessions / MAX_PER_WORKER), budget > 0 ? Math.ceil(sessions / budget) : 0);
  const perWorker = Math.ceil(sessions / workers);
  const fdsNeeded = Math.max(perMs, perWorker) + FD_MARGIN;
  if (perMs + FD_MARGIN > fdLimit)
    problems.push(
      `an MS would hold ${perMs} sessions but ulimit -n is ${fdLimit}: raise it to at least ${perMs + FD_MARGIN} (ulimit -n), or lower --per-ms`,
    );
  const perSource = Math.floor((ephemeralPorts * 3) / 4);
  if (perSource < 1) problems.push('no ephemeral ports (net.ipv4.ip_local_port_range)');
  const nSources = Math.max(2, Math.ceil(sessions / Math.max(1, perSource)));
  if (nSources > 250) problems.push(`${nSources} loopback source addresses would be needed`);
  const sources = Array.from({ length: Math.min(nSources, 250) }, (_, i) => `127.0.0.${i + 2}`);
  return { ms, workers, sources, fdsNeeded, problems };
}

/** The soft limit of open files of this process (children inherit it), from /proc. */
export function openFileLimit(limitsText: string): number {
  const m = /^Max open files\s+(\S+)/m.exec(limitsText);
  if (!m) return 1024;
  return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

/** Ports in net.ipv4.ip_local_port_range ("lo hi"). */
export function ephemeralPortCount(rangeText: string): number {
  const [lo, hi] = rangeText.trim().split(/\s+/).map(Number);
  return lo !== undefined && hi !== undefined && hi >= lo ? hi - lo + 1 : 0;
}

export function parseScaleArgs(argv: readonly string[]): ScaleArgs {
  const a: ScaleArgs = { ...DEFAULT_SCALE };
  const num = (i: number, name: string): number => {
    const v = Number(argv[i]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}: expected a positive number, got ${argv[i]}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === '--sessions') a.sessions = num(++i, f);
    else if (f === '--per-ms') a.perMs = num(++i, f);
    else if (f === '--concurrency') a.concurrency = num(++i, f);
    else if (f === '--max-seconds') a.maxSeconds = num(++i, f);
    else if (f === '--hold') a.holdSeconds = num(++i, f);
    else if (f === '--heartbeat') a.heartbeatMs = num(++i, f);
    else if (f === '--json') a.json = argv[++i] ?? a.json;
    else throw new Error(`unknown argument ${f}`);
  }
  return a;
}

/** One line per process and the totals. */
export function scaleTable(r: LoadReport, a: ScaleArgs, plan: ScalePlan): string {
  const kb = (x: number | null): string => (x === null ? '-' : fmt(x / 1024, 1));
  const mb = (x: number | null): string => (x === null ? '-' : fmt(x / 1048576, 1));
  const rows = [['process', 'sessions', 'RSS before MB', 'RSS after MB', 'RSS/session kB']];
  for (const m of r.memory)
    rows.push([m.name, String(m.sessions), mb(m.rssBefore), mb(m.rssAfter), kb(m.rssPerSession)]);
  const ms = r.memory.filter((m) => m.name.startsWith('ms') && m.rssPerSession !== null);
  const msSessions = ms.reduce((s, m) => s + m.sessions, 0);
  const msGrowth = ms.reduce((s, m) => s + ((m.rssAfter ?? 0) - (m.rssBefore ?? 0)), 0);
  const msTotal = ms.reduce((s, m) => s + (m.rssAfter ?? 0), 0);
  rows.push(['all MSs', String(msSessions), '', mb(msTotal), msSessions > 0 ? kb(msGrowth / msSessions) : '-']);
  rows.push([`load workers (${plan.workers})`, String(r.sessions.held), '', mb(r.generator.rss), '']);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string =>
    row
      .map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [
    `sessions asked ${a.sessions}; users logged in ${r.logins.ok} (${r.logins.attempted} attempts, ${r.logins.failed} failed and retried) in ${fmt(r.logins.seconds, 1)} s (${fmt(r.logins.perSecond, 0)} logins/s, p99 ${fmt(r.logins.latency.p99, 0)} ms, ${a.concurrency} in flight)`,
    `held at the end: ${r.sessions.held} (load workers), ${msSessions} (MS gauges), ${r.crsOnline ?? '-'} online at the CRS (its store)`,
    `${plan.ms} MSs, ${plan.workers} load workers, sources ${plan.sources[0]}..${plan.sources.at(-1)}, heartbeat ${a.heartbeatMs} ms`,
    '',
    line(rows[0]!),
    line(w.map((n) => '-'.repeat(n))),
    ...rows.slice(1).map(line),
  ].join('\n');
}

/** True when every session logged in and the CRS holds every user online. */
export function scaleComplete(r: LoadReport, sessions: number): boolean {
  return r.logins.ok === sessions && r.crsOnline === sessions && r.sessions.held === sessions;
}

export async function main(argv: readonly string[]): Promise<number> {
  let a: ScaleArgs;
  try {
    a = parseScaleArgs(argv);
  } catch (e) {
    process.stderr.write(`bench-scale: ${(e as Error).message}\n`);
    return 2;
  }
  const fdLimit = openFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  const ports = ephemeralPortCount(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'));
  const plan = planScale(a, fdLimit, ports);
  process.stderr.write(
    `bench-scale: ${a.sessions} sessions, ${plan.ms} MSs, ${plan.workers} workers, ulimit -n ${fdLimit} (the busiest process needs ~${plan.fdsNeeded}), ${ports} ephemeral ports, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
  if (plan.problems.length > 0) {
    for (const p of plan.problems) process.stderr.write(`bench-scale: cannot run: ${p}\n`);
    return 2;
  }
  const progress = (line: string): void =>
    void process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
  const hb = Math.round(a.heartbeatMs);
  const loadBefore = loadavg();
  const report = await runLoad({
    scenario: 'steady',
    users: a.sessions,
    buddies: 10,
    concurrency: a.concurrency,
    spawn: true,
    spawnMs: plan.ms,
    processes: plan.workers,
    sources: plan.sources,
    durationMs: a.holdSeconds * 1000,
    probes: 0,
    loginTimeoutMs: a.maxSeconds * 1000,
    serverDurability: 'normal',
    // A login that times out on a loaded machine (the MS's handshakeTimeout) is tried again, as a
    // client reconnects; every attempt is counted.
    loginRetries: 3,
    serverLimits: [`clientHeartbeatInterval=${hb}`, `sessionTimeout=${3 * hb}`],
    progress,
  });
  const loadAfter = loadavg();
  const ok = scaleComplete(report, a.sessions);
  const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' ');
  process.stdout.write(
    `\n\nIMSP scale benchmark, ${new Date().toISOString()}, ${fmt(report.elapsedSeconds, 0)} s, load average ${load(loadBefore)} at the start, ${load(loadAfter)} at the end\n`,
  );
  process.stdout.write(`${scaleTable(report, a, plan)}\n`);
  const errs = Object.entries(report.errors)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  process.stdout.write(
    `client errors: ${errs || 'none'}\n${ok ? 'every session logged in' : 'NOT every session logged in'}\n`,
  );
  try {
    writeFileSync(a.json, `${JSON.stringify({ args: a, plan, loadBefore, loadAfter, report }, null, 2)}\n`);
    process.stdout.write(`report: ${a.json}\n`);
  } catch (e) {
    process.stderr.write(`could not write the report: ${(e as Error).message}\n`);
  }
  return ok ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/')))
  process.exitCode = await main(process.argv.slice(2));
