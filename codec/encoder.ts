// The encoder and the message constructors. encode() refuses (ImspError, offset -1) any
// message the decoder would not give back unchanged: the checks are built from the grammar's
// character classes (generated/internal/tables.ts).
import { CLASS_SOURCE } from '../generated/internal/tables.js';
import { ERRORS, STATUS_CODES, type ErrorCode } from '../generated/registry.js';
import { ImspError } from './errors.js';
import type { Header, HeaderInit, Message, RequestMessage, ResponseMessage } from './types.js';

/** Buffer's latin1 fast paths (present at run time, absent from @types/node). */
interface Latin1Buffer {
  latin1Write(s: string, offset: number, length: number): number;
}

const EMPTY = Buffer.alloc(0);

// The syntax checks as regular expressions built from the grammar's character classes.
const C = CLASS_SOURCE;
const METHOD_RE = new RegExp(`^[${C.method_first}][${C.method_char}]*$`);
const REASON_RE = new RegExp(`^[${C.reason_char}]+(?: [${C.reason_char}]+)*$`);
const NAME_RE = new RegExp(`^[${C.name_char}]+$`);
const VALUE_RE = new RegExp(`^(?:[${C.field_vchar}](?:[${C.text_octet}]*[${C.field_vchar}])?)?$`);

/** A method per grammar rule `method`. [WIRE-4] */
export function isMethod(s: string): boolean {
  return METHOD_RE.test(s);
}

/** A reason phrase per grammar rule `reason_phrase`: words separated by single spaces. [WIRE-5] */
export function isReasonPhrase(s: string): boolean {
  return REASON_RE.test(s);
}

/** A header name per grammar rule `field_name`. [WIRE-6] */
export function isHeaderName(s: string): boolean {
  return NAME_RE.test(s);
}

/** A header value per grammar rule `field_value`: text octets, no space or tab at either end. [WIRE-7] */
export function isHeaderValue(s: string): boolean {
  return VALUE_RE.test(s);
}

/**
 * The wire octets of msg. Content-length is set from the body: it replaces the first
 * Content-length header (others are dropped), or is appended when the body is not empty.
 */
export function encode(msg: Message): Buffer {
  let head: string;
  if (msg.kind === 'request') {
    if (!isMethod(msg.method)) throw new ImspError('ERR_BAD_METHOD', -1, JSON.stringify(msg.method));
    head = msg.method;
  } else {
    if (!Number.isInteger(msg.status) || msg.status < 100 || msg.status > 999 || !isReasonPhrase(msg.reason)) {
      throw new ImspError('ERR_BAD_STATUS_LINE', -1, `${msg.status} ${JSON.stringify(msg.reason)}`);
    }
    head = `${msg.status} ${msg.reason}`;
  }
  head += '\r\n';
  const body = msg.body ?? EMPTY;
  let clDone = false;
  for (const [name, value] of msg.headers) {
    if (!isHeaderName(name)) throw new ImspError('ERR_BAD_HEADER_NAME', -1, JSON.stringify(name));
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (!clDone) head += `${name}: ${body.length}\r\n`;
      clDone = true;
      continue;
    }
    if (!isHeaderValue(value)) throw new ImspError('ERR_BAD_HEADER_VALUE', -1, `${name}: ${JSON.stringify(value)}`);
    head += `${name}: ${value}\r\n`;
  }
  if (!clDone && body.length > 0) head += `Content-length: ${body.length}\r\n`;
  head += '\r\n';
  const headLen = head.length;
  const out = Buffer.allocUnsafe(headLen + body.length);
  (out as unknown as Latin1Buffer).latin1Write(head, 0, headLen);
  if (body.length > 0) out.set(body, headLen);
  return out;
}

/** Header list from a HeaderInit. Object values that are arrays give one header each. */
export function headerList(init?: HeaderInit): Header[] {
  if (init === undefined) return [];
  if (Array.isArray(init))
    return (init as readonly (readonly [string, string | number])[]).map(([n, v]) => [n, String(v)]);
  const out: Header[] = [];
  for (const [n, v] of Object.entries(init as Record<string, unknown>)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([n, String(x)]);
    else out.push([n, String(v)]);
  }
  return out;
}

/** A request; its type keeps the method name, so that its headers can be read by name (codec/headers.ts). */
export function request<M extends string>(
  method: M,
  headers?: HeaderInit,
  body?: Buffer,
): RequestMessage & { readonly method: M } {
  return { kind: 'request', method, headers: headerList(headers), body: body ?? EMPTY };
}

/** A response with the registry's reason phrase for status. */
export function response(status: number, headers?: HeaderInit, body?: Buffer): ResponseMessage {
  const entry = (STATUS_CODES as Record<number, { reason: string } | undefined>)[status];
  if (!entry) throw new RangeError(`status ${status} is not in the registry`);
  return { kind: 'response', status, reason: entry.reason, headers: headerList(headers), body: body ?? EMPTY };
}

/**
 * The response answering err: its status, Error-code, Offset (the offset within the
 * offending message, when the decoder found one) [WIRE-14], then extra.
 */
export function errorResponse(err: ImspError | ErrorCode, extra?: HeaderInit): ResponseMessage {
  const code = typeof err === 'string' ? err : err.code;
  const hs: Header[] = [['Error-code', code]];
  if (typeof err !== 'string' && err.messageOffset >= 0) hs.push(['Offset', String(err.messageOffset)]);
  const r = response(ERRORS[code].status, hs);
  r.headers.push(...headerList(extra));
  return r;
}

/** The first value of the header name (case-insensitive), or undefined. */
export function header(msg: Message, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of msg.headers) if (n.length === lower.length && n.toLowerCase() === lower) return v;
  return undefined;
}

/** Every value of the header name (case-insensitive), in wire order. */
export function headers(msg: Message, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of msg.headers) if (n.length === lower.length && n.toLowerCase() === lower) out.push(v);
  return out;
}
