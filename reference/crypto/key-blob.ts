/**
 * The sealed private-key blob [§6.5 Identity Keys and the Sealed Key Blob]:
 * `v1.{salt b64, 16 octets}.{log2N}.{iv b64, 12 octets}.{ciphertext+tag b64}`,
 * key = scrypt(password UTF-8, salt, 32, N = 2^log2N, r = 8, p = 1), plaintext = Ed25519 seed || X25519
 * private key, aad = "imsp1 key-blob," + username. The CRS stores the blob and never sees the password.
 * @module
 */
import { randomBytes, scrypt, scryptSync } from 'node:crypto';
import { aeadOpen, aeadSeal } from './aead.js';
import { b64, unb64 } from './b64.js';
import { cryptoError } from './errors.js';
import { identityFromPrivate, type Identity } from './keys.js';

/** Smallest and largest log2N a blob may use; below 15 is for synthetic load-test users only. */
export const KEY_BLOB_MIN_LOG2N = 10;
export const KEY_BLOB_MAX_LOG2N = 20;
/** The log2N used when none is given (the spec's SHOULD). */
export const KEY_BLOB_DEFAULT_LOG2N = 15;

/** Options of sealKeyBlob. */
export interface SealOptions {
  /** scrypt cost, 10..20; default 15. */
  log2N?: number;
  /** 16-octet salt; random unless given (test vectors). */
  salt?: Uint8Array;
  /** 12-octet iv; random unless given (test vectors). */
  iv?: Uint8Array;
}

function checkLog2N(log2N: number): void {
  if (!Number.isInteger(log2N) || log2N < KEY_BLOB_MIN_LOG2N || log2N > KEY_BLOB_MAX_LOG2N) {
    throw cryptoError('ERR_BAD_VALUE', `key blob log2N ${log2N} outside ${KEY_BLOB_MIN_LOG2N}..${KEY_BLOB_MAX_LOG2N}`);
  }
}

function scryptParams(log2N: number): { N: number; r: number; p: number; maxmem: number } {
  const N = 2 ** log2N;
  return { N, r: 8, p: 1, maxmem: 128 * N * 8 + 16 * 1024 * 1024 };
}

/** aad of a user's key blob. */
export function keyBlobAad(username: string): string {
  return `imsp1 key-blob,${username}`;
}

/** The key that seals a blob: scrypt(password, salt, 32, 2^log2N, 8, 1). */
export function keyBlobKey(password: string, salt: Uint8Array, log2N: number): Buffer {
  checkLog2N(log2N);
  return scryptSync(Buffer.from(password, 'utf8'), salt, 32, scryptParams(log2N));
}

/** Same as keyBlobKey, off the event loop. */
export function keyBlobKeyAsync(password: string, salt: Uint8Array, log2N: number): Promise<Buffer> {
  checkLog2N(log2N);
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(password, 'utf8'), salt, 32, scryptParams(log2N), (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** The parts of a blob string. */
export interface KeyBlobParts {
  salt: Buffer;
  log2N: number;
  iv: Buffer;
  sealed: Buffer;
}

/**
 * Splits and checks a blob string.
 * @throws CryptoError ERR_BAD_VALUE when it is not `v1.salt.log2N.iv.ct` with the right sizes
 */
export function parseKeyBlob(blob: string): KeyBlobParts {
  const p = blob.split('.');
  if (p.length !== 5 || p[0] !== 'v1') throw cryptoError('ERR_BAD_VALUE', 'key blob: not v1.salt.log2N.iv.ct');
  if (!/^[0-9]{1,2}$/.test(p[2]!)) throw cryptoError('ERR_BAD_VALUE', 'key blob: bad log2N');
  const log2N = Number(p[2]);
  checkLog2N(log2N);
  return {
    salt: unb64(p[1]!, 16, 'key blob salt'),
    log2N,
    iv: unb64(p[3]!, 12, 'key blob iv'),
    sealed: unb64(p[4]!, 80, 'key blob ciphertext'),
  };
}

function assemble(key: Buffer, salt: Buffer, log2N: number, iv: Buffer, username: string, identity: Identity): string {
  const sealed = aeadSeal(key, iv, keyBlobAad(username), Buffer.concat([identity.edSeed, identity.xPrivate]));
  return `v1.${b64(salt)}.${log2N}.${b64(iv)}.${b64(sealed)}`;
}

function unseal(key: Buffer, parts: KeyBlobParts, username: string): Identity {
  const plain = aeadOpen(key, parts.iv, keyBlobAad(username), parts.sealed);
  return identityFromPrivate(plain.subarray(0, 32), plain.subarray(32, 64));
}

function saltIv(opts: SealOptions): { salt: Buffer; iv: Buffer; log2N: number } {
  const salt = opts.salt ? Buffer.from(opts.salt) : randomBytes(16);
  const iv = opts.iv ? Buffer.from(opts.iv) : randomBytes(12);
  if (salt.length !== 16 || iv.length !== 12) throw cryptoError('ERR_BAD_VALUE', 'key blob salt/iv size');
  return { salt, iv, log2N: opts.log2N ?? KEY_BLOB_DEFAULT_LOG2N };
}

/** Seals a user's private keys under the password, with a fresh random salt and iv unless given [KEYBLOB-1] [KEYBLOB-2]. */
export function sealKeyBlob(password: string, username: string, identity: Identity, opts: SealOptions = {}): string {
  const { salt, iv, log2N } = saltIv(opts);
  return assemble(keyBlobKey(password, salt, log2N), salt, log2N, iv, username, identity);
}

/** sealKeyBlob off the event loop. */
export async function sealKeyBlobAsync(
  password: string,
  username: string,
  identity: Identity,
  opts: SealOptions = {},
): Promise<string> {
  const { salt, iv, log2N } = saltIv(opts);
  return assemble(await keyBlobKeyAsync(password, salt, log2N), salt, log2N, iv, username, identity);
}

function matching(id: Identity, expectedPublicKey: string | undefined): Identity {
  // [KEYBLOB-4] the opened private keys must be those of the user's Public-key
  if (expectedPublicKey !== undefined && id.publicKey !== expectedPublicKey) {
    throw cryptoError('ERR_DECRYPT', 'key blob does not match the Public-key (corrupted key blob)');
  }
  return id;
}

/**
 * Opens a blob with the password.
 * @param expectedPublicKey when given, the opened keys must match it [KEYBLOB-4]
 * @throws CryptoError ERR_BAD_VALUE (malformed blob) or ERR_DECRYPT (wrong password, wrong user,
 *   tampered, or keys that do not match expectedPublicKey)
 */
export function openKeyBlob(password: string, username: string, blob: string, expectedPublicKey?: string): Identity {
  const parts = parseKeyBlob(blob);
  return matching(unseal(keyBlobKey(password, parts.salt, parts.log2N), parts, username), expectedPublicKey);
}

/** openKeyBlob off the event loop. */
export async function openKeyBlobAsync(
  password: string,
  username: string,
  blob: string,
  expectedPublicKey?: string,
): Promise<Identity> {
  const parts = parseKeyBlob(blob);
  return matching(unseal(await keyBlobKeyAsync(password, parts.salt, parts.log2N), parts, username), expectedPublicKey);
}
