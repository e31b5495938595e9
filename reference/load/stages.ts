// The stage table of a load run (issue 15): where the time between a client's PROOF and its buddies'
// PRESENCE goes. The servers' stage times (reference/ops/stage-trace.ts, one JSON file per process) are
// joined with the clients' own (PROOF sent, 200 received, the last buddy's receipt), per login; every row
// gives p50/p99 of the step from the row above and of the time from PROOF. All clocks are the same
// machine's wall clock (performance.timeOrigin + now), so cross-process differences are meaningful.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerStage } from '../ops/stage-trace.js';
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

/** The server traces a run wrote into `dir` (files *.stages.json), merged per user. */
export function readStageTraces(dir: string): Map<string, Merged> {
  const out = new Map<string, Merged>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.stages.json'))) {
    const t = JSON.parse(readFileSync(join(dir, f), 'utf8')) as StageTrace;
    for (const [user, stages] of Object.entries(t)) {
      const m = out.get(user) ?? {};
      for (const [k, v] of Object.entries(stages) as Array<[ServerStage, number]>) m[k] = Math.max(m[k] ?? v, v);
      out.set(user, m);
    }
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

/** The table as text, `title` above it. */
export function renderStages(title: string, table: StageRow[]): string {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');
  const head = ['stage', 'n', 'step p50', 'step p99', 'from PROOF p50', 'p99'];
  const body = table.map((r) => [
    r.stage,
    String(r.n),
    f(r.stepP50),
    f(r.stepP99),
    f(r.fromProofP50),
    f(r.fromProofP99),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return `${title} (ms)\n${line(head)}\n${body.map(line).join('\n')}\n`;
}

/** Both tables of a report: the probes' re-logins, then the logins of the run (probes excluded). */
export function renderReportStages(s: { probes: StageRow[]; logins: StageRow[] }): string {
  const out: string[] = [];
  if (s.probes.some((r) => r.n > 0))
    out.push(renderStages('Stages of the fan-out probes (re-login, push to every buddy)', s.probes));
  if (s.logins.some((r) => r.n > 0)) out.push(renderStages('Stages of the logins', s.logins));
  return out.join('\n');
}
