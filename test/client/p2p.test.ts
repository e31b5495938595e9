import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { header } from '../../generated/index.js';
import { buildInit, openInitAck } from '../../reference/crypto/p2p.js';
import { generateIdentity } from '../../reference/crypto/keys.js';
import { RawPeer, befriend, closePeers, contactRecord, makePeer, next } from './p2p-harness.js';

test('[P2P-1] INIT/INIT-ACK opens a session; MSG text and TYPING arrive; BYE drops the keys on both sides', async (t) => {
  const alice = await makePeer('alice');
  const bob = await makePeer('bob');
  t.after(() => closePeers(alice, bob));
  befriend(alice, bob);
  const got = next(bob.client, 'message');
  const opened = next(bob.client, 'session');
  await alice.client.send('bob', 'hello, bob \u00e9');
  assert.deepEqual(await opened, { user: 'alice', initiator: false });
  const m = await got;
  assert.equal(m.from, 'alice');
  assert.equal(m.text, 'hello, bob \u00e9');
  const typing = next(bob.client, 'typing');
  await alice.client.typing('bob', 'typing');
  assert.deepEqual(await typing, { from: 'alice', state: 'typing' });
  const reply = next(alice.client, 'message');
  await bob.client.send('alice', 'hi alice');
  assert.equal((await reply).text, 'hi alice');
  assert.equal(alice.client.sessionKeyCount(), 2);
  const keys = [...alice.client.sessionKeys(), ...bob.client.sessionKeys()];
  assert.ok(keys.every((k) => k.some((b) => b !== 0)));
  const ended = next(bob.client, 'session-end');
  await alice.client.bye('bob');
  await ended;
  assert.equal(alice.client.sessionKeyCount(), 0);
  assert.equal(bob.client.sessionKeyCount(), 0);
  // [P2P-10] the key octets themselves are overwritten, not just forgotten.
  assert.ok(keys.every((k) => k.every((b) => b === 0)));
});
