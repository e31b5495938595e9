/**
 * AES-256-GCM with the 16-octet tag appended to the ciphertext, as every IMSP AEAD use
 * (SEALED envelopes, key blobs, INIT and INIT-ACK bodies) has it [§6 Cryptography and Link Protection].
 * @module
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { cryptoError } from './errors.js';

/** Octets of the GCM tag appended to every ciphertext. */
export const TAG_LENGTH = 16;

/** The associated data as octets (a hot caller passes a Buffer made once instead of a string). */
function aadOctets(aad: string | Uint8Array): Uint8Array {
  return typeof aad === 'string' ? Buffer.from(aad, 'ascii') : aad;
}

/**
 * AES-256-GCM(key, iv, aad, plaintext) -> ciphertext || tag.
 * With `headroom`, the result starts with that many octets left for the caller to fill (e.g. a
 * message head), so that framing the ciphertext costs no further copy.
 */
export function aeadSeal(
  key: Uint8Array,
  iv: Uint8Array,
  aad: string | Uint8Array,
  plaintext: Uint8Array,
  headroom = 0,
): Buffer {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  c.setAAD(aadOctets(aad));
  const head = c.update(plaintext);
  const tail = c.final(); // GCM is a stream mode: empty, but taken into account if it ever is not
  const tag = c.getAuthTag();
  const out = Buffer.allocUnsafe(headroom + head.length + tail.length + TAG_LENGTH);
  out.set(head, headroom);
  if (tail.length > 0) out.set(tail, headroom + head.length);
  out.set(tag, headroom + head.length + tail.length);
  return out;
}

/**
 * Opens ciphertext || tag.
 * @throws CryptoError ERR_DECRYPT when it does not authenticate (or is shorter than a tag)
 */
export function aeadOpen(key: Uint8Array, iv: Uint8Array, aad: string | Uint8Array, sealed: Uint8Array): Buffer {
  if (sealed.length < TAG_LENGTH) throw cryptoError('ERR_DECRYPT', 'shorter than the tag');
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  d.setAAD(aadOctets(aad));
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
  const head = d.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
  let tail: Buffer;
  try {
    tail = d.final(); // checks the tag
  } catch {
    throw cryptoError('ERR_DECRYPT');
  }
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}
