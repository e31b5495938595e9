// The Sender (issue 15). Its shared encoding: a frozen message (the MS's forwarded push, one object for
// every local target) is encoded once and gives the same octets as encode(); a message that is not
// frozen is encoded at each send, so a caller who edits it after sending never gets stale octets.
// Its writes: the envelope that ends a turn goes out without another tick; a turn of several
// envelopes leaves in order in one writev.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { anyHeader, decode, encode, LIMITS, request, type Message } from '../../codec/index.js';
import { openEnvelope } from '../../reference/crypto/sealed.js';
import { encodeShared, Sender } from '../../reference/net/sender.js';

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

/** A socket stand-in that records what reaches it: each write() or writev() call, and each cork(). */
function recordingSocket(): { socket: Duplex; calls: Buffer[][]; corks: () => number } {
  const calls: Buffer[][] = [];
  let corks = 0;
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      calls.push([chunk]);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.map((c) => c.chunk as Buffer));
      cb();
    },
  });
  const cork = socket.cork.bind(socket);
  socket.cork = () => {
    corks++;
    cork();
  };
  return { socket, calls, corks: () => corks };
}

/** The records of the SEALED envelopes in `octets`, one array per envelope (Seq checked in order). */
function openAll(octets: Buffer, key: Buffer): Message[][] {
  let seq = 0;
  return decode(octets).map((env) => {
    assert.equal(anyHeader(env, 'Seq'), String(seq));
    const inner = decode(openEnvelope(key, seq, env.body));
    seq += inner.length;
    return inner;
  });
}

const KEY = Buffer.alloc(32, 9);
const typing = (i: number): Message =>
  request('TYPING', { From: 'joe', To: 'alice', Typing: i % 2 ? 'typing' : 'paused' });
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('[SEAL-14] the envelope that ends a turn is written at once, without corking the socket for another tick (issue 15)', async () => {
  const { socket, calls, corks } = recordingSocket();
  const sender = new Sender(socket, Date.now, 1 << 20, { coalesce: true });
  sender.enableSealing(KEY);
  for (let i = 0; i < 3; i++) sender.write(typing(i));
  await turn();
  assert.equal(corks(), 0, 'the socket was corked for a single envelope');
  assert.equal(calls.length, 1);
  assert.deepEqual(
    openAll(Buffer.concat(calls[0]!), KEY).map((e) => e.length),
    [3],
  );
});

test('[SEAL-11] [SEAL-14] a turn of more than maxRecordsPerEnvelope messages leaves as its envelopes in order, in one writev', async () => {
  const { socket, calls } = recordingSocket();
  const sender = new Sender(socket, Date.now, 1 << 24, { coalesce: true });
  sender.enableSealing(KEY);
  const n = LIMITS.maxRecordsPerEnvelope * 2 + 5;
  for (let i = 0; i < n; i++) sender.write(typing(i));
  await turn();
  assert.equal(calls.length, 1, 'one writev for the whole turn');
  const envelopes = openAll(Buffer.concat(calls[0]!), KEY);
  assert.deepEqual(
    envelopes.map((e) => e.length),
    [LIMITS.maxRecordsPerEnvelope, LIMITS.maxRecordsPerEnvelope, 5],
  );
  assert.deepEqual(
    envelopes.flat().map((m) => anyHeader(m, 'Typing')),
    Array.from({ length: n }, (_, i) => (i % 2 ? 'typing' : 'paused')),
  );
});
