// Event-loop delay and GC pauses of a server, for load runs only (issue 15): what holds a process between
// a peer's write and its read (a long turn, a GC pause), beside the stage trace. Off unless a load run's
// server entry turns it on (reference/load/server-entry.ts, with IMSP_STAGE_TRACE); off, it costs nothing.
// On, it keeps:
// - every GC pause V8 reports (PerformanceObserver 'gc'): its start (ms since the epoch), duration and
//   kind (perf_hooks.constants.NODE_PERFORMANCE_GC_*: 1 scavenge, 4 mark-sweep-compact, 8 incremental
//   marking step, 16 weak callbacks);
// - the event-loop delay (perf_hooks.monitorEventLoopDelay at its default 10 ms resolution: 100 timer
//   wakes a second, so the trace costs the measured run next to nothing; a turn longer than 10 ms shows
//   in full) as one summary per second: the second's start, samples, mean, p99 and max.
// Both are bounded (LOOP_TRACE_MAX entries each); the load coordinator picks the entries in a window.
import { PerformanceObserver, monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** At most this many GC pauses and this many one-second delay summaries are kept per process. */
export const LOOP_TRACE_MAX = 100_000;

/** One second of event-loop delay (ms). */
export interface DelaySecond {
  /** Start of the second, ms since the epoch. */
  t: number;
  count: number;
  mean: number;
  p99: number;
  max: number;
}

/** What a process recorded: GC pauses as [start, duration, kind] (ms since the epoch, ms), and delay per second. */
export interface LoopTrace {
  gc: Array<[start: number, duration: number, kind?: number]>;
  delay: DelaySecond[];
}

let state: {
  trace: LoopTrace;
  observer: PerformanceObserver;
  histogram: IntervalHistogram;
  timer: NodeJS.Timeout;
} | null = null;

const epochMs = (): number => performance.timeOrigin + performance.now();

/** Starts recording in this process (idempotent). */
export function enableLoopTrace(): void {
  if (state) return;
  const trace: LoopTrace = { gc: [], delay: [] };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if (trace.gc.length < LOOP_TRACE_MAX)
        trace.gc.push([
          performance.timeOrigin + e.startTime,
          e.duration,
          (e as { detail?: { kind?: number } }).detail?.kind ?? 0,
        ]);
  });
  observer.observe({ entryTypes: ['gc'] });
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let since = epochMs();
  const ns = 1e-6;
  const timer = setInterval(() => {
    if (histogram.count > 0 && trace.delay.length < LOOP_TRACE_MAX)
      trace.delay.push({
        t: since,
        count: histogram.count,
        mean: histogram.mean * ns,
        p99: histogram.percentile(99) * ns,
        max: histogram.max * ns,
      });
    histogram.reset();
    since = epochMs();
  }, 1000);
  timer.unref();
  state = { trace, observer, histogram, timer };
}

/** What has been recorded so far, recording on (null when off). */
export function loopTracePeek(): Readonly<LoopTrace> | null {
  return state?.trace ?? null;
}

/** Stops recording and returns what was recorded (empty when it never ran). */
export function loopTraceSnapshot(): LoopTrace {
  if (!state) return { gc: [], delay: [] };
  const { trace, observer, histogram, timer } = state;
  clearInterval(timer);
  observer.disconnect();
  histogram.disable();
  state = null;
  return trace;
}
