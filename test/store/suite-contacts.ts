// The store suite's part on contacts: ADD, ANSWER, REM, BLOCK and their limits (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Actor } from '../../reference/store/store.js';
import { newUser, nextEvent, recorder, verifier } from './fixtures.js';
import { T0, LEASE, MS1, setup, enroll, users, login, buddies, type StoreHarness } from './suite-helpers.js';

export function contactsSuite(h: StoreHarness): void {
  describe('contacts (spec section 9)', () => {
    test('an ADD is stored while the target is offline, delivered when online, refused twice or between buddies [ADD-4]', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol');
      await enroll(store);
      const a = await login(store, 'alice');
      const r1 = await store.addRequest(a, 'bob', T0 + 5);
      assert.deepEqual(r1, { ok: true, outcome: 'stored', time: T0 + 5 });
      assert.deepEqual(await store.addRequest(a, 'bob', T0 + 6), { ok: false, error: 'duplicate' });
      assert.deepEqual(await store.addRequest(a, 'alice', T0), { ok: false, error: 'self' }); // [ADD-6]
      assert.deepEqual(await store.addRequest(a, 'nobody', T0), { ok: false, error: 'unknown' }); // [ADD-5]
      await login(store, 'carol');
      assert.deepEqual(await store.addRequest(a, 'carol', T0 + 7), {
        ok: true,
        outcome: 'delivered',
        time: T0 + 7,
        targetMs: MS1,
      });
      assert.deepEqual(await store.listContacts('alice'), [
        { user: 'bob', relation: 'pending', status: 'offline' },
        { user: 'carol', relation: 'pending', status: 'offline' },
      ]);
      assert.deepEqual(await store.pendingFor('bob'), [{ from: 'alice', to: 'bob', time: T0 + 5 }]);
      await buddies(store, 'bob', 'carol');
      assert.deepEqual(await store.addRequest({ user: 'bob', admin: true }, 'carol', T0), {
        ok: false,
        error: 'buddy',
      });
    });

    test('[ADD-9] a pending ADD is delivered at every login until answered, and never after', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol');
      await enroll(store);
      await store.addRequest({ user: 'alice', admin: true }, 'bob', T0 + 1);
      await store.addRequest({ user: 'carol', admin: true }, 'bob', T0 + 2);
      for (let i = 0; i < 2; i++) {
        const l = await store.tryLock('bob', MS1, T0 + 10 * i, LEASE);
        assert.ok(l.ok);
        const o = await store.goOnline('bob', l.epoch, MS1, '127.0.0.1:9', 'online', T0 + 10 * i);
        assert.ok(o.ok);
        assert.deepEqual(o.pending, [
          { from: 'alice', to: 'bob', time: T0 + 1 },
          { from: 'carol', to: 'bob', time: T0 + 2 },
        ]);
        assert.deepEqual(await store.goOffline('bob', l.epoch), { ok: true, wasOnline: true });
      }
      const b = await login(store, 'bob', MS1, T0 + 100);
      assert.deepEqual(await store.answer(b, 'alice', 'grant', T0 + 101), { ok: true, outcome: 'granted' });
      assert.deepEqual(await store.answer(b, 'carol', 'deny', T0 + 102), { ok: true, outcome: 'denied' });
      assert.deepEqual(await store.answer(b, 'carol', 'grant', T0 + 103), { ok: false, error: 'no-pending' });
      assert.deepEqual(await store.answer(b, 'alice', 'deny', T0 + 103), { ok: false, error: 'no-pending' });
      assert.deepEqual(await store.pendingFor('bob'), []);
      await store.goOffline('bob', b.epoch);
      const b2 = await login(store, 'bob', MS1, T0 + 200);
      const o = await store.listContacts('bob');
      assert.deepEqual(o, [{ user: 'alice', relation: 'buddy', status: 'offline' }]);
      assert.deepEqual(await store.pendingFor(b2.user), []);
      assert.deepEqual(await store.listContacts('carol'), []);
      assert.deepEqual(await store.listContacts('alice'), [
        {
          user: 'bob',
          relation: 'buddy',
          status: 'online',
          address: '127.0.0.1:20003',
          publicKey: (await store.getUser('bob'))?.publicKey,
        },
      ]);
    });

    test('[ADD-8] a pending ADD in both directions is granted at once by the second ADD, with CONTACT to both', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob');
      const first = nextEvent(store, (e) => e.type === 'add');
      await store.addRequest({ user: 'alice', admin: true }, 'bob', T0);
      await first;
      const rec = recorder(store);
      const second = nextEvent(store, (e) => e.type === 'contact' && e.owner === 'alice');
      assert.deepEqual(await store.addRequest({ user: 'bob', admin: true }, 'alice', T0), {
        ok: true,
        outcome: 'granted',
      });
      await second;
      rec.stop();
      assert.deepEqual(
        rec.events.map((e) => [e.type, e.type === 'contact' ? e.owner : '']),
        [
          ['contact', 'bob'],
          ['contact', 'alice'],
        ],
      );
      assert.deepEqual(await store.listContacts('alice'), [{ user: 'bob', relation: 'buddy', status: 'offline' }]);
      assert.deepEqual(await store.listContacts('bob'), [{ user: 'alice', relation: 'buddy', status: 'offline' }]);
      assert.deepEqual(await store.pendingFor('alice'), []);
      assert.deepEqual(await store.pendingFor('bob'), []);
    });

    test('[REM-1][REM-2][REM-3][REM-4] REM removes both directions, withdraws an unanswered ADD, unblocks, and refuses a stranger', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol');
      await buddies(store, 'alice', 'bob');
      await store.addRequest({ user: 'alice', admin: true }, 'carol', T0);
      const A: Actor = { user: 'alice', admin: true };
      assert.deepEqual(await store.remove(A, 'bob'), { ok: true, removed: 'buddy' });
      assert.deepEqual(await store.listContacts('bob'), []);
      assert.deepEqual(await store.remove(A, 'carol'), { ok: true, removed: 'pending' });
      // [REM-3] withdrawn: never delivered again
      assert.deepEqual(await store.pendingFor('carol'), []);
      assert.deepEqual(await store.listContacts('alice'), []);
      assert.deepEqual(await store.remove(A, 'bob'), { ok: false, error: 'not-contact' });
      assert.deepEqual(await store.remove(A, 'nobody'), { ok: false, error: 'not-contact' });
      // [REM-4] REM of a blocked user unblocks
      await store.block(A, 'bob');
      assert.deepEqual(await store.remove(A, 'bob'), { ok: true, removed: 'blocked' });
      assert.deepEqual(await store.listContacts('alice'), []);
    });

    test('[BLOCK-1][BLOCK-2][BLOCK-4] BLOCK removes the relation and ADDs both ways; to the blocked user it looks like a logout and a REM', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'mallory', 'carol');
      await enroll(store);
      await buddies(store, 'alice', 'bob');
      await store.addRequest({ user: 'mallory', admin: true }, 'alice', T0);
      await store.addRequest({ user: 'alice', admin: true }, 'carol', T0);
      const a = await login(store, 'alice');
      // the feed may be asynchronous (PostgreSQL): record once bob's login was heard
      const bobOnline = nextEvent(store, (e) => e.type === 'presence' && e.user === 'bob');
      await login(store, 'bob');
      await bobOnline;
      const rec = recorder(store);
      const last = nextEvent(store, (e) => e.type === 'contact' && e.owner === 'alice' && e.contact.user === 'bob');
      assert.deepEqual(await store.block(a, 'bob'), { ok: true, already: false });
      await last;
      const ev = rec.events.map(({ origin: _o, ...e }) => e);
      assert.deepEqual(ev, [
        { type: 'presence', user: 'alice', status: 'offline', to: 'bob' },
        { type: 'contact', owner: 'bob', contact: { user: 'alice', relation: 'none', status: 'offline' } },
        { type: 'contact', owner: 'alice', contact: { user: 'bob', relation: 'blocked', status: 'offline' } },
      ]);
      rec.stop();
      // [BLOCK-7] blocking again changes nothing; oneself is forbidden; unknown users are unknown
      assert.deepEqual(await store.block(a, 'bob'), { ok: true, already: true });
      assert.deepEqual(await store.block(a, 'alice'), { ok: false, error: 'self' });
      assert.deepEqual(await store.block(a, 'nobody'), { ok: false, error: 'unknown' });
      assert.deepEqual(await store.listContacts('bob'), []);
      assert.deepEqual(await store.listContacts('alice'), [
        { user: 'bob', relation: 'blocked', status: 'offline' },
        { user: 'carol', relation: 'pending', status: 'offline' },
      ]);
      assert.deepEqual(await store.watchers('alice'), []);
      // [BLOCK-4] blocking a user whose ADD is unanswered looks like a denial to him
      const denial = nextEvent(store, (e) => e.type === 'answer' && e.to === 'mallory');
      assert.deepEqual(await store.block(a, 'mallory'), { ok: true, already: false });
      assert.deepEqual(await denial, {
        type: 'answer',
        origin: store.id,
        from: 'alice',
        to: 'mallory',
        decision: 'deny',
      });
      assert.deepEqual(await store.pendingFor('alice'), []);
      assert.deepEqual(await store.listContacts('mallory'), []);
    });

    test('[BLOCK-6][BLOCK-5][ADD-6] an ADD from a blocked user is stored, withheld until UNBLOCK; an ADD to a user one blocks is forbidden', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'mallory');
      await enroll(store);
      const a = await login(store, 'alice');
      const m = await login(store, 'mallory');
      await store.block(a, 'mallory');
      assert.deepEqual(await store.addRequest(a, 'mallory', T0), { ok: false, error: 'forbidden' });
      const rec = recorder(store);
      assert.deepEqual(await store.addRequest(m, 'alice', T0 + 9), {
        ok: true,
        outcome: 'blocked-silently',
        time: T0 + 9,
      });
      // pending in mallory's list, as any stored ADD; a second one is a duplicate, as any
      assert.deepEqual(await store.listContacts('mallory'), [
        { user: 'alice', relation: 'pending', status: 'offline' },
      ]);
      assert.deepEqual(await store.addRequest(m, 'alice', T0 + 10), { ok: false, error: 'duplicate' });
      // withheld: not in alice's pending list, nor in her bundle, nor answerable
      assert.deepEqual(await store.pendingFor('alice'), []);
      assert.deepEqual(await store.answer(a, 'mallory', 'grant', T0), { ok: false, error: 'no-pending' });
      // [BLOCK-5] UNBLOCK: CONTACT none to alice; the ADD becomes deliverable
      const done = nextEvent(store, (e) => e.type === 'contact' && e.owner === 'alice');
      assert.deepEqual(await store.unblock(a, 'mallory'), { ok: true });
      assert.deepEqual(await done, {
        type: 'contact',
        origin: store.id,
        owner: 'alice',
        contact: { user: 'mallory', relation: 'none', status: 'offline' },
      });
      rec.stop();
      assert.deepEqual(
        rec.events.filter((e) => e.type === 'add'),
        [],
      );
      assert.deepEqual(await store.pendingFor('alice'), [{ from: 'mallory', to: 'alice', time: T0 + 9 }]);
      assert.deepEqual(await store.unblock(a, 'mallory'), { ok: false, error: 'not-blocked' });
      assert.deepEqual(await store.answer(a, 'mallory', 'grant', T0), { ok: true, outcome: 'granted' });
    });

    test('[ADD-LIMIT-1][ADD-LIMIT-2][BLOCK-LIMIT-1] list sizes are bounded', async (t) => {
      const { store } = await setup(t, h, { limits: { maxContacts: 3, maxPendingAdds: 2, maxBlocked: 2 } });
      await users(store, 'alice', 'bob', 'u1', 'u2', 'u3', 'u4', 'u5');
      const A: Actor = { user: 'alice', admin: true };
      for (const u of ['u1', 'u2', 'u3']) assert.equal((await store.addRequest(A, u, T0)).ok, true);
      assert.deepEqual(await store.addRequest(A, 'u4', T0), { ok: false, error: 'limit', which: 'contacts' });
      // a grant turns a pending entry into a buddy: the requester's count does not grow
      assert.deepEqual(await store.answer({ user: 'u1', admin: true }, 'alice', 'grant', T0), {
        ok: true,
        outcome: 'granted',
      });
      // but the answerer's does: u5 has three contacts, alice's grant would be a fourth
      for (const u of ['u2', 'u3', 'u4']) await store.addRequest({ user: 'u5', admin: true }, u, T0);
      await store.addRequest({ user: 'bob', admin: true }, 'u5', T0);
      assert.deepEqual(await store.answer({ user: 'u5', admin: true }, 'bob', 'grant', T0), {
        ok: false,
        error: 'limit',
        which: 'contacts',
      });
      // [ADD-LIMIT-2] u4 has 1 pending (from u5); one more fits, then full
      assert.equal((await store.addRequest({ user: 'u1', admin: true }, 'u4', T0)).ok, true);
      assert.deepEqual(await store.addRequest({ user: 'u2', admin: true }, 'u4', T0), {
        ok: false,
        error: 'limit',
        which: 'pending',
      });
      // [BLOCK-LIMIT-1]
      assert.equal((await store.block({ user: 'bob', admin: true }, 'u1')).ok, true);
      assert.equal((await store.block({ user: 'bob', admin: true }, 'u2')).ok, true);
      assert.deepEqual(await store.block({ user: 'bob', admin: true }, 'u3'), {
        ok: false,
        error: 'limit',
        which: 'blocked',
      });
    });

    test("[ERR-6][ADD-LIMIT-2][BLOCK-6] a blocked sender meets the target's full pending list as a stranger does: the limit does not reveal the block", async (t) => {
      const { store } = await setup(t, h, { limits: { maxPendingAdds: 2 } });
      await users(store, 'alice', 'bob', 'carol', 'mallory', 'stranger');
      const A = (user: string): Actor => ({ user, admin: true });
      assert.equal((await store.block(A('alice'), 'mallory')).ok, true);
      for (const u of ['bob', 'carol']) assert.equal((await store.addRequest(A(u), 'alice', T0)).ok, true);
      const full = { ok: false, error: 'limit', which: 'pending' };
      assert.deepEqual(await store.addRequest(A('stranger'), 'alice', T0), full);
      assert.deepEqual(await store.addRequest(A('mallory'), 'alice', T0), full, 'the blocked sender gets 413 as well');
      // With room again, the blocked sender's ADD is stored silently [BLOCK-6], the stranger's delivered.
      assert.equal((await store.answer(A('alice'), 'bob', 'deny', T0)).ok, true);
      const r = await store.addRequest(A('mallory'), 'alice', T0);
      assert.equal(r.ok && r.outcome, 'blocked-silently');
      assert.equal((await store.addRequest(A('stranger'), 'alice', T0)).ok, true);
    });

    test('[LOCK-6] every session-bound write refuses a stale epoch or a user not online', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob');
      await enroll(store);
      const a = await login(store, 'alice');
      const old: Actor = { user: 'alice', epoch: a.epoch - 1 };
      const st = { ok: false, error: 'stale', detail: 'epoch' };
      assert.deepEqual(await store.addRequest(old, 'bob', T0), st);
      assert.deepEqual(await store.answer(old, 'bob', 'grant', T0), st);
      assert.deepEqual(await store.remove(old, 'bob'), st);
      assert.deepEqual(await store.block(old, 'bob'), st);
      assert.deepEqual(await store.unblock(old, 'bob'), st);
      assert.deepEqual(await store.setProfile(old, { about: 'x' }), st);
      assert.deepEqual(await store.passwd(old, verifier(), newUser('x').keyBlob), st);
      const offline: Actor = { user: 'bob', epoch: 0 };
      assert.deepEqual(await store.addRequest(offline, 'alice', T0), { ok: false, error: 'stale', detail: 'state' });
      assert.deepEqual(await store.addRequest({ user: 'ghost', epoch: 1 }, 'alice', T0), {
        ok: false,
        error: 'stale',
        detail: 'state',
      });
      assert.deepEqual(await store.pendingFor('bob'), []);
    });

    test('contact lists carry presence: address and key only for online buddies', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob', 'carol', 'dave');
      await enroll(store);
      await buddies(store, 'alice', 'bob');
      await buddies(store, 'alice', 'carol');
      await store.addRequest({ user: 'alice', admin: true }, 'dave', T0);
      await login(store, 'bob', MS1, T0, 'busy');
      await login(store, 'dave');
      const l = await store.tryLock('alice', MS1, T0, LEASE);
      assert.ok(l.ok);
      const o = await store.goOnline('alice', l.epoch, MS1, '127.0.0.1:5555', 'online', T0);
      assert.ok(o.ok);
      const bobKey = (await store.getUser('bob'))?.publicKey;
      assert.deepEqual(o.contacts, [
        { user: 'bob', relation: 'buddy', status: 'busy', address: '127.0.0.1:20003', publicKey: bobKey },
        { user: 'carol', relation: 'buddy', status: 'offline' },
        { user: 'dave', relation: 'pending', status: 'offline' },
      ]);
      assert.deepEqual(await store.watchers('alice'), [{ user: 'bob', msId: 'ms1', incarnation: 1 }]);
      assert.deepEqual(o.contacts, await store.listContacts('alice'));
    });
  });
}
