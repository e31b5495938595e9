import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RateLimiter, TokenBucket, WindowLimiter } from '../../reference/net/rate-limit.js';
import { serverLinkOptions } from '../../reference/net/server-link.js';
import { resolveLimits } from '../../reference/proto/limits.js';

test('[RATE-1] token bucket: burst at once, then the sustained rate', () => {
  const b = new TokenBucket(10, 5, 0);
  for (let i = 0; i < 5; i++) assert.ok(b.take(0));
  assert.equal(b.take(0), false);
  assert.equal(b.retryAfter(0), 100);
  assert.equal(b.take(99), false);
  assert.ok(b.take(100));
  assert.equal(b.available(10_000), 5); // never above the burst
  assert.throws(() => new TokenBucket(0, 1, 0), RangeError);
});

test('[RATE-1] token bucket never allows more than burst + rate * elapsed', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 300 }),
      (rate, burst, gaps) => {
        const b = new TokenBucket(rate, burst, 0);
        let now = 0;
        let allowed = 0;
        for (const g of gaps) {
          now += g;
          if (b.take(now)) allowed++;
        }
        assert.ok(allowed <= burst + (rate * now) / 1000 + 1e-6);
      },
    ),
    { numRuns: 200 },
  );
});

test('[RATE-3] limiter: warnings then disconnect', () => {
  const r = new RateLimiter({ perSecond: 1, burst: 2, warnings: 3 }, 0);
  assert.deepEqual(r.check(0), { action: 'allow' });
  assert.deepEqual(r.check(0), { action: 'allow' });
  assert.deepEqual(r.check(0), { action: 'warn', retryAfter: 1000, warning: 1 });
  assert.deepEqual(r.check(500), { action: 'warn', retryAfter: 500, warning: 2 });
  assert.deepEqual(r.check(1000), { action: 'allow' }); // refilled: allowed again, warnings kept
  assert.equal(r.check(1000).action, 'warn');
  assert.equal(r.warnings, 3);
  assert.equal(r.check(1000).action, 'disconnect');
  const none = new RateLimiter({ perSecond: 1, burst: 1, warnings: 0 }, 0);
  assert.equal(none.check(0).action, 'allow');
  assert.equal(none.check(0).action, 'disconnect');
});

test('[RATE-1] a PING at the heartbeat pace is not counted; a PING flood is', () => {
  const r = new RateLimiter({ perSecond: 1, burst: 1, warnings: 0, heartbeatInterval: 1000 }, 0);
  assert.equal(r.check(0, true).action, 'allow'); // free
  assert.equal(r.check(0).action, 'allow'); // the one token
  assert.equal(r.check(1000, true).action, 'allow'); // free again: a heartbeat later
  assert.equal(r.check(1001, true).action, 'allow'); // counted: takes the token refilled since 0
  assert.equal(r.check(1002, true).action, 'disconnect');
});

test("[RATE-8] a server's rate limiter frees a PING at the link's heartbeat interval (clientHeartbeatInterval on a client link), not a fixed 30 s", () => {
  const limits = resolveLimits({ clientHeartbeatInterval: 500, rateLimitPerSecond: 1, rateLimitBurst: 1 });
  const r = serverLinkOptions(limits, 'ms', 'client', undefined, { rateLimit: true }).rateLimiter;
  assert.ok(r, 'the MS rate-limits client links');
  const t0 = Date.now();
  assert.equal(r.check(t0, true).action, 'allow'); // the first PING is free
  assert.equal(r.check(t0).action, 'allow'); // the one token
  assert.equal(r.check(t0 + 1).action, 'warn'); // the bucket is empty
  // 500 ms later only half a token is back: the PING passes only because it is free.
  assert.equal(r.check(t0 + 501, true).action, 'allow');
  assert.equal(r.check(t0 + 502, true).action, 'warn'); // the next one, sooner, counts
});

test('[ADD-LIMIT-3] the window limiter lets at most `limit` events of a key through in any window, and says when a slot frees', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2500 }), fc.constantFrom('a', 'b')), { maxLength: 60 }),
      (limit, steps) => {
        const w = new WindowLimiter(limit, 1000, 0);
        const passed = new Map<string, number[]>();
        let now = 0;
        for (const [dt, key] of steps) {
          now += dt;
          const wait = w.take(key, now);
          const ts = passed.get(key) ?? [];
          const inWindow = ts.filter((t) => t > now - 1000);
          if (wait === 0) {
            assert.ok(inWindow.length < limit, `${limit + 1} events of ${key} within one window`);
            passed.set(key, [...ts, now]);
          } else {
            assert.equal(inWindow.length, limit, 'refused while the window had room');
            assert.equal(wait, inWindow[0]! + 1000 - now, 'Retry-after is when the oldest leaves the window');
          }
        }
        assert.ok(w.size <= 2);
      },
    ),
  );
  const w = new WindowLimiter(1, 1000, 0);
  assert.equal(w.take('idle', 0), 0);
  assert.equal(w.take('other', 2500), 0); // the sweep drops the key idle for a whole window
  assert.equal(w.size, 1);
});
