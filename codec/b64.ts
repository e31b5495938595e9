// The canonical spelling of binary values [§6 Cryptography and Link Protection]: b64 of [§2.4 Notation]
// is base64url without '=' padding, and only the spelling b64 gives stands for octets, the one in which
// the bits of the last character beyond the encoded octets are zero (RFC 4648 Section 3.5) [CRYPTO-4].
// One rule for every side: the reference's strict decoder (reference/crypto/b64.ts) refuses what it
// names, and the conformance kit (conformance/lib/canonical.ts) reports it in a target's messages.

/** The base64url alphabet, in value order (RFC 4648 Section 5). */
export const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Why `text` is not the canonical b64 of some octets, in words, or null when it is. [CRYPTO-4] */
export function b64Flaw(text: string): string | null {
  if (text.includes('=')) return "'=' padding";
  const bad = /[^A-Za-z0-9_-]/.exec(text);
  if (bad) return `'${bad[0]}', outside the base64url alphabet`;
  if (text.length % 4 === 1) return `${text.length} characters, a length no octet string encodes`;
  const unused = text.length % 4 === 2 ? 4 : text.length % 4 === 3 ? 2 : 0;
  if (unused && (B64URL.indexOf(text.at(-1)!) & ((1 << unused) - 1)) !== 0)
    return `its last character '${text.at(-1)}' sets bits beyond the last octet`;
  return null;
}
