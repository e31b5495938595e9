// Failed-login accounting at an MS [RATE-4] [RATE-5]: a sliding window of failure times per key
// (username, or client IP address). Bounded: each key keeps at most `max` times, and the table
// forgets keys whose window has passed (swept lazily, at most `maxKeys` keys).

export interface FailureWindowOptions {
  /** Failures allowed within the window before further attempts are refused. */
  max: number;
  /** Window length in ms. */
  windowMs: number;
  /** Most keys tracked; the oldest are dropped beyond it. */
  maxKeys?: number;
  now?: () => number;
}

export class FailureWindow {
  private readonly table = new Map<string, number[]>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: FailureWindowOptions) {
    this.max = opts.max;
    this.windowMs = opts.windowMs;
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  private live(key: string, now: number): number[] {
    const times = this.table.get(key);
    if (!times) return [];
    const cut = now - this.windowMs;
    while (times.length > 0 && times[0]! <= cut) times.shift();
    if (times.length === 0) this.table.delete(key);
    return times;
  }

  /** Records one failure for the key. */
  fail(key: string): void {
    const now = this.now();
    const times = this.live(key, now);
    if (times.length === 0) {
      if (this.table.size >= this.maxKeys) {
        const oldest = this.table.keys().next();
        if (!oldest.done) this.table.delete(oldest.value);
      }
      this.table.set(key, times);
    }
    times.push(now);
    if (times.length > this.max) times.shift();
  }

  /** Ms until the key may try again, or 0 when it may try now. */
  retryAfter(key: string): number {
    const now = this.now();
    const times = this.live(key, now);
    if (times.length < this.max) return 0;
    return Math.max(1, times[0]! + this.windowMs - now);
  }

  /** Forgets the key (after a successful login of that user). */
  clear(key: string): void {
    this.table.delete(key);
  }
}
