/**
 * Per-connection rate limiting: a token bucket (rateLimitPerSecond refill, rateLimitBurst size) and a
 * warnings-then-disconnect policy (rateLimitWarnings) [RATE-1] [RATE-3]. Pure: time is passed in, so
 * tests need no timers.
 * @module
 */

/** A token bucket. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param ratePerSecond sustained rate (refill per second)
   * @param burst bucket size
   * @param now the clock reading at creation, ms
   */
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    now: number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError('rate and burst must be positive');
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
      this.last = now;
    }
  }

  /** Takes `cost` tokens if there are enough; false (nothing taken) otherwise. */
  take(now: number, cost = 1): boolean {
    this.refill(now);
    if (this.tokens + 1e-9 < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds until `cost` tokens are available (0 when they are now). */
  retryAfter(now: number, cost = 1): number {
    this.refill(now);
    return this.tokens + 1e-9 >= cost ? 0 : Math.ceil(((cost - this.tokens) * 1000) / this.ratePerSecond);
  }

  /** Tokens available now (fractional). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }
}

/** The verdict on one incoming request. */
export type RateVerdict =
  /** Within the limit: serve it; `free` when it is a PING at the heartbeat pace, counted nowhere [RATE-8]. */
  | { action: 'allow'; free?: true }
  /** Over the limit: refuse it with 429 ERR_RATE_LIMITED and warn (NOTICE); `warning` counts from 1. */
  | { action: 'warn'; retryAfter: number; warning: number }
  /** Over the limit after rateLimitWarnings warnings: refuse it and disconnect. */
  | { action: 'disconnect'; retryAfter: number };

/** Settings of a RateLimiter; defaults are limits.json's. */
export interface RateLimitOptions {
  /** limits.json rateLimitPerSecond (50). */
  perSecond?: number;
  /** limits.json rateLimitBurst (100). */
  burst?: number;
  /** limits.json rateLimitWarnings (3). */
  warnings?: number;
  /**
   * The heartbeat interval the peer keeps (clientHeartbeatInterval, 30000): a PING that comes no more
   * often than this is not counted against the limit.
   */
  heartbeatInterval?: number;
}

/**
 * One connection's limiter: requests within the bucket are allowed; each request over it is refused and
 * warned, and the one after `warnings` warnings disconnects [RATE-1] [RATE-3].
 */
export class RateLimiter {
  private readonly bucket: TokenBucket;
  private readonly maxWarnings: number;
  private readonly heartbeatInterval: number;
  private lastFreePing = Number.NEGATIVE_INFINITY;
  private warned = 0;

  constructor(opts: RateLimitOptions = {}, now = Date.now()) {
    this.bucket = new TokenBucket(opts.perSecond ?? 50, opts.burst ?? 100, now);
    this.maxWarnings = opts.warnings ?? 3;
    this.heartbeatInterval = opts.heartbeatInterval ?? 30_000;
  }

  /**
   * Judges one incoming request at time `now`.
   * @param ping the request is a PING: not counted when it comes no more often than the heartbeat interval
   */
  check(now: number, ping = false): RateVerdict {
    if (ping && now - this.lastFreePing >= this.heartbeatInterval) {
      this.lastFreePing = now; // [RATE-1] heartbeats at the agreed pace are free
      return { action: 'allow', free: true };
    }
    if (this.bucket.take(now)) return { action: 'allow' };
    const retryAfter = Math.max(1, this.bucket.retryAfter(now));
    if (this.warned >= this.maxWarnings) return { action: 'disconnect', retryAfter }; // [RATE-3]
    this.warned += 1;
    return { action: 'warn', retryAfter, warning: this.warned };
  }

  /** Warnings given so far. */
  get warnings(): number {
    return this.warned;
  }
}

/**
 * At most `limit` events per key within any `windowMs` (a sliding-window log): exact where a token
 * bucket of the same size would let nearly twice as many through in the first window. The CRS counts
 * ADDs per user with it [ADD-LIMIT-3]. Memory: at most `limit` times per key that had an event in the
 * last window; keys idle for a whole window are dropped by a sweep at most once per window.
 */
export class WindowLimiter {
  private readonly times = new Map<string, number[]>();
  private nextSweep: number;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    now = Date.now(),
  ) {
    if (!(limit >= 1) || !(windowMs > 0)) throw new RangeError('limit and window must be positive');
    this.nextSweep = now + windowMs;
  }

  /** Counts an event of `key` at `now` and returns 0, or, when the window is full, counts nothing and returns the ms until a slot frees. */
  take(key: string, now: number): number {
    if (now >= this.nextSweep) {
      for (const [k, ts] of this.times)
        if (ts.length === 0 || ts[ts.length - 1]! <= now - this.windowMs) this.times.delete(k);
      this.nextSweep = now + this.windowMs;
    }
    let ts = this.times.get(key);
    if (!ts) this.times.set(key, (ts = []));
    while (ts.length > 0 && ts[0]! <= now - this.windowMs) ts.shift();
    if (ts.length >= this.limit) return Math.max(1, ts[0]! + this.windowMs - now);
    ts.push(now);
    return 0;
  }

  /** Keys held (for tests of the sweep). */
  get size(): number {
    return this.times.size;
  }
}
