import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { anyHeader } from '../../codec/index.js';
import { buildInit, buildInitAck, openInit, openInitAck } from '../../reference/crypto/p2p.js';
import { generateIdentity } from '../../reference/crypto/keys.js';
import { RawPeer, befriend, closePeers, contactRecord, makePeer, next, rawListener } from './p2p-harness.js';

test('[P2P-1] [MSG-1] [P2P-12] INIT/INIT-ACK opens a session; MSG text and TYPING arrive; BYE drops the keys on both sides', async (t) => {
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

/** Sends a hand-built INIT from `from` (signed with `signer`) to `to` and returns the reply and whether the link closed. */
async function rawInit(toAddr: string, opts: Parameters<typeof buildInit>[0]) {
  const raw = await RawPeer.connect(toAddr);
  const { message, pending } = buildInit(opts);
  raw.write(message);
  const reply = await raw.read();
  return { raw, reply, pending, message };
}

async function expectRefusal(
  addr: string,
  opts: Parameters<typeof buildInit>[0],
  status: number,
  code: string,
): Promise<void> {
  const { raw, reply } = await rawInit(addr, opts);
  assert.ok(reply && reply.kind === 'response', 'an error response');
  assert.equal(reply.status, status);
  assert.equal(anyHeader(reply, 'Error-code'), code);
  await raw.closedPromise(); // then close
  assert.equal(await raw.read(), undefined);
}

test('[P2P-3] INIT from a user who is not a buddy (or only pending) is refused 403 ERR_NOT_BUDDY, then closed', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const mallory = { name: 'mallory', identity: generateIdentity() };
  const refused = next(bob.client, 'refused');
  await expectRefusal(
    bob.client.address,
    { from: 'mallory', to: 'bob', identity: mallory.identity, peerPublicKey: bob.identity.publicKey, time: Date.now() },
    403,
    'ERR_NOT_BUDDY',
  );
  assert.equal((await refused).code, 'ERR_NOT_BUDDY');
  bob.client.contacts.load([contactRecord(mallory, 'pending', '127.0.0.1:1')]);
  await expectRefusal(
    bob.client.address,
    { from: 'mallory', to: 'bob', identity: mallory.identity, peerPublicKey: bob.identity.publicKey, time: Date.now() },
    403,
    'ERR_NOT_BUDDY',
  );
  // [P2P-4] an INIT addressed to someone else is refused 403 (ERR_FORBIDDEN in the spec; the
  // crypto layer's openInit still says ERR_NOT_BUDDY).
  bob.client.contacts.load([contactRecord(mallory, 'buddy', '127.0.0.1:1')]);
  {
    const { raw, reply } = await rawInit(bob.client.address, {
      from: 'mallory',
      to: 'carol',
      identity: mallory.identity,
      peerPublicKey: bob.identity.publicKey,
      time: Date.now(),
    });
    assert.ok(reply?.kind === 'response' && reply.status === 403);
    assert.ok(['ERR_FORBIDDEN', 'ERR_NOT_BUDDY'].includes(anyHeader(reply, 'Error-code') ?? ''));
    await raw.closedPromise();
  }
  assert.equal(bob.client.sessionKeyCount(), 0);
});

test('[BLOCK-3] INIT from a blocked user is refused 403 ERR_BLOCKED, then closed; we cannot INIT him either', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const mallory = { name: 'mallory', identity: generateIdentity() };
  bob.client.contacts.load([contactRecord(mallory, 'blocked', '127.0.0.1:1')]);
  await expectRefusal(
    bob.client.address,
    { from: 'mallory', to: 'bob', identity: mallory.identity, peerPublicKey: bob.identity.publicKey, time: Date.now() },
    403,
    'ERR_BLOCKED',
  );
  await assert.rejects(bob.client.send('mallory', 'x'), { code: 'ERR_BLOCKED' });
});

test('[P2P-6] INIT signed by a key other than the one the MS delivered is refused 401 ERR_BAD_SIGNATURE', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const alice = { name: 'alice', identity: generateIdentity() };
  const impostor = generateIdentity();
  bob.client.contacts.load([contactRecord(alice, 'buddy', '127.0.0.1:1')]);
  await expectRefusal(
    bob.client.address,
    { from: 'alice', to: 'bob', identity: impostor, peerPublicKey: bob.identity.publicKey, time: Date.now() },
    401,
    'ERR_BAD_SIGNATURE',
  );
});

test('[SEAL-4] INIT not encrypted to our key is refused 401 ERR_DECRYPT', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const alice = { name: 'alice', identity: generateIdentity() };
  bob.client.contacts.load([contactRecord(alice, 'buddy', '127.0.0.1:1')]);
  await expectRefusal(
    bob.client.address,
    {
      from: 'alice',
      to: 'bob',
      identity: alice.identity,
      peerPublicKey: generateIdentity().publicKey,
      time: Date.now(),
    },
    401,
    'ERR_DECRYPT',
  );
});

test('[P2P-8] a replayed INIT and an INIT outside the clock skew are refused 450 ERR_REPLAY', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const alice = { name: 'alice', identity: generateIdentity() };
  bob.client.contacts.load([contactRecord(alice, 'buddy', '127.0.0.1:1')]);
  const params = {
    from: 'alice',
    to: 'bob',
    identity: alice.identity,
    peerPublicKey: bob.identity.publicKey,
    time: Date.now(),
  };
  const first = await rawInit(bob.client.address, params);
  assert.equal(first.reply?.kind === 'request' && first.reply.method, 'INIT-ACK');
  // The same octets again, on a new connection: a captured INIT replayed.
  const again = await RawPeer.connect(bob.client.address);
  again.write(first.message);
  const r = await again.read();
  assert.ok(r?.kind === 'response');
  assert.equal(r.status, 450);
  assert.equal(anyHeader(r, 'Error-code'), 'ERR_REPLAY');
  await again.closedPromise();
  first.raw.destroy();
  const skew = bob.client.limits.maxClockSkew;
  await expectRefusal(bob.client.address, { ...params, time: Date.now() - skew - 60_000 }, 450, 'ERR_REPLAY');
  await expectRefusal(bob.client.address, { ...params, time: Date.now() + skew + 60_000 }, 450, 'ERR_REPLAY');
});

test('[STATE-1] anything but INIT first is refused 425 ERR_OUT_OF_STATE, then closed', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const raw = await RawPeer.connect(bob.client.address);
  raw.write({
    kind: 'request',
    method: 'MSG',
    headers: [
      ['From', 'alice'],
      ['To', 'bob'],
      ['Content-type', 'text/plain'],
    ],
    body: Buffer.from('hi'),
  });
  const r = await raw.read();
  assert.ok(r?.kind === 'response');
  assert.ok(r.status === 425 || r.status === 405, `status ${r.status}`);
  await raw.closedPromise();
});

/** A complete handshake by hand; returns the raw peer and its session keys. */
async function handshake(bobAddr: string, bobPk: string, alice: { identity: ReturnType<typeof generateIdentity> }) {
  const { raw, reply, pending } = await rawInit(bobAddr, {
    from: 'alice',
    to: 'bob',
    identity: alice.identity,
    peerPublicKey: bobPk,
    time: Date.now(),
  });
  assert.ok(reply?.kind === 'request' && reply.method === 'INIT-ACK');
  const keys = openInitAck(reply, pending, { now: Date.now(), maxClockSkew: 300000 });
  return { raw, keys };
}

test('[SEAL-3] a replayed or reordered SEALED MSG is refused 450 ERR_REPLAY and the session closed', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const alice = { name: 'alice', identity: generateIdentity() };
  bob.client.contacts.load([contactRecord(alice, 'buddy', '127.0.0.1:1')]);
  const { raw, keys } = await handshake(bob.client.address, bob.identity.publicKey, alice);
  const msg = {
    kind: 'request' as const,
    method: 'MSG',
    headers: [
      ['From', 'alice'],
      ['To', 'bob'],
      ['Content-type', 'text/plain; charset=utf-8'],
    ] as [string, string][],
    body: Buffer.from('once'),
  };
  const env = raw.sealed(keys.send, 0, msg);
  const got = next(bob.client, 'message');
  raw.write(env);
  assert.equal((await got).text, 'once');
  const ok = (await raw.readOpen(keys.receive))!;
  assert.ok(ok.kind === 'response' && ok.status === 200);
  const ended = next(bob.client, 'session-end');
  raw.write(env); // the same envelope again
  // The link answers an envelope failure in clear, then closes.
  const err = (await raw.read())!;
  assert.ok(err.kind === 'response');
  assert.equal(err.status, 450);
  assert.equal(anyHeader(err, 'Error-code'), 'ERR_REPLAY');
  await raw.closedPromise();
  await ended;
  assert.equal(bob.client.sessionKeyCount(), 0);
});

test('[MSG-2] [MSG-3] [MSG-4] a MSG with a forged From or a non-text type is refused, and the session goes on', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const alice = { name: 'alice', identity: generateIdentity() };
  bob.client.contacts.load([contactRecord(alice, 'buddy', '127.0.0.1:1')]);
  const mk = (from: string, type = 'text/plain; charset=utf-8') => ({
    kind: 'request' as const,
    method: 'MSG',
    headers: [
      ['From', from],
      ['To', 'bob'],
      ['Content-type', type],
    ] as [string, string][],
    body: Buffer.from('x'),
  });
  const { raw, keys } = await handshake(bob.client.address, bob.identity.publicKey, alice);
  t.after(() => raw.destroy());
  raw.write(raw.sealed(keys.send, 0, mk('carol')));
  const forged = (await raw.readOpen(keys.receive))!;
  assert.ok(forged.kind === 'response' && forged.status === 403);
  assert.equal(anyHeader(forged, 'Error-code'), 'ERR_FORBIDDEN');
  raw.write(raw.sealed(keys.send, 1, mk('alice', 'image/png')));
  const typed = (await raw.readOpen(keys.receive))!;
  assert.ok(typed.kind === 'response' && typed.status === 422);
  assert.equal(anyHeader(typed, 'Error-code'), 'ERR_BAD_VALUE');
  const got = next(bob.client, 'message');
  raw.write(raw.sealed(keys.send, 2, mk('alice')));
  const ok = (await raw.readOpen(keys.receive))!;
  assert.ok(ok.kind === 'response' && ok.status === 200);
  assert.equal((await got).text, 'x');
  assert.equal(bob.client.sessionKeyCount(), 2);
});

test('[P2P-13] [ERR-6] a MSG after the peer was blocked mid-session is refused 403 ERR_NOT_BUDDY (never ERR_BLOCKED, which only an INIT gets), with BYE and close', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const alice = { name: 'alice', identity: generateIdentity() };
  bob.client.contacts.load([contactRecord(alice, 'buddy', '127.0.0.1:1')]);
  const { raw, keys } = await handshake(bob.client.address, bob.identity.publicKey, alice);
  // The book changes under a live session (as a CONTACT push would, minus the session drop).
  bob.client.contacts.contact('alice', 'blocked', 'offline');
  raw.write(
    raw.sealed(keys.send, 0, {
      kind: 'request',
      method: 'MSG',
      headers: [
        ['From', 'alice'],
        ['To', 'bob'],
        ['Content-type', 'text/plain'],
      ],
      body: Buffer.from('x'),
    }),
  );
  const err = (await raw.readOpen(keys.receive))!;
  assert.ok(err.kind === 'response' && err.status === 403);
  assert.equal(anyHeader(err, 'Error-code'), 'ERR_NOT_BUDDY');
  const bye = (await raw.readOpen(keys.receive))!;
  assert.ok(bye.kind === 'request' && bye.method === 'BYE');
  await raw.closedPromise();
  assert.equal(bob.client.sessionKeyCount(), 0);
});

test('[WIRE-LIMIT-4] a text message as large as one envelope allows arrives; a larger one is refused before sending', async (t) => {
  const alice = await makePeer('alice');
  const bob = await makePeer('bob');
  t.after(() => closePeers(alice, bob));
  befriend(alice, bob);
  const max = alice.client.limits.maxBodySize - 16 - 200;
  const text = 'a'.repeat(max);
  const got = next(bob.client, 'message');
  await alice.client.send('bob', text);
  assert.equal((await got).text.length, max);
  await assert.rejects(alice.client.send('bob', text + 'a'), { code: 'ERR_BODY_TOO_LARGE' });
  // The session survives a refusal made before sending.
  const small = next(bob.client, 'message');
  await alice.client.send('bob', 'still here');
  assert.equal((await small).text, 'still here');
});

test('[FILE-2] [FILE-3] files up to maxFileSize arrive intact with progress in both directions; larger ones are refused', async (t) => {
  const limits = { maxFileSize: 600_000 };
  const alice = await makePeer('alice', limits);
  const bob = await makePeer('bob', limits);
  t.after(() => closePeers(alice, bob));
  befriend(alice, bob);
  for (const size of [0, 1, 262144, 262145, limits.maxFileSize]) {
    const data = Buffer.alloc(size).map((_, i) => (i * 31 + size) & 0xff);
    const src = join(alice.dir, `f-${size}.bin`);
    await writeFile(src, data);
    const inProgress: number[] = [];
    const outProgress: number[] = [];
    const onIn = (e: { direction: string; done: number }) =>
      (e.direction === 'in' ? inProgress : outProgress).push(e.done);
    bob.client.on('file-progress', onIn);
    alice.client.on('file-progress', onIn);
    const got = next(bob.client, 'file');
    const sent = await alice.client.sendFile('bob', src);
    const f = await got;
    bob.client.off('file-progress', onIn);
    alice.client.off('file-progress', onIn);
    assert.equal(f.size, size);
    assert.equal(f.name, `f-${size}.bin`);
    assert.deepEqual(await readFile(f.path), data);
    assert.equal(sent.chunks, Math.max(1, Math.ceil(size / 262144)));
    assert.equal(inProgress.length, sent.chunks);
    assert.equal(inProgress.at(-1), size);
    assert.equal(outProgress.at(-1), size);
  }
  const big = join(alice.dir, 'big.bin');
  await writeFile(big, Buffer.alloc(limits.maxFileSize + 1));
  await assert.rejects(alice.client.sendFile('bob', big), { code: 'ERR_LIMIT' });
});

test('[P2P-15] simultaneous INITs leave one session, the one opened by the user whose name sorts first', async (t) => {
  const alice = await makePeer('alice');
  const bob = await makePeer('bob');
  t.after(() => closePeers(alice, bob));
  befriend(alice, bob);
  await Promise.all([alice.client.openSession('bob'), bob.client.openSession('alice')]);
  // Whatever the interleaving, messages flow both ways afterwards and each side ends with one session.
  const a = next(alice.client, 'message');
  const b = next(bob.client, 'message');
  await bob.client.send('alice', 'to alice');
  await alice.client.send('bob', 'to bob');
  assert.equal((await a).text, 'to alice');
  assert.equal((await b).text, 'to bob');
  assert.deepEqual(alice.client.sessionUsers(), ['bob']);
  assert.deepEqual(bob.client.sessionUsers(), ['alice']);
  assert.equal(alice.client.sessionKeyCount(), 2);
});

test('[CONN-4] a peer connection that sends no INIT within handshakeTimeout is closed', async (t) => {
  const bob = await makePeer('bob', { handshakeTimeout: 150 });
  t.after(() => closePeers(bob));
  const raw = await RawPeer.connect(bob.client.address);
  await raw.closedPromise();
  assert.ok(raw.closed);
});

test('[P2P-7] peer connections beyond maxPeerSessions are answered 503 ERR_UNAVAILABLE and closed', async (t) => {
  const bob = await makePeer('bob', { maxPeerSessions: 1 });
  t.after(() => closePeers(bob));
  const first = await RawPeer.connect(bob.client.address);
  t.after(() => first.destroy());
  await new Promise((r) => setImmediate(r));
  const second = await RawPeer.connect(bob.client.address);
  const r = await second.read();
  assert.ok(r?.kind === 'response');
  assert.equal(r.status, 503);
  assert.equal(anyHeader(r, 'Error-code'), 'ERR_UNAVAILABLE');
  await second.closedPromise();
});

test('[MSG-1] inside a session PING is answered 200 and an empty text message is delivered', async (t) => {
  const bob = await makePeer('bob');
  t.after(() => closePeers(bob));
  const alice = { name: 'alice', identity: generateIdentity() };
  bob.client.contacts.load([contactRecord(alice, 'buddy', '127.0.0.1:1')]);
  const { raw, keys } = await handshake(bob.client.address, bob.identity.publicKey, alice);
  t.after(() => raw.destroy());
  raw.write(raw.sealed(keys.send, 0, { kind: 'request', method: 'PING', headers: [], body: Buffer.alloc(0) }));
  const pong = (await raw.readOpen(keys.receive))!;
  assert.ok(pong.kind === 'response' && pong.status === 200);
  const got = next(bob.client, 'message');
  raw.write(
    raw.sealed(keys.send, 1, {
      kind: 'request',
      method: 'MSG',
      headers: [
        ['From', 'alice'],
        ['To', 'bob'],
        ['Content-type', 'text/plain'],
        ['Content-length', '0'],
      ],
      body: Buffer.alloc(0),
    }),
  );
  assert.equal((await got).text, '');
  const ok = (await raw.readOpen(keys.receive))!;
  assert.ok(ok.kind === 'response' && ok.status === 200);
});

test('[TYPING-2] a typing state not renewed in time is reported as paused; [TYPING-1] only changes are sent, at most one a second', async (t) => {
  const alice = await makePeer('alice');
  const bob = await makePeer('bob', { typingStaleMs: 80 });
  t.after(() => closePeers(alice, bob));
  befriend(alice, bob);
  // [TYPING-3] no session yet: nothing is sent, no session is opened for it.
  assert.equal(await alice.client.typing('bob', 'typing'), false);
  assert.deepEqual(alice.client.sessionUsers(), []);
  const m = next(bob.client, 'message');
  await alice.client.send('bob', 'hi');
  await m;
  const seen: string[] = [];
  bob.client.on('typing', (e) => seen.push(e.state));
  const paused = next(bob.client, 'typing', (e) => e.state === 'paused');
  assert.equal(await alice.client.typing('bob', 'typing'), true);
  await alice.client.typing('bob', 'typing'); // no change: not sent
  await paused;
  assert.deepEqual(seen, ['typing', 'paused']);
  // Changes faster than one a second are coalesced: the latest state goes out after the second.
  const erased = next(bob.client, 'typing', (e) => e.state === 'erased');
  await alice.client.typing('bob', 'paused');
  await alice.client.typing('bob', 'erased');
  await erased;
  assert.deepEqual(seen, ['typing', 'paused', 'erased']);
});

/** A hand-driven responder 'bob' for `alice`: answers INIT with a real (or tampered) INIT-ACK, then `script`. */
async function fakeResponder(
  t: { after: (fn: () => Promise<void> | void) => void },
  alice: { name: string; identity: ReturnType<typeof generateIdentity> },
  opts: {
    signWith?: ReturnType<typeof generateIdentity>;
    script?: (raw: RawPeer, keys: { send: Buffer; receive: Buffer }) => Promise<void>;
  },
) {
  const bob = { name: 'bob', identity: generateIdentity() };
  let report!: (closedWithoutMore: boolean) => void;
  const after = new Promise<boolean>((r) => (report = r));
  const listener = await rawListener((raw) => {
    void (async () => {
      const init = await raw.read();
      if (!init || init.kind !== 'request' || init.method !== 'INIT') return;
      const accepted = openInit(init, {
        self: 'bob',
        identity: bob.identity,
        lookup: () => ({ relation: 'buddy', publicKey: alice.identity.publicKey }),
        now: Date.now(),
        maxClockSkew: 300000,
      });
      const { message, keys } = buildInitAck({
        init: accepted,
        identity: opts.signWith ?? bob.identity,
        time: Date.now(),
      });
      raw.write(message);
      if (opts.script) await opts.script(raw, keys);
      else {
        report((await raw.read()) === undefined);
      }
    })();
  });
  t.after(() => listener.close());
  return { bob, address: listener.address, after };
}

test('[P2P-10] [P2P-11] an INIT-ACK that does not verify makes the initiator close without sending anything more', async (t) => {
  const alice = await makePeer('alice');
  t.after(() => closePeers(alice));
  const { bob, address, after } = await fakeResponder(t, alice, { signWith: generateIdentity() });
  alice.client.contacts.load([contactRecord(bob, 'buddy', address)]);
  const refused = next(alice.client, 'refused');
  await assert.rejects(alice.client.send('bob', 'secret'), { code: 'ERR_BAD_SIGNATURE' });
  assert.equal((await refused).direction, 'out');
  assert.equal(await after, true, 'the connection closed with nothing sent after INIT');
  assert.equal(alice.client.sessionKeyCount(), 0);
});

test('[RATE-6] a peer answering MSG 429 with Retry-after gets the same MSG again after the wait', async (t) => {
  const alice = await makePeer('alice');
  t.after(() => closePeers(alice));
  const bodies: string[] = [];
  const { bob, address } = await fakeResponder(t, alice, {
    script: async (raw, keys) => {
      let seq = 0;
      for (let i = 0; i < 2; i++) {
        const m = await raw.readOpen(keys.receive);
        if (!m) return;
        if (m.kind === 'request') bodies.push(m.body.toString());
        raw.write(
          raw.sealed(
            keys.send,
            seq++,
            i === 0
              ? {
                  kind: 'response',
                  status: 429,
                  reason: 'Rate limited',
                  headers: [
                    ['Error-code', 'ERR_RATE_LIMITED'],
                    ['Retry-after', '20'],
                  ],
                  body: Buffer.alloc(0),
                }
              : { kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) },
          ),
        );
      }
    },
  });
  alice.client.contacts.load([contactRecord(bob, 'buddy', address)]);
  await alice.client.send('bob', 'patient');
  assert.deepEqual(bodies, ['patient', 'patient']);
});

test('[RATE-6] [FILE-4] a file to a peer that answers 429 is sent again one chunk at a time under a new File-id', async (t) => {
  const alice = await makePeer('alice');
  t.after(() => closePeers(alice));
  const ids: string[] = [];
  const { bob, address } = await fakeResponder(t, alice, {
    script: async (raw, keys) => {
      let seq = 0;
      let first: string | undefined;
      for (;;) {
        const m = await raw.readOpen(keys.receive);
        if (!m) return;
        const id = anyHeader(m, 'File-id') ?? '';
        if (!ids.includes(id)) ids.push(id);
        first ??= id;
        const reply =
          id !== first
            ? { status: 200, reason: 'OK', headers: [] as [string, string][] }
            : anyHeader(m, 'Chunk')?.startsWith('0/')
              ? {
                  status: 429,
                  reason: 'Rate limited',
                  headers: [
                    ['Error-code', 'ERR_RATE_LIMITED'],
                    ['Retry-after', '10'],
                  ] as [string, string][],
                }
              : {
                  status: 422,
                  reason: 'Invalid header',
                  headers: [['Error-code', 'ERR_BAD_VALUE']] as [string, string][],
                };
        raw.write(raw.sealed(keys.send, seq++, { kind: 'response', ...reply, body: Buffer.alloc(0) }));
      }
    },
  });
  alice.client.contacts.load([contactRecord(bob, 'buddy', address)]);
  const src = join(alice.dir, 'three-chunks.bin');
  await writeFile(src, Buffer.alloc(600_000, 3));
  const sent = await alice.client.sendFile('bob', src);
  assert.equal(ids.length, 2);
  assert.equal(sent.fileId, ids[1]);
});
