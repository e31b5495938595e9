// The store suite's part on the change feed (run by storeSuite in suite.ts for each Store).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StoreEvent } from '../../reference/store/store.js';
import { nextEvent, recorder } from './fixtures.js';
import { T0, MS1, setup, enroll, users, login, type StoreHarness } from './suite-helpers.js';

export function feedSuite(h: StoreHarness): void {
  describe('change feed', () => {
    test('presence, add, answer and contact changes are announced with their origin', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice', 'bob');
      // the feed may be asynchronous (PostgreSQL): start recording once the enrollment was heard
      const enrolled = nextEvent(store, (e) => e.type === 'ms-enrolled');
      await enroll(store);
      await enrolled;
      const rec = recorder(store);
      const a = await login(store, 'alice');
      const b = await login(store, 'bob');
      await store.addRequest(a, 'bob', T0 + 1);
      await store.answer(b, 'alice', 'grant', T0 + 2);
      await store.setStatus('bob', b.epoch, 'away');
      const done = nextEvent(store, (e) => e.type === 'presence' && e.user === 'alice' && e.status === 'offline');
      await store.goOffline('alice', a.epoch);
      await done;
      rec.stop();
      const ev = rec.events.map((e) => {
        assert.equal(e.origin, store.id);
        const { origin: _o, ...rest } = e;
        return rest;
      }) as Array<Omit<StoreEvent, 'origin'>>;
      const alice = await store.getUser('alice');
      const bob = await store.getUser('bob');
      assert.deepEqual(ev, [
        {
          type: 'presence',
          user: 'alice',
          status: 'online',
          msId: 'ms1',
          address: '127.0.0.1:20005',
          publicKey: alice?.publicKey,
        },
        {
          type: 'presence',
          user: 'bob',
          status: 'online',
          msId: 'ms1',
          address: '127.0.0.1:20003',
          publicKey: bob?.publicKey,
        },
        { type: 'add', from: 'alice', to: 'bob', time: T0 + 1 },
        {
          type: 'contact',
          owner: 'bob',
          contact: {
            user: 'alice',
            relation: 'buddy',
            status: 'online',
            address: '127.0.0.1:20005',
            publicKey: alice?.publicKey,
          },
        },
        {
          type: 'contact',
          owner: 'alice',
          contact: {
            user: 'bob',
            relation: 'buddy',
            status: 'online',
            address: '127.0.0.1:20003',
            publicKey: bob?.publicKey,
          },
        },
        { type: 'answer', from: 'bob', to: 'alice', decision: 'grant' },
        {
          type: 'presence',
          user: 'bob',
          status: 'away',
          msId: 'ms1',
          address: '127.0.0.1:20003',
          publicKey: bob?.publicKey,
        },
        { type: 'presence', user: 'alice', status: 'offline' },
      ]);
    });

    test('another store instance on the same data hears the changes (a second CRS process)', {
      skip: !h.separateConnections,
    }, async (t) => {
      const { store, open } = await setup(t, h);
      const other = await open();
      await users(store, 'alice');
      await enroll(store);
      const heard = nextEvent(other, (e) => e.type === 'presence' && e.user === 'alice');
      const a = await login(store, 'alice');
      const e = await heard;
      assert.equal(e.origin, store.id);
      assert.notEqual(other.id, store.id);
      const gone = nextEvent(other, (x) => x.type === 'ms-gone');
      await store.leaveMs(MS1);
      assert.deepEqual(await gone, {
        type: 'ms-gone',
        origin: store.id,
        msId: 'ms1',
        incarnation: 1,
        reason: 'left',
      });
      assert.equal(a.user, 'alice');
    });

    test('an unsubscribed listener hears nothing; a throwing listener does not break the store', async (t) => {
      const { store } = await setup(t, h);
      await users(store, 'alice');
      await enroll(store);
      let n = 0;
      const off = store.onChange(() => n++);
      off();
      store.onChange(() => {
        throw new Error('listener bug');
      });
      const heard = nextEvent(store, (e) => e.type === 'presence');
      await login(store, 'alice');
      await heard;
      assert.equal(n, 0);
    });
  });
}
