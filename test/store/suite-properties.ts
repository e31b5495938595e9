// The store suite's part on properties (fast-check) of the store (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { newUser } from './fixtures.js';
import { T0, LEASE, MS1, MS2, setup, enroll, users, login, type StoreHarness } from './suite-helpers.js';

export function propertiesSuite(h: StoreHarness): void {
  describe('properties', () => {
    test('hostile strings (names, queries, cursors, profile texts) get typed results, never exceptions', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store);
      const a = await login(store, 'alice');
      const str = fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.constantFrom("'; DROP TABLE users; --", '%', '_%\\', '\u0000', 'é', 'a'.repeat(5000)),
      );
      await fc.assert(
        fc.asyncProperty(
          str,
          str,
          fc.constantFrom('username', 'name', 'location', 'any') as fc.Arbitrary<
            'username' | 'name' | 'location' | 'any'
          >,
          async (x, y, field) => {
            const r = await store.searchUsers(x, field, y === '' ? null : y, 10);
            assert.ok(r.ok || r.error === 'invalid');
            const u = await store.getUser(x);
            assert.ok(u === null || u.username === x);
            const l = await store.tryLock(x, MS1, T0, LEASE);
            if (l.ok)
              assert.deepEqual(await store.unlock(x, l.epoch, MS1), { ok: true }); // a name an earlier run registered
            else assert.ok(['unknown', 'online'].includes(l.error), l.error);
            const add = await store.addRequest(a, x, T0);
            assert.ok(add.ok || ['unknown', 'self', 'duplicate'].includes(add.error));
            const p = await store.setProfile(a, { about: x });
            assert.ok(p.ok || p.error === 'invalid');
            const reg = await store.registerUser({ ...newUser('zz'), username: x }, T0);
            assert.ok(reg.ok || reg.error === 'invalid' || reg.error === 'exists');
          },
        ),
        { numRuns: 40 },
      );
      assert.equal((await store.getUser('alice'))?.state.kind, 'online');
    });

    test('[INV-9][ADD-8] concurrent mutual ADDs from two store instances: one stored, one granted, buddies both ways', async (t) => {
      const { store, open } = await setup(t, h);
      const other = await open();
      const N = 12;
      await users(
        store,
        ...Array.from({ length: N }, (_, i) => `a${i}`),
        ...Array.from({ length: N }, (_, i) => `b${i}`),
      );
      const rs = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          Promise.all([
            store.addRequest({ user: `a${i}`, admin: true }, `b${i}`, T0),
            other.addRequest({ user: `b${i}`, admin: true }, `a${i}`, T0),
          ]),
        ),
      );
      for (let i = 0; i < N; i++) {
        const outcomes = rs[i].map((r) => (r.ok ? r.outcome : r.error)).sort();
        assert.deepEqual(outcomes, ['granted', 'stored'], `pair ${i}`);
        assert.deepEqual(await store.listContacts(`a${i}`), [{ user: `b${i}`, relation: 'buddy', status: 'offline' }]);
        assert.deepEqual(await other.listContacts(`b${i}`), [{ user: `a${i}`, relation: 'buddy', status: 'offline' }]);
        assert.deepEqual(await store.pendingFor(`a${i}`), []);
        assert.deepEqual(await store.pendingFor(`b${i}`), []);
      }
    });

    test('[ADD-LIMIT-2] concurrent ADDs to one target from two store instances never exceed maxPendingAdds', async (t) => {
      const { store, open } = await setup(t, h, { limits: { maxPendingAdds: 5 } });
      const other = await open();
      const senders = Array.from({ length: 16 }, (_, i) => `s${i}`);
      await users(store, 'target', ...senders);
      const rs = await Promise.all(
        senders.map((u, i) => (i % 2 ? store : other).addRequest({ user: u, admin: true }, 'target', T0 + i)),
      );
      assert.equal(rs.filter((r) => r.ok).length, 5);
      assert.ok(rs.every((r) => r.ok || (r.error === 'limit' && r.which === 'pending')));
      assert.equal((await store.pendingFor('target')).length, 5);
    });

    test('[INV-9][ADD-4][ADD-8][BLOCK-1] random concurrent contact operations keep the relations consistent', async (_t) => {
      const names = ['ann', 'bea', 'cid', 'dan'];
      type Op = { op: 'add' | 'grant' | 'deny' | 'rem' | 'block' | 'unblock'; a: number; b: number; inst: 0 | 1 };
      const opArb: fc.Arbitrary<Op> = fc.record({
        op: fc.constantFrom(
          'add' as const,
          'add' as const,
          'grant' as const,
          'deny' as const,
          'rem' as const,
          'block' as const,
          'unblock' as const,
        ),
        a: fc.integer({ min: 0, max: 3 }),
        b: fc.integer({ min: 0, max: 3 }),
        inst: fc.constantFrom(0 as const, 1 as const),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
          async (rounds) => {
            const data = await h.create();
            const s0 = await data.open({ limits: { maxContacts: 2 } });
            const s1 = await data.open({ limits: { maxContacts: 2 } });
            try {
              await users(s0, ...names);
              for (const round of rounds) {
                // the operations of a round run concurrently, spread over both instances
                await Promise.all(
                  round.map(({ op, a, b, inst }) => {
                    const s = inst ? s1 : s0;
                    const me = { user: names[a], admin: true as const };
                    const other = names[b];
                    switch (op) {
                      case 'add':
                        return s.addRequest(me, other, T0);
                      case 'grant':
                      case 'deny':
                        return s.answer(me, other, op, T0);
                      case 'rem':
                        return s.remove(me, other);
                      case 'block':
                        return s.block(me, other);
                      case 'unblock':
                        return s.unblock(me, other);
                    }
                  }),
                );
              }
              const lists = new Map<string, Map<string, string>>();
              for (const n of names) lists.set(n, new Map((await s0.listContacts(n)).map((c) => [c.user, c.relation])));
              const rel = (x: string, y: string) => lists.get(x)?.get(y);
              for (const x of names) {
                assert.ok((lists.get(x)?.size ?? 0) <= 2 + 3, 'bounded'); // maxContacts, plus blocked entries
                const counted = [...(lists.get(x)?.values() ?? [])].filter((r) => r !== 'blocked').length;
                assert.ok(counted <= 2, `[ADD-LIMIT-1] ${x} has ${counted}`);
                for (const y of names) {
                  if (x === y) continue;
                  // [INV-9] buddies both ways or neither
                  if (rel(x, y) === 'buddy') assert.equal(rel(y, x), 'buddy', `[INV-9] ${x} has ${y}`);
                  // [ADD-8] never pending in both directions
                  assert.ok(!(rel(x, y) === 'pending' && rel(y, x) === 'pending'), `[ADD-8] ${x}<->${y}`);
                  // [ADD-4] no pending between buddies
                  const incoming = (await s0.pendingFor(x)).map((p) => p.from);
                  if (rel(x, y) === 'buddy') assert.ok(!incoming.includes(y), `[ADD-4] ${y}->${x}`);
                  // [BLOCK-1] a block leaves no buddy relation
                  if (rel(x, y) === 'blocked') assert.notEqual(rel(y, x), 'buddy', `[BLOCK-1] ${x} blocks ${y}`);
                  // [BLOCK-6] withheld: nothing from a blocked user in the pending list
                  if (rel(x, y) === 'blocked') assert.ok(!incoming.includes(y), `[BLOCK-6] ${y}->${x}`);
                }
              }
            } finally {
              await s0.close();
              await s1.close();
              await data.destroy();
            }
          },
        ),
        { numRuns: 12 },
      );
    });

    test('[LOCK-1][LOCK-6] random lock operations agree with the spec section 8.3 model', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store, MS1, 100, 0);
      await enroll(store, MS2, 100, 0);
      // Model of one user record; time moves forward only.
      type Op =
        | { op: 'lock'; ms: 0 | 1; dt: number }
        | { op: 'online'; ms: 0 | 1; epochDelta: number; dt: number }
        | { op: 'unlock' | 'offline'; epochDelta: number; dt: number }
        | { op: 'expire'; dt: number };
      const ms = [MS1, MS2];
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        fc.record({
          op: fc.constant('lock' as const),
          ms: fc.constantFrom(0 as const, 1 as const),
          dt: fc.integer({ min: 0, max: 20_000 }),
        }),
        fc.record({
          op: fc.constant('online' as const),
          ms: fc.constantFrom(0 as const, 1 as const),
          epochDelta: fc.constantFrom(0, 0, -1),
          dt: fc.integer({ min: 0, max: 20_000 }),
        }),
        fc.record({
          op: fc.constantFrom('unlock' as const, 'offline' as const),
          epochDelta: fc.constantFrom(0, 0, -1),
          dt: fc.integer({ min: 0, max: 20_000 }),
        }),
        fc.record({ op: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 20_000 }) }),
      );
      let now = 0;
      let offsetMs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
          // each run starts from a clean record: offline, MSs alive
          const rec0 = await store.getUser('alice');
          if (rec0 && rec0.state.kind !== 'offline') await store.offlineAllOfMs(rec0.state.msId);
          let epoch = (await store.getUser('alice'))?.epoch ?? 0;
          type Model = { k: 'offline' } | { k: 'locked'; ms: number; until: number } | { k: 'online'; ms: number };
          let state = { k: 'offline' } as Model;
          for (const o of ops) {
            now += o.dt;
            // keep both MSs alive: the model is about the user record
            offsetMs = now;
            for (const m of ms) await store.renewMs(m, offsetMs, 10_000_000);
            if (o.op === 'lock') {
              const r = await store.tryLock('alice', ms[o.ms], now, LEASE);
              if (state.k === 'online') assert.deepEqual(r, { ok: false, error: 'online' });
              else if (state.k === 'locked' && state.until > now) assert.deepEqual(r, { ok: false, error: 'locked' });
              else {
                assert.ok(r.ok);
                epoch += 1;
                assert.equal(r.epoch, epoch);
                state = { k: 'locked', ms: o.ms, until: now + LEASE };
              }
            } else if (o.op === 'online') {
              const r = await store.goOnline('alice', epoch + o.epochDelta, ms[o.ms], '127.0.0.1:1', 'online', now);
              const okNow: boolean =
                o.epochDelta === 0 && state.k === 'locked' && state.until > now && state.ms === o.ms;
              assert.equal(r.ok, okNow, JSON.stringify({ r, state, o, now }));
              if (okNow) state = { k: 'online', ms: o.ms };
            } else if (o.op === 'unlock') {
              const r = await store.unlock('alice', epoch + o.epochDelta);
              const okNow: boolean = o.epochDelta === 0 && state.k !== 'online';
              assert.equal(r.ok, okNow);
              if (okNow) state = { k: 'offline' };
            } else if (o.op === 'offline') {
              const r = await store.goOffline('alice', epoch + o.epochDelta);
              assert.equal(r.ok, o.epochDelta === 0);
              if (r.ok) {
                assert.equal(r.wasOnline, state.k === 'online');
                state = { k: 'offline' };
              }
            } else {
              const r = await store.expireLocks(now);
              const expired: boolean = state.k === 'locked' && state.until <= now;
              assert.deepEqual(r, expired ? ['alice'] : []);
              if (expired) state = { k: 'offline' };
            }
            const rec = await store.getUser('alice');
            assert.equal(rec?.epoch, epoch);
            assert.equal(rec?.state.kind, state.k === 'offline' ? 'offline' : state.k);
          }
        }),
        { numRuns: 15 },
      );
    });
  });
}
