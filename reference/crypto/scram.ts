/**
 * Login (SCRAM-SHA-256 shape plus an ephemeral X25519 exchange) and MS enrollment proofs, and the
 * link keys both derive [§6.1 The Password Verifier] [§6.2 Login Proof] [§6.3 Link Keys] [§7.1 Enrollment]. HMAC, PBKDF2 and HKDF are over SHA-256.
 * Binary values in transcripts are their base64url text, exactly as on the wire.
 * @module
 */
import { createHash, createHmac, hkdfSync, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { b64, decodeKeyText } from './b64.js';
import { cryptoError, type CryptoError } from './errors.js';

/** Fewest PBKDF2 iterations a verifier may use (limits.json scramMinIterations) [AUTH-5]. */
export const SCRAM_MIN_ITERATIONS = 4096;
/** Most iterations a client accepts in a challenge (limits.json scramMaxIterations) [AUTH-6]. */
export const SCRAM_MAX_ITERATIONS = 1_000_000;

/** A pair of 32-octet AES-256-GCM keys for the two directions of a link, seen from one end. */
export interface LinkKeys {
  /** Seals what this end sends. */
  send: Buffer;
  /** Opens what this end receives. */
  receive: Buffer;
}

function hmac(key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}
function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** SaltedPassword = PBKDF2-HMAC-SHA-256(password UTF-8, salt, iterations, 32). */
export function saltedPassword(password: string, salt: Uint8Array, iterations: number): Buffer {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > SCRAM_MAX_ITERATIONS) {
    throw cryptoError('ERR_BAD_VALUE', `Iterations ${iterations} out of range`); // [AUTH-6]
  }
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
}
/** ClientKey = HMAC(SaltedPassword, "Client Key"). */
export function clientKey(salted: Uint8Array): Buffer {
  return hmac(salted, 'Client Key');
}
/** StoredKey = SHA-256(ClientKey). */
export function storedKey(clientKeyValue: Uint8Array): Buffer {
  return sha256(clientKeyValue);
}
/** ServerKey = HMAC(SaltedPassword, "Server Key"). */
export function serverKey(salted: Uint8Array): Buffer {
  return hmac(salted, 'Server Key');
}

/** What the CRS stores per user instead of the password; values as they travel in headers (b64). */
export interface Verifier {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

/**
 * Makes a verifier from a password (registration and PASSWD). The password itself is never kept.
 * @param opts.iterations PBKDF2 iterations, at least 4096 [AUTH-5]
 * @param opts.salt 16 random octets unless given (test vectors)
 */
export function makeVerifier(password: string, opts: { iterations?: number; salt?: Uint8Array } = {}): Verifier {
  const iterations = opts.iterations ?? SCRAM_MIN_ITERATIONS;
  if (iterations < SCRAM_MIN_ITERATIONS) throw cryptoError('ERR_BAD_VALUE', `Iterations below ${SCRAM_MIN_ITERATIONS}`); // [AUTH-5]
  const salt = opts.salt ? Buffer.from(opts.salt) : randomBytes(16);
  const salted = saltedPassword(password, salt, iterations);
  const ck = clientKey(salted);
  return { salt: b64(salt), iterations, storedKey: b64(storedKey(ck)), serverKey: b64(serverKey(salted)) };
}

/** Random nonce: 18 octets from the CSPRNG in b64 (24 characters), as LOGIN, ENROLL, INIT and challenges use [AUTH-12] [CRYPTO-2]. */
export function makeNonce(): string {
  return b64(randomBytes(18));
}

/** The inputs of the login transcript, every binary value as its b64 header text. */
export interface LoginTranscript {
  user: string;
  /** The client's `Nonce` in LOGIN. */
  cnonce: string;
  /** The `Nonce` of the 300 challenge: cnonce followed by the server's part. */
  nonce: string;
  salt: string;
  iterations: number;
  /** The client's `Key-share`. */
  eC: string;
  /** The server's `Key-share`. */
  eS: string;
  address: string;
}

/** auth = `imsp1-login,{user},{cnonce},{nonce},{salt},{iterations},{eC},{eS},{address}`. */
export function loginAuthMessage(t: LoginTranscript): string {
  return `imsp1-login,${t.user},${t.cnonce},${t.nonce},${t.salt},${t.iterations},${t.eC},${t.eS},${t.address}`;
}

/** Proof = ClientKey XOR HMAC(StoredKey, auth). */
export function clientProof(clientKeyValue: Uint8Array, auth: string): Buffer {
  return xor(clientKeyValue, hmac(storedKey(clientKeyValue), auth));
}

/** What a client derives from its password for one login. */
export interface ClientLogin {
  proof: Buffer;
  clientKey: Buffer;
  serverKey: Buffer;
}

/** Client side of step 4: derives the keys from the password and the challenge and computes Proof. */
export function clientLogin(password: string, salt: Uint8Array, iterations: number, auth: string): ClientLogin {
  const salted = saltedPassword(password, salt, iterations);
  const ck = clientKey(salted);
  return { proof: clientProof(ck, auth), clientKey: ck, serverKey: serverKey(salted) };
}

/**
 * Server side of step 5: recovers ClientKey = Proof XOR HMAC(StoredKey, auth) and checks
 * SHA-256(ClientKey) == StoredKey in constant time [AUTH-4] [CRYPTO-3].
 * @returns the ClientKey (needed for the link keys), or null when the proof is wrong
 */
export function verifyClientProof(storedKeyValue: Uint8Array, auth: string, proof: Uint8Array): Buffer | null {
  if (proof.length !== 32 || storedKeyValue.length !== 32) return null;
  const ck = xor(proof, hmac(storedKeyValue, auth));
  return equal(sha256(ck), storedKeyValue) ? ck : null;
}

/** Server-proof = HMAC(ServerKey, auth). */
export function serverProof(serverKeyValue: Uint8Array, auth: string): Buffer {
  return hmac(serverKeyValue, auth);
}

/** Client check of Server-proof, constant time. */
export function verifyServerProof(serverKeyValue: Uint8Array, auth: string, proof: Uint8Array): boolean {
  return equal(serverProof(serverKeyValue, auth), proof);
}

/** The inputs of the enrollment transcript, binary values as b64 header text. */
export interface EnrollTranscript {
  msId: string;
  incarnation: number | string;
  listen: string;
  capacity: number | string;
  /** The MS's `Nonce` in ENROLL. */
  mnonce: string;
  /** The CRS's `Nonce` in the 300 challenge. */
  cnonce: string;
  /** The MS's `Key-share`. */
  eM: string;
  /** The CRS's `Key-share`. */
  eR: string;
}

/** auth = `imsp1-enroll,{ms-id},{incarnation},{listen},{capacity},{mnonce},{cnonce},{eM},{eR}`. */
export function enrollAuthMessage(t: EnrollTranscript): string {
  return `imsp1-enroll,${t.msId},${t.incarnation},${t.listen},${t.capacity},${t.mnonce},${t.cnonce},${t.eM},${t.eR}`;
}

/** Proof = HMAC(MSkey, "ms," + auth). */
export function msProof(msKey: Uint8Array, auth: string): Buffer {
  return hmac(msKey, `ms,${auth}`);
}
/** Server-proof = HMAC(MSkey, "crs," + auth). */
export function crsProof(msKey: Uint8Array, auth: string): Buffer {
  return hmac(msKey, `crs,${auth}`);
}
/** Constant-time comparison of an expected and a received proof (false on length mismatch) [CRYPTO-3] [ENROLL-4]. */
export function verifyProof(expected: Uint8Array, received: Uint8Array): boolean {
  return equal(expected, received);
}

/**
 * Reads an MS key file's content: b64 of at least 32 random octets (surrounding whitespace ignored).
 * @throws CryptoError ERR_BAD_VALUE
 */
export function parseMsKey(text: string): Buffer {
  // base64url or standard base64 (openssl rand -base64 32), with a clear error for anything else
  const key = decodeKeyText(text, 'MS key');
  if (key.length < 32) throw cryptoError('ERR_BAD_VALUE', 'MS key shorter than 32 octets');
  return key;
}

function linkOkm(shared: Uint8Array, secret: Uint8Array, auth: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.concat([shared, secret]), sha256(auth), 'imsp1 link', 64));
}

/**
 * Login link keys: okm = HKDF(X25519 || ClientKey, salt = SHA-256(auth), info = "imsp1 link", 64);
 * okm[0:32] seals client->MS, okm[32:64] seals MS->client.
 * @param role the end asking: its `send` key seals its own direction
 */
export function loginLinkKeys(
  role: 'client' | 'ms',
  shared: Uint8Array,
  clientKeyValue: Uint8Array,
  auth: string,
): LinkKeys {
  const okm = linkOkm(shared, clientKeyValue, auth);
  const c2s = okm.subarray(0, 32);
  const s2c = okm.subarray(32, 64);
  return role === 'client' ? { send: c2s, receive: s2c } : { send: s2c, receive: c2s };
}

/**
 * Enrollment link keys: HKDF(X25519 || MSkey, salt = SHA-256(auth), info = "imsp1 link", 64);
 * okm[0:32] seals MS->CRS, okm[32:64] seals CRS->MS.
 */
export function enrollLinkKeys(role: 'ms' | 'crs', shared: Uint8Array, msKey: Uint8Array, auth: string): LinkKeys {
  const okm = linkOkm(shared, msKey, auth);
  const m2c = okm.subarray(0, 32);
  const c2m = okm.subarray(32, 64);
  return role === 'ms' ? { send: m2c, receive: c2m } : { send: c2m, receive: m2c };
}

/** The decoy key of an MS: HMAC(MS key, "imsp1 decoy key"), the same at every MS [AUTH-14]. */
export function decoyKey(msKey: Uint8Array): Buffer {
  return hmac(msKey, 'imsp1 decoy key');
}

/**
 * The decoy salt for a username the CRS does not know: HMAC(decoy key, "imsp1 decoy," + user) cut to
 * 16 octets, so that a challenge does not reveal that the user is unknown [AUTH-9].
 */
export function decoySalt(decoy: Uint8Array, user: string): Buffer {
  return hmac(decoy, `imsp1 decoy,${user}`).subarray(0, 16);
}

/** @deprecated the same as {@link decoySalt}; pass {@link decoyKey}(MS key) as the secret [AUTH-14]. */
export function fakeSalt(secret: Uint8Array, user: string): Buffer {
  return decoySalt(secret, user);
}

/**
 * The client's checks of a 300 Challenge before it computes a proof: the Nonce starts with its own
 * nonce and adds at least 16 octets of the server's [AUTH-3] [AUTH-12], and Iterations is within
 * scramMinIterations..scramMaxIterations [AUTH-3] [AUTH-6]. A failure means: close the connection.
 * @returns null when the challenge is acceptable, else the typed error
 */
export function checkChallenge(cnonce: string, nonce: string, iterations: number): CryptoError | null {
  if (!nonce.startsWith(cnonce) || nonce.length < cnonce.length + 22)
    return cryptoError('ERR_AUTH_FAILED', 'challenge nonce does not extend the client nonce');
  if (!Number.isSafeInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS)
    return cryptoError('ERR_AUTH_FAILED', 'challenge Iterations below scramMinIterations');
  if (iterations > SCRAM_MAX_ITERATIONS)
    return cryptoError('ERR_AUTH_FAILED', 'challenge Iterations above scramMaxIterations');
  return null;
}
