// Registry validation, the second level of decoding: is this well-formed message one the
// registry allows on this link? Returns the first failing check's ImspError (offset -1), or
// null. Checks in order: method [REG-1] [REG-2], each header in wire order (allowed [REG-4],
// not repeated [REG-5], value syntax [REG-6]), required headers [REG-3], body [REG-7]
// [REC-2]. Headers starting with X- are extensions and ignored [HDR-6]. Content-length is
// a framing header: allowed on every message, required where the registry says so.
import { ERROR_RESPONSE_HEADERS, HEADER_BY_LOWER, HEADERS, METHODS, STATUS_CODES, type HeaderName, type Role } from '../../../generated/registry.js';
import { HEADER_VALIDATORS } from '../../../generated/validators.js';
import { ImspError } from './errors.js';
import { parseRecords } from './records.js';
import type { Message, ResponseMessage } from './types.js';

interface Rules {
  readonly required: readonly string[];
  readonly optional: readonly string[];
  readonly body: string;
}
interface LinkRules extends Rules {
  readonly from: string;
  readonly to: string;
  readonly sealed: boolean;
  readonly responses?: { readonly [status: string]: Rules };
}

function linkOf(method: string, link: { from: Role; to: Role }): LinkRules | null | undefined {
  const m = (METHODS as Record<string, { links: readonly LinkRules[] } | undefined>)[method];
  if (!m) return undefined;
  return m.links.find((l) => l.from === link.from && l.to === link.to) ?? null;
}

function check(msg: Message, required: readonly string[], optional: readonly string[], body: string): ImspError | null {
  const allowed = new Set<string>([...required, ...optional, 'Content-length']);
  const seen = new Set<HeaderName>();
  for (const [n, v] of msg.headers) {
    const lower = n.toLowerCase();
    if (lower.startsWith('x-')) continue; // [HDR-6]
    const canonical = HEADER_BY_LOWER.get(lower);
    if (canonical === undefined || !allowed.has(canonical)) return new ImspError('ERR_HEADER_NOT_ALLOWED', -1, n); // [REG-4]
    if (seen.has(canonical) && !HEADERS[canonical].repeatable) return new ImspError('ERR_DUPLICATE_HEADER', -1, n); // [REG-5]
    seen.add(canonical);
    if (!HEADER_VALIDATORS[canonical](v)) return new ImspError('ERR_BAD_VALUE', -1, `${n}: ${JSON.stringify(v)}`); // [REG-6]
  }
  for (const r of required) if (!seen.has(r as HeaderName)) return new ImspError('ERR_MISSING_HEADER', -1, r); // [REG-3]
  if (body === 'none' && msg.body.length > 0) return new ImspError('ERR_UNEXPECTED_BODY', -1); // [REG-7]
  if (body === 'records') {
    let records;
    try {
      records = parseRecords(msg.body);
    } catch (e) {
      if (e instanceof ImspError) return e; // [REC-2]
      throw e;
    }
    // Record fields of registered headers must match their value types; unknown fields are
    // ignored. [REC-2] [REC-4]
    for (const r of records) {
      for (const [n, v] of r) {
        const canonical = HEADER_BY_LOWER.get(n.toLowerCase());
        if (canonical !== undefined && !HEADER_VALIDATORS[canonical](v)) return new ImspError('ERR_BAD_RECORDS', -1, `${n}: ${JSON.stringify(v)}`);
      }
    }
  }
  return null;
}

/**
 * Checks a request, notification, handshake or envelope sent from link.from to link.to.
 * link.sealed, when given, says whether the message arrived inside a SEALED envelope: a
 * method the registry seals on this link must, and SEALED itself must not (ERR_DECRYPT). [REG-2] [SEAL-6]
 */
export function validate(msg: Message, link: { from: Role; to: Role; sealed?: boolean }): ImspError | null {
  if (msg.kind !== 'request') return new ImspError('ERR_UNKNOWN_METHOD', -1, 'a response where a request was expected');
  const l = linkOf(msg.method, link);
  if (l === undefined) return new ImspError('ERR_UNKNOWN_METHOD', -1, msg.method); // [REG-1]
  if (l === null) return new ImspError('ERR_METHOD_NOT_ALLOWED', -1, `${msg.method} ${link.from} -> ${link.to}`); // [REG-2]
  if (link.sealed === false && l.sealed) return new ImspError('ERR_METHOD_NOT_ALLOWED', -1, `${msg.method} must travel inside SEALED`); // [REG-2]
  if (link.sealed === true && msg.method === 'SEALED') return new ImspError('ERR_DECRYPT', -1, 'SEALED inside SEALED'); // [SEAL-6]
  return check(msg, l.required, l.optional, l.body);
}

/**
 * Checks a response to `method` sent from link.from to link.to (link is the request's
 * direction). Any registered error status (4xx, 5xx) may answer any request, with the
 * error response headers; other statuses must be listed for the method. [REG-8]
 */
export function validateResponse(msg: ResponseMessage, method: string, link: { from: Role; to: Role }): ImspError | null {
  const entry = (STATUS_CODES as Record<number, unknown>)[msg.status];
  if (entry === undefined) return new ImspError('ERR_UNKNOWN_STATUS', -1, String(msg.status)); // [REG-8]
  const l = linkOf(method, link);
  if (l === undefined) return new ImspError('ERR_UNKNOWN_METHOD', -1, method);
  if (l === null) return new ImspError('ERR_METHOD_NOT_ALLOWED', -1, `${method} ${link.from} -> ${link.to}`);
  const listed = l.responses?.[String(msg.status)];
  if (msg.status >= 400) {
    const er = ERROR_RESPONSE_HEADERS;
    return check(msg, [...er.required, ...(listed?.required ?? [])], [...er.optional, ...(listed?.optional ?? [])], listed?.body ?? 'none');
  }
  if (!listed) return new ImspError('ERR_UNKNOWN_STATUS', -1, `${msg.status} is not an answer to ${method}`);
  return check(msg, listed.required, listed.optional, listed.body);
}
