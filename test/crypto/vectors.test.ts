// Re-derives every value in spec/test-vectors/*.json twice: from the generator (the committed files
// must be fresh) and independently, straight from node:crypto and the spec's formulas, so that a
// vector never just mirrors the reference code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  pbkdf2Sync,
  scryptSync,
  verify,
} from 'node:crypto';
import { makeVectors, vectorText, fixed } from '../../spec/test-vectors/make-vectors.js';
import { anyHeader, decode, encode, encodeRecords, parseRecords } from '../../codec/index.js';
import { openKeyBlob, openEnvelope } from '../../reference/crypto/index.js';
import { openInit, openInitAck, buildInit } from '../../reference/crypto/p2p.js';
import { identityFromPrivate } from '../../reference/crypto/keys.js';

type V = Record<string, any>;
const dir = new URL('../../spec/test-vectors/', import.meta.url);
const load = (f: string): V => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as V;
const u = (s: string): Buffer => Buffer.from(s, 'base64url');
const b = (x: Uint8Array): string => Buffer.from(x).toString('base64url');
const hmac = (k: Buffer, d: string | Buffer): Buffer => createHmac('sha256', k).update(d).digest();
const sha = (d: string | Buffer): Buffer => createHash('sha256').update(d).digest();
const hkdf = (ikm: Buffer, salt: Buffer, info: string, n: number): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, info, n));
const xor = (a: Buffer, c: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ c[i]!));

// X25519 through JWK (a different path from the reference code's DER prefixes).
function xPub(priv: Buffer): Buffer {
  const k = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b(priv), x: b(Buffer.alloc(32)) }, format: 'jwk' });
  return u(createPublicKey(k).export({ format: 'jwk' }).x!);
}
function dh(priv: Buffer, pub: Buffer): Buffer {
  return diffieHellman({
    privateKey: createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b(priv), x: b(xPub(priv)) }, format: 'jwk' }),
    publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b(pub) }, format: 'jwk' }),
  });
}
function edVerify(pub: Buffer, text: string, sig: Buffer): boolean {
  return verify(
    null,
    Buffer.from(text),
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b(pub) }, format: 'jwk' }),
    sig,
  );
}
function gcmOpen(key: Buffer, iv: Buffer, aad: string, sealed: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}
function gcmSeal(key: Buffer, iv: Buffer, aad: string, plain: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

test('test vectors: the committed files are what make-vectors.ts derives', () => {
  for (const [file, content] of Object.entries(makeVectors())) {
    assert.equal(
      readFileSync(new URL(file, dir), 'utf8'),
      vectorText(content),
      `spec/test-vectors/${file} is stale: run node --import tsx spec/test-vectors/make-vectors.ts`,
    );
  }
  assert.equal(fixed('x', 4).toString('hex'), sha('imsp test vector x').subarray(0, 4).toString('hex'));
});

test('[AUTH-8] login vectors re-derived from the formulas', () => {
  const f = load('login.json');
  assert.equal(f.vectors.length, 2);
  for (const v of f.vectors as V[]) {
    const i = v.inputs;
    assert.equal(u(i.passwordUtf8).toString('utf8'), i.password);
    const salted = pbkdf2Sync(Buffer.from(i.password, 'utf8'), u(i.salt), i.iterations, 32, 'sha256');
    assert.equal(b(salted), v.saltedPassword);
    const ck = hmac(salted, 'Client Key');
    assert.equal(b(ck), v.clientKey);
    assert.equal(b(sha(ck)), v.storedKey);
    assert.equal(b(hmac(salted, 'Server Key')), v.serverKey);
    assert.equal(v.eC, b(xPub(u(i.eCPrivate))));
    assert.equal(v.eS, b(xPub(u(i.eSPrivate))));
    assert.equal(v.nonce, i.cnonce + i.snonce);
    const auth = `imsp1-login,${i.user},${i.cnonce},${v.nonce},${i.salt},${i.iterations},${v.eC},${v.eS},${i.address}`;
    assert.equal(v.auth, auth);
    const sig = hmac(sha(ck), auth);
    assert.equal(b(sig), v.clientSignature);
    assert.equal(b(xor(ck, sig)), v.proof);
    assert.equal(b(hmac(u(v.serverKey), auth)), v.serverProof);
    const shared = dh(u(i.eCPrivate), u(v.eS));
    assert.deepEqual(shared, dh(u(i.eSPrivate), u(v.eC)));
    assert.equal(b(shared), v.x25519Shared);
    assert.equal(b(sha(auth)), v.hkdfSalt);
    const okm = hkdf(Buffer.concat([shared, ck]), sha(auth), 'imsp1 link', 64);
    assert.equal(b(okm), v.okm);
    assert.equal(b(okm.subarray(0, 32)), v.clientToMsKey);
    assert.equal(b(okm.subarray(32)), v.msToClientKey);
  }
  const dk = hmac(u(f.decoy.msKey), 'imsp1 decoy key');
  assert.equal(b(dk), f.decoy.decoyKey);
  assert.equal(b(hmac(dk, `imsp1 decoy,${f.decoy.user}`).subarray(0, 16)), f.decoy.salt);
});

test('enrollment vectors re-derived from the formulas', () => {
  for (const v of load('enroll.json').vectors as V[]) {
    const i = v.inputs;
    const key = u(i.msKey);
    assert.equal(v.eM, b(xPub(u(i.eMPrivate))));
    assert.equal(v.eR, b(xPub(u(i.eRPrivate))));
    const auth = `imsp1-enroll,${i.msId},${i.incarnation},${i.listen},${i.capacity},${i.mnonce},${i.cnonce},${v.eM},${v.eR}`;
    assert.equal(v.auth, auth);
    assert.equal(b(hmac(key, `ms,${auth}`)), v.proof);
    assert.equal(b(hmac(key, `crs,${auth}`)), v.serverProof);
    const shared = dh(u(i.eMPrivate), u(v.eR));
    assert.equal(b(shared), v.x25519Shared);
    const okm = hkdf(Buffer.concat([shared, key]), sha(auth), 'imsp1 link', 64);
    assert.equal(b(okm), v.okm);
    assert.equal(b(okm.subarray(0, 32)), v.msToCrsKey);
    assert.equal(b(okm.subarray(32)), v.crsToMsKey);
  }
});

test('[SEAL-4] [SEAL-5] SEALED vectors re-derived, and the envelope decodes and opens to its records', () => {
  const vs = load('sealed.json').vectors as V[];
  assert.equal(vs.length, 5);
  assert.ok(
    vs.some((v) => v.records > 1),
    'a vector with several records per envelope',
  );
  for (const v of vs) {
    const i = v.inputs;
    const iv = Buffer.alloc(12);
    iv.writeBigUInt64BE(BigInt(i.seq), 4);
    assert.equal(b(iv), v.iv);
    assert.equal(v.aad, 'imsp1 sealed');
    assert.equal(b(gcmSeal(u(i.key), iv, 'imsp1 sealed', u(i.inner))), v.body);
    assert.equal(u(i.inner).toString('latin1'), i.innerText);
    const wire = u(v.envelope);
    assert.equal(
      wire.toString('latin1'),
      `SEALED\r\nSeq: ${i.seq}\r\nContent-length: ${u(v.body).length}\r\n\r\n${u(v.body).toString('latin1')}`,
    );
    const [env] = decode(wire);
    assert.equal(anyHeader(env!, 'Seq'), String(i.seq));
    assert.deepEqual(openEnvelope(u(i.key), i.seq, env!.body), u(i.inner));
    const records = decode(u(i.inner));
    assert.equal(records.length, v.records);
    assert.equal(v.nextSeq, i.seq + records.length);
    // the records are complete messages, one after the other: their encodings add up to the plaintext
    assert.equal(
      records.reduce((n, r) => n + encode(r).length, 0),
      u(i.inner).length,
    );
  }
});

test('key blob vectors re-derived with scrypt, and the reference opens them', () => {
  for (const v of load('key-blob.json').vectors as V[]) {
    const i = v.inputs;
    assert.deepEqual(v.scrypt, { N: 1024, r: 8, p: 1, keyLength: 32 });
    const key = scryptSync(Buffer.from(i.password, 'utf8'), u(i.salt), 32, { N: 2 ** i.log2N, r: 8, p: 1 });
    assert.equal(b(key), v.key);
    assert.equal(v.aad, `imsp1 key-blob,${i.username}`);
    const plain = Buffer.concat([u(i.edSeed), u(i.xPrivate)]);
    assert.equal(b(plain), v.plaintext);
    const sealed = gcmSeal(key, u(i.iv), v.aad, plain);
    assert.equal(v.blob, `v1.${i.salt}.${i.log2N}.${i.iv}.${b(sealed)}`);
    const id = openKeyBlob(i.password, i.username, v.blob);
    assert.equal(id.publicKey, v.publicKey);
    const edPub = u(
      createPublicKey(
        createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: i.edSeed, x: b(Buffer.alloc(32)) }, format: 'jwk' }),
      ).export({ format: 'jwk' }).x!,
    );
    assert.equal(v.publicKey, `${b(edPub)}.${b(xPub(u(i.xPrivate)))}`);
  }
});

test('[P2P-6] INIT / INIT-ACK vectors re-derived from the formulas, and the reference accepts them', () => {
  for (const v of load('p2p.json').vectors as V[]) {
    const i = v.inputs;
    const [joeEd, joeX] = (v.initiatorPublicKey as string).split('.').map(u) as [Buffer, Buffer];
    const [aliceEd, aliceX] = (v.responderPublicKey as string).split('.').map(u) as [Buffer, Buffer];
    assert.deepEqual(aliceX, xPub(u(i.responderXPrivate)));
    assert.deepEqual(joeX, xPub(u(i.initiatorXPrivate)));
    // INIT
    const n = v.init;
    assert.equal(n.eI, b(xPub(u(i.eIPrivate))));
    const signed = `imsp1-init,${i.initiator},${i.responder},${i.time},${i.nI},${n.eI},${i.secret}`;
    assert.equal(n.signedText, signed);
    assert.ok(edVerify(joeEd, signed, u(n.signature)));
    const rec = `From: ${i.initiator}\r\nTo: ${i.responder}\r\nTime: ${i.time}\r\nSecret: ${i.secret}\r\nSignature: ${n.signature}\r\n`;
    assert.equal(n.record, rec);
    assert.equal(encodeRecords(parseRecords(Buffer.from(rec))).toString('latin1'), rec);
    const shared1 = dh(u(i.eIPrivate), aliceX);
    assert.deepEqual(shared1, dh(u(i.responderXPrivate), u(n.eI)));
    assert.equal(b(shared1), n.x25519Shared);
    const k1 = hkdf(shared1, Buffer.alloc(0), `imsp1 init,${n.eI},${i.nI}`, 32);
    assert.equal(b(k1), n.k1);
    assert.equal(n.hkdfInfo, `imsp1 init,${n.eI},${i.nI}`);
    assert.equal(b(gcmSeal(k1, Buffer.alloc(12), 'imsp1 init', Buffer.from(rec))), n.body);
    assert.equal(gcmOpen(k1, Buffer.alloc(12), 'imsp1 init', u(n.body)).toString('latin1'), rec);
    const [init] = decode(u(n.wire));
    assert.ok(init && init.kind === 'request' && init.method === 'INIT');
    assert.deepEqual(
      init.headers.map(([h]) => h),
      ['Imsp-version', 'Key-share', 'Nonce', 'Content-length'],
    );
    assert.equal(anyHeader(init, 'Key-share'), n.eI);
    assert.equal(anyHeader(init, 'Nonce'), i.nI);
    // INIT-ACK
    const a = v.initAck;
    assert.equal(a.eR, b(xPub(u(i.eRPrivate))));
    const ackSigned = `imsp1-init-ack,${i.responder},${i.initiator},${i.ackTime},${i.nI},${i.nR},${n.eI},${a.eR}`;
    assert.equal(a.signedText, ackSigned);
    assert.ok(edVerify(aliceEd, ackSigned, u(a.signature)));
    const shared2 = dh(u(i.eRPrivate), u(n.eI));
    assert.equal(b(shared2), a.x25519Shared);
    const ikm = Buffer.concat([u(i.secret), shared2]);
    assert.equal(b(ikm), a.hkdfIkm);
    const okm = hkdf(ikm, Buffer.from(i.nI + i.nR, 'ascii'), `imsp1 p2p,${i.initiator},${i.responder}`, 96);
    assert.equal(b(okm), a.okm);
    assert.equal(b(okm.subarray(64)), a.ackKey);
    const ackRec = `From: ${i.responder}\r\nTo: ${i.initiator}\r\nTime: ${i.ackTime}\r\nSignature: ${a.signature}\r\n`;
    assert.equal(a.record, ackRec);
    assert.equal(b(gcmSeal(okm.subarray(64), Buffer.alloc(12), 'imsp1 init-ack', Buffer.from(ackRec))), a.body);
    assert.equal(b(okm.subarray(0, 32)), v.initiatorToResponderKey);
    assert.equal(b(okm.subarray(32, 64)), v.responderToInitiatorKey);
    // the reference accepts the recorded messages
    const joe = identityFromPrivate(u(i.initiatorEdSeed), u(i.initiatorXPrivate));
    const alice = identityFromPrivate(u(i.responderEdSeed), u(i.responderXPrivate));
    const acc = openInit(init, {
      self: i.responder,
      identity: alice,
      lookup: () => ({ relation: 'buddy', publicKey: joe.publicKey }),
      now: i.time,
      maxClockSkew: 300000,
    });
    assert.equal(b(acc.secret), i.secret);
    const { pending } = buildInit({
      from: i.initiator,
      to: i.responder,
      identity: joe,
      peerPublicKey: alice.publicKey,
      time: i.time,
      ephemeralPrivate: u(i.eIPrivate),
      nonce: i.nI,
      secret: u(i.secret),
    });
    const [ack] = decode(u(a.wire));
    const keys = openInitAck(ack!, pending, { now: i.ackTime, maxClockSkew: 300000 });
    assert.equal(b(keys.send), v.initiatorToResponderKey);
    assert.equal(b(keys.receive), v.responderToInitiatorKey);
  }
});
