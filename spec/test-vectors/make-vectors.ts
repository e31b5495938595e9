/**
 * Generates the IMSP crypto test vectors (spec/test-vectors/*.json) from the reference implementation
 * (reference/crypto). Every "random" input is fixed: fixed(label, n) = the first n octets of
 * SHA-256("imsp test vector " + label) (n <= 32). Every binary value is base64url without padding,
 * as on the wire. Each vector lists its inputs and every intermediate value, so an independent
 * implementation (the conformance kit) can find the first step where it differs.
 *
 * Usage: `node --import tsx spec/test-vectors/make-vectors.ts` writes the files;
 * `--check` exits 1 when a committed file differs from what the code derives.
 * @module
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode, encodeRecords, type Header } from '../../codec/index.js';
import {
  b64, saltedPassword, clientKey, storedKey, serverKey, loginAuthMessage, clientProof, serverProof,
  enrollAuthMessage, msProof, crsProof, loginLinkKeys, enrollLinkKeys, generateKeyShare, x25519,
  identityFromPrivate, sign, sealKeyBlob, keyBlobKey, keyBlobAad, sealEnvelope, sealedIv, SEALED_AAD, decoyKey, decoySalt,
} from '../../reference/crypto/index.js';
import {
  buildInit, buildInitAck, openInit, initTranscript, initAckTranscript, initKey, p2pOkm, INIT_AAD, INIT_ACK_AAD,
} from '../../reference/crypto/p2p.js';

/** fixed(label, n): the first n octets of SHA-256("imsp test vector " + label). */
export function fixed(label: string, n = 32): Buffer {
  if (n > 32) throw new RangeError('fixed() gives at most 32 octets');
  return createHash('sha256').update(`imsp test vector ${label}`).digest().subarray(0, n);
}

const hmac = (k: Uint8Array, d: string): Buffer => createHmac('sha256', k).update(d).digest();
const sha = (d: string | Uint8Array): Buffer => createHash('sha256').update(d).digest();

const FIXED_RULE = 'fixed(label, n) = first n octets of SHA-256(ASCII "imsp test vector " + label); binary values are base64url without padding (b64)';

function share(label: string): { private: string; public: string; priv: Buffer; pub: Buffer } {
  const k = generateKeyShare(fixed(label));
  return { private: b64(k.privateKey), public: b64(k.publicKey), priv: k.privateKey, pub: k.publicKey };
}

function loginVector(name: string, password: string, user: string, iterations: number, address: string): Record<string, unknown> {
  const salt = fixed(`${name} salt`, 16);
  const cnonce = b64(fixed(`${name} cnonce`, 18));
  const snonce = b64(fixed(`${name} snonce`, 18));
  const nonce = cnonce + snonce;
  const eC = share(`${name} eC`);
  const eS = share(`${name} eS`);
  const salted = saltedPassword(password, salt, iterations);
  const ck = clientKey(salted);
  const sk = storedKey(ck);
  const svk = serverKey(salted);
  const auth = loginAuthMessage({ user, cnonce, nonce, salt: b64(salt), iterations, eC: eC.public, eS: eS.public, address });
  const shared = x25519(eC.priv, eS.pub);
  const okm = Buffer.from(hkdfSync('sha256', Buffer.concat([shared, ck]), sha(auth), 'imsp1 link', 64));
  const keys = loginLinkKeys('client', shared, ck, auth);
  return {
    name,
    inputs: {
      password, passwordUtf8: b64(Buffer.from(password, 'utf8')), user, salt: b64(salt), iterations, cnonce, snonce,
      eCPrivate: eC.private, eSPrivate: eS.private, address,
    },
    saltedPassword: b64(salted), clientKey: b64(ck), storedKey: b64(sk), serverKey: b64(svk),
    eC: eC.public, eS: eS.public, nonce, auth,
    clientSignature: b64(hmac(sk, auth)), proof: b64(clientProof(ck, auth)), serverProof: b64(serverProof(svk, auth)),
    x25519Shared: b64(shared), hkdfSalt: b64(sha(auth)), hkdfInfo: 'imsp1 link', okm: b64(okm),
    clientToMsKey: b64(keys.send), msToClientKey: b64(keys.receive),
  };
}

function enrollVector(name: string): Record<string, unknown> {
  const msKey = fixed(`${name} ms key`);
  const eM = share(`${name} eM`);
  const eR = share(`${name} eR`);
  const t = { msId: 'ms-1', incarnation: 1700000000000, listen: '127.0.0.1:7100', capacity: 1000, mnonce: b64(fixed(`${name} mnonce`, 18)), cnonce: b64(fixed(`${name} cnonce`, 18)), eM: eM.public, eR: eR.public };
  const auth = enrollAuthMessage(t);
  const shared = x25519(eM.priv, eR.pub);
  const keys = enrollLinkKeys('ms', shared, msKey, auth);
  return {
    name,
    inputs: { msKey: b64(msKey), msId: t.msId, incarnation: t.incarnation, listen: t.listen, capacity: t.capacity, mnonce: t.mnonce, cnonce: t.cnonce, eMPrivate: eM.private, eRPrivate: eR.private },
    eM: eM.public, eR: eR.public, auth,
    proof: b64(msProof(msKey, auth)), serverProof: b64(crsProof(msKey, auth)),
    x25519Shared: b64(shared), hkdfSalt: b64(sha(auth)), hkdfInfo: 'imsp1 link',
    okm: b64(Buffer.from(hkdfSync('sha256', Buffer.concat([shared, msKey]), sha(auth), 'imsp1 link', 64))),
    msToCrsKey: b64(keys.send), crsToMsKey: b64(keys.receive),
  };
}

function sealedVector(name: string, seq: number, inner: Buffer, records = 1): Record<string, unknown> {
  const key = fixed(`${name} key`);
  const body = sealEnvelope(key, seq, inner);
  const wire = encode({ kind: 'request', method: 'SEALED', headers: [['Seq', String(seq)]], body });
  return {
    name,
    inputs: { key: b64(key), seq, inner: b64(inner), innerText: inner.toString('latin1') },
    records, nextSeq: seq + records,
    iv: b64(sealedIv(seq)), aad: SEALED_AAD, body: b64(body), envelope: b64(wire),
  };
}

function keyBlobVector(name: string, password: string, username: string): Record<string, unknown> {
  const id = identityFromPrivate(fixed(`${name} ed seed`), fixed(`${name} x private`));
  const salt = fixed(`${name} salt`, 16);
  const iv = fixed(`${name} iv`, 12);
  const log2N = 10;
  const blob = sealKeyBlob(password, username, id, { log2N, salt, iv });
  return {
    name,
    inputs: { password, username, edSeed: b64(id.edSeed), xPrivate: b64(id.xPrivate), salt: b64(salt), log2N, iv: b64(iv) },
    scrypt: { N: 2 ** log2N, r: 8, p: 1, keyLength: 32 },
    key: b64(keyBlobKey(password, salt, log2N)), aad: keyBlobAad(username),
    plaintext: b64(Buffer.concat([id.edSeed, id.xPrivate])), publicKey: id.publicKey, blob,
  };
}

function recordText(r: Header[]): string {
  return encodeRecords([r]).toString('latin1');
}

function p2pVector(name: string, joe: string, alice: string, time: number): Record<string, unknown> {
  const joeId = identityFromPrivate(fixed(`${name} joe ed`), fixed(`${name} joe x`));
  const aliceId = identityFromPrivate(fixed(`${name} alice ed`), fixed(`${name} alice x`));
  const eIPriv = fixed(`${name} eI`);
  const eRPriv = fixed(`${name} eR`);
  const nI = b64(fixed(`${name} nI`, 18));
  const nR = b64(fixed(`${name} nR`, 18));
  const secret = fixed(`${name} secret`);
  const ackTime = time + 250;
  const { message: init, pending } = buildInit({ from: joe, to: alice, identity: joeId, peerPublicKey: aliceId.publicKey, time, ephemeralPrivate: eIPriv, nonce: nI, secret });
  const eI = pending.eI;
  const accepted = openInit(init, { self: alice, identity: aliceId, lookup: () => ({ relation: 'buddy', publicKey: joeId.publicKey }), now: time, maxClockSkew: 300000 });
  const { message: ack, keys } = buildInitAck({ init: accepted, identity: aliceId, time: ackTime, ephemeralPrivate: eRPriv, nonce: nR });
  const eR = b64(generateKeyShare(eRPriv).publicKey);
  const initSigned = initTranscript(joe, alice, time, nI, eI, b64(secret));
  const k1Shared = x25519(eIPriv, aliceId.xPublic);
  const k1 = initKey(k1Shared, eI, nI);
  const ackSigned = initAckTranscript(alice, joe, ackTime, nI, nR, eI, eR);
  const shared2 = x25519(eRPriv, generateKeyShare(eIPriv).publicKey);
  const okm = p2pOkm(secret, shared2, nI, nR, joe, alice);
  const initSig = sign(joeId.edSeed, initSigned);
  const ackSig = sign(aliceId.edSeed, ackSigned);
  return {
    name,
    inputs: {
      initiator: joe, responder: alice,
      initiatorEdSeed: b64(joeId.edSeed), initiatorXPrivate: b64(joeId.xPrivate),
      responderEdSeed: b64(aliceId.edSeed), responderXPrivate: b64(aliceId.xPrivate),
      eIPrivate: b64(eIPriv), nI, secret: b64(secret), time,
      eRPrivate: b64(eRPriv), nR, ackTime,
    },
    initiatorPublicKey: joeId.publicKey, responderPublicKey: aliceId.publicKey,
    init: {
      eI, signedText: initSigned, signature: b64(initSig),
      record: recordText([['From', joe], ['To', alice], ['Time', String(time)], ['Secret', b64(secret)], ['Signature', b64(initSig)]]),
      x25519Shared: b64(k1Shared), hkdfSalt: '', hkdfInfo: `imsp1 init,${eI},${nI}`, k1: b64(k1),
      iv: b64(Buffer.alloc(12)), aad: INIT_AAD, body: b64(init.body), wire: b64(encode(init)),
    },
    initAck: {
      eR, signedText: ackSigned, signature: b64(ackSig),
      record: recordText([['From', alice], ['To', joe], ['Time', String(ackTime)], ['Signature', b64(ackSig)]]),
      x25519Shared: b64(shared2), hkdfIkm: b64(Buffer.concat([secret, shared2])), hkdfSalt: nI + nR, hkdfInfo: `imsp1 p2p,${joe},${alice}`,
      okm: b64(okm), ackKey: b64(okm.subarray(64, 96)), iv: b64(Buffer.alloc(12)), aad: INIT_ACK_AAD,
      body: b64(ack.body), wire: b64(encode(ack)),
    },
    initiatorToResponderKey: b64(keys.receive), responderToInitiatorKey: b64(keys.send),
  };
}

/** Every vector file: name -> content. Pure and deterministic. */
export function makeVectors(): Record<string, unknown> {
  const innerPing = encode({ kind: 'request', method: 'PING', headers: [['Tag', 't1']], body: Buffer.alloc(0) });
  const innerMsg = encode({ kind: 'request', method: 'MSG', headers: [['From', 'joe'], ['To', 'alice'], ['Content-type', 'text/plain; charset=utf-8']], body: Buffer.from('hello, alice\n', 'utf8') });
  const innerOk = encode({ kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) });
  // Several records in one envelope (6.4, SEAL-5): a batch of MSGs, and the batched answers (10.2.1, MSG-7)
  const batch = Buffer.concat([
    encode({ kind: 'request', method: 'MSG', headers: [['From', 'joe'], ['To', 'alice'], ['Content-type', 'text/plain; charset=utf-8']], body: Buffer.from('one', 'utf8') }),
    encode({ kind: 'request', method: 'TYPING', headers: [['From', 'joe'], ['To', 'alice'], ['Typing', 'typing']], body: Buffer.alloc(0) }),
    encode({ kind: 'request', method: 'MSG', headers: [['From', 'joe'], ['To', 'alice'], ['Content-type', 'text/plain; charset=utf-8']], body: Buffer.from('two', 'utf8') }),
  ]);
  const acks = Buffer.concat([
    encode({ kind: 'response', status: 200, reason: 'OK', headers: [['Count', '2']], body: Buffer.alloc(0) }),
    encode({ kind: 'response', status: 200, reason: 'OK', headers: [['Tag', 't5']], body: Buffer.alloc(0) }),
  ]);
  return {
    'login.json': {
      $comment: `Login proof (spec section 6.1-6.3 and 8.1). ${FIXED_RULE}. Inputs: the '*Private' keys are X25519 private keys; eC/eS are their public keys. okm = HKDF-SHA-256(ikm = x25519Shared || clientKey, salt = SHA-256(auth), info, 64); clientToMsKey = okm[0:32], msToClientKey = okm[32:64].`,
      vectors: [
        loginVector('login-1', 'pencil', 'alice', 4096, '127.0.0.1:7200'),
        loginVector('login-2', 'p\u00e4ssw\u00f6rd \u2603', 'bob.b-2', 5000, '[::1]:7201'),
      ],
      decoy: {
        $comment: 'Unknown user (AUTH-9, AUTH-14): decoyKey = HMAC-SHA-256(msKey, "imsp1 decoy key"); salt = HMAC-SHA-256(decoyKey, "imsp1 decoy," + user)[0:16].',
        msKey: b64(fixed('decoy ms key')), decoyKey: b64(decoyKey(fixed('decoy ms key'))), user: 'ghost', salt: b64(decoySalt(decoyKey(fixed('decoy ms key')), 'ghost')),
      },
    },
    'enroll.json': {
      $comment: `MS enrollment (spec section 7.1). ${FIXED_RULE}. proof = HMAC(msKey, "ms," + auth); serverProof = HMAC(msKey, "crs," + auth); okm = HKDF-SHA-256(x25519Shared || msKey, SHA-256(auth), info, 64); msToCrsKey = okm[0:32], crsToMsKey = okm[32:64].`,
      vectors: [enrollVector('enroll-1')],
    },
    'sealed.json': {
      $comment: `SEALED envelope (spec section 6.4). ${FIXED_RULE}. inner = the wire encodings of one or more complete messages (records), one after the other; records = their number; nextSeq = seq + records, the Seq of the next envelope in that direction (SEAL-5). body = AES-256-GCM(key, iv = 4 zero octets || seq as 8-octet big-endian, aad, inner) || 16-octet tag; envelope = the complete wire encoding of the SEALED message. sealed-4 carries MSG, TYPING, MSG; sealed-5 the answers 200 Count: 2 (MSG-7) and 200 Tag: t5.`,
      vectors: [
        sealedVector('sealed-1', 0, innerPing),
        sealedVector('sealed-2', 1, innerMsg),
        sealedVector('sealed-3', 2 ** 32 + 5, innerOk),
        sealedVector('sealed-4', 7, batch, 3),
        sealedVector('sealed-5', 3, acks, 2),
      ],
    },
    'key-blob.json': {
      $comment: `Sealed key blob (spec section 6.5). ${FIXED_RULE}. key = scrypt(password UTF-8, salt, 32, N, r, p); blob = v1.salt.log2N.iv.b64(AES-256-GCM(key, iv, aad, plaintext) || tag); plaintext = edSeed || xPrivate.`,
      vectors: [keyBlobVector('key-blob-1', 'pencil', 'alice'), keyBlobVector('key-blob-2', 'p\u00e4ssw\u00f6rd', 'bob')],
    },
    'p2p.json': {
      $comment: `INIT / INIT-ACK (spec section 10.1). ${FIXED_RULE}. 'record' is the application/imsp-records body (one record) before encryption; 'wire' the complete message as sent. k1 = HKDF-SHA-256(x25519(eI, responder X25519 public), salt empty, info, 32); okm = HKDF-SHA-256(secret || x25519(eR, eI), ASCII(nI + nR), info, 96); ackKey = okm[64:96]; initiatorToResponderKey = okm[0:32]; responderToInitiatorKey = okm[32:64].`,
      vectors: [p2pVector('p2p-1', 'joe', 'alice', 1767225600000)],
    },
  };
}

/** The JSON text of one file as committed. */
export function vectorText(content: unknown): string {
  return `${JSON.stringify(content, null, 2)}\n`;
}

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, content] of Object.entries(makeVectors())) {
    const path = join(here, file);
    const text = vectorText(content);
    if (check) {
      let old = '';
      try {
        old = readFileSync(path, 'utf8');
      } catch {
        old = '';
      }
      if (old !== text) {
        console.error(`stale: spec/test-vectors/${file}`);
        stale++;
      }
    } else {
      writeFileSync(path, text);
      console.log(`wrote spec/test-vectors/${file}`);
    }
  }
  process.exit(stale ? 1 : 0);
}
