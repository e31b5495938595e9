// Message helpers shared by the reference servers: building messages from plain objects,
// error responses by registry code, and record bodies. Everything on the wire goes through the
// codec (codec/index.ts); this file only shapes arguments for it.
import {
  request as codecRequest,
  response as codecResponse,
  errorResponse as codecErrorResponse,
  encodeRecords,
  anyHeader,
  ERRORS,
  type Header,
  type HeaderName,
  type RequestMessage,
  type ResponseMessage,
  type Message,
  type ErrorCode,
} from '../../codec/index.js';

export type Fields = Record<string, string | number | undefined | null>;

/** Header list from an object, skipping undefined and null values, in insertion order. */
export function fields(obj: Fields): Header[] {
  const out: Header[] = [];
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null) out.push([k, String(v)]);
  return out;
}

/** A request; its type keeps the method name, so that its response's headers are typed too. */
export function req<M extends string>(
  method: M,
  obj: Fields = {},
  body?: Buffer,
): RequestMessage & { readonly method: M } {
  return codecRequest(method, fields(obj), body);
}

/** A response; `extra` headers (repeatable ones) follow those of `obj`. */
export function ok(status: number, obj: Fields = {}, body?: Buffer, extra: Header[] = []): ResponseMessage {
  return codecResponse(status, [...fields(obj), ...extra], body);
}

/** An error response with the registry's status and reason for `code` [CONN-8]. */
export function fail(code: ErrorCode, extra: Fields = {}): ResponseMessage {
  return codecErrorResponse(code, fields(extra));
}

/** The registry's status of an error code. */
export function statusOf(code: ErrorCode): number {
  return ERRORS[code].status;
}

/** The named headers of `m` that are present, as fields (to copy them into another message). */
export function pick(m: Message, names: readonly HeaderName[]): Fields {
  const out: Fields = {};
  for (const n of names) {
    const v = anyHeader(m, n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** A records body (application/imsp-records) with its Content-type header. */
export function records(list: Header[][]): { body: Buffer; contentType: string } {
  return { body: encodeRecords(list), contentType: 'application/imsp-records' };
}

/** The Error-code of a response, when it carries one. */
export function errorCodeOf(msg: ResponseMessage): string | undefined {
  return anyHeader(msg, 'Error-code');
}
