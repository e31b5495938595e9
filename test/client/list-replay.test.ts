// [PRESENCE-10] A LIST answer is a snapshot read when the LIST reached the CRS; a push that the
// client received while the LIST was in flight may be newer than it. The client applies the answer,
// then again every push received since it sent the LIST, in order. White-box: the request on the MS
// link is replaced by one that delivers a push "while in flight" and answers with the older snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRecords, type RequestMessage, type ResponseMessage } from '../../codec/index.js';
import { ImspClient } from '../../reference/client/client.js';

function push(headers: Array<[string, string]>, method = 'PRESENCE'): RequestMessage {
  return { kind: 'request', method, headers, body: Buffer.alloc(0) };
}

test('[PRESENCE-10] pushes received while a LIST is in flight are applied again on top of its answer', async () => {
  const c = new ImspClient({ user: 'alice', password: 'pw', reconnect: false });
  c.contacts.load([
    [
      ['User', 'bob'],
      ['Relation', 'buddy'],
      ['Status', 'online'],
      ['Address', '127.0.0.1:1'],
      ['Public-key', 'k1'],
    ],
  ]);
  const onPush = Reflect.get(c, 'onPush') as (m: RequestMessage) => void;
  // The snapshot the CRS read: bob online, carol a buddy offline.
  const snapshot = encodeRecords([
    [
      ['User', 'bob'],
      ['Relation', 'buddy'],
      ['Status', 'online'],
      ['Address', '127.0.0.1:1'],
      ['Public-key', 'k1'],
    ],
    [
      ['User', 'carol'],
      ['Relation', 'buddy'],
      ['Status', 'offline'],
    ],
  ]);
  Reflect.set(c, 'call', async (method: string): Promise<ResponseMessage> => {
    assert.equal(method, 'LIST');
    // Newer than the snapshot, and received before its answer: bob went away, carol came online.
    onPush.call(
      c,
      push([
        ['User', 'bob'],
        ['Status', 'away'],
        ['Address', '127.0.0.1:1'],
        ['Public-key', 'k1'],
      ]),
    );
    onPush.call(
      c,
      push(
        [
          ['User', 'carol'],
          ['Relation', 'buddy'],
          ['Status', 'online'],
          ['Address', '127.0.0.1:2'],
          ['Public-key', 'k2'],
        ],
        'CONTACT',
      ),
    );
    return {
      kind: 'response',
      status: 200,
      reason: 'OK',
      headers: [['Content-type', 'application/imsp-records']],
      body: snapshot,
    };
  });
  await c.list();
  assert.equal(c.contacts.get('bob')?.status, 'away', 'the push about bob replayed on top of the snapshot');
  assert.equal(c.contacts.get('carol')?.status, 'online', 'the CONTACT about carol replayed on top of the snapshot');
  assert.equal(c.contacts.get('carol')?.address, '127.0.0.1:2');
  // A push after the LIST is no longer recorded for replay (nothing leaks into a later LIST).
  assert.deepEqual(Reflect.get(c, 'listReplay'), []);
  await c.close();
});
