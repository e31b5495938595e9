// Regression: the CRS renewed an MS's lease only on the MS's requests and notifications, not on its
// answers to the CRS's own PINGs [HB-9]. An MS that answers a PING has sent something, so it sends
// no PING of its own [HB-3] ("whenever it has sent nothing else"); once the CRS's heartbeat ran ahead
// of the MS's (a stable phase: the side that PINGs first keeps winning), an idle MS sent nothing but
// answers, its lease ran out while its link was alive, the CRS dropped it, and the MS ended every
// client session with ERR_SESSION_ENDED, heartbeating clients included [HB-2]. Found by the
// property tests (logout(u0); silentSession(u0, ms0) ended u2's session too, about 1 run in 4).
// No sleeps: time passes by awaiting PINGs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../helpers/cluster.js';
import { ProtoClient, h } from '../helpers/proto-client.js';
import { RawMs } from '../helpers/raw-ms.js';

const msLease = 600;

test('[HB-3] [HB-4] an MS that only answers the CRS PINGs (sends no PING of its own) keeps its lease', async (t) => {
  const cluster = await startCluster({ ms: 1, limits: { msLease, msHeartbeatInterval: 100 } });
  t.after(() => cluster.dispose());
  const expired: string[] = [];
  cluster.crs.on('ms-expired', (gone) => expired.push(...gone.map((g) => g.msId)));
  const ms = await RawMs.connect(cluster.crsAddress);
  t.after(() => ms.destroy());
  assert.ok((await ms.enroll(cluster.msKey, { msId: 'answers-only' })).ok);
  // 15 CRS PINGs at 100 ms apart: well over two leases in which the MS sent nothing but answers.
  const dropped = ms.closed.then(() => assert.fail('the CRS dropped an MS that answered its PINGs'));
  for (let i = 0; i < 15; i++) await Promise.race([ms.nextPing(), dropped]);
  assert.deepEqual(expired, [], 'the lease was renewed by the answers');
  assert.notEqual(await cluster.store.getMs('answers-only'), null, 'still enrolled');
  assert.equal((await ms.request('PING', { Load: 0 })).status, 200, 'the link is alive');
});

test('[HB-2] a heartbeating client keeps its session on an MS whose CRS heartbeat is answered, not sent', async (t) => {
  const cluster = await startCluster({
    ms: 1,
    limits: { msLease, msHeartbeatInterval: 100 },
    msLimits: { clientHeartbeatInterval: 100, sessionTimeout: 1000 },
  });
  t.after(() => cluster.dispose());
  await cluster.addUser('hal');
  const server = cluster.ms[0]!;
  const lost: string[] = [];
  server.on('crs-lost', (reason) => lost.push(reason));
  // Force the losing phase of the race: the MS's own CRS heartbeat stops, so it only answers the
  // CRS's PINGs (what it does whenever the CRS PINGs first).
  (server as unknown as { uplink: { heartbeat: { stop(): void } | null } }).uplink.heartbeat?.stop();
  const c = await ProtoClient.connect(server.address);
  t.after(() => c.destroy());
  const out = await c.login('hal', 'pw-hal');
  assert.equal(out.result?.status, 200);
  // The MS PINGs its idle client every 100 ms [HB-8] and the client answers [HB-5]: 20 of them span
  // more than three MS leases.
  const ended = c.closed.then(() =>
    assert.fail(
      `the session ended: ${JSON.stringify(c.pushes.map((m) => h(m, 'Error-code')))}, crs-lost ${JSON.stringify(lost)}`,
    ),
  );
  for (let i = 0; i < 20; i++) await Promise.race([c.nextPing(), ended]);
  assert.deepEqual(lost, [], 'the MS kept its CRS link');
  assert.equal(
    c.pushes.find((m) => m.method === 'NOTICE' && h(m, 'Error-code') === 'ERR_SESSION_ENDED'),
    undefined,
    'no ERR_SESSION_ENDED',
  );
  assert.equal((await c.request('PING')).status, 200, 'the session is alive');
  assert.equal((await cluster.store.getUser('hal'))?.state.kind, 'online');
});

test('[HB-4] the stored lease covers msLease after a message whose renewal the write throttle skipped', async (t) => {
  // The CRS writes a renewal at most every msLease/10. A message inside that step is not written, so
  // the lease in the store must already reach msLease past it; it ended up to a step early before.
  const cluster = await startCluster({ ms: 0, limits: { msLease: 60_000, msHeartbeatInterval: 30_000 } });
  t.after(() => cluster.dispose());
  const ms = await RawMs.connect(cluster.crsAddress);
  t.after(() => ms.destroy());
  assert.ok((await ms.enroll(cluster.msKey, { msId: 'throttled' })).ok);
  // Well inside the 6 s step after the enrollment's own write: this PING renews nothing in the store.
  const sent = Date.now();
  assert.equal((await ms.request('PING', {})).status, 200);
  const info = await cluster.store.getMs('throttled');
  assert.ok(info, 'enrolled');
  assert.ok(
    info.leaseExpiresAt >= sent + 60_000,
    `lease ends ${info.leaseExpiresAt - sent} ms after the last message, before msLease (60000 ms)`,
  );
});
