// Link keys in shared slabs (issue 15, memory per MS session): a key is stored, viewed, zeroed and
// its slot reused; every way a Link ends gives both its slots back with the key zeroed [SEAL-2].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fc from 'fast-check';
import { request } from '../../codec/index.js';
import { keySlotsInUse, keyView, releaseKey, storeKey } from '../../reference/net/key-slots.js';
import { Link } from '../../reference/net/index.js';
import { duplexPair, RawPeer } from './helpers.js';

test('[SEAL-2] a stored key reads back, is zeroed when released, and its slot is reused (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 40 }), (keys) => {
      const base = keySlotsInUse();
      const slots = keys.map((k) => storeKey(k));
      assert.equal(new Set(slots).size, keys.length);
      assert.equal(keySlotsInUse(), base + keys.length);
      keys.forEach((k, i) => assert.deepEqual(new Uint8Array(keyView(slots[i]!)), k));
      const views = slots.map((s) => keyView(s));
      for (const s of slots) assert.equal(releaseKey(s), -1);
      for (const v of views)
        assert.ok(
          v.every((b) => b === 0),
          'a released key is zeroed',
        );
      assert.equal(keySlotsInUse(), base);
      // freed slots are taken again before new ones
      const again = storeKey(keys[0]!);
      assert.ok(slots.includes(again));
      releaseKey(again);
    }),
    { numRuns: 50 },
  );
  assert.throws(() => storeKey(new Uint8Array(31)), RangeError);
  assert.ok(keyView(-1).every((b) => b === 0));
});

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);

for (const how of ['close()', 'the peer ends', 'the socket is destroyed'] as const) {
  test(`[SEAL-2] a sealed Link gives both key slots back when ${how}`, async () => {
    const base = keySlotsInUse();
    const [a, b] = duplexPair();
    const link = new Link(a, { local: 'client', remote: 'client' });
    link.enableSealing({ send: Buffer.from(K1), receive: Buffer.from(K2) }, { strict: true });
    const peer = new RawPeer(b);
    peer.sendKey = K2;
    peer.receiveKey = K1;
    link.notify(request('BYE'));
    await peer.waitFor(1); // the key in use: the peer opened what it sealed
    assert.equal(keySlotsInUse(), base + 2);
    const closed = once(link, 'close');
    if (how === 'close()') link.close();
    else if (how === 'the peer ends') b.end();
    else a.destroy();
    await closed;
    assert.equal(keySlotsInUse(), base);
    b.destroy();
  });
}
