// CPU time of processes from /proc (issue 15): utime + stime of every thread of a process, read from
// /proc/<pid>/stat. Unlike throughput, CPU time per operation is robust to other work sharing the
// machine (up to cache and frequency effects), so the load reports give it per process and per login.
import { readFileSync, readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux on every common architecture). */
export const CLK_TCK = 100;

/** CPU seconds (user + system, all threads) a process has used so far, or null when it is gone. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: fields count from its last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** The load average of the last minute and the machine's busy share since boot, for the report. */
export function machineLoad(): { load1: number; cores: number } {
  try {
    const load1 = Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[0]);
    const cores = readFileSync('/proc/cpuinfo', 'latin1')
      .split('\n')
      .filter((l) => l.startsWith('processor')).length;
    return { load1, cores };
  } catch {
    return { load1: Number.NaN, cores: 0 };
  }
}

/** Machine-wide CPU ticks (busy, total) from /proc/stat: the share other processes took during a run. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n')[0]!;
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Pids whose command line contains every one of `needles` (e.g. an Erlang node name). */
export function findPids(...needles: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1');
      if (needles.every((n) => cmd.includes(n))) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A named process whose CPU a run accounts for. */
export interface Tracked {
  name: string;
  pid: number | undefined;
  /** 'server' processes count in the server CPU per login; 'generator' ones in the load generator's. */
  role: 'server' | 'generator';
}

/** CPU seconds each tracked process used over a window. */
export interface CpuUse {
  name: string;
  role: 'server' | 'generator';
  seconds: number;
}

/** What a CPU window measured: per process, and the whole machine for how quiet it was. */
export interface CpuReport {
  uses: CpuUse[];
  wallSeconds: number;
  /** CPU seconds the whole machine was busy (all processes, ours included) over the window. */
  machineBusySeconds: number;
  cores: number;
}

/** Others' share of the machine over a window: busy time not used by the tracked processes / capacity. */
export function othersShare(r: CpuReport): number {
  const ours = r.uses.reduce((a, u) => a + u.seconds, 0);
  return r.cores > 0 && r.wallSeconds > 0
    ? Math.max(0, r.machineBusySeconds - ours) / (r.wallSeconds * r.cores)
    : Number.NaN;
}

/** Starts a CPU window over `procs`; the returned function ends it. A process that died counts 0 after. */
export function cpuWindow(procs: Tracked[]): () => CpuReport {
  const start = procs.map((p) => cpuSeconds(p.pid) ?? 0);
  const m0 = machineTicks();
  const t0 = performance.now();
  return () => {
    const m1 = machineTicks();
    return {
      uses: procs.map((p, i) => ({
        name: p.name,
        role: p.role,
        seconds: Math.max(0, (cpuSeconds(p.pid) ?? start[i]!) - start[i]!),
      })),
      wallSeconds: (performance.now() - t0) / 1000,
      machineBusySeconds: (m1.busy - m0.busy) / CLK_TCK,
      cores: machineLoad().cores,
    };
  };
}

/**
 * Waits until the `pids` together use less than `share` of one core over `stepMs` (the server has
 * worked off the presence wave a storm leaves behind), at most `maxMs`. Returns the ms waited.
 */
export async function waitIdle(
  pids: Array<number | undefined>,
  opts: { share?: number; stepMs?: number; maxMs?: number } = {},
): Promise<number> {
  return (await waitIdleOrBound(pids, opts)).waitedMs;
}

/** As {@link waitIdle}, and whether the processes went idle (false: the bound ended the wait). */
export async function waitIdleOrBound(
  pids: Array<number | undefined>,
  opts: { share?: number; stepMs?: number; maxMs?: number } = {},
): Promise<{ waitedMs: number; idle: boolean; shares: number[] }> {
  return waitGroupsIdleOrBound([pids], opts);
}

/**
 * As {@link waitIdleOrBound} for several groups of processes at once: idle when, over the same step,
 * each group together used less than `share` of one core (issue 15); `shares` is each group's CPU over
 * the last step as a share of one core (at the bound: which group was still busy, and how busy). The benchmarks wait for the
 * servers as one group and for each load generator process as a group of its own: a generator's
 * steady heartbeats (an IMSP load worker with 5,000 sessions) must not be added to the servers'.
 */
export async function waitGroupsIdleOrBound(
  groups: Array<Array<number | undefined>>,
  opts: { share?: number; stepMs?: number; maxMs?: number } = {},
): Promise<{ waitedMs: number; idle: boolean; shares: number[] }> {
  const share = opts.share ?? 0.05;
  const step = opts.stepMs ?? 1000;
  const max = opts.maxMs ?? 60_000;
  const t0 = performance.now();
  const totals = (): number[] => groups.map((g) => g.reduce<number>((a, p) => a + (cpuSeconds(p) ?? 0), 0));
  let last = totals();
  let idle = false;
  // each group's CPU over the last step, as a share of one core: which one was still busy at the bound
  let shares = groups.map(() => 0);
  while (performance.now() - t0 < max) {
    await new Promise((r) => setTimeout(r, step));
    const now = totals();
    shares = now.map((v, i) => (v - last[i]!) / (step / 1000));
    if (now.every((v, i) => v - last[i]! < (share * step) / 1000)) {
      idle = true;
      break;
    }
    last = now;
  }
  return { waitedMs: performance.now() - t0, idle, shares };
}

let gcFn: (() => void) | null = null;

/**
 * A full garbage collection of this process, now (issue 15): a load generator runs it before the
 * fan-out probes, so that the garbage of simulating thousands of clients in one process (one heap
 * holds them all, where each real client has its own small one) is not collected inside the
 * measured window. It collects the generator only, never a server. Uses `globalThis.gc` when node
 * ran with --expose-gc, else exposes it through V8's flag (as `node --expose-gc` does).
 */
export function collectGarbage(): void {
  if (!gcFn) {
    const own = (globalThis as { gc?: () => void }).gc;
    if (own) gcFn = own;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}
