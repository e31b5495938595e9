// The store suite's part on Messaging Servers: enrollment, leases and takeover (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nextEvent } from './fixtures.js';
import { T0, LEASE, MS_LEASE, MS1, MS2, setup, enroll, users, login, type StoreHarness } from './suite-helpers.js';

export function msSuite(h: StoreHarness): void {
  describe('Messaging Servers', () => {
    test('[ENROLL-6] an equal or lower incarnation is refused; a higher one replaces the old and frees its users', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol');
      await enroll(store, { msId: 'ms1', incarnation: 5 });
      await enroll(store, MS2);
      assert.deepEqual(
        await store.enrollMs({ msId: 'ms1', incarnation: 5, listen: '127.0.0.1:1', capacity: 1 }, T0, MS_LEASE),
        {
          ok: false,
          error: 'conflict',
          incarnation: 5,
        },
      );
      assert.deepEqual(
        await store.enrollMs({ msId: 'ms1', incarnation: 4, listen: '127.0.0.1:1', capacity: 1 }, T0, MS_LEASE),
        {
          ok: false,
          error: 'conflict',
          incarnation: 5,
        },
      );
      const old = { msId: 'ms1', incarnation: 5 };
      await login(store, 'alice', old);
      const lb = await store.tryLock('bob', old, T0, LEASE);
      assert.ok(lb.ok);
      await login(store, 'carol', MS2);
      const gone = nextEvent(store, (e) => e.type === 'ms-gone');
      const r = await store.enrollMs(
        { msId: 'ms1', incarnation: 6, listen: '127.0.0.1:7106', capacity: 10 },
        T0 + 1,
        MS_LEASE,
      );
      assert.deepEqual(r, {
        ok: true,
        leaseExpiresAt: T0 + 1 + MS_LEASE,
        replaced: { incarnation: 5, freed: { offline: ['alice'], unlocked: ['bob'] } },
      });
      assert.deepEqual(await gone, {
        type: 'ms-gone',
        origin: store.id,
        msId: 'ms1',
        incarnation: 5,
        reason: 'replaced',
      });
      assert.deepEqual((await store.getUser('alice'))?.state, { kind: 'offline' });
      assert.deepEqual((await store.getUser('bob'))?.state, { kind: 'offline' });
      assert.equal((await store.getUser('carol'))?.state.kind, 'online');
      // the old incarnation can neither take locks nor renew
      assert.deepEqual(await store.tryLock('alice', old, T0 + 2, LEASE), { ok: false, error: 'ms-unknown' });
      assert.deepEqual(await store.renewMs(old, T0 + 2, MS_LEASE), { ok: false, error: 'ms-unknown' });
      assert.deepEqual(await store.goOnline('bob', lb.epoch, old, '127.0.0.1:1', 'online', T0 + 2), {
        ok: false,
        error: 'stale',
        detail: 'state',
      });
      assert.equal((await store.getMs('ms1'))?.incarnation, 6);
    });

    test('[HB-4] renew keeps an MS alive; an expired MS is removed and its users freed', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob');
      await enroll(store, MS1);
      await enroll(store, MS2);
      await login(store, 'alice', MS1);
      await login(store, 'bob', MS2);
      const renewed = T0 + (MS_LEASE * 2) / 3; // before MS1's first lease ends
      assert.deepEqual(await store.renewMs(MS1, renewed, MS_LEASE, 7), {
        ok: true,
        leaseExpiresAt: renewed + MS_LEASE,
      });
      const m = await store.getMs('ms1');
      assert.equal(m?.load, 7);
      assert.equal(m?.lastSeen, renewed);
      assert.deepEqual(await store.expireMs(T0 + MS_LEASE - 1), []);
      assert.deepEqual(await store.expireMs(T0 + MS_LEASE), [
        { msId: 'ms2', incarnation: 1, freed: { offline: ['bob'], unlocked: [] } },
      ]);
      assert.deepEqual((await store.getUser('bob'))?.state, { kind: 'offline' });
      assert.equal((await store.getUser('alice'))?.state.kind, 'online');
      assert.deepEqual(
        (await store.listMs()).map((x) => x.msId),
        ['ms1'],
      );
      // a renew after the lease ended is refused: the MS must enroll again
      assert.deepEqual(await store.renewMs(MS1, renewed + MS_LEASE, MS_LEASE), { ok: false, error: 'ms-unknown' });
      // and an MS whose lease ended may enroll again with the same incarnation
      const again = await store.enrollMs(
        { ...MS1, listen: '127.0.0.1:7101', capacity: 5 },
        renewed + MS_LEASE,
        MS_LEASE,
      );
      assert.ok(again.ok);
      assert.deepEqual(again.replaced, { incarnation: 1, freed: { offline: ['alice'], unlocked: [] } });
    });

    test('LEAVE frees the users of that MS only', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob');
      await enroll(store, MS1);
      await enroll(store, MS2);
      await login(store, 'alice', MS1);
      await login(store, 'bob', MS2);
      assert.deepEqual(await store.leaveMs({ msId: 'ms1', incarnation: 9 }), { ok: false, error: 'ms-unknown' });
      assert.deepEqual(await store.leaveMs(MS1), { ok: true, freed: { offline: ['alice'], unlocked: [] } });
      assert.equal(await store.getMs('ms1'), null);
      assert.equal((await store.getUser('bob'))?.state.kind, 'online');
      assert.deepEqual(await store.offlineAllOfMs('ms2', 1), { offline: [], unlocked: [] });
      assert.deepEqual(await store.offlineAllOfMs('ms2', 2), { offline: ['bob'], unlocked: [] });
    });

    test('[LOCATE-1] at most three live, not full MSs: by load/capacity, then load, then Ms-id', async (t) => {
      const { store } = await setup(t, h);
      assert.deepEqual(await store.locateMs(T0), []);
      for (const [id, cap, load] of [
        ['m-b', 10, 5],
        ['m-a', 20, 10],
        ['m-c', 4, 1],
        ['m-d', 100, 100],
        ['m-e', 8, 2],
        ['m_f', 2, 1],
        ['m-g', 4, 1],
      ] as const) {
        await enroll(store, { msId: id, incarnation: 1 }, cap);
        await store.renewMs({ msId: id, incarnation: 1 }, T0, MS_LEASE, load);
      }
      // ratios: m-c .25 (load 1), m-g .25 (1), m-e .25 (2), m_f .5 (1), m-b .5 (5), m-a .5 (10), m-d full
      assert.deepEqual(
        (await store.locateMs(T0)).map((m) => m.msId),
        ['m-c', 'm-g', 'm-e'],
      );
      assert.deepEqual(
        (await store.locateMs(T0, 10)).map((m) => m.msId),
        ['m-c', 'm-g', 'm-e', 'm_f', 'm-b', 'm-a'],
      );
      assert.equal((await store.pickMs(T0))?.msId, 'm-c');
    });

    test('[LOCATE-1] the load counts the users an MS holds locked or online when that is above its PING Load', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'u1', 'u2', 'u3', 'u4');
      await enroll(store, MS1, 4);
      await enroll(store, MS2, 4);
      await store.renewMs(MS1, T0, MS_LEASE, 0);
      await store.renewMs(MS2, T0, MS_LEASE, 1);
      // No user held: ms1 (PING Load 0) before ms2 (1).
      assert.deepEqual(
        (await store.locateMs(T0)).map((m) => m.msId),
        ['ms1', 'ms2'],
      );
      // Two sessions and one lock at ms1 make its load 3, above its PING Load: ms2 comes first.
      await login(store, 'u1', MS1);
      await login(store, 'u2', MS1);
      assert.equal((await store.tryLock('u3', MS1, T0, LEASE)).ok, true);
      assert.deepEqual(
        (await store.locateMs(T0)).map((m) => m.msId),
        ['ms2', 'ms1'],
      );
      // A fourth held user fills ms1 (Capacity 4): it is no longer offered.
      await login(store, 'u4', MS1);
      assert.deepEqual(
        (await store.locateMs(T0)).map((m) => m.msId),
        ['ms2'],
      );
      // A PING Load above the held count still wins.
      await store.renewMs(MS2, T0, MS_LEASE, 4);
      assert.deepEqual(await store.locateMs(T0), []);
    });

    test('LOCATE picks the live MS with the lowest load/capacity and never a full one', async (t) => {
      const { store } = await setup(t, h);
      assert.equal(await store.pickMs(T0), null);
      await enroll(store, { msId: 'a', incarnation: 1 }, 10);
      await enroll(store, { msId: 'b', incarnation: 1 }, 100);
      await enroll(store, { msId: 'c', incarnation: 1 }, 0);
      await store.renewMs({ msId: 'a', incarnation: 1 }, T0, MS_LEASE, 5);
      await store.renewMs({ msId: 'b', incarnation: 1 }, T0, MS_LEASE, 20);
      assert.equal((await store.pickMs(T0))?.msId, 'b');
      await store.renewMs({ msId: 'b', incarnation: 1 }, T0, MS_LEASE, 100);
      assert.equal((await store.pickMs(T0))?.msId, 'a');
      await store.renewMs({ msId: 'a', incarnation: 1 }, T0, MS_LEASE, 10);
      assert.equal(await store.pickMs(T0), null);
      await store.renewMs({ msId: 'a', incarnation: 1 }, T0 + 10_000, MS_LEASE, 1);
      assert.equal((await store.pickMs(T0 + MS_LEASE + 1))?.msId, 'a');
      assert.equal(await store.pickMs(T0 + 10_000 + MS_LEASE), null);
    });

    test('enrollments with a bad id, listen address or capacity are refused', async (t) => {
      const { store } = await setup(t, h);
      for (const e of [
        { msId: 'bad id', incarnation: 1, listen: '127.0.0.1:1', capacity: 1 },
        { msId: 'ok', incarnation: -1, listen: '127.0.0.1:1', capacity: 1 },
        { msId: 'ok', incarnation: 1, listen: 'nope', capacity: 1 },
        { msId: 'ok', incarnation: 1, listen: '127.0.0.1:1', capacity: 1.5 },
      ]) {
        const r = await store.enrollMs(e, T0, MS_LEASE);
        assert.equal(!r.ok && r.error, 'invalid');
      }
      assert.deepEqual(await store.listMs(), []);
    });
  });
}
