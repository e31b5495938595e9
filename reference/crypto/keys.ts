/**
 * Raw 32-octet X25519 and Ed25519 keys on top of node:crypto [§6.3 Link Keys] [§6.5 Identity Keys and the Sealed Key Blob] [§10.1 INIT and INIT-ACK].
 * Keys travel and rest as raw octets; they are wrapped into Node KeyObjects with the fixed
 * PKCS#8 / SPKI DER prefixes of RFC 8410. No curve arithmetic is done here.
 * @module
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { b64, unb64 } from './b64.js';
import { cryptoError } from './errors.js';

const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

function raw32(key: Uint8Array, what: string): Buffer {
  if (key.length !== 32) throw cryptoError('ERR_BAD_VALUE', `${what}: ${key.length} octets, expected 32`);
  return Buffer.from(key);
}

// Key import speed (measured, Node 20 / OpenSSL 3 on the 2-core bench machine, CPU per call):
// DER (PKCS#8 / SPKI) goes through OpenSSL 3's decoder framework, about 650 us for a private key
// and 140 us for a public key; a JWK builds the key from its raw octets, about 60 us and 16 us. A
// login costs the MS (and the client) one key-share generation and one X25519, so the JWK path
// takes the per-login key handling from about 1.2 ms to 0.2 ms of CPU (bench: imsp load profile).
// Node reads only `d` of an OKP private JWK (x is required to be a string but not used); a one-time
// self-check below compares it with the DER import and falls back to DER if that ever changes.
type Okp = 'X25519' | 'Ed25519';

function jwkPrivate(crv: Okp, raw: Buffer): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv, d: raw.toString('base64url'), x: '' }, format: 'jwk' });
}
function derPrivate(crv: Okp, raw: Buffer): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([crv === 'X25519' ? X25519_PKCS8 : ED25519_PKCS8, raw]),
    format: 'der',
    type: 'pkcs8',
  });
}

const JWK_PRIVATE_OK: boolean = (() => {
  try {
    const probe = Buffer.alloc(32, 7);
    return (['X25519', 'Ed25519'] as const).every((crv) => {
      const a = jwkPrivate(crv, probe).export({ format: 'jwk' });
      const b = derPrivate(crv, probe).export({ format: 'jwk' });
      return a.d === b.d && a.x === b.x;
    });
  } catch {
    return false;
  }
})();

function okpPrivate(crv: Okp, raw: Buffer): KeyObject {
  if (JWK_PRIVATE_OK) {
    try {
      return jwkPrivate(crv, raw);
    } catch {
      // fall through to DER, which reports malformed keys as before
    }
  }
  return derPrivate(crv, raw);
}
function okpPublic(crv: Okp, raw: Buffer): KeyObject {
  try {
    return createPublicKey({ key: { kty: 'OKP', crv, x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    return createPublicKey({
      key: Buffer.concat([crv === 'X25519' ? X25519_SPKI : ED25519_SPKI, raw]),
      format: 'der',
      type: 'spki',
    });
  }
}

/** Node KeyObject of a raw X25519 private key. */
export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return okpPrivate('X25519', raw32(raw, 'X25519 private key'));
}
/** Node KeyObject of a raw X25519 public key. */
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return okpPublic('X25519', raw32(raw, 'X25519 public key'));
}
/** Node KeyObject of a raw Ed25519 private seed. */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return okpPrivate('Ed25519', raw32(seed, 'Ed25519 seed'));
}
/** Node KeyObject of a raw Ed25519 public key. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return okpPublic('Ed25519', raw32(raw, 'Ed25519 public key'));
}

function rawPublic(key: KeyObject): Buffer {
  // The JWK export is the raw public key in base64url (no DER encoder on the way).
  const x = key.export({ format: 'jwk' }).x;
  if (typeof x === 'string') return Buffer.from(x, 'base64url');
  const der = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

/** An X25519 key pair as raw octets: the ephemeral `Key-share` of a handshake. */
export interface KeyShare {
  /** 32-octet private key; keep in memory only. */
  privateKey: Buffer;
  /** 32-octet public key; sent b64 in `Key-share`. */
  publicKey: Buffer;
}

/** Derives the X25519 public key of a raw private key. */
export function x25519Public(privateKey: Uint8Array): Buffer {
  return rawPublic(createPublicKey(x25519PrivateKey(privateKey)));
}

/** A fresh ephemeral X25519 key pair, or the pair of a given private key (test vectors). */
export function generateKeyShare(privateKey?: Uint8Array): KeyShare {
  const priv = privateKey ? Buffer.from(raw32(privateKey, 'X25519 private key')) : randomBytes(32);
  return { privateKey: priv, publicKey: x25519Public(priv) };
}

/**
 * A fresh ephemeral X25519 key pair whose private half stays a KeyObject (never exported): the
 * `Key-share` of a login, as the MS and the load clients make one per login. Generating the pair in
 * OpenSSL and keeping the KeyObject for {@link x25519} saves the two private-key imports that
 * {@link generateKeyShare} then {@link x25519} on raw octets cost (measured, Node 20 / OpenSSL 3 on the
 * 2-core bench machine, CPU per login and side: 137 us -> 92 us).
 */
export interface EphemeralKey {
  /** The private key; keep in memory only. */
  privateKey: KeyObject;
  /** 32-octet public key; sent b64 in `Key-share`. */
  publicKey: Buffer;
}

/**
 * Generates an {@link EphemeralKey} from 32 octets of randomBytes, imported once.
 *
 * Not generateKeyPairSync: on Node 20.20 its KeyGenJob shares the new key's mutex, and a garbage
 * collection that runs the job's destructor while that key is being used (a JWK export allocating a
 * string, say) locks the mutex the export already holds. The thread deadlocks for good: an MS was
 * seen frozen that way in a load run (gdb: ExportJWKEdKey -> GC -> ~KeyGenJob -> pthread_mutex_lock).
 */
export function generateEphemeralKey(): EphemeralKey {
  const raw = randomBytes(32);
  const privateKey = x25519PrivateKey(raw);
  raw.fill(0);
  return { privateKey, publicKey: rawPublic(createPublicKey(privateKey)) };
}

/**
 * X25519(own private, peer public): the 32-octet shared secret. The own key is raw octets or the
 * KeyObject of an {@link EphemeralKey}; the peer's is always raw octets from the network.
 * @throws CryptoError ERR_BAD_VALUE when the peer key is malformed or of low order (all-zero result)
 */
export function x25519(privateKey: Uint8Array | KeyObject, peerPublic: Uint8Array): Buffer {
  const priv = privateKey instanceof Uint8Array ? x25519PrivateKey(privateKey) : privateKey;
  if (priv.type !== 'private' || priv.asymmetricKeyType !== 'x25519')
    throw cryptoError('ERR_BAD_VALUE', 'X25519 private key expected');
  const pub = x25519PublicKey(peerPublic);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: priv, publicKey: pub });
  } catch {
    // OpenSSL refuses a low-order peer key (the shared secret would be all zero).
    throw cryptoError('ERR_BAD_VALUE', 'X25519 key share of low order');
  }
  if (shared.every((b) => b === 0)) throw cryptoError('ERR_BAD_VALUE', 'X25519 key share of low order');
  return shared;
}

/** A user's identity: an Ed25519 signing key and an X25519 agreement key [§6.5 Identity Keys and the Sealed Key Blob]. */
export interface Identity {
  /** Ed25519 private seed (32 octets). */
  edSeed: Buffer;
  /** Ed25519 public key (32 octets). */
  edPublic: Buffer;
  /** X25519 private key (32 octets). */
  xPrivate: Buffer;
  /** X25519 public key (32 octets). */
  xPublic: Buffer;
  /** The `Public-key` header value: b64(Ed25519 public) "." b64(X25519 public). */
  publicKey: string;
}

/** Rebuilds an identity from its two private keys. */
export function identityFromPrivate(edSeed: Uint8Array, xPrivate: Uint8Array): Identity {
  const ed = Buffer.from(raw32(edSeed, 'Ed25519 seed'));
  const x = Buffer.from(raw32(xPrivate, 'X25519 private key'));
  const edPublic = rawPublic(createPublicKey(ed25519PrivateKey(ed)));
  const xPublic = x25519Public(x);
  return { edSeed: ed, edPublic, xPrivate: x, xPublic, publicKey: `${b64(edPublic)}.${b64(xPublic)}` };
}

/** Generates a fresh identity (registration; `imsp user add`). */
export function generateIdentity(): Identity {
  // Any 32 octets are an Ed25519 seed (RFC 8032 5.1.5); not generateKeyPairSync (see generateEphemeralKey).
  return identityFromPrivate(randomBytes(32), randomBytes(32));
}

/** The two raw public keys of a user. */
export interface PublicIdentity {
  edPublic: Buffer;
  xPublic: Buffer;
}

/**
 * Parses a `Public-key` value `b64(ed).b64(x)`.
 * @throws CryptoError ERR_BAD_VALUE
 */
export function parsePublicKey(value: string): PublicIdentity {
  const parts = value.split('.');
  if (parts.length !== 2) throw cryptoError('ERR_BAD_VALUE', 'Public-key: expected two parts');
  return { edPublic: unb64(parts[0]!, 32, 'Ed25519 public key'), xPublic: unb64(parts[1]!, 32, 'X25519 public key') };
}

/** Ed25519 signature (64 octets) of `data` (a transcript string is signed as its ASCII octets). */
export function sign(edSeed: Uint8Array, data: string | Uint8Array): Buffer {
  return nodeSign(null, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, ed25519PrivateKey(edSeed));
}

/** Checks an Ed25519 signature; false on any malformed input. */
export function verifySignature(edPublic: Uint8Array, data: string | Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64 || edPublic.length !== 32) return false;
  try {
    return nodeVerify(
      null,
      typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
      ed25519PublicKey(edPublic),
      signature,
    );
  } catch {
    return false;
  }
}
