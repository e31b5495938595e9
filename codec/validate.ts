// Registry validation, the second level of decoding: is this well-formed message one the
// registry allows on this link? Returns the first failing check's ImspError (offset -1), or
// null. Checks in order: method [REG-1] [REG-2], each header in wire order (allowed [REG-4],
// not repeated [REG-5], value syntax [REG-6]), required headers [REG-3], body [REG-7]
// [REC-2]. Headers starting with X- are extensions and ignored [HDR-6]. Content-length is
// a framing header: allowed on every message, required where the registry says so.
import {
  ERROR_RESPONSE_HEADERS,
  HEADER_BY_LOWER,
  HEADERS,
  METHODS,
  STATUS_CODES,
  type HeaderName,
  type Role,
} from '../generated/registry.js';
import { HEADER_VALIDATORS } from '../generated/validators.js';
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

/** One set of rules made ready for checking: the allowed headers as a set, built once. */
interface Compiled {
  readonly allowed: ReadonlySet<string>;
  readonly required: readonly string[];
  readonly body: string;
}
const COMPILED = new WeakMap<Rules, Compiled>();

function compiled(r: Rules): Compiled {
  let c = COMPILED.get(r);
  if (c === undefined) {
    c = {
      allowed: new Set<string>([...r.required, ...r.optional, 'Content-length']),
      required: r.required,
      body: r.body,
    };
    COMPILED.set(r, c);
  }
  return c;
}

/** The rules of an error response: the error response headers plus those listed for the status. */
const ERROR_RULES: Rules = {
  required: ERROR_RESPONSE_HEADERS.required,
  optional: ERROR_RESPONSE_HEADERS.optional,
  body: 'none',
};
const ERROR_RULES_WITH = new WeakMap<Rules, Rules>();
function errorRules(listed: Rules | undefined): Rules {
  if (listed === undefined) return ERROR_RULES;
  let r = ERROR_RULES_WITH.get(listed);
  if (r === undefined) {
    const er = ERROR_RESPONSE_HEADERS;
    r = {
      required: [...er.required, ...listed.required],
      optional: [...er.optional, ...listed.optional],
      body: listed.body,
    };
    ERROR_RULES_WITH.set(listed, r);
  }
  return r;
}

/** Registered names as written in the registry (the usual spelling), before the case-insensitive map. */
const HEADER_BY_NAME: ReadonlyMap<string, HeaderName> = new Map(
  (Object.keys(HEADERS) as HeaderName[]).map((n) => [n, n]),
);

function check(msg: Message, rules: Rules): ImspError | null {
  const { allowed, required, body } = compiled(rules);
  const hs = msg.headers;
  // Headers seen so far, in order (a message has few: an array is cheaper than a set).
  const seen: HeaderName[] = [];
  for (let i = 0; i < hs.length; i++) {
    const [n, v] = hs[i]!;
    if ((n.charCodeAt(0) | 0x20) === 0x78 && n.charCodeAt(1) === 0x2d) continue; // [HDR-6] x- or X-
    const canonical = HEADER_BY_NAME.get(n) ?? HEADER_BY_LOWER.get(n.toLowerCase());
    if (canonical === undefined || !allowed.has(canonical)) return new ImspError('ERR_HEADER_NOT_ALLOWED', -1, n); // [REG-4]
    if (seen.includes(canonical) && !HEADERS[canonical].repeatable) return new ImspError('ERR_DUPLICATE_HEADER', -1, n); // [REG-5]
    seen.push(canonical);
    if (!HEADER_VALIDATORS[canonical](v)) return new ImspError('ERR_BAD_VALUE', -1, `${n}: ${JSON.stringify(v)}`); // [REG-6]
  }
  for (const r of required) if (!seen.includes(r as HeaderName)) return new ImspError('ERR_MISSING_HEADER', -1, r); // [REG-3]
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
        const canonical = HEADER_BY_NAME.get(n) ?? HEADER_BY_LOWER.get(n.toLowerCase());
        if (canonical !== undefined && !HEADER_VALIDATORS[canonical](v))
          return new ImspError('ERR_BAD_RECORDS', -1, `${n}: ${JSON.stringify(v)}`);
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
  if (link.sealed === false && l.sealed)
    return new ImspError('ERR_METHOD_NOT_ALLOWED', -1, `${msg.method} must travel inside SEALED`); // [REG-2]
  if (link.sealed === true && msg.method === 'SEALED') return new ImspError('ERR_DECRYPT', -1, 'SEALED inside SEALED'); // [SEAL-6]
  return check(msg, l);
}

/**
 * Checks a response to `method` sent from link.from to link.to (link is the request's
 * direction). Any registered error status (4xx, 5xx) may answer any request, with the
 * error response headers; other statuses must be listed for the method. [REG-8]
 */
export function validateResponse(
  msg: ResponseMessage,
  method: string,
  link: { from: Role; to: Role },
): ImspError | null {
  const entry = (STATUS_CODES as Record<number, unknown>)[msg.status];
  if (entry === undefined) return new ImspError('ERR_UNKNOWN_STATUS', -1, String(msg.status)); // [REG-8]
  const l = linkOf(method, link);
  if (l === undefined) return new ImspError('ERR_UNKNOWN_METHOD', -1, method);
  if (l === null) return new ImspError('ERR_METHOD_NOT_ALLOWED', -1, `${method} ${link.from} -> ${link.to}`);
  const listed = l.responses?.[String(msg.status)];
  if (msg.status >= 400) return check(msg, errorRules(listed));
  if (!listed) return new ImspError('ERR_UNKNOWN_STATUS', -1, `${msg.status} is not an answer to ${method}`);
  return check(msg, listed);
}
