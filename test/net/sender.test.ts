// The Sender's shared encoding (issue 15): a frozen message (the MS's forwarded push, one object for
// every local target) is encoded once and gives the same octets as encode(); a message that is not
// frozen is encoded at each send, so a caller who edits it after sending never gets stale octets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, request } from '../../codec/index.js';
import { encodeShared } from '../../reference/net/sender.js';

test('a frozen message is encoded once, and exactly as encode() encodes it', () => {
  const m = request('PRESENCE', [
    ['User', 'alice'],
    ['Status', 'online'],
  ]);
  Object.freeze(m);
  const a = encodeShared(m);
  assert.deepEqual(a, encode(m));
  assert.equal(encodeShared(m), a, 'the same octets object the second time');
});

test('a message that is not frozen is encoded at each send (edits after a send are seen)', () => {
  const m = request('PRESENCE', [
    ['User', 'alice'],
    ['Status', 'online'],
  ]);
  const a = encodeShared(m);
  m.headers[1] = ['Status', 'away'];
  const b = encodeShared(m);
  assert.notDeepEqual(a, b);
  assert.deepEqual(b, encode(m));
});
