/**
 * base64url without padding, the only encoding IMSP uses for binary values (spec section 6).
 * Decoding is strict: only the base64url alphabet, no padding, canonical (re-encoding gives the input back),
 * and an optional exact octet length. Anything else is a typed ERR_BAD_VALUE.
 * @module
 */
import { cryptoError } from './errors.js';

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Encodes octets as base64url without padding. */
export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes base64url without padding, strictly.
 * @param text the encoded value
 * @param length when given, the exact number of octets the value must hold
 * @param what a name for the value, used in the error message
 * @throws ImspError ERR_BAD_VALUE when the text is not canonical base64url or has the wrong length
 */
export function unb64(text: string, length?: number, what = 'value'): Buffer {
  if (!B64URL.test(text) || text.length % 4 === 1) throw cryptoError('ERR_BAD_VALUE', `${what}: not base64url`);
  const out = Buffer.from(text, 'base64url');
  if (out.toString('base64url') !== text) throw cryptoError('ERR_BAD_VALUE', `${what}: not canonical base64url`);
  if (length !== undefined && out.length !== length) {
    throw cryptoError('ERR_BAD_VALUE', `${what}: ${out.length} octets, expected ${length}`);
  }
  return out;
}
