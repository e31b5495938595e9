// The store suite's part on the users table: register, read back, what is refused (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newUser, verifier } from './fixtures.js';
import { T0, setup, enroll, users, login, buddies, type StoreHarness } from './suite-helpers.js';

export function usersSuite(h: StoreHarness): void {
  describe('users', () => {
    test('[REGISTER-2] register, read back, refuse a second user of that name', async (t) => {
      const { store } = await setup(t, h);
      const u = newUser('alice', { fullName: 'Alice Liddell', location: 'Oxford' });
      assert.deepEqual(await store.registerUser(u, T0), { ok: true });
      assert.deepEqual(await store.registerUser(newUser('alice'), T0), { ok: false, error: 'exists' });
      const rec = await store.getUser('alice');
      assert.ok(rec);
      assert.deepEqual(rec.verifier, u.verifier);
      assert.equal(rec.publicKey, u.publicKey);
      assert.equal(rec.keyBlob, u.keyBlob);
      assert.deepEqual(rec.profile, { fullName: 'Alice Liddell', location: 'Oxford', about: '' });
      assert.deepEqual(rec.state, { kind: 'offline' });
      assert.equal(rec.epoch, 0);
      assert.equal(rec.createdAt, T0);
      assert.equal(await store.getUser('bob'), null);
      assert.equal(await store.countUsers(), 1);
    });

    test('[USER-1][AUTH-5] invalid usernames, verifiers, keys and profile texts are refused', async (t) => {
      const { store } = await setup(t, h);
      const bad = [
        { ...newUser('x'), username: 'Alice' },
        { ...newUser('x'), username: 'a'.repeat(33) },
        { ...newUser('x'), username: '' },
        { ...newUser('x'), username: "a'; DROP TABLE users; --" },
        { ...newUser('x'), verifier: { ...verifier(), iterations: 1000 } },
        { ...newUser('x'), verifier: { ...verifier(), storedKey: 'short' } },
        { ...newUser('x'), publicKey: 'nope' },
        { ...newUser('x'), keyBlob: 'v2.x' },
        newUser('x', { fullName: 'a'.repeat(257) }),
        newUser('x', { about: 'line\r\nbreak' }),
      ];
      for (const u of bad) {
        const r = await store.registerUser(u, T0);
        assert.equal(r.ok, false, u.username);
        assert.equal(!r.ok && r.error, 'invalid');
      }
      assert.equal(await store.countUsers(), 0);
    });

    test('list users by cursor, delete a user with every relation naming it', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'carol', 'alice', 'bob', 'dave');
      assert.deepEqual(await store.listUsers(null, 2), ['alice', 'bob']);
      assert.deepEqual(await store.listUsers('bob', 10), ['carol', 'dave']);
      await buddies(store, 'alice', 'bob');
      await store.addRequest({ user: 'carol', admin: true }, 'alice', T0);
      await store.block({ user: 'dave', admin: true }, 'alice');
      await enroll(store);
      const a = await login(store, 'alice');
      assert.deepEqual(await store.deleteUser('alice'), { ok: false, error: 'online' });
      await store.goOffline('alice', a.epoch);
      assert.deepEqual(await store.deleteUser('alice'), { ok: true });
      assert.deepEqual(await store.deleteUser('alice'), { ok: false, error: 'unknown' });
      assert.deepEqual(await store.listContacts('bob'), []);
      assert.deepEqual(await store.listContacts('carol'), []);
      assert.deepEqual(await store.listContacts('dave'), []);
      // the name is free again and its new owner inherits nothing
      await users(store, 'alice');
      assert.deepEqual(await store.listContacts('alice'), []);
      assert.deepEqual(await store.pendingFor('alice'), []);
    });
  });
}
