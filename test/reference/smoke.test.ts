import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../helpers/cluster.js';
import { ProtoClient, recordsOf, h } from '../helpers/proto-client.js';

test('[LOGIN-1] a registered user logs in through an MS enrolled at the CRS', async (t) => {
  const cluster = await startCluster({ ms: 2, users: ['alice'] });
  t.after(() => cluster.dispose());
  const c = await ProtoClient.connect(cluster.ms[0]!.address);
  t.after(() => c.destroy());
  const out = await c.login('alice', 'pw-alice');
  assert.equal(out.challenge.status, 300);
  assert.equal(out.result?.status, 200);
  assert.ok(out.ok, 'Server-proof verifies');
  assert.match(h(out.result!, 'Key-blob')!, /^v1\./);
  const r = await c.request('PING');
  assert.equal(r.status, 200);
  const list = await c.request('LIST');
  assert.equal(list.status, 200);
  assert.deepEqual(recordsOf(list), []);
});
