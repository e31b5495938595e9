// The kit's strict reading of the base64url values a target sends [§6 Cryptography and Link Protection]:
// only the canonical spelling stands for octets (b64 of [§2.4 Notation]: the base64url alphabet, no '=',
// and the bits of the last character beyond the encoded octets zero, RFC 4648 Section 3.5), and a
// receiver refuses any other spelling [CRYPTO-4]. The kit is that receiver for everything a target
// sends, in two places that share this module:
//   - Conn checks every header (and every record of an application/imsp-records body) of a value type
//     the registry binds to [CRYPTO-4], on every message it receives, and records a wire violation;
//   - unb64 (crypto.ts) decodes strictly and throws NotCanonical, so no case acts on the octets a
//     lenient decoder would read (a value read from a sealed INIT body, which Conn cannot see, too).
// Either is reported for any case, as a connection's wire violation is: a case does not declare
// [CRYPTO-4] to be judged by it (spec/site/named-ids.ts).
import { b64Flaw, ERRORS, parseRecords, header, type Header, type Message } from '../../codec/index.js';
import { Failure, type Refusal } from './failure.js';
import { HEADER_LIST, VALUE_TYPES } from './registry.js';

/**
 * The fields a handshake reads as a proof: so spelled, they fail as a proof that does not verify
 * (401 ERR_AUTH_FAILED); any other value fails as a value that does not match its type [CRYPTO-4].
 */
const PROOF_FIELDS = new Set(['Key-share', 'Proof', 'Server-proof', 'Signature']);

/** A base64url value the target sent that is not the canonical spelling: the case fails [CRYPTO-4]. */
export class NotCanonical extends Failure {
  /** The field, where it came, and what a receiver answers (the error registry's status, code and reason). */
  declare refusal: Refusal;
  constructor(
    /** The header or record field, e.g. Key-share. */
    readonly field: string,
    /** Where it came: the message, and the link or part of it. */
    readonly where: string,
    readonly value: string,
    /** What is wrong with the spelling (b64Flaw). */
    readonly why: string,
  ) {
    const code = PROOF_FIELDS.has(field) ? 'ERR_AUTH_FAILED' : 'ERR_BAD_VALUE';
    const e = ERRORS[code];
    super(
      'CRYPTO-4',
      `${field} of ${where} is not canonical base64url (${why}): ${JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value)}; a receiver refuses it (${e.status} ${code}: ${e.reason})`,
    );
    this.refusal = { field, where, status: e.status, code, reason: e.reason };
  }
}

/**
 * The value types the registry binds to [CRYPTO-4] (their text cites it), each with a pattern that
 * captures its base64url parts: the runs of the base64url class in the type's own pattern (a key
 * blob's salt, iv and ciphertext; a public key's two keys). A nonce is never decoded [AUTH-15].
 */
interface CanonicalType {
  /** The type's pattern with each base64url run captured. */
  re: RegExp;
  /** The literal text the type's pattern starts with (a digest's `sha-256=`, a key blob's `v1.`), or ''. */
  prefix: string;
}
const CANONICAL_TYPES: ReadonlyMap<string, CanonicalType> = new Map(
  Object.entries(VALUE_TYPES)
    .filter(([, t]) => t.text.includes('CRYPTO-4'))
    .map(([name, t]) => [
      name,
      {
        re: new RegExp(t.pattern.replaceAll(/\[A-Za-z0-9_-\]\{[0-9,]+\}/g, '($&)')),
        prefix: (/^\^((?:[^[\\(]|\\.)*)/.exec(t.pattern)?.[1] ?? '').replaceAll(/\\(.)/g, '$1'),
      },
    ]),
);

/** Header name (lower case) -> its value type, for the types of CANONICAL_TYPES. */
const CANONICAL_HEADERS: ReadonlyMap<string, CanonicalType> = new Map(
  HEADER_LIST.flatMap((h) => {
    const t = CANONICAL_TYPES.get(h.type);
    return t ? [[h.name.toLowerCase(), t] as const] : [];
  }),
);

/** The value types [CRYPTO-4] binds (for the tests: the list is derived, not typed again). */
export const canonicalTypes = (): string[] => [...CANONICAL_TYPES.keys()];

/**
 * The flaw of a field's value when its header's value type is one [CRYPTO-4] binds: each base64url part
 * it has (when the value matches its type) or, when it does not (e.g. padded), the '.'-separated parts
 * of the value after the literal prefix of its type's pattern (a key blob's log2N, digits, skipped).
 * Null when the spelling is canonical or [CRYPTO-4] does not bind the header.
 */
export function fieldFlaw(name: string, value: string): string | null {
  const t = CANONICAL_HEADERS.get(name.toLowerCase());
  if (!t) return null;
  const v = value.trim();
  const m = t.re.exec(v);
  const parts = m
    ? m.slice(1)
    : (v.startsWith(t.prefix) ? v.slice(t.prefix.length) : v).split('.').filter((p) => !/^[0-9]{1,2}$/.test(p));
  for (const p of parts) {
    const flaw = p === undefined ? null : b64Flaw(p);
    if (flaw) return flaw;
  }
  return null;
}

/** What a message is, for a finding: the request's method, or the response's status. */
export const describe = (m: Message): string => (m.kind === 'request' ? m.method : `the ${m.status} response`);

/**
 * Every field of a message [CRYPTO-4] binds whose value is not canonical: its headers, and the records of
 * an application/imsp-records body (a body that does not parse is another rule's, and is skipped).
 */
export function nonCanonicalFields(m: Message): NotCanonical[] {
  const out: NotCanonical[] = [];
  const check = (headers: readonly Header[], where: string): void => {
    for (const [n, v] of headers) {
      const why = fieldFlaw(n, v);
      if (why) out.push(new NotCanonical(n, where, v, why));
    }
  };
  check(m.headers, describe(m));
  if (m.body.length > 0 && header(m, 'Content-type')?.trim() === 'application/imsp-records') {
    let records: Header[][] = [];
    try {
      records = parseRecords(m.body);
    } catch {
      records = [];
    }
    for (const [i, r] of records.entries()) check(r, `record ${i + 1} of the body of ${describe(m)}`);
  }
  return out;
}
