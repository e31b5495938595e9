// The MS seals what it has ready for one client in one turn into as few envelopes as the limits allow
// [SEAL-14] (reference/ms/ms.ts: the client link's `coalesce`), as the CRS does on its MS links.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder, LIMITS, type Message } from '../../codec/index.js';
import { req } from '../../reference/proto/messages.js';
import { startCluster } from '../helpers/cluster.js';
import { ProtoClient } from '../helpers/proto-client.js';

test('[SEAL-14] the answers to a burst of pipelined PINGs leave the MS in a few envelopes, not one each', async (t) => {
  const cluster = await startCluster({ ms: 1 });
  t.after(() => cluster.dispose());
  const user = await cluster.addUser('coal');
  const c = await ProtoClient.connect(cluster.ms[0]!.address);
  t.after(() => c.link.close());
  const login = await c.login(user.name, user.password);
  assert.equal(login.ok, true, 'the login succeeds');
  // Every envelope the MS writes from now on, framed by the codec's own decoder.
  const decoder = new Decoder();
  let envelopes = 0;
  c.socket.on('data', (chunk: Buffer) => {
    for (const m of decoder.push(chunk) as Message[]) if (m.kind === 'request' && m.method === 'SEALED') envelopes++;
  });
  const n = LIMITS.maxRecordsPerEnvelope;
  // One turn: the client link corks the socket, so all n PINGs reach the MS in one read.
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => c.link.request(req('PING', { Tag: `p${i}` }))));
  assert.ok(
    answers.every((a) => a.status === 200),
    'every PING is answered 200',
  );
  // Without coalescing the MS seals each answer alone: n envelopes. The reads of a loaded machine may
  // split the burst, so allow a few envelopes, far fewer than n.
  assert.ok(envelopes >= 1 && envelopes <= n / 4, `${n} answers came in ${envelopes} envelopes`);
});
