// Registration (out of band, [§6.5 Identity Keys and the Sealed Key Blob]): make the SCRAM verifier and a fresh identity, seal the
// private keys under the password, and store only the verifier, the public key and the sealed
// blob. The password and the private keys never reach the store.
import {
  generateIdentity,
  KEY_BLOB_MAX_LOG2N,
  KEY_BLOB_MIN_LOG2N,
  makeVerifier,
  SCRAM_MAX_ITERATIONS,
  SCRAM_MIN_ITERATIONS,
  sealKeyBlobAsync,
} from '../crypto/index.js';
import type { Profile, RegisterResult, Store } from './store.js';
import { isUsername } from './store.js';

export interface RegisterOptions {
  /** scrypt cost of the key blob, 10..20 (default 15; load tests use 10 for cheap synthetic users). */
  log2N?: number;
  /** PBKDF2 iterations of the verifier (default and minimum 4096). */
  iterations?: number;
  profile?: Partial<Profile>;
  /** Registration time (default Date.now()). */
  now?: number;
}

export type RegisterUserResult = { ok: true; publicKey: string } | Exclude<RegisterResult, { ok: true }>;

/** Registers `username` with `password` in `store`. */
export async function registerUser(
  store: Store,
  username: string,
  password: string,
  opts: RegisterOptions = {},
): Promise<RegisterUserResult> {
  // [USER-1] checked before any expensive key derivation
  if (!isUsername(username)) return { ok: false, error: 'invalid', detail: 'username' };
  if (password.length === 0) return { ok: false, error: 'invalid', detail: 'password' };
  const it = opts.iterations;
  if (it !== undefined && (!Number.isInteger(it) || it < SCRAM_MIN_ITERATIONS || it > SCRAM_MAX_ITERATIONS))
    return { ok: false, error: 'invalid', detail: 'iterations' };
  const n = opts.log2N;
  if (n !== undefined && (!Number.isInteger(n) || n < KEY_BLOB_MIN_LOG2N || n > KEY_BLOB_MAX_LOG2N))
    return { ok: false, error: 'invalid', detail: 'log2N' };
  const verifier = makeVerifier(password, opts.iterations !== undefined ? { iterations: opts.iterations } : {});
  const identity = generateIdentity();
  const keyBlob = await sealKeyBlobAsync(
    password,
    username,
    identity,
    opts.log2N !== undefined ? { log2N: opts.log2N } : {},
  );
  // Only the seed-free parts leave this function: the private keys live on inside keyBlob only.
  identity.edSeed.fill(0);
  identity.xPrivate.fill(0);
  const r = await store.registerUser(
    { username, verifier, publicKey: identity.publicKey, keyBlob, ...(opts.profile ? { profile: opts.profile } : {}) },
    opts.now ?? Date.now(),
  );
  return r.ok ? { ok: true, publicKey: identity.publicKey } : r;
}
