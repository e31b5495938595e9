// The kit's own crypto (conformance/lib/crypto.ts, written from [§6 Cryptography and Link Protection] without
// reference/) re-derives every vector in spec/test-vectors/*.json, made from the reference crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as c from '../../conformance/lib/crypto.js';
import { buildInitAck, openInit, openInitAck } from '../../conformance/lib/p2p.js';
import { decode, encodeRecords } from '../../codec/index.js';

type V = Record<string, unknown> & { inputs: Record<string, string | number> };
const vectors = (name: string): V[] =>
  (
    JSON.parse(readFileSync(new URL(`../../spec/test-vectors/${name}.json`, import.meta.url), 'utf8')) as {
      vectors: V[];
    }
  ).vectors;
const u = (s: string): Buffer => c.unb64(s, 'a vector value', 'spec/test-vectors');

test('[AUTH-4] [AUTH-11] SCRAM login keys, proof, server proof and link keys match spec/test-vectors/login.json', () => {
  for (const v of vectors('login')) {
    const i = v.inputs;
    const k = c.scramKeys(String(i.password), u(String(i.salt)), Number(i.iterations));
    assert.equal(c.b64(k.saltedPassword), v.saltedPassword);
    assert.equal(c.b64(k.clientKey), v.clientKey);
    assert.equal(c.b64(k.storedKey), v.storedKey);
    assert.equal(c.b64(k.serverKey), v.serverKey);
    const eC = c.b64(c.publicFromPrivate('X25519', u(String(i.eCPrivate))));
    const eS = c.b64(c.publicFromPrivate('X25519', u(String(i.eSPrivate))));
    assert.equal(eC, v.eC);
    assert.equal(eS, v.eS);
    const nonce = String(i.cnonce) + String(i.snonce);
    const auth = c.loginAuth({
      user: String(i.user),
      cnonce: String(i.cnonce),
      nonce,
      salt: String(i.salt),
      iterations: i.iterations,
      eC,
      eS,
      address: String(i.address),
    });
    assert.equal(auth, v.auth);
    assert.equal(c.b64(c.clientProof(k.clientKey, k.storedKey, auth)), v.proof);
    assert.ok(c.verifyClientProof(u(String(v.proof)), k.storedKey, auth));
    assert.equal(c.b64(c.loginServerProof(k.serverKey, auth)), v.serverProof);
    const shared = c.x25519(u(String(i.eCPrivate)), u(eS));
    assert.equal(c.b64(shared), v.x25519Shared);
    const keys = c.loginLinkKeys(shared, k.clientKey, auth);
    assert.equal(c.b64(keys.up), v.clientToMsKey);
    assert.equal(c.b64(keys.down), v.msToClientKey);
  }
});

test('[ENROLL-4] enrollment proofs and link keys match spec/test-vectors/enroll.json', () => {
  for (const v of vectors('enroll')) {
    const i = v.inputs;
    const eM = c.b64(c.publicFromPrivate('X25519', u(String(i.eMPrivate))));
    const eR = c.b64(c.publicFromPrivate('X25519', u(String(i.eRPrivate))));
    assert.equal(eM, v.eM);
    assert.equal(eR, v.eR);
    const auth = c.enrollAuth({
      msId: String(i.msId),
      incarnation: i.incarnation,
      listen: String(i.listen),
      capacity: i.capacity,
      mnonce: String(i.mnonce),
      cnonce: String(i.cnonce),
      eM,
      eR,
    });
    assert.equal(auth, v.auth);
    const key = u(String(i.msKey));
    assert.equal(c.b64(c.enrollProof(key, auth)), v.proof);
    assert.equal(c.b64(c.enrollServerProof(key, auth)), v.serverProof);
    const keys = c.enrollLinkKeys(c.x25519(u(String(i.eMPrivate)), u(eR)), key, auth);
    assert.equal(c.b64(keys.up), v.msToCrsKey);
    assert.equal(c.b64(keys.down), v.crsToMsKey);
  }
});

test('[SEAL-5] SEALED bodies match spec/test-vectors/sealed.json and open again', () => {
  for (const v of vectors('sealed')) {
    const i = v.inputs;
    const body = c.sealBody(u(String(i.key)), Number(i.seq), u(String(i.inner)));
    assert.equal(c.b64(body), v.body);
    assert.deepEqual(c.openBody(u(String(i.key)), Number(i.seq), body), u(String(i.inner)));
    assert.equal(c.openBody(u(String(i.key)), Number(i.seq) + 1, body), null);
    const env = decode(u(String(v.envelope)))[0]!;
    assert.equal(env.kind === 'request' && env.method, 'SEALED');
    assert.deepEqual(env.body, body);
  }
});

test('[KEYBLOB-1] key blobs match spec/test-vectors/key-blob.json and open with the password only', () => {
  for (const v of vectors('key-blob')) {
    const i = v.inputs;
    const id = c.identityFromPrivate(u(String(i.edSeed)), u(String(i.xPrivate)));
    assert.equal(id.publicKey, v.publicKey);
    const blob = c.sealKeyBlob(
      String(i.password),
      String(i.username),
      id,
      Number(i.log2N),
      u(String(i.salt)),
      u(String(i.iv)),
    );
    assert.equal(blob, v.blob);
    assert.equal(c.openKeyBlob(String(i.password), String(i.username), blob, 'a vector')?.publicKey, v.publicKey);
    assert.equal(c.openKeyBlob(String(i.password) + 'x', String(i.username), blob, 'a vector'), null);
    assert.equal(c.openKeyBlob(String(i.password), String(i.username) + 'x', blob, 'a vector'), null);
  }
});

test('[P2P-2] [P2P-9] INIT and INIT-ACK from spec/test-vectors/p2p.json open with the kit and give the same session keys', () => {
  for (const v of vectors('p2p')) {
    const i = v.inputs;
    const init = v.init as Record<string, string>;
    const ack = v.initAck as Record<string, string>;
    const joe = c.identityFromPrivate(u(String(i.initiatorEdSeed)), u(String(i.initiatorXPrivate)));
    const alice = c.identityFromPrivate(u(String(i.responderEdSeed)), u(String(i.responderXPrivate)));
    assert.equal(joe.publicKey, v.initiatorPublicKey);
    assert.equal(alice.publicKey, v.responderPublicKey);
    assert.equal(c.b64(c.initKey(u(String(i.eIPrivate)), alice.agreement.publicKey, init.eI!, String(i.nI))), init.k1);
    const msg = decode(u(init.wire!))[0]!;
    assert.ok(msg.kind === 'request');
    const opened = openInit(msg, alice, (user) => (user === 'joe' ? joe.publicKey : undefined));
    assert.ok(!('error' in opened));
    assert.equal(opened.signatureOk, true);
    assert.equal(c.b64(opened.secret), i.secret);
    assert.equal(
      encodeRecords([
        [
          ['From', 'joe'],
          ['To', 'alice'],
          ['Time', String(i.time)],
          ['Secret', String(i.secret)],
          ['Signature', init.signature!],
        ],
      ]).toString(),
      init.record,
    );
    const ackMsg = decode(u(ack.wire!))[0]!;
    assert.ok(ackMsg.kind === 'request');
    const st = {
      from: 'joe',
      to: 'alice',
      eIPriv: Buffer.from(u(String(i.eIPrivate))),
      eI: init.eI!,
      nI: String(i.nI),
      secret: Buffer.from(u(String(i.secret))),
    };
    const done = openInitAck(st, ackMsg, alice.publicKey);
    assert.ok('keys' in done, 'error' in done ? done.error : '');
    assert.equal(c.b64(done.keys.i2r), v.initiatorToResponderKey);
    assert.equal(c.b64(done.keys.r2i), v.responderToInitiatorKey);
    assert.equal(c.b64(done.keys.ack), ack.ackKey);
    // And the kit's own responder side round-trips with its initiator side.
    const back = buildInitAck(opened, alice);
    const again = openInitAck(st, back.msg, alice.publicKey);
    assert.ok('keys' in again);
    assert.deepEqual(again.keys.i2r, back.keys.i2r);
  }
});
