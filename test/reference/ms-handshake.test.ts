// [CONN-4] at the MS: a client connection must complete its login within handshakeTimeout, else the MS
// closes it (one timer for all connections, reference/ms/ms.ts); a completed login is never closed by it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../helpers/cluster.js';
import { ProtoClient } from '../helpers/proto-client.js';

const handshakeTimeout = 300;

test('[CONN-4] [LOCK-4] the MS closes a connection that has not logged in within handshakeTimeout (silent, or stopped after the challenge: the lock is released); a logged-in session outlives the deadline', {
  timeout: 20_000,
}, async (t) => {
  const cluster = await startCluster({ ms: 1, msLimits: { handshakeTimeout } });
  t.after(() => cluster.dispose());
  await cluster.addUser('ann');
  await cluster.addUser('ben');
  const ms = cluster.ms[0]!;

  const silent = await ProtoClient.connect(ms.address);
  t.after(() => silent.destroy());
  const halfway = await ProtoClient.connect(ms.address);
  t.after(() => halfway.destroy());
  const done = await ProtoClient.connect(ms.address);
  t.after(() => done.destroy());
  assert.equal((await halfway.login('ann', 'pw-ann', { stopAfterChallenge: true })).challenge.status, 300);
  assert.ok((await done.login('ben', 'pw-ben')).ok, 'ben logged in');

  // Accepted after ben's connection, so its deadline is later than ben's.
  const late = await ProtoClient.connect(ms.address);
  t.after(() => late.destroy());
  await Promise.all([silent.closed, halfway.closed, late.closed]);

  assert.equal(done.link.isClosed, false, 'the logged-in connection is open');
  assert.equal((await done.request('PING')).status, 200, 'and its session alive past its deadline');
  // The abandoned login gave its lock back: ann logs in at once.
  const again = await ProtoClient.connect(ms.address);
  t.after(() => again.destroy());
  assert.ok((await again.login('ann', 'pw-ann')).ok, 'ann logs in after the abandoned attempt');
});
