/**
 * base64url without padding, the only encoding IMSP uses for binary values [§6 Cryptography and Link Protection].
 * Decoding is strict: only the base64url alphabet, no padding, canonical (codec/b64.ts b64Flaw) [CRYPTO-4],
 * and an optional exact octet length. Anything else is a typed ERR_BAD_VALUE.
 * @module
 */
import { b64Flaw } from '../../codec/index.js';
import { cryptoError } from './errors.js';

/** Only base64url characters (a key file in that alphabet is decoded by unb64, strictly). */
const URL_ALPHABET_ONLY = /^[A-Za-z0-9_-]*$/;

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
  const flaw = b64Flaw(text); // the codec layer's one rule, which the conformance kit applies too [CRYPTO-4]
  if (flaw !== null) throw cryptoError('ERR_BAD_VALUE', `${what}: not canonical base64url (${flaw})`);
  const out = Buffer.from(text, 'base64url');
  if (length !== undefined && out.length !== length) {
    throw cryptoError('ERR_BAD_VALUE', `${what}: ${out.length} octets, expected ${length}`);
  }
  return out;
}

const B64STD = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes a key read from a file or the environment: base64url (as IMSP writes it) or standard
 * base64 with or without padding (as `openssl rand -base64 32` writes it), canonical either way.
 * Only whitespace around the text is ignored (a trailing newline). Anything else is ERR_BAD_VALUE
 * with a message that says what was expected [ENROLL-14].
 */
export function decodeKeyText(raw: string, what = 'key'): Buffer {
  const text = raw.trim();
  const expected = `${what}: expected base64 or base64url (e.g. \`imsp key generate FILE\` or \`openssl rand -base64 32\`)`;
  if (text === '') throw cryptoError('ERR_BAD_VALUE', `${expected}, got an empty file`);
  const bad = /[^A-Za-z0-9+/=_-]/.exec(text);
  if (bad) {
    const c = bad[0];
    const shown = /[\x21-\x7e]/.test(c)
      ? `'${c}'`
      : `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    throw cryptoError('ERR_BAD_VALUE', `${expected}; character ${bad.index + 1} is ${shown}`);
  }
  if (/[+/]/.test(text) && /[-_]/.test(text))
    throw cryptoError('ERR_BAD_VALUE', `${expected}; it mixes the two alphabets ('+' or '/' with '-' or '_')`);
  if (URL_ALPHABET_ONLY.test(text)) return unb64(text, undefined, what);
  if (!B64STD.test(text) || text.replace(/=+$/, '').length % 4 === 1)
    throw cryptoError('ERR_BAD_VALUE', `${expected}; '=' padding only at the end`);
  const out = Buffer.from(text, 'base64');
  const canon = out.toString('base64');
  if (canon !== text && canon.replace(/=+$/, '') !== text)
    throw cryptoError('ERR_BAD_VALUE', `${what}: not canonical base64`);
  return out;
}
