// The store suite's part on what persists across store instances (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { T0, LEASE, MS1, setup, enroll, users, login, buddies, type StoreHarness } from './suite-helpers.js';

export function persistenceSuite(h: StoreHarness): void {
  describe('persistence', () => {
    test('close and reopen: users, epochs, contacts, blocks, pending ADDs and MSs survive', async (t) => {
      const { store, open } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol');
      await enroll(store);
      await buddies(store, 'alice', 'bob');
      await store.addRequest({ user: 'carol', admin: true }, 'alice', T0 + 3);
      await store.block({ user: 'bob', admin: true }, 'carol');
      const a = await login(store, 'alice');
      await store.goOffline('alice', a.epoch);
      const before = await store.getUser('alice');
      await store.close();
      const again = await open();
      assert.deepEqual(await again.getUser('alice'), before);
      assert.equal(before?.epoch, 1);
      assert.deepEqual(await again.listContacts('alice'), [{ user: 'bob', relation: 'buddy', status: 'offline' }]);
      assert.deepEqual(await again.listContacts('bob'), [
        { user: 'alice', relation: 'buddy', status: 'offline' },
        { user: 'carol', relation: 'blocked', status: 'offline' },
      ]);
      assert.deepEqual(await again.pendingFor('alice'), [{ from: 'carol', to: 'alice', time: T0 + 3 }]);
      assert.equal((await again.getMs('ms1'))?.incarnation, 1);
      const l = await again.tryLock('alice', MS1, T0 + 10, LEASE);
      assert.ok(l.ok);
      assert.equal(l.epoch, 2);
    });
  });
}
