// The stage table of a load run (issue 15): where the time between a client's PROOF and its buddies'
// PRESENCE goes. The servers' stage times (reference/ops/stage-trace.ts, one JSON file per process) are
// joined with the clients' own (PROOF sent, 200 received, the last buddy's receipt), per login; every row
// gives p50/p99 of the step from the row above and of the time from PROOF. All clocks are the same
// machine's wall clock (performance.timeOrigin + now), so cross-process differences are meaningful.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:perf_hooks';
import type { ServerStage } from '../ops/stage-trace.js';
import type { LoopTrace } from '../ops/loop-trace.js';
import { percentile } from './stats.js';

/** What a client saw of one login: when it sent PROOF, got the 200, and (probes) when the last buddy heard. */
export interface ClientTimes {
  user: string;
  tStart: number;
  tProof: number;
  tDone: number;
  /** Probes: the last online buddy's PRESENCE receipt. */
  tLast?: number;
}

/** One process's trace: user -> stage -> time. */
export type StageTrace = Record<string, Partial<Record<ServerStage, number>>>;

/** One row of the table. */
export interface StageRow {
  stage: string;
  /** Logins that have this stage and the one before it. */
  n: number;
  stepP50: number;
  stepP99: number;
  fromProofP50: number;
  fromProofP99: number;
}

/** A path through the stages: a name and how to find its time for one login. */
type Point = [name: string, at: (c: ClientTimes, s: Merged) => number | undefined];

/** Per user, the stage times over all server processes: the latest of each (an MS of the buddies ran last). */
type Merged = Partial<Record<ServerStage, number>>;

/** Merges one process's stage times of a user into `m`: the latest of each stage. */
function mergeInto(m: Merged, stages: Partial<Record<ServerStage, number>> | undefined): Merged {
  for (const [k, v] of Object.entries(stages ?? {}) as Array<[ServerStage, number]>) m[k] = Math.max(m[k] ?? v, v);
  return m;
}

/** The server traces a run wrote into `dir` (files *.stages.json), merged per user. */
export function readStageTraces(dir: string): Map<string, Merged> {
  const out = new Map<string, Merged>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.stages.json'))) {
    const t = JSON.parse(readFileSync(join(dir, f), 'utf8')) as StageTrace;
    for (const [user, stages] of Object.entries(t)) out.set(user, mergeInto(out.get(user) ?? {}, stages));
  }
  return out;
}

const at =
  (k: ServerStage) =>
  (_c: ClientTimes, s: Merged): number | undefined =>
    s[k];

/** The path of the presence push, from PROOF to the last buddy. */
const PUSH_PATH: Point[] = [
  ['client sent PROOF', (c) => c.tProof],
  ['MS has PROOF', at('ms.proof')],
  ['MS sent ONLINE (proof verified)', at('ms.online')],
  ['CRS has ONLINE', at('crs.online')],
  ['CRS store transaction begins', at('crs.begin')],
  ['CRS store committed', at('crs.commit')],
  ['CRS sent PRESENCE to the MSs', at('crs.push')],
  ['MS has PRESENCE (later MS)', at('ms.pushIn')],
  ['MS sent it to the buddies (later MS)', at('ms.pushOut')],
  ['last buddy has PRESENCE', (c) => c.tLast],
];

/** The path of the login's answer, from the commit to the client's 200. */
const ANSWER_PATH: Point[] = [
  ['CRS store committed', at('crs.commit')],
  ['CRS built the 200 (bundle)', at('crs.answer')],
  ['MS has the 200', at('ms.online200')],
  ['MS built the client 200', at('ms.answer')],
  ['client has the 200', (c) => c.tDone],
];

function rows(path: Point[], logins: ClientTimes[], traces: Map<string, Merged>): StageRow[] {
  const out: StageRow[] = [];
  for (let i = 0; i < path.length; i++) {
    const steps: number[] = [];
    const from: number[] = [];
    for (const c of logins) {
      const s = traces.get(c.user) ?? {};
      const t = path[i]![1](c, s);
      if (t === undefined) continue;
      const prev = i === 0 ? t : path[i - 1]![1](c, s);
      if (prev === undefined) continue;
      steps.push(t - prev);
      from.push(t - c.tProof);
    }
    out.push({
      stage: path[i]![0],
      n: steps.length,
      stepP50: percentile(steps, 50),
      stepP99: percentile(steps, 99),
      fromProofP50: percentile(from, 50),
      fromProofP99: percentile(from, 99),
    });
  }
  return out;
}

/** The stage table: the push path then the answer path, for the given logins. */
export function stageTable(logins: ClientTimes[], traces: Map<string, Merged>): StageRow[] {
  return [...rows(PUSH_PATH, logins, traces), ...rows(ANSWER_PATH, logins, traces).slice(1)];
}

/** Two decimals, '-' for none. */
const f2 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(2));

/** Aligned lines of a table: the first column left-aligned, the others right-aligned. */
function aligned(head: string[], body: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return [line(head), ...body.map(line)];
}

/** The table as text, `title` above it. */
export function renderStages(title: string, table: StageRow[]): string {
  const f = f2;
  const head = ['stage', 'n', 'step p50', 'step p99', 'from PROOF p50', 'p99'];
  const body = table.map((r) => [
    r.stage,
    String(r.n),
    f(r.stepP50),
    f(r.stepP99),
    f(r.fromProofP50),
    f(r.fromProofP99),
  ]);
  return `${title} (ms)\n${aligned(head, body).join('\n')}\n`;
}

/** Both tables of a report: the probes' re-logins (and what held the servers then), then the logins of the run (probes excluded). */
export function renderReportStages(s: { probes: StageRow[]; logins: StageRow[]; loop?: LoopReport | null }): string {
  const out: string[] = [];
  if (s.probes.some((r) => r.n > 0))
    out.push(renderStages('Stages of the fan-out probes (re-login, push to every buddy)', s.probes));
  if (s.loop) out.push(renderLoopReport(s.loop));
  if (s.logins.some((r) => r.n > 0)) out.push(renderStages('Stages of the logins', s.logins));
  return out.join('\n');
}

// ------------------------------------------------------------------------------------------------
// What holds a process (issue 15): event-loop delay, GC pauses and the scheduler's run-queue wait over the
// probe window, and for the slowest probes, what the later MS did between the CRS's push and its read.

/** The loop traces a run wrote into `dir` (files NAME.loop.json), by process name. */
export function readLoopTraces(dir: string): Map<string, LoopTrace> {
  const out = new Map<string, LoopTrace>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.loop.json')))
    out.set(f.slice(0, -'.loop.json'.length), JSON.parse(readFileSync(join(dir, f), 'utf8')) as LoopTrace);
  return out;
}

/** The stage traces of `dir` by process name (not merged). */
export function readStageTracesByProcess(dir: string): Map<string, StageTrace> {
  const out = new Map<string, StageTrace>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.stages.json')))
    out.set(f.slice(0, -'.stages.json'.length), JSON.parse(readFileSync(join(dir, f), 'utf8')) as StageTrace);
  return out;
}

/** The main thread's scheduler figures of a process over a window (/proc/PID/schedstat), ms. */
export interface SchedUse {
  name: string;
  /** On a CPU. */
  cpuMs: number;
  /** Runnable but waiting for a CPU (the run queue). */
  waitMs: number;
}

/** [on-CPU ns, run-queue wait ns] of a process's main thread so far, or null (no /proc, or gone). */
export function schedstat(pid: number | undefined): [number, number] | null {
  if (pid === undefined) return null;
  try {
    const f = readFileSync(`/proc/${pid}/schedstat`, 'latin1').trim().split(' ').map(Number);
    return f.length >= 2 && Number.isFinite(f[0]) && Number.isFinite(f[1]) ? [f[0]!, f[1]!] : null;
  } catch {
    return null;
  }
}

/** Starts a scheduler window over named pids; the returned function ends it. */
export function schedWindow(procs: Array<{ name: string; pid: number | undefined }>): () => SchedUse[] {
  const start = procs.map((p) => schedstat(p.pid));
  return () =>
    procs.flatMap((p, i) => {
      const a = start[i];
      const b = schedstat(p.pid);
      return a && b ? [{ name: p.name, cpuMs: (b[0] - a[0]) / 1e6, waitMs: (b[1] - a[1]) / 1e6 }] : [];
    });
}

/** One process over the probe window. */
export interface LoopRow {
  process: string;
  gcCount: number;
  /** Of them, full mark-sweep-compact pauses (NODE_PERFORMANCE_GC_MAJOR), and their total (ms). */
  gcMajor: number;
  gcMajorMs: number;
  gcTotalMs: number;
  gcMaxMs: number;
  /** The worst one-second p99 of the event-loop delay, and the largest delay seen (ms). */
  delayP99: number;
  delayMax: number;
  /** Main thread on a CPU / waiting in the run queue over the window (ms), when known. */
  cpuMs?: number;
  waitMs?: number;
}

/** One of the slowest probes at the step "CRS sent PRESENCE -> MS has PRESENCE (later MS)". */
export interface SlowProbe {
  user: string;
  /** The later MS and the step's length there (ms). */
  ms: string;
  stepMs: number;
  /** GC pauses of that MS overlapping the step (ms), and the largest event-loop delay of its seconds. */
  gcMs: number;
  delayMax: number;
}

/** One of the slowest probes end to end: from PROOF sent to the last buddy's receipt (issue 15). */
export interface SlowFanout {
  user: string;
  ms: number;
  /** The GC pauses of each traced process (servers, load workers) overlapping the probe (ms); only those with some. */
  gc: Record<string, number>;
  /** The longest step of the push path (as in the stage table) and its length (ms), when traced. */
  longest?: { step: string; ms: number };
}

/**
 * The loop table of a window [t0, t1] (ms since the epoch), the slowest probes of the push step, and
 * the slowest probes end to end with the GC pauses inside them (what decides a fan-out p99).
 */
export interface LoopReport {
  windowMs: number;
  rows: LoopRow[];
  slowest: SlowProbe[];
  slowestFanout: SlowFanout[];
}

const overlap = (a0: number, a1: number, b0: number, b1: number): number =>
  Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

/** Builds the loop report of the probes from the traces of a run. */
export function loopReport(
  probes: ClientTimes[],
  loops: Map<string, LoopTrace>,
  stages: Map<string, StageTrace>,
  sched: SchedUse[] = [],
  slowest = 5,
): LoopReport | null {
  if (probes.length === 0 || loops.size === 0) return null;
  const t0 = Math.min(...probes.map((p) => p.tProof));
  const t1 = Math.max(...probes.map((p) => p.tLast ?? p.tDone));
  const rows: LoopRow[] = [...loops].map(([name, l]) => {
    const inWindow = l.gc.filter(([s, d]) => s + d >= t0 && s <= t1);
    const gc = inWindow.map(([, d]) => d);
    const major = inWindow.filter(([, , k]) => k === constants.NODE_PERFORMANCE_GC_MAJOR).map(([, d]) => d);
    const delay = l.delay.filter((d) => d.t + 1000 >= t0 && d.t <= t1);
    const sc = sched.find((s) => s.name === name);
    return {
      process: name,
      gcCount: gc.length,
      gcMajor: major.length,
      gcMajorMs: major.reduce((a, b) => a + b, 0),
      gcTotalMs: gc.reduce((a, b) => a + b, 0),
      gcMaxMs: Math.max(0, ...gc),
      delayP99: Math.max(0, ...delay.map((d) => d.p99)),
      delayMax: Math.max(0, ...delay.map((d) => d.max)),
      ...(sc ? { cpuMs: sc.cpuMs, waitMs: sc.waitMs } : {}),
    };
  });
  const crsPush = (u: string): number | undefined => {
    for (const t of stages.values()) if (t[u]?.['crs.push'] !== undefined) return t[u]!['crs.push'];
    return undefined;
  };
  const slow: SlowProbe[] = [];
  for (const p of probes) {
    const push = crsPush(p.user);
    if (push === undefined) continue;
    let later: [string, number] | null = null;
    for (const [name, t] of stages) {
      const tin = t[p.user]?.['ms.pushIn'];
      if (tin !== undefined && (later === null || tin > later[1])) later = [name, tin];
    }
    if (!later) continue;
    const [ms, tin] = later;
    const l = loops.get(ms);
    slow.push({
      user: p.user,
      ms,
      stepMs: tin - push,
      gcMs: (l?.gc ?? []).reduce((a, [s, d]) => a + overlap(push, tin, s, s + d), 0),
      delayMax: Math.max(0, ...(l?.delay ?? []).filter((d) => d.t + 1000 >= push && d.t <= tin).map((d) => d.max)),
    });
  }
  slow.sort((a, b) => b.stepMs - a.stepMs);
  const fan: SlowFanout[] = [];
  for (const p of probes) {
    if (p.tLast === undefined) continue;
    const gc: Record<string, number> = {};
    for (const [name, l] of loops) {
      const ms = l.gc.reduce((a, [s, d]) => a + overlap(p.tProof, p.tLast!, s, s + d), 0);
      if (ms > 0) gc[name] = ms;
    }
    const merged: Merged = {};
    for (const t of stages.values()) mergeInto(merged, t[p.user]);
    let longest: SlowFanout['longest'];
    let prev = p.tProof;
    for (const [step, time] of PUSH_PATH.slice(1)) {
      const t = time(p, merged);
      if (t === undefined) continue;
      if (!longest || t - prev > longest.ms) longest = { step, ms: t - prev };
      prev = t;
    }
    fan.push({ user: p.user, ms: p.tLast - p.tProof, gc, ...(longest ? { longest } : {}) });
  }
  fan.sort((a, b) => b.ms - a.ms);
  return { windowMs: t1 - t0, rows, slowest: slow.slice(0, slowest), slowestFanout: fan.slice(0, slowest) };
}

/** The loop report as text. */
export function renderLoopReport(r: LoopReport): string {
  const f = f2;
  const head = [
    'process',
    'GC n',
    'GC ms',
    'GC max',
    'major n',
    'major ms',
    'loop delay p99',
    'max',
    'on CPU ms',
    'run-queue wait ms',
  ];
  const body = r.rows.map((x) => [
    x.process,
    String(x.gcCount),
    f(x.gcTotalMs),
    f(x.gcMaxMs),
    String(x.gcMajor),
    f(x.gcMajorMs),
    f(x.delayP99),
    f(x.delayMax),
    f(x.cpuMs),
    f(x.waitMs),
  ]);
  const slow = r.slowest.map(
    (s) =>
      `  ${s.user} at ${s.ms}: ${f(s.stepMs)} ms; GC in it ${f(s.gcMs)} ms; that MS's largest loop delay then ${f(s.delayMax)} ms`,
  );
  return [
    `What held the servers and the load workers during the probes (${(r.windowMs / 1000).toFixed(1)} s; loop delay: worst one-second p99 and max, 10 ms resolution; main thread, /proc/PID/schedstat) (ms)`,
    ...aligned(head, body),
    'Slowest probes at "CRS sent PRESENCE -> MS has PRESENCE (later MS)":',
    ...slow,
    "Slowest probes from PROOF to the last buddy's receipt, and the GC pauses inside each:",
    ...r.slowestFanout.map((s) => {
      const gc = Object.entries(s.gc).map(([name, ms]) => `${name} ${f(ms)} ms`);
      const step = s.longest ? `; longest step "${s.longest.step}" ${f(s.longest.ms)} ms` : '';
      return `  ${s.user}: ${f(s.ms)} ms; GC in it: ${gc.length ? gc.join(', ') : 'none'}${step}`;
    }),
    '',
  ].join('\n');
}
