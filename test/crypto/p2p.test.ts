import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anyHeader, decode, encode, validate, type Message } from '../../codec/index.js';
import { generateIdentity, b64, unb64, CryptoError, type Identity } from '../../reference/crypto/index.js';
import {
  buildInit,
  openInit,
  buildInitAck,
  openInitAck,
  NonceCache,
  type PeerLookup,
} from '../../reference/crypto/p2p.js';

const SKEW = 300_000;
const T = 1_767_225_600_000;
const joe = generateIdentity();
const alice = generateIdentity();
const mallory = generateIdentity();

function code(c: string) {
  return (e: unknown): boolean => e instanceof CryptoError && e.code === c;
}
const buddy = (id: Identity) => (): PeerLookup => ({ relation: 'buddy', publicKey: id.publicKey });
const wire = (m: Message): Message => decode(encode(m))[0]!;

test('[P2P-6] INIT then INIT-ACK give both ends mirrored session keys', () => {
  const { message, pending } = buildInit({
    from: 'joe',
    to: 'alice',
    identity: joe,
    peerPublicKey: alice.publicKey,
    time: T,
  });
  assert.equal(validate(message, { from: 'client', to: 'client' }), null);
  const init = wire(message);
  const acc = openInit(init, {
    self: 'alice',
    identity: alice,
    lookup: buddy(joe),
    now: T + 1000,
    maxClockSkew: SKEW,
    nonces: new NonceCache(2 * SKEW),
  });
  assert.equal(acc.from, 'joe');
  assert.equal(acc.peerPublicKey, joe.publicKey);
  const { message: ack, keys: rk } = buildInitAck({ init: acc, identity: alice, time: T + 1000 });
  assert.equal(validate(ack, { from: 'client', to: 'client' }), null);
  const ik = openInitAck(wire(ack), pending, { now: T, maxClockSkew: SKEW });
  assert.deepEqual(ik.send, rk.receive);
  assert.deepEqual(ik.receive, rk.send);
  assert.notDeepEqual(ik.send, ik.receive);
  // only the word, key share and nonce are in clear: no names, no secret
  const text = encode(message).toString('latin1');
  assert.ok(!text.includes('joe') && !text.includes('alice'));
});

test('[P2P-4] [P2P-3] [BLOCK-3] INIT refusals: not for me, not a buddy, blocked', () => {
  const { message } = buildInit({ from: 'joe', to: 'alice', identity: joe, peerPublicKey: alice.publicKey, time: T });
  const base = { identity: alice, now: T, maxClockSkew: SKEW };
  assert.throws(() => openInit(message, { ...base, self: 'carol', lookup: buddy(joe) }), code('ERR_FORBIDDEN'));
  assert.throws(
    () => openInit(message, { ...base, self: 'alice', lookup: () => ({ relation: 'buddy' }) }),
    code('ERR_NOT_BUDDY'),
  ); // no key delivered
  assert.throws(
    () => openInit(message, { ...base, self: 'alice', lookup: () => ({ relation: 'blocked' }) }),
    code('ERR_NOT_BUDDY'),
  );
  assert.throws(
    () =>
      openInit(message, {
        ...base,
        self: 'alice',
        lookup: () => ({ relation: 'buddy', publicKey: joe.publicKey, blocked: true }),
      }),
    code('ERR_BLOCKED'),
  );
  assert.throws(
    () => openInit(message, { ...base, self: 'alice', lookup: () => ({ relation: 'none' }) }),
    code('ERR_NOT_BUDDY'),
  );
  assert.throws(
    () => openInit(message, { ...base, self: 'alice', lookup: () => ({ relation: 'pending' }) }),
    code('ERR_NOT_BUDDY'),
  );
  assert.throws(
    () =>
      openInit(message, { ...base, self: 'alice', lookup: () => ({ relation: 'blocked', publicKey: joe.publicKey }) }),
    code('ERR_BLOCKED'),
  );
});

test('[P2P-6] INIT with a forged signature (mallory claims to be joe) is refused with ERR_BAD_SIGNATURE', () => {
  const { message } = buildInit({
    from: 'joe',
    to: 'alice',
    identity: mallory,
    peerPublicKey: alice.publicKey,
    time: T,
  });
  assert.throws(
    () => openInit(message, { self: 'alice', identity: alice, lookup: buddy(joe), now: T, maxClockSkew: SKEW }),
    code('ERR_BAD_SIGNATURE'),
  );
});

test('[SEAL-4] INIT that does not decrypt: wrong recipient key, tampered body, bad key share', () => {
  const { message } = buildInit({ from: 'joe', to: 'alice', identity: joe, peerPublicKey: mallory.publicKey, time: T });
  const p = { self: 'alice', identity: alice, lookup: buddy(joe), now: T, maxClockSkew: SKEW };
  assert.throws(() => openInit(message, p), code('ERR_DECRYPT'));
  const good = buildInit({ from: 'joe', to: 'alice', identity: joe, peerPublicKey: alice.publicKey, time: T }).message;
  const body = Buffer.from(good.body);
  body[5]! ^= 0x40;
  assert.throws(() => openInit({ ...good, body }, p), code('ERR_DECRYPT'));
  const headers = good.headers.map(
    ([n, v]) => (n === 'Key-share' ? [n, b64(Buffer.alloc(32))] : [n, v]) as [string, string],
  );
  assert.throws(() => openInit({ ...good, headers }, p), code('ERR_DECRYPT'));
  const noNonce = good.headers.filter(([n]) => n !== 'Nonce');
  assert.throws(() => openInit({ ...good, headers: noNonce }, p), code('ERR_DECRYPT'));
  // a different nonce changes k1: the body no longer opens
  const otherNonce = good.headers.map(([n, v]) => (n === 'Nonce' ? [n, 'A'.repeat(24)] : [n, v]) as [string, string]);
  assert.throws(() => openInit({ ...good, headers: otherNonce }, p), code('ERR_DECRYPT'));
});

test('[P2P-8] INIT replay and clock skew are refused with ERR_REPLAY', () => {
  const { message } = buildInit({ from: 'joe', to: 'alice', identity: joe, peerPublicKey: alice.publicKey, time: T });
  const nonces = new NonceCache(2 * SKEW);
  const p = { self: 'alice', identity: alice, lookup: buddy(joe), maxClockSkew: SKEW, nonces };
  openInit(message, { ...p, now: T });
  assert.throws(() => openInit(message, { ...p, now: T + 10 }), code('ERR_REPLAY'));
  assert.throws(
    () => openInit(message, { ...p, now: T + SKEW + 1, nonces: new NonceCache(2 * SKEW) }),
    code('ERR_REPLAY'),
  );
  assert.throws(
    () => openInit(message, { ...p, now: T - SKEW - 1, nonces: new NonceCache(2 * SKEW) }),
    code('ERR_REPLAY'),
  );
});

test('[P2P-7] [P2P-8] NonceCache forgets after the window, stays bounded, and refuses when full', () => {
  const c = new NonceCache(100, 3);
  assert.ok(c.checkAndAdd('a', 0));
  assert.equal(c.checkAndAdd('a', 50), false);
  assert.equal(c.check('a', 100), 'seen');
  assert.ok(c.checkAndAdd('a', 201)); // 'a' expired
  assert.deepEqual(
    ['b', 'c', 'd', 'e'].map((n) => c.check(n, 210)),
    ['fresh', 'fresh', 'full', 'full'],
  );
  assert.equal(c.size, 3);
  assert.equal(c.check('d', 400), 'fresh'); // all expired: room again
  const { message } = buildInit({ from: 'joe', to: 'alice', identity: joe, peerPublicKey: alice.publicKey, time: T });
  const full = new NonceCache(2 * SKEW, 1);
  full.check('x', T);
  assert.throws(
    () =>
      openInit(message, {
        self: 'alice',
        identity: alice,
        lookup: buddy(joe),
        now: T,
        maxClockSkew: SKEW,
        nonces: full,
      }),
    code('ERR_UNAVAILABLE'),
  );
});

test('[P2P-18] an INIT whose decrypted block is not one record is refused with ERR_BAD_RECORDS', async () => {
  const { encodeRecords } = await import('../../codec/index.js');
  const { aeadSeal, x25519, generateKeyShare } = await import('../../reference/crypto/index.js');
  const { initKey, INIT_AAD } = await import('../../reference/crypto/p2p.js');
  const e = generateKeyShare();
  const nI = 'N'.repeat(24);
  const k1 = initKey(x25519(e.privateKey, alice.xPublic), b64(e.publicKey), nI);
  const p = { self: 'alice', identity: alice, lookup: buddy(joe), now: T, maxClockSkew: SKEW };
  const bodies = [
    Buffer.from('not records'),
    encodeRecords([[['From', 'joe']], [['From', 'joe']]]),
    encodeRecords([
      [
        ['From', 'joe'],
        ['To', 'alice'],
        ['Time', 'soon'],
        ['Secret', 'x'],
        ['Signature', 'y'],
      ],
    ]),
    encodeRecords([
      [
        ['From', 'joe'],
        ['To', 'alice'],
      ],
    ]),
  ];
  for (const plain of bodies) {
    const msg = {
      headers: [
        ['Key-share', b64(e.publicKey)],
        ['Nonce', nI],
      ] as [string, string][],
      body: aeadSeal(k1, Buffer.alloc(12), INIT_AAD, plain),
    };
    assert.throws(() => openInit(msg, p), code('ERR_BAD_RECORDS'), plain.toString());
  }
});

test('[P2P-6] INIT-ACK refusals: wrong signer, wrong names, tampered, skewed', () => {
  const { message, pending } = buildInit({
    from: 'joe',
    to: 'alice',
    identity: joe,
    peerPublicKey: alice.publicKey,
    time: T,
  });
  const acc = openInit(message, { self: 'alice', identity: alice, lookup: buddy(joe), now: T, maxClockSkew: SKEW });
  const q = { now: T, maxClockSkew: SKEW };
  const forged = buildInitAck({ init: acc, identity: mallory, time: T }).message;
  assert.throws(() => openInitAck(forged, pending, q), code('ERR_BAD_SIGNATURE'));
  const wrongNames = buildInitAck({ init: { ...acc, to: 'carol' }, identity: alice, time: T }).message;
  assert.throws(() => openInitAck(wrongNames, pending, q), code('ERR_DECRYPT')); // names are in the HKDF info
  const good = buildInitAck({ init: acc, identity: alice, time: T }).message;
  const body = Buffer.from(good.body);
  body[body.length - 1]! ^= 1;
  assert.throws(() => openInitAck({ ...good, body }, pending, q), code('ERR_DECRYPT'));
  assert.throws(() => openInitAck(good, pending, { now: T + SKEW + 1, maxClockSkew: SKEW }), code('ERR_REPLAY'));
  assert.throws(
    () => openInitAck({ ...good, headers: good.headers.filter(([n]) => n !== 'Key-share') }, pending, q),
    code('ERR_DECRYPT'),
  );
  assert.equal(anyHeader(good, 'Nonce')!.length, 24);
  assert.equal(unb64(anyHeader(good, 'Key-share')!).length, 32);
});

test('[P2P-6] hostile INIT / INIT-ACK input: any mutation gives a typed error, never another exception', async () => {
  const fc = (await import('fast-check')).default;
  const { ImspError } = await import('../../codec/index.js');
  const { message, pending } = buildInit({
    from: 'joe',
    to: 'alice',
    identity: joe,
    peerPublicKey: alice.publicKey,
    time: T,
  });
  const acc = openInit(message, { self: 'alice', identity: alice, lookup: buddy(joe), now: T, maxClockSkew: SKEW });
  const { message: ack } = buildInitAck({ init: acc, identity: alice, time: T });
  const mutate = (m: Message, which: number, at: number, flip: number, text: string): Message => {
    if (which % 3 === 0) {
      const body = Buffer.from(m.body);
      if (body.length) body[at % body.length]! ^= flip;
      return { ...m, body };
    }
    const headers = m.headers.map(
      ([n, v], i) =>
        (i === at % m.headers.length ? [n, which % 3 === 1 ? text : v.slice(0, at % (v.length + 1))] : [n, v]) as [
          string,
          string,
        ],
    );
    return { ...m, headers };
  };
  fc.assert(
    fc.property(
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.string({ maxLength: 60 }),
      (which, at, flip, text) => {
        const bad = mutate(message, which, at, flip, text);
        try {
          openInit(bad, { self: 'alice', identity: alice, lookup: buddy(joe), now: T, maxClockSkew: SKEW });
        } catch (e) {
          assert.ok(e instanceof ImspError, String(e));
        }
        const badAck = mutate(ack, which, at, flip, text);
        try {
          openInitAck(badAck, pending, { now: T, maxClockSkew: SKEW });
        } catch (e) {
          assert.ok(e instanceof ImspError, String(e));
        }
      },
    ),
    { numRuns: 300 },
  );
});
