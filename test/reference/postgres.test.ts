// The reference servers' end-to-end suite on PostgreSQL (a throwaway cluster from test/helpers/pg.ts,
// one schema per test cluster), plus two CRS processes sharing one database.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sharedPg } from '../helpers/pg.js';
import { freshPgSchema } from '../helpers/cluster.js';
import { CrsServer } from '../../reference/crs/crs.js';
import { MsServer } from '../../reference/ms/ms.js';
import { registerUser } from '../../reference/store/register.js';
import type { PostgresStore } from '../../reference/store/postgres.js';
import { ProtoClient, h } from '../helpers/proto-client.js';
import { serverSuite, befriend } from './suite.js';

const server = await sharedPg();
if (!server) {
  test('reference servers on PostgreSQL', { skip: 'IMSP_SKIP_PG=1 and no PostgreSQL binaries' }, () => {});
} else {
  after(() => server.stop());
  serverSuite('postgres');

  describe('reference servers on postgres: several CRS processes on one database', () => {
    test("[PERSIST-3] [ENROLL-12] when the store's change feed comes back after a loss, the CRS closes its MS links: sessions end, the MS re-enrolls, users log in again", async (t) => {
      const db = await freshPgSchema();
      t.after(() => db.drop());
      const store = await db.open();
      t.after(() => store.close());
      const msKey = randomBytes(32);
      const crs = await CrsServer.start({ store, msKey, port: 0 });
      t.after(() => crs.close());
      const ms = await MsServer.start({ crs: crs.address, msKey, msId: 'pg-feed-ms', port: 0 });
      t.after(() => ms.kill());
      await ms.ready();
      assert.ok((await registerUser(store, 'fey', 'pw-fey', { log2N: 10 })).ok);
      const c = await ProtoClient.connect(ms.address);
      t.after(() => c.destroy());
      assert.equal((await c.login('fey', 'pw-fey')).result?.status, 200);
      const resumed = new Promise<string[]>((resolve) =>
        crs.once('feed-resumed', (refs) => resolve(refs.map((r) => r.msId))),
      );
      const reEnrolled = new Promise<number>((resolve) => ms.once('enrolled', resolve));
      const left = new Promise<void>((resolve) => crs.once('ms-closed', () => resolve()));
      // The store's LISTEN connection came back (test/store/postgres.test.ts kills it for real).
      (store as PostgresStore).feed.emit('up');
      assert.deepEqual(await resumed, ['pg-feed-ms']);
      const notice = await c.waitFor('NOTICE', (m) => h(m, 'Error-code') === 'ERR_SESSION_ENDED');
      assert.equal(notice.method, 'NOTICE');
      assert.ok((await reEnrolled) > 1, 'a higher incarnation');
      await left; // the CRS ended the enrollment (leaveMs): its users are offline
      assert.equal((await store.getUser('fey'))?.state.kind, 'offline');
      const again = await ProtoClient.connect(ms.address);
      t.after(() => again.destroy());
      assert.equal((await again.login('fey', 'pw-fey')).result?.status, 200);
    });

    test('[CRS-SCALE-1] two CRS processes share the data: login, ADD and presence cross between them', async (t) => {
      // Teardown in the reverse order of set-up (node:test runs after-hooks in the order they are
      // added): clients, MSs, CRSs, stores, then the schema. Dropping the schema or closing a
      // store first failed the test under load: a CRS still renewing an MS lease found no table.
      const undo: Array<() => unknown> = [];
      t.after(async () => {
        for (const f of undo.reverse()) await f();
      });
      const db = await freshPgSchema();
      undo.push(() => db.drop());
      const [s1, s2] = [await db.open(), await db.open()];
      undo.push(async () => {
        await s1.close();
        await s2.close();
      });
      const msKey = randomBytes(32);
      const limits = { msLease: 2000, msHeartbeatInterval: 200 };
      const crs1 = await CrsServer.start({ store: s1, msKey, port: 0, limits });
      const crs2 = await CrsServer.start({ store: s2, msKey, port: 0, limits });
      undo.push(async () => {
        await crs1.close();
        await crs2.close();
      });
      const ms1 = await MsServer.start({ crs: crs1.address, msKey, msId: 'pg-ms-1', port: 0, limits });
      const ms2 = await MsServer.start({ crs: crs2.address, msKey, msId: 'pg-ms-2', port: 0, limits });
      undo.push(() => (ms1.kill(), ms2.kill()));
      await Promise.all([ms1.ready(), ms2.ready()]);
      for (const u of ['joe', 'ann']) assert.ok((await registerUser(s1, u, `pw-${u}`, { log2N: 10 })).ok);
      const joe = await ProtoClient.connect(ms1.address);
      const ann = await ProtoClient.connect(ms2.address);
      undo.push(() => (joe.destroy(), ann.destroy()));
      assert.equal((await joe.login('joe', 'pw-joe')).result?.status, 200);
      assert.equal((await ann.login('ann', 'pw-ann')).result?.status, 200);
      // joe is online through CRS 1: ann's login through CRS 2 refuses a second joe.
      const dup = await ProtoClient.connect(ms2.address);
      undo.push(() => dup.destroy());
      assert.equal((await dup.login('joe', 'pw-joe')).challenge.status, 409);
      await befriend(joe, ann, 'joe', 'ann');
      assert.equal((await ann.request('STATUS', { Status: 'busy' })).status, 200);
      await joe.waitFor('PRESENCE', (m) => h(m, 'User') === 'ann' && h(m, 'Status') === 'busy');
      assert.equal((await ann.request('LOGOUT')).status, 200);
      await joe.waitFor('PRESENCE', (m) => h(m, 'User') === 'ann' && h(m, 'Status') === 'offline');
    });
  });
}
