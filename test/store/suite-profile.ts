// The store suite's part on profile, search and password (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newUser, verifier } from './fixtures.js';
import { T0, LEASE, MS1, setup, enroll, users, login, type StoreHarness } from './suite-helpers.js';

export function profileSuite(h: StoreHarness): void {
  describe('profile, search, password', () => {
    test('[PROFILE-3] a user sets its own profile fields; absent fields stay', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store);
      const a = await login(store, 'alice');
      assert.deepEqual(await store.setProfile(a, { fullName: 'Alice', location: 'Paris' }), { ok: true });
      assert.deepEqual(await store.setProfile(a, { about: 'hi' }), { ok: true });
      assert.deepEqual(await store.getProfile('alice'), { fullName: 'Alice', location: 'Paris', about: 'hi' });
      assert.deepEqual(await store.setProfile(a, { location: 'x'.repeat(300) }), {
        ok: false,
        error: 'invalid',
        detail: 'location',
      });
      assert.equal(await store.getProfile('nobody'), null);
    });

    test('PASSWD replaces the verifier and the sealed key blob', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store);
      const a = await login(store, 'alice');
      const v = verifier();
      const blob = newUser('x').keyBlob;
      assert.deepEqual(await store.passwd(a, { ...v, iterations: 10 }, blob), {
        ok: false,
        error: 'invalid',
        detail: 'iterations',
      });
      assert.deepEqual(await store.passwd(a, v, 'garbage'), { ok: false, error: 'invalid', detail: 'keyBlob' });
      assert.deepEqual(await store.passwd(a, v, blob), { ok: true });
      const rec = await store.getUser('alice');
      assert.deepEqual(rec?.verifier, v);
      assert.equal(rec?.keyBlob, blob);
      // the next lock hands out the new verifier
      await store.goOffline('alice', a.epoch);
      const l = await store.tryLock('alice', MS1, T0 + 1, LEASE);
      assert.ok(l.ok);
      assert.deepEqual(l.verifier, v);
    });

    test('[SEARCH-2][SEARCH-3] search is paged by username with a cursor, bounded, by field', async (t) => {
      const { store } = await setup(t, h);
      for (let i = 0; i < 120; i++) {
        const name = `user${String(i).padStart(3, '0')}`;
        await store.registerUser(
          newUser(name, { fullName: i % 2 ? 'Odd Person' : 'Even Person', location: i < 10 ? 'Lyon' : '' }),
          T0,
        );
      }
      await users(store, 'zed');
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const r = await store.searchUsers('user', 'username', cursor, 1000);
        assert.ok(r.ok);
        assert.ok(r.results.length <= 50);
        seen.push(...r.results.map((x) => x.username));
        cursor = r.nextCursor;
        if (!cursor) break;
      }
      assert.equal(seen.length, 120);
      assert.deepEqual(seen, [...seen].sort());
      assert.equal(new Set(seen).size, 120);
      const odd = await store.searchUsers('ODD', 'name', null, 5);
      assert.ok(odd.ok);
      assert.deepEqual(odd.results[0], { username: 'user001', fullName: 'Odd Person', location: 'Lyon' });
      assert.equal(odd.results.length, 5);
      assert.equal(odd.nextCursor, 'user009');
      const lyon = await store.searchUsers('lyon', 'location', null, 50);
      assert.ok(lyon.ok);
      assert.equal(lyon.results.length, 10);
      assert.equal(lyon.nextCursor, null);
      assert.deepEqual(lyon.results[0], { username: 'user000', fullName: 'Even Person', location: 'Lyon' });
      const any = await store.searchUsers('ZE', 'any', null, 50);
      assert.ok(any.ok);
      assert.deepEqual(any.results, [{ username: 'zed' }]);
      // a username matches by prefix only; names and locations by substring
      assert.deepEqual(await store.searchUsers('ser0', 'username', null, 50), {
        ok: true,
        results: [],
        nextCursor: null,
      });
      const sub = await store.searchUsers('yo', 'any', null, 50);
      assert.ok(sub.ok);
      assert.equal(sub.results.length, 10);
      // LIKE wildcards are literal
      for (const q of ['%', '_', '\\']) {
        const r = await store.searchUsers(q, 'any', null, 50);
        assert.deepEqual(r, { ok: true, results: [], nextCursor: null }, q);
      }
      assert.deepEqual(await store.searchUsers('x'.repeat(65), 'any', null, 10), {
        ok: false,
        error: 'invalid',
        detail: 'query',
      });
      assert.deepEqual(await store.searchUsers('', 'any', null, 10), {
        ok: false,
        error: 'invalid',
        detail: 'query',
      });
      assert.deepEqual(await store.searchUsers('x', 'any', 'Not A Name', 10), {
        ok: false,
        error: 'invalid',
        detail: 'cursor',
      });
    });

    test('[SEARCH-5] search reveals no block: a user who blocks the searcher is found as any other', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'anna', 'anne', 'annie');
      await store.block({ user: 'anne', admin: true }, 'annie');
      const r = await store.searchUsers('ann', 'username', null, 10);
      assert.ok(r.ok);
      assert.deepEqual(
        r.results.map((x) => x.username),
        ['anna', 'anne', 'annie'],
      );
    });
  });
}
