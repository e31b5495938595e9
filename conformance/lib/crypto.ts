// The protocol cryptography of [§6 Cryptography and Link Protection], implemented independently of reference/
// (node:crypto only). An independent implementation is deliberate: a conformance kit that shared
// the reference's crypto module would agree with the reference's bugs. It is checked against
// spec/test-vectors/*.json (made from the reference crypto) by test/conformance/crypto.test.ts.
// Binary values a target sends are decoded strictly (unb64, canonical.ts) [CRYPTO-4].
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
  randomBytes,
  scryptSync,
  sign as edSign,
  timingSafeEqual,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import { B64URL, b64Flaw, header, type Message } from '../../codec/index.js';
import { describe, fieldFlaw, NotCanonical } from './canonical.js';

/** base64url without padding, the encoding of every binary value on the wire. */
export const b64 = (b: Buffer | Uint8Array): string => Buffer.from(b).toString('base64url');
/**
 * Decode a base64url value a target sent, strictly: only the canonical spelling stands for octets, and
 * the kit never acts on what a lenient decoder would read from another [CRYPTO-4]. `field` and `where`
 * name the value in the finding (NotCanonical, thrown for any other spelling).
 */
export function unb64(text: string, field: string, where: string): Buffer {
  const why = b64Flaw(text);
  if (why) throw new NotCanonical(field, where, text, why);
  return Buffer.from(text, 'base64url');
}

/** The octets of header `name` of a message a target sent, decoded strictly (unb64); absent, it reads as none. */
export const headerOctets = (m: Message, name: string): Buffer =>
  unb64(header(m, name)?.trim() ?? '', name, describe(m));

/** headerOctets as a strict receiver reads it: null for a spelling that is not canonical [CRYPTO-4]. */
export function strictOctets(m: Message, name: string): Buffer | null {
  try {
    return headerOctets(m, name);
  } catch (e) {
    if (e instanceof NotCanonical) return null;
    throw e;
  }
}

/** How many octets a base64url text holds, by its length alone: a nonce is never decoded [AUTH-15]. */
export const b64Length = (text: string): number =>
  /^[A-Za-z0-9_-]*$/.test(text) ? Math.floor((text.length * 3) / 4) : 0;

/**
 * `text` (the b64 of some octets) spelled with the lowest of its last character's unused bits set: a
 * lenient decoder reads the same octets, a strict one refuses it [CRYPTO-4]. A length that is a multiple
 * of 4 has no unused bits: that text is returned unchanged, so callers use it on 32- and 64-octet values.
 */
export function nonCanonical(text: string): string {
  if (text.length % 4 === 0) return text;
  return text.slice(0, -1) + B64URL[B64URL.indexOf(text.at(-1)!) | 1];
}

export const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest();
export const hmac = (key: Buffer, data: Buffer | string): Buffer => createHmac('sha256', key).update(data).digest();
export const hkdf = (ikm: Buffer, salt: Buffer, info: string, len: number): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'ascii'), len));

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(Math.min(a.length, b.length));
  for (let i = 0; i < out.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---------------------------------------------------------------- X25519 / Ed25519 (raw keys)

export interface RawKeyPair {
  /** 32 raw octets. */
  publicKey: Buffer;
  /** 32 raw octets (X25519 scalar or Ed25519 seed). */
  privateKey: Buffer;
}

function pairFromJwk(kind: 'x25519' | 'ed25519'): RawKeyPair {
  // Any 32 octets are an X25519 scalar or an Ed25519 seed. Not generateKeyPairSync: on Node 20.20 a
  // garbage collection that destroys its KeyGenJob while the new key is being exported deadlocks.
  const d = randomBytes(32);
  const jwk = createPublicKey(privateKeyObject(kind === 'x25519' ? 'X25519' : 'Ed25519', d)).export({ format: 'jwk' });
  return { publicKey: Buffer.from(jwk.x as string, 'base64url'), privateKey: d };
}

/** Private KeyObject from a raw 32-octet private key (X25519 scalar or Ed25519 seed). */
export function privateKeyObject(crv: 'X25519' | 'Ed25519', d: Buffer): KeyObject {
  // PKCS#8 DER: fixed prefix + 32 octets (RFC 8410).
  const prefix = Buffer.from(
    crv === 'X25519' ? '302e020100300506032b656e04220420' : '302e020100300506032b657004220420',
    'hex',
  );
  return createPrivateKey({ key: Buffer.concat([prefix, d]), format: 'der', type: 'pkcs8' });
}

/** Public KeyObject from a raw 32-octet public key. */
export function publicKeyObject(crv: 'X25519' | 'Ed25519', x: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: b64(x) }, format: 'jwk' });
}

export function publicFromPrivate(crv: 'X25519' | 'Ed25519', d: Buffer): Buffer {
  const jwk = createPublicKey(privateKeyObject(crv, d)).export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

export const x25519Pair = (): RawKeyPair => pairFromJwk('x25519');
export const ed25519Pair = (): RawKeyPair => pairFromJwk('ed25519');

export function x25519(privateKey: Buffer, peerPublic: Buffer): Buffer {
  return diffieHellman({
    privateKey: privateKeyObject('X25519', privateKey),
    publicKey: publicKeyObject('X25519', peerPublic),
  });
}

export function ed25519Sign(seed: Buffer, data: string | Buffer): Buffer {
  return edSign(null, Buffer.from(data), privateKeyObject('Ed25519', seed));
}

export function ed25519Verify(pub: Buffer, data: string | Buffer, sig: Buffer): boolean {
  try {
    return edVerify(null, Buffer.from(data), publicKeyObject('Ed25519', pub), sig);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- identity (3.4)

export interface Identity {
  signing: RawKeyPair;
  agreement: RawKeyPair;
  /** Public-key header value: b64(Ed25519 public) "." b64(X25519 public). */
  publicKey: string;
}

export function newIdentity(): Identity {
  const signing = ed25519Pair();
  const agreement = x25519Pair();
  return { signing, agreement, publicKey: `${b64(signing.publicKey)}.${b64(agreement.publicKey)}` };
}

export function identityFromPrivate(edSeed: Buffer, xPriv: Buffer): Identity {
  const signing = { privateKey: edSeed, publicKey: publicFromPrivate('Ed25519', edSeed) };
  const agreement = { privateKey: xPriv, publicKey: publicFromPrivate('X25519', xPriv) };
  return { signing, agreement, publicKey: `${b64(signing.publicKey)}.${b64(agreement.publicKey)}` };
}

/** A Public-key value (`where` names the message it came in); null when it does not match its type. */
export function parsePublicKey(v: string, where: string): { ed: Buffer; x: Buffer } | null {
  const m = /^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/.exec(v);
  if (!m) return null;
  const why = fieldFlaw('Public-key', v);
  if (why) throw new NotCanonical('Public-key', where, v, why);
  return { ed: Buffer.from(m[1]!, 'base64url'), x: Buffer.from(m[2]!, 'base64url') };
}

// ---------------------------------------------------------------- AEAD

export function aeadSeal(key: Buffer, iv: Buffer, aad: string, plaintext: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'ascii'));
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

/** Returns null when the ciphertext does not authenticate. */
export function aeadOpen(key: Buffer, iv: Buffer, aad: string, sealed: Buffer): Buffer | null {
  if (sealed.length < 16) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(aad, 'ascii'));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- key blob (3.4)

export function sealKeyBlob(
  password: string,
  username: string,
  id: Identity,
  log2N = 10,
  salt: Buffer = randomBytes(16),
  iv: Buffer = randomBytes(12),
): string {
  const key = scryptSync(Buffer.from(password, 'utf8'), salt, 32, {
    N: 2 ** log2N,
    r: 8,
    p: 1,
    maxmem: 256 * 2 ** log2N * 8 + 1024 * 1024,
  });
  const ct = aeadSeal(
    key,
    iv,
    `imsp1 key-blob,${username}`,
    Buffer.concat([id.signing.privateKey, id.agreement.privateKey]),
  );
  return `v1.${b64(salt)}.${log2N}.${b64(iv)}.${b64(ct)}`;
}

/** Open a Key-blob (`where` names the message it came in): null when it does not open. */
export function openKeyBlob(password: string, username: string, blob: string, where: string): Identity | null {
  const m = /^v1\.([A-Za-z0-9_-]+)\.([0-9]{1,2})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(blob);
  if (!m) return null;
  const why = fieldFlaw('Key-blob', blob);
  if (why) throw new NotCanonical('Key-blob', where, blob, why);
  const log2N = Number(m[2]);
  if (log2N < 10 || log2N > 20) return null;
  const key = scryptSync(Buffer.from(password, 'utf8'), Buffer.from(m[1]!, 'base64url'), 32, {
    N: 2 ** log2N,
    r: 8,
    p: 1,
    maxmem: 256 * 2 ** log2N * 8 + 1024 * 1024,
  });
  const pt = aeadOpen(
    key,
    Buffer.from(m[3]!, 'base64url'),
    `imsp1 key-blob,${username}`,
    Buffer.from(m[4]!, 'base64url'),
  );
  if (!pt || pt.length !== 64) return null;
  return identityFromPrivate(pt.subarray(0, 32), pt.subarray(32, 64));
}

// ---------------------------------------------------------------- SCRAM verifier and login (3.1)

export interface Verifier {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface ScramKeys {
  saltedPassword: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export function scramKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  const saltedPassword = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(saltedPassword, 'Client Key');
  return { saltedPassword, clientKey, storedKey: sha256(clientKey), serverKey: hmac(saltedPassword, 'Server Key') };
}

export function makeVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): Verifier {
  const k = scramKeys(password, salt, iterations);
  return { salt, iterations, storedKey: k.storedKey, serverKey: k.serverKey };
}

export interface LoginTranscript {
  user: string;
  cnonce: string;
  nonce: string;
  salt: string;
  iterations: string | number;
  eC: string;
  eS: string;
  address: string;
}

export const loginAuth = (t: LoginTranscript): string =>
  `imsp1-login,${t.user},${t.cnonce},${t.nonce},${t.salt},${t.iterations},${t.eC},${t.eS},${t.address}`;

export function clientProof(clientKey: Buffer, storedKey: Buffer, auth: string): Buffer {
  return xor(clientKey, hmac(storedKey, auth));
}

/** The MS's check (step 5): returns the recovered ClientKey when the proof verifies, else null. */
export function verifyClientProof(proof: Buffer, storedKey: Buffer, auth: string): Buffer | null {
  if (proof.length !== 32) return null;
  const clientKey = xor(proof, hmac(storedKey, auth));
  return safeEqual(sha256(clientKey), storedKey) ? clientKey : null;
}

export const loginServerProof = (serverKey: Buffer, auth: string): Buffer => hmac(serverKey, auth);

/** Directional link keys. `up` seals the opener's direction (C->MS, MS->CRS), `down` the other. */
export interface LinkKeys {
  up: Buffer;
  down: Buffer;
}

export function loginLinkKeys(sharedX25519: Buffer, clientKey: Buffer, auth: string): LinkKeys {
  const okm = hkdf(Buffer.concat([sharedX25519, clientKey]), sha256(auth), 'imsp1 link', 64);
  return { up: okm.subarray(0, 32), down: okm.subarray(32, 64) };
}

/** The fake challenge salt an MS gives for an unknown user (3.1 step 2). */
export const fakeSalt = (msSecret: Buffer, user: string): Buffer => hmac(msSecret, user).subarray(0, 16);

// ---------------------------------------------------------------- MS enrollment (3.2)

export interface EnrollTranscript {
  msId: string;
  incarnation: string | number;
  listen: string;
  capacity: string | number;
  mnonce: string;
  cnonce: string;
  eM: string;
  eR: string;
}

export const enrollAuth = (t: EnrollTranscript): string =>
  `imsp1-enroll,${t.msId},${t.incarnation},${t.listen},${t.capacity},${t.mnonce},${t.cnonce},${t.eM},${t.eR}`;
export const enrollProof = (msKey: Buffer, auth: string): Buffer => hmac(msKey, `ms,${auth}`);
export const enrollServerProof = (msKey: Buffer, auth: string): Buffer => hmac(msKey, `crs,${auth}`);
export function enrollLinkKeys(sharedX25519: Buffer, msKey: Buffer, auth: string): LinkKeys {
  const okm = hkdf(Buffer.concat([sharedX25519, msKey]), sha256(auth), 'imsp1 link', 64);
  return { up: okm.subarray(0, 32), down: okm.subarray(32, 64) };
}

/** Read an MS key file: base64url or standard base64 of at least 32 octets (the operator's file, not a target's value [ENROLL-14]). */
export function parseMsKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length < 32) throw new Error(`MS key must be at least 32 octets, got ${key.length}`);
  return key;
}

// ---------------------------------------------------------------- SEALED (3.3)

export function sealedIv(seq: number | bigint): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(BigInt(seq), 4);
  return iv;
}
/** The octets of a SEALED envelope with this Seq and body (a sealed body, or octets a case forges). */
export const envelopeOctets = (seq: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`SEALED\r\nSeq: ${seq}\r\nContent-length: ${body.length}\r\n\r\n`, 'ascii'), body]);

export const sealBody = (key: Buffer, seq: number | bigint, inner: Buffer): Buffer =>
  aeadSeal(key, sealedIv(seq), 'imsp1 sealed', inner);
export const openBody = (key: Buffer, seq: number | bigint, body: Buffer): Buffer | null =>
  aeadOpen(key, sealedIv(seq), 'imsp1 sealed', body);

// ---------------------------------------------------------------- peer to peer (3.5)

export const ZERO_IV = Buffer.alloc(12);

export const initKey = (eIPriv: Buffer, rX25519Pub: Buffer, eI: string, nI: string): Buffer =>
  hkdf(x25519(eIPriv, rX25519Pub), Buffer.alloc(0), `imsp1 init,${eI},${nI}`, 32);
/** The responder's side of the same key: X25519(R's agreement private, eI). */
export const initKeyResponder = (rXPriv: Buffer, eIPub: Buffer, eI: string, nI: string): Buffer =>
  hkdf(x25519(rXPriv, eIPub), Buffer.alloc(0), `imsp1 init,${eI},${nI}`, 32);

export const initSigInput = (
  from: string,
  to: string,
  time: string | number,
  nI: string,
  eI: string,
  secret: string,
): string => `imsp1-init,${from},${to},${time},${nI},${eI},${secret}`;
export const initAckSigInput = (
  from: string,
  to: string,
  time: string | number,
  nI: string,
  nR: string,
  eI: string,
  eR: string,
): string => `imsp1-init-ack,${from},${to},${time},${nI},${nR},${eI},${eR}`;

export interface P2pKeys {
  /** Seals initiator -> responder. */
  i2r: Buffer;
  /** Seals responder -> initiator. */
  r2i: Buffer;
  /** Seals the INIT-ACK body. */
  ack: Buffer;
}

export function p2pKeys(
  secret: Buffer,
  shared: Buffer,
  nI: string,
  nR: string,
  initiator: string,
  responder: string,
): P2pKeys {
  const okm = hkdf(
    Buffer.concat([secret, shared]),
    Buffer.from(nI + nR, 'ascii'),
    `imsp1 p2p,${initiator},${responder}`,
    96,
  );
  return { i2r: okm.subarray(0, 32), r2i: okm.subarray(32, 64), ack: okm.subarray(64, 96) };
}

export const nonce18 = (): string => b64(randomBytes(18));
