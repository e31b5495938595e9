/**
 * AES-256-GCM with the 16-octet tag appended to the ciphertext, as every IMSP AEAD use
 * (SEALED envelopes, key blobs, INIT and INIT-ACK bodies) has it (spec section 6).
 * @module
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { cryptoError } from './errors.js';

/** Octets of the GCM tag appended to every ciphertext. */
export const TAG_LENGTH = 16;

/** AES-256-GCM(key, iv, aad, plaintext) -> ciphertext || tag. */
export function aeadSeal(key: Uint8Array, iv: Uint8Array, aad: string, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  c.setAAD(Buffer.from(aad, 'ascii'));
  const head = c.update(plaintext);
  const tail = c.final();
  return Buffer.concat([head, tail, c.getAuthTag()]);
}

/**
 * Opens ciphertext || tag.
 * @throws CryptoError ERR_DECRYPT when it does not authenticate (or is shorter than a tag)
 */
export function aeadOpen(key: Uint8Array, iv: Uint8Array, aad: string, sealed: Uint8Array): Buffer {
  if (sealed.length < TAG_LENGTH) throw cryptoError('ERR_DECRYPT', 'shorter than the tag');
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  d.setAAD(Buffer.from(aad, 'ascii'));
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
  const head = d.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
  try {
    return Buffer.concat([head, d.final()]);
  } catch {
    throw cryptoError('ERR_DECRYPT');
  }
}
