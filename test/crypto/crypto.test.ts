import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { B64URL, b64Flaw } from '../../codec/index.js';
import {
  b64,
  unb64,
  CryptoError,
  saltedPassword,
  clientKey,
  storedKey,
  serverKey,
  makeVerifier,
  loginAuthMessage,
  clientProof,
  clientLogin,
  verifyClientProof,
  serverProof,
  verifyServerProof,
  enrollAuthMessage,
  msProof,
  crsProof,
  verifyProof,
  loginLinkKeys,
  enrollLinkKeys,
  parseMsKey,
  fakeSalt,
  decoyKey,
  decoySalt,
  checkChallenge,
  makeNonce,
  generateKeyShare,
  x25519,
  generateIdentity,
  identityFromPrivate,
  parsePublicKey,
  sign,
  verifySignature,
  sealKeyBlob,
  openKeyBlob,
  openKeyBlobAsync,
  sealKeyBlobAsync,
  parseKeyBlob,
  sealEnvelope,
  openEnvelope,
  sealedIv,
} from '../../reference/crypto/index.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

function isCode(code: string) {
  return (e: unknown): boolean => e instanceof CryptoError && e.code === code;
}

test("[CRYPTO-4] the codec layer's b64Flaw is the canonical rule: the reference decoder refuses exactly what it names, which is every text that is not the base64url of its own octets", () => {
  const chars = fc.constantFrom(...'AQgw-_9+=/ '.split(''), ...B64URL.split(''));
  fc.assert(
    fc.property(fc.array(chars, { maxLength: 12 }), (cs) => {
      const t = cs.join('');
      const canonical = /^[A-Za-z0-9_-]*$/.test(t) && Buffer.from(t, 'base64url').toString('base64url') === t;
      assert.equal(b64Flaw(t) === null, canonical, t);
      if (canonical) assert.equal(b64(unb64(t)), t);
      else
        assert.throws(
          () => unb64(t),
          (e: unknown) => isCode('ERR_BAD_VALUE')(e) && String((e as Error).message).includes(b64Flaw(t)!),
          t,
        );
    }),
    { numRuns: 2000 },
  );
});

test('b64: base64url without padding, strict canonical decoding', () => {
  assert.equal(b64(Buffer.from([0xfb, 0xff])), '-_8');
  assert.deepEqual(unb64('-_8'), Buffer.from([0xfb, 0xff]));
  for (const bad of ['-_8=', '+/8', 'ab c', 'a', '-_9']) assert.throws(() => unb64(bad), isCode('ERR_BAD_VALUE'), bad);
  assert.throws(() => unb64('AAAA', 4), isCode('ERR_BAD_VALUE'));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (a) => {
      const s = b64(a);
      assert.match(s, /^[A-Za-z0-9_-]*$/);
      assert.deepEqual(new Uint8Array(unb64(s, a.length)), a);
    }),
    { numRuns: 200 },
  );
});

test('SCRAM primitives reproduce RFC 7677 (SCRAM-SHA-256) example', () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const auth =
    'n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,' +
    's=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const salted = saltedPassword('pencil', salt, 4096);
  const ck = clientKey(salted);
  assert.equal(clientProof(ck, auth).toString('base64'), 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  assert.equal(serverProof(serverKey(salted), auth).toString('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  assert.deepEqual(verifyClientProof(storedKey(ck), auth, clientProof(ck, auth)), ck);
});

test('[AUTH-4] [AUTH-8] login proof verifies with the verifier only; a wrong password or transcript fails', () => {
  const v = makeVerifier('correct horse', { iterations: 4096 });
  assert.equal(v.iterations, 4096);
  assert.equal(unb64(v.salt).length, 16);
  const cnonce = makeNonce();
  assert.equal(cnonce.length, 24);
  const eC = generateKeyShare();
  const eS = generateKeyShare();
  const t = {
    user: 'alice',
    cnonce,
    nonce: cnonce + makeNonce(),
    salt: v.salt,
    iterations: v.iterations,
    eC: b64(eC.publicKey),
    eS: b64(eS.publicKey),
    address: '127.0.0.1:7200',
  };
  const auth = loginAuthMessage(t);
  assert.equal(auth, `imsp1-login,alice,${t.cnonce},${t.nonce},${v.salt},4096,${t.eC},${t.eS},127.0.0.1:7200`);
  const c = clientLogin('correct horse', unb64(v.salt), v.iterations, auth);
  const ck = verifyClientProof(unb64(v.storedKey), auth, c.proof);
  assert.ok(ck);
  assert.deepEqual(ck, c.clientKey);
  assert.ok(verifyServerProof(c.serverKey, auth, serverProof(unb64(v.serverKey), auth)));
  assert.equal(verifyServerProof(c.serverKey, auth + 'x', serverProof(unb64(v.serverKey), auth)), false);
  const wrong = clientLogin('wrong horse', unb64(v.salt), v.iterations, auth);
  assert.equal(verifyClientProof(unb64(v.storedKey), auth, wrong.proof), null);
  assert.equal(verifyClientProof(unb64(v.storedKey), auth.replace('alice', 'bob'), c.proof), null);
  assert.equal(verifyClientProof(unb64(v.storedKey), auth, c.proof.subarray(1)), null);
  // both ends derive mirrored link keys
  const kc = loginLinkKeys('client', x25519(eC.privateKey, eS.publicKey), c.clientKey, auth);
  const ks = loginLinkKeys('ms', x25519(eS.privateKey, eC.publicKey), ck, auth);
  assert.deepEqual(kc.send, ks.receive);
  assert.deepEqual(kc.receive, ks.send);
  assert.notDeepEqual(kc.send, kc.receive);
});

test('[AUTH-5] [AUTH-6] iteration bounds', () => {
  assert.throws(() => makeVerifier('x', { iterations: 4095 }), isCode('ERR_BAD_VALUE'));
  assert.throws(() => saltedPassword('x', Buffer.alloc(16), 1_000_001), isCode('ERR_BAD_VALUE'));
  assert.throws(() => saltedPassword('x', Buffer.alloc(16), 0), isCode('ERR_BAD_VALUE'));
});

test('[AUTH-9] [AUTH-14] the decoy salt for unknown users is stable per user and MS key, and 16 octets', () => {
  const k = decoyKey(Buffer.alloc(32, 7));
  assert.deepEqual(k, decoyKey(Buffer.alloc(32, 7)));
  assert.equal(decoySalt(k, 'ghost').length, 16);
  assert.deepEqual(decoySalt(k, 'ghost'), decoySalt(k, 'ghost'));
  assert.deepEqual(fakeSalt(k, 'ghost'), decoySalt(k, 'ghost'));
  assert.notDeepEqual(decoySalt(k, 'ghost'), decoySalt(k, 'ghost2'));
  assert.notDeepEqual(decoySalt(k, 'ghost'), decoySalt(decoyKey(Buffer.alloc(32, 8)), 'ghost'));
});

test('[AUTH-3] [AUTH-6] the client checks a challenge before computing a proof', () => {
  const c = makeNonce();
  const n = c + makeNonce();
  assert.equal(checkChallenge(c, n, 4096), null);
  assert.equal(checkChallenge(c, n, 1_000_000), null);
  for (const [nonce, it] of [
    [makeNonce() + makeNonce(), 4096],
    [c, 4096],
    [c + 'x', 4096],
    [n, 4095],
    [n, 1_000_001],
    [n, 1.5],
  ] as const) {
    assert.equal(checkChallenge(c, nonce, it)?.code, 'ERR_AUTH_FAILED', `${nonce} ${it}`);
  }
});

test('enrollment proofs: MS and CRS proofs differ, verify, and link keys mirror', () => {
  const key = parseMsKey(`  ${b64(Buffer.alloc(32, 9))}\n`);
  assert.throws(() => parseMsKey(b64(Buffer.alloc(31))), isCode('ERR_BAD_VALUE'));
  const eM = generateKeyShare();
  const eR = generateKeyShare();
  const auth = enrollAuthMessage({
    msId: 'ms-1',
    incarnation: 5,
    listen: '127.0.0.1:7100',
    capacity: 100,
    mnonce: 'm'.repeat(24),
    cnonce: 'c'.repeat(24),
    eM: b64(eM.publicKey),
    eR: b64(eR.publicKey),
  });
  assert.ok(auth.startsWith('imsp1-enroll,ms-1,5,127.0.0.1:7100,100,'));
  assert.ok(verifyProof(msProof(key, auth), msProof(key, auth)));
  assert.equal(verifyProof(msProof(key, auth), crsProof(key, auth)), false);
  assert.equal(verifyProof(msProof(key, auth), msProof(Buffer.alloc(32, 1), auth)), false);
  assert.equal(verifyProof(msProof(key, auth), Buffer.alloc(5)), false);
  const a = enrollLinkKeys('ms', x25519(eM.privateKey, eR.publicKey), key, auth);
  const b = enrollLinkKeys('crs', x25519(eR.privateKey, eM.publicKey), key, auth);
  assert.deepEqual(a.send, b.receive);
  assert.deepEqual(a.receive, b.send);
});

test('X25519 reproduces RFC 7748 section 6.1 and refuses low-order keys', () => {
  const a = generateKeyShare(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  assert.equal(a.publicKey.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  const shared = x25519(a.privateKey, hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'));
  assert.equal(shared.toString('hex'), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  assert.throws(() => x25519(a.privateKey, Buffer.alloc(32)), isCode('ERR_BAD_VALUE'));
  assert.throws(() => x25519(a.privateKey, Buffer.alloc(31)), isCode('ERR_BAD_VALUE'));
});

test('Ed25519 reproduces RFC 8032 test 1; identities and Public-key', () => {
  const id = identityFromPrivate(
    hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
    Buffer.alloc(32, 1),
  );
  assert.equal(id.edPublic.toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const sig = sign(id.edSeed, Buffer.alloc(0));
  assert.equal(
    sig.toString('hex'),
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  );
  assert.ok(verifySignature(id.edPublic, Buffer.alloc(0), sig));
  const g = generateIdentity();
  assert.match(g.publicKey, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
  const pub = parsePublicKey(g.publicKey);
  assert.deepEqual(pub.edPublic, g.edPublic);
  assert.deepEqual(pub.xPublic, g.xPublic);
  assert.deepEqual(identityFromPrivate(g.edSeed, g.xPrivate), g);
  const s = sign(g.edSeed, 'imsp1-init,transcript');
  assert.ok(verifySignature(g.edPublic, 'imsp1-init,transcript', s));
  assert.equal(verifySignature(g.edPublic, 'imsp1-init,transcripT', s), false);
  assert.equal(verifySignature(id.edPublic, 'imsp1-init,transcript', s), false);
  assert.equal(verifySignature(g.edPublic, 'x', s.subarray(1)), false);
  for (const bad of ['a.b', 'x', `${b64(g.edPublic)}.${b64(g.xPublic)}.x`])
    assert.throws(() => parsePublicKey(bad), isCode('ERR_BAD_VALUE'));
  // the two keys agree across identities (X25519 part)
  assert.deepEqual(x25519(g.xPrivate, id.xPublic), x25519(id.xPrivate, g.xPublic));
});

test('[KEYBLOB-1] [KEYBLOB-2] [KEYBLOB-4] key blob seals and opens; wrong password, user or tampering give ERR_DECRYPT; malformed gives ERR_BAD_VALUE', async () => {
  const id = generateIdentity();
  const blob = sealKeyBlob('pw', 'alice', id, { log2N: 10 });
  assert.match(blob, /^v1\.[A-Za-z0-9_-]{22,86}\.[0-9]{1,2}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{40,1400}$/);
  assert.deepEqual(openKeyBlob('pw', 'alice', blob), id);
  assert.deepEqual(await openKeyBlobAsync('pw', 'alice', blob), id);
  assert.deepEqual(openKeyBlob('pw', 'alice', await sealKeyBlobAsync('pw', 'alice', id, { log2N: 10 })), id);
  assert.throws(() => openKeyBlob('pw2', 'alice', blob), isCode('ERR_DECRYPT'));
  assert.throws(() => openKeyBlob('pw', 'bob', blob), isCode('ERR_DECRYPT'));
  const p = parseKeyBlob(blob);
  p.sealed[3]! ^= 1;
  const tampered = `v1.${b64(p.salt)}.10.${b64(p.iv)}.${b64(p.sealed)}`;
  assert.throws(() => openKeyBlob('pw', 'alice', tampered), isCode('ERR_DECRYPT'));
  await assert.rejects(openKeyBlobAsync('pw', 'alice', tampered), isCode('ERR_DECRYPT'));
  for (const bad of [
    '',
    'v2.a.10.b.c',
    blob.replace('.10.', '.9.'),
    blob.replace('.10.', '.21.'),
    blob.replace('.10.', '.x.'),
    blob + 'A',
    blob.slice(0, -1),
  ]) {
    assert.throws(() => openKeyBlob('pw', 'alice', bad), isCode('ERR_BAD_VALUE'), bad);
  }
  assert.throws(() => sealKeyBlob('pw', 'alice', id, { log2N: 9 }), isCode('ERR_BAD_VALUE'));
  // [KEYBLOB-4] the opened keys must match the user's Public-key
  assert.deepEqual(openKeyBlob('pw', 'alice', blob, id.publicKey), id);
  assert.throws(() => openKeyBlob('pw', 'alice', blob, generateIdentity().publicKey), isCode('ERR_DECRYPT'));
  await assert.rejects(openKeyBlobAsync('pw', 'alice', blob, generateIdentity().publicKey), isCode('ERR_DECRYPT'));
  // [KEYBLOB-1] fresh salt and iv for every sealing
  const again = parseKeyBlob(sealKeyBlob('pw', 'alice', id, { log2N: 10 }));
  assert.notDeepEqual(again.salt, p.salt);
  assert.notDeepEqual(again.iv, p.iv);
});

test('[SEAL-4] SEALED envelope round trip; wrong key, wrong Seq or any flipped bit gives ERR_DECRYPT', () => {
  const key = Buffer.alloc(32, 3);
  assert.equal(sealedIv(258).toString('hex'), '000000000000000000000102');
  assert.equal(sealedIv(2 ** 53 - 1).toString('hex'), '00000000001fffffffffffff');
  assert.throws(() => sealedIv(-1), isCode('ERR_REPLAY'));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(1000), fc.nat(), (inner, seq, flip) => {
      const body = sealEnvelope(key, seq, inner);
      assert.equal(body.length, inner.length + 16);
      assert.deepEqual(new Uint8Array(openEnvelope(key, seq, body)), inner);
      assert.throws(() => openEnvelope(key, seq + 1, body), isCode('ERR_DECRYPT'));
      assert.throws(() => openEnvelope(Buffer.alloc(32, 4), seq, body), isCode('ERR_DECRYPT'));
      const t = Buffer.from(body);
      t[flip % t.length]! ^= 1 << (flip % 8);
      assert.throws(() => openEnvelope(key, seq, t), isCode('ERR_DECRYPT'));
    }),
    { numRuns: 100 },
  );
  assert.throws(() => openEnvelope(key, 0, Buffer.alloc(15)), isCode('ERR_DECRYPT'));
});

test('[AUTH-2] [AUTH-12] [SEAL-1] [CRYPTO-2] salts, nonces and ephemeral keys are fresh every time', () => {
  const salts = new Set(Array.from({ length: 20 }, () => makeVerifier('same password').salt));
  assert.equal(salts.size, 20);
  for (const s of salts) assert.equal(unb64(s).length, 16);
  const nonces = new Set(Array.from({ length: 1000 }, () => makeNonce()));
  assert.equal(nonces.size, 1000);
  for (const n of nonces) assert.equal(unb64(n, 18).length, 18);
  const shares = new Set(Array.from({ length: 50 }, () => b64(generateKeyShare().publicKey)));
  assert.equal(shares.size, 50);
});

test('[CRYPTO-1] the crypto module uses node:crypto and nothing hand-written or third-party', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const dir = new URL('../../reference/crypto/', import.meta.url);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    for (const m of src.matchAll(/from '([^']+)'/g)) {
      assert.ok(
        m[1] === 'node:crypto' || m[1]!.startsWith('./') || m[1] === '../../codec/index.js',
        `${f} imports ${m[1]}`,
      );
    }
  }
});

test('hostile strings: unb64, parsePublicKey, parseKeyBlob, openKeyBlob and parseMsKey fail only with typed errors', () => {
  const typed = (f: () => unknown): void => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof CryptoError, String(e));
    }
  };
  const id = generateIdentity();
  const blob = sealKeyBlob('pw', 'alice', id, { log2N: 10 });
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), fc.nat(), (s, at) => {
      typed(() => unb64(s));
      typed(() => unb64(s, 32));
      typed(() => parsePublicKey(s));
      typed(() => parseKeyBlob(s));
      typed(() => parseMsKey(s));
      // a blob with one character replaced
      const i = at % blob.length;
      typed(() => parseKeyBlob(blob.slice(0, i) + (s[0] ?? '.') + blob.slice(i + 1)));
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (at, ch) => {
      const i = at % blob.length;
      const bad = blob.slice(0, i) + ch + blob.slice(i + 1);
      if (bad.split('.')[2] !== '10') return; // keep the scrypt cost at 2^10 (a changed log2N could ask for 1 GiB)
      typed(() => openKeyBlob('pw', 'alice', bad));
    }),
    { numRuns: 40 },
  );
});
