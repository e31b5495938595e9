// The store suite's part on the lock: tryLock, epochs, leases and fencing (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  T0,
  LEASE,
  MS_LEASE,
  MS1,
  MS2,
  STALE,
  setup,
  enroll,
  users,
  login,
  type StoreHarness,
} from './suite-helpers.js';

export function lockSuite(h: StoreHarness): void {
  describe('the lock (spec section 8.3)', () => {
    test('[LOCK-1] a live lock refuses every other lock; each grant raises the epoch', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store, MS1);
      await enroll(store, MS2);
      const a = await store.tryLock('alice', MS1, T0, LEASE);
      assert.ok(a.ok);
      assert.equal(a.epoch, 1);
      assert.equal(a.leaseExpiresAt, T0 + LEASE);
      assert.deepEqual(a.verifier, (await store.getUser('alice'))?.verifier);
      assert.deepEqual(await store.tryLock('alice', MS2, T0 + 1, LEASE), { ok: false, error: 'locked' });
      assert.deepEqual(await store.tryLock('alice', MS1, T0 + 1, LEASE), { ok: false, error: 'locked' });
      const rec = await store.getUser('alice');
      assert.deepEqual(rec?.state, {
        kind: 'locked',
        ...MS1,
        epoch: 1,
        leaseExpiresAt: T0 + LEASE,
      });
      assert.deepEqual(await store.unlock('alice', 1), { ok: true });
      const b = await store.tryLock('alice', MS2, T0 + 2, LEASE);
      assert.ok(b.ok);
      assert.equal(b.epoch, 2);
    });

    test('[LOCK-2] a user online is refused a lock (no takeover)', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store, MS1);
      await enroll(store, MS2);
      await login(store, 'alice', MS1);
      // past the lock's lease, within MS1's: a session is not a lock and does not expire with it
      const later = T0 + LEASE + (MS_LEASE - LEASE) / 2;
      assert.ok(later > T0 + LEASE && later < T0 + MS_LEASE);
      await store.renewMs(MS2, later, MS_LEASE);
      assert.deepEqual(await store.tryLock('alice', MS2, later, LEASE), { ok: false, error: 'online' });
      assert.deepEqual(await store.expireLocks(later), []);
    });

    test('[USER-2] an unknown user; an MS not enrolled with that incarnation', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      assert.deepEqual(await store.tryLock('nobody', MS1, T0, LEASE), { ok: false, error: 'unknown' });
      assert.deepEqual(await store.tryLock('alice', MS1, T0, LEASE), { ok: false, error: 'ms-unknown' });
      await enroll(store, MS1);
      assert.deepEqual(await store.tryLock('alice', { msId: 'ms1', incarnation: 0 }, T0, LEASE), {
        ok: false,
        error: 'ms-unknown',
      });
      // an MS whose lease ended cannot take locks
      assert.deepEqual(await store.tryLock('alice', MS1, T0 + MS_LEASE, LEASE), { ok: false, error: 'ms-unknown' });
    });

    test('[LOCK-3] an expired lock is taken over with a new epoch; the old epoch cannot go online', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store, MS1);
      await enroll(store, MS2);
      const a = await store.tryLock('alice', MS1, T0, LEASE);
      assert.ok(a.ok);
      assert.deepEqual(await store.tryLock('alice', MS2, T0 + LEASE - 1, LEASE), { ok: false, error: 'locked' });
      const b = await store.tryLock('alice', MS2, T0 + LEASE, LEASE);
      assert.ok(b.ok);
      assert.equal(b.epoch, a.epoch + 1);
      // [LOCK-6] the first MS's epoch is stale now
      assert.deepEqual(
        await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:1', 'online', T0 + LEASE),
        STALE('epoch'),
      );
      assert.deepEqual(await store.unlock('alice', a.epoch), STALE('epoch'));
      const o = await store.goOnline('alice', b.epoch, MS2, '127.0.0.1:2', 'away', T0 + LEASE + 1);
      assert.ok(o.ok);
    });

    test('[LOCK-3] goOnline after the lease ended is refused; expireLocks frees exactly the expired locks', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol');
      await enroll(store, MS1);
      const a = await store.tryLock('alice', MS1, T0, LEASE);
      const b = await store.tryLock('bob', MS1, T0 + LEASE / 3, LEASE); // still held at T0 + LEASE
      assert.ok(a.ok && b.ok);
      await login(store, 'carol');
      assert.deepEqual(
        await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:1', 'online', T0 + LEASE),
        STALE('expired'),
      );
      assert.deepEqual(await store.expireLocks(T0 + LEASE), ['alice']);
      assert.deepEqual((await store.getUser('alice'))?.state, { kind: 'offline' });
      assert.equal((await store.getUser('bob'))?.state.kind, 'locked');
      assert.equal((await store.getUser('carol'))?.state.kind, 'online');
      assert.deepEqual(await store.expireLocks(T0 + LEASE), []);
      // the epoch survives the expiry: the next grant is higher still
      const a2 = await store.tryLock('alice', MS1, T0 + LEASE + 1, LEASE);
      assert.ok(a2.ok);
      assert.equal(a2.epoch, a.epoch + 1);
    });

    test('[LOCK-6] goOnline requires the lock, held by the same MS enrollment', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store, MS1);
      await enroll(store, MS2);
      assert.deepEqual(await store.goOnline('alice', 0, MS1, '127.0.0.1:1', 'online', T0), STALE('state'));
      assert.deepEqual(await store.goOnline('nobody', 1, MS1, '127.0.0.1:1', 'online', T0), {
        ok: false,
        error: 'unknown',
      });
      const a = await store.tryLock('alice', MS1, T0, LEASE);
      assert.ok(a.ok);
      assert.deepEqual(await store.goOnline('alice', a.epoch, MS2, '127.0.0.1:1', 'online', T0), STALE('wrong-ms'));
      assert.deepEqual(await store.goOnline('alice', a.epoch + 1, MS1, '127.0.0.1:1', 'online', T0), STALE('epoch'));
      const o = await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:4000', 'busy', T0 + 1);
      assert.ok(o.ok);
      assert.equal(o.status, 'busy');
      const rec = await store.getUser('alice');
      assert.equal(o.keyBlob, rec?.keyBlob);
      assert.equal(o.publicKey, rec?.publicKey);
      assert.deepEqual(rec?.state, {
        kind: 'online',
        ...MS1,
        epoch: a.epoch,
        address: '127.0.0.1:4000',
        status: 'busy',
      });
      // a second ONLINE of that epoch finds no lock
      assert.deepEqual(await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:1', 'online', T0 + 2), STALE('state'));
      // UNLOCK cannot end a session
      assert.deepEqual(await store.unlock('alice', a.epoch), STALE('state'));
    });

    test('[LOCK-6] status, offline and session checks refuse a stale epoch', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store, MS1);
      const a = await login(store, 'alice');
      assert.deepEqual(await store.checkSession('alice', a.epoch), { ok: true });
      assert.deepEqual(await store.checkSession('alice', a.epoch - 1), STALE('epoch'));
      assert.deepEqual(await store.checkSession('nobody', 1), { ok: false, error: 'unknown' });
      assert.deepEqual(await store.setStatus('alice', a.epoch - 1, 'away'), STALE('epoch'));
      assert.deepEqual(await store.setStatus('alice', a.epoch, 'away'), { ok: true });
      const rec = await store.getUser('alice');
      assert.equal(rec?.state.kind === 'online' && rec.state.status, 'away');
      assert.deepEqual(await store.goOffline('alice', a.epoch + 1), STALE('epoch'));
      assert.deepEqual(await store.goOffline('alice', a.epoch), { ok: true, wasOnline: true });
      assert.deepEqual(await store.goOffline('alice', a.epoch), { ok: true, wasOnline: false });
      assert.deepEqual(await store.setStatus('alice', a.epoch, 'online'), STALE('state'));
      assert.deepEqual(await store.checkSession('alice', a.epoch), STALE('state'));
    });

    test('[LOCK-6][LOCK-8] requests naming another MS incarnation than the holder are refused', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob');
      await enroll(store, MS1);
      await enroll(store, MS2);
      const a = await login(store, 'alice', MS1);
      const wrong = STALE('wrong-ms');
      assert.deepEqual(await store.setStatus('alice', a.epoch, 'away', MS2), wrong);
      assert.deepEqual(await store.checkSession('alice', a.epoch, MS2), wrong);
      assert.deepEqual(await store.addRequest({ ...a, ms: MS2 }, 'bob', T0), wrong);
      assert.deepEqual(await store.goOffline('alice', a.epoch, MS2), wrong);
      assert.deepEqual(await store.checkSession('alice', a.epoch, MS1), { ok: true });
      assert.deepEqual(await store.addRequest({ ...a, ms: MS1 }, 'bob', T0), {
        ok: true,
        outcome: 'stored',
        time: T0,
      });
      assert.deepEqual(await store.goOffline('alice', a.epoch, MS1), { ok: true, wasOnline: true });
      const l = await store.tryLock('bob', MS1, T0, LEASE);
      assert.ok(l.ok);
      assert.deepEqual(await store.unlock('bob', l.epoch, MS2), wrong);
      assert.deepEqual(await store.unlock('bob', l.epoch, MS1), { ok: true });
      // [LOCK-8] repeated: answered ok, nothing changes
      assert.deepEqual(await store.unlock('bob', l.epoch, MS1), { ok: true });
      assert.deepEqual((await store.getUser('bob'))?.epoch, l.epoch);
    });

    test('[PERSIST-2] a CRS start: no MS enrolled, every record offline, epochs kept', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol');
      await enroll(store, MS1);
      const a = await login(store, 'alice');
      const b = await store.tryLock('bob', MS1, T0, LEASE);
      assert.ok(b.ok);
      assert.deepEqual(await store.resetSessions(), { offline: ['alice'], unlocked: ['bob'] });
      assert.deepEqual(await store.listMs(), []);
      for (const u of ['alice', 'bob', 'carol']) assert.deepEqual((await store.getUser(u))?.state, { kind: 'offline' });
      await enroll(store, { msId: 'ms1', incarnation: 2 });
      const a2 = await store.tryLock('alice', { msId: 'ms1', incarnation: 2 }, T0, LEASE);
      assert.ok(a2.ok);
      assert.equal(a2.epoch, a.epoch + 1);
    });

    test('[LOCK-1] many concurrent locks of one user on one store: exactly one wins', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store, MS1);
      await enroll(store, MS2);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.tryLock('alice', i % 2 ? MS1 : MS2, T0, LEASE)),
      );
      const won = results.filter((r) => r.ok);
      assert.equal(won.length, 1);
      assert.ok(results.every((r) => r.ok || r.error === 'locked'));
      assert.equal((await store.getUser('alice'))?.epoch, 1);
    });

    test('[LOCK-1] concurrent locks from two store instances (two CRS processes): exactly one wins', async (t) => {
      const { store, open } = await setup(t, h);
      const other = await open();
      await users(store, ...Array.from({ length: 20 }, (_, i) => `u${i}`));
      await enroll(store, MS1);
      await enroll(store, MS2);
      for (let i = 0; i < 20; i++) {
        const rs = await Promise.all([
          store.tryLock(`u${i}`, MS1, T0, LEASE),
          other.tryLock(`u${i}`, MS2, T0, LEASE),
          store.tryLock(`u${i}`, MS1, T0, LEASE),
          other.tryLock(`u${i}`, MS2, T0, LEASE),
        ]);
        assert.equal(rs.filter((r) => r.ok).length, 1, `u${i}: ${JSON.stringify(rs)}`);
      }
    });
  });
}
