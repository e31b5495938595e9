import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { anyHeader, request, response, type ImspError, type RequestMessage } from '../../codec/index.js';
import { Link, startHeartbeat, type HeartbeatTimers } from '../../reference/net/index.js';
import { duplexPair, RawPeer } from './helpers.js';

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);

/** Timers driven by hand: tick() runs the interval callback once. */
function manualTimers(): HeartbeatTimers & { tick: () => void; period: number; cleared: boolean } {
  let fn: (() => void) | undefined;
  const t = {
    period: 0,
    cleared: false,
    setInterval: (f: () => void, ms: number) => {
      fn = f;
      t.period = ms;
      return 1;
    },
    clearInterval: () => {
      t.cleared = true;
    },
    tick: () => fn?.(),
  };
  return t;
}

test('[HB-1] [HB-3] a PING goes out when nothing was sent for the interval; its answer counts as traffic', async (t) => {
  let now = 0;
  const clock = (): number => now;
  const [a, b] = duplexPair();
  const pings: RequestMessage[] = [];
  const ms = new Link(b, {
    local: 'ms',
    remote: 'client',
    clock,
    handler: (req) => {
      pings.push(req);
      return response(200);
    },
  });
  const client = new Link(a, { local: 'client', remote: 'ms', clock });
  t.after(() => {
    client.close();
    ms.close();
  });
  ms.enableSealing({ send: Buffer.from(K1), receive: Buffer.from(K2) });
  client.enableSealing({ send: Buffer.from(K2), receive: Buffer.from(K1) });
  const timers = manualTimers();
  const hb = startHeartbeat(client, { interval: 1000, timeout: 3000, clock, timers });
  assert.equal(timers.period, 250);
  now = 999;
  timers.tick();
  assert.equal(pings.length, 0);
  now = 1000;
  timers.tick();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(pings.length, 1);
  assert.equal(pings[0]!.method, 'PING');
  assert.equal(client.lastSent, 1000);
  assert.equal(client.lastReceived, 1000);
  // recent traffic from this side: no PING
  now = 1500;
  client.notify({ kind: 'request', method: 'PING', headers: [['Tag', 'manual']], body: Buffer.alloc(0) });
  now = 2400;
  timers.tick();
  await new Promise((r) => setImmediate(r));
  assert.equal(pings.length, 2);
  assert.equal(anyHeader(pings[1]!, 'Tag'), 'manual');
  hb.stop();
  assert.ok(timers.cleared);
});

test('[HB-2] [HB-4] silence from the peer for the timeout closes the link with ERR_TIMEOUT', async () => {
  let now = 0;
  const clock = (): number => now;
  const [a, b] = duplexPair();
  const peer = new RawPeer(b);
  const link = new Link(a, { local: 'crs', remote: 'ms', clock });
  const closed = once(link, 'close');
  const timers = manualTimers();
  let timedOut = false;
  startHeartbeat(link, {
    interval: 0,
    timeout: 3000,
    clock,
    timers,
    onTimeout: () => {
      timedOut = true;
    },
  });
  now = 2999;
  timers.tick();
  assert.equal(link.isClosed, false);
  now = 3000;
  timers.tick();
  const [reason] = (await closed) as [ImspError];
  assert.equal(reason.code, 'ERR_TIMEOUT');
  assert.ok(timedOut);
  assert.ok(timers.cleared);
  await peer.waitEnd();
});

test('a heartbeat with nothing to do starts no timer, and stops when the link closes', async () => {
  const [a, b] = duplexPair();
  new RawPeer(b);
  const link = new Link(a, { local: 'client', remote: 'ms' });
  const none = manualTimers();
  startHeartbeat(link, { interval: 0, timeout: 0, timers: none });
  assert.equal(none.period, 0);
  const timers = manualTimers();
  startHeartbeat(link, { interval: 100, timeout: 0, timers });
  assert.equal(timers.period, 25);
  const closed = once(link, 'close');
  link.close();
  await closed;
  assert.ok(timers.cleared);
});

test('[HB-1] heartbeats of one period share one interval timer, which goes when the last of them stops', async () => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const pairs = [0, 1, 2].map(() => {
    const [a, b] = duplexPair();
    let pinged: () => void = () => undefined;
    const ping = new Promise<RequestMessage>((resolve) => {
      pinged = () => resolve(request('PING'));
    });
    const peer = new Link(b, {
      local: 'ms',
      remote: 'client',
      handler: () => {
        pinged();
        return response(200);
      },
    });
    const link = new Link(a, { local: 'client', remote: 'ms' });
    peer.enableSealing({ send: Buffer.from(K1), receive: Buffer.from(K2) });
    link.enableSealing({ send: Buffer.from(K2), receive: Buffer.from(K1) });
    return { link, peer, ping };
  });
  const before = timers();
  const beats = pairs.map((p) => startHeartbeat(p.link, { interval: 40, timeout: 0 }));
  try {
    assert.equal(timers(), before + 1);
    // each link sends its own PING through the shared timer
    await Promise.all(pairs.map((p) => p.ping));
    beats[0]!.stop();
    const closed = once(pairs[1]!.link, 'close');
    pairs[1]!.link.close(); // a closed link leaves its group too
    await closed;
    assert.equal(timers(), before + 1);
    beats[2]!.stop();
    assert.equal(timers(), before);
  } finally {
    for (const b of beats) b.stop();
    for (const p of pairs) {
      p.link.close();
      p.peer.close();
    }
  }
});
