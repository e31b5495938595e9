// Stage timestamps of the login -> presence path, for load runs only (issue 15): where the time between a
// client's PROOF and its buddies' PRESENCE goes. Off unless a load run's server entry turns it on
// (reference/load/server-entry.ts, IMSP_STAGE_TRACE=FILE); off, stage() is one test of a module variable.
// Each process keeps the last time of each stage per user (a re-login overwrites the storm's) and writes
// them as JSON when it exits; the load coordinator joins the files with the clients' own times.

/** The stages a server marks, in path order. */
export const SERVER_STAGES = [
  'ms.proof', // the MS has PROOF (decoded, dispatched)
  'ms.online', // the MS handed ONLINE to its CRS link (after verifying the proof)
  'crs.online', // the CRS has ONLINE
  'crs.begin', // the CRS's store began the transaction that holds it (group commit)
  'crs.commit', // that transaction committed
  'crs.push', // the CRS handed the PRESENCE push to every MS link
  'crs.answer', // the CRS built ONLINE's 200 (with the login bundle)
  'ms.pushIn', // an MS has the PRESENCE push
  'ms.pushOut', // that MS handed it to every local buddy's link (sealed)
  'ms.online200', // the MS has ONLINE's 200
  'ms.answer', // the MS built the client's 200
] as const;
export type ServerStage = (typeof SERVER_STAGES)[number];

/** At most this many users are traced per process (a bound on the trace's memory). */
export const STAGE_TRACE_MAX_USERS = 200_000;

let table: Map<string, Float64Array> | null = null;

/** Turns tracing on in this process. */
export function enableStageTrace(): void {
  table ??= new Map();
}

/** Whether tracing is on (callers skip work that only feeds stage()). */
export function stageTraceOn(): boolean {
  return table !== null;
}

const index = new Map<ServerStage, number>(SERVER_STAGES.map((s, i) => [s, i]));

/** Marks `stage` of `user`'s latest login at `t` (now by default). A no-op when tracing is off. */
export function stage(user: string, name: ServerStage, t?: number): void {
  if (table === null) return;
  let row = table.get(user);
  if (!row) {
    if (table.size >= STAGE_TRACE_MAX_USERS) return;
    row = new Float64Array(SERVER_STAGES.length).fill(Number.NaN);
    table.set(user, row);
  }
  row[index.get(name)!] = t ?? performance.timeOrigin + performance.now();
}

/** The traced stages: user -> stage -> time (ms since the epoch, sub-millisecond). */
export function stageTraceSnapshot(): Record<string, Partial<Record<ServerStage, number>>> {
  const out: Record<string, Partial<Record<ServerStage, number>>> = {};
  for (const [user, row] of table ?? []) {
    const r: Partial<Record<ServerStage, number>> = {};
    SERVER_STAGES.forEach((s, i) => {
      if (!Number.isNaN(row[i]!)) r[s] = row[i]!;
    });
    out[user] = r;
  }
  return out;
}
