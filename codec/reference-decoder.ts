// The reference decoder: the framing of generated/decoder.ts written plainly (one octet at a
// time, the whole input at once), with the syntax of every line and of records bodies
// decided by the peggy parser generated from grammar/imsp.peggy. Slow by design: it exists
// to be compared with the fast path (test/codec: fast path == grammar on generated and
// mutated inputs) and to give the benchmark its peggy figure.
import { parse as peggyParse } from '../generated/internal/peggy-parser.js';
import { LIMITS } from '../generated/registry.js';
import { VALUE_VALIDATORS } from '../generated/validators.js';
import { resolveLimits, type DecoderOptions } from './decoder.js';
import { ImspError, isErrorCode } from './errors.js';
import type { ErrorCode } from '../generated/registry.js';
import type { Header, Message } from './types.js';

/** Buffer's latin1 fast paths (present at run time, absent from @types/node). */
interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}
const latin1 = (b: Uint8Array, s: number, e: number): string => (b as unknown as Latin1Buffer).latin1Slice(s, e);

type StartLine = { kind: 'request'; method: string } | { kind: 'response'; status: number; reason: string };
interface HeaderField {
  name: string;
  value: string;
  valueOffset: number;
}
interface PeggyFailure {
  message: string;
  location?: { start: { offset: number } };
}

/** Runs a grammar rule; a failure becomes the ImspError the grammar names, at base + offset. */
function rule<T>(
  text: string,
  startRule: 'start_line' | 'header_line' | 'message_head' | 'records_body',
  base: number,
  fallback: ErrorCode,
): T {
  try {
    return peggyParse(text, { startRule }) as T;
  } catch (e) {
    const f = e as PeggyFailure;
    if (f === null || typeof f !== 'object' || typeof f.message !== 'string') throw e;
    const offset = f.location?.start.offset ?? 0;
    throw new ImspError(
      isErrorCode(f.message) ? f.message : fallback,
      base + offset,
      isErrorCode(f.message) ? undefined : f.message,
    );
  }
}

function isTextOctet(b: number): boolean {
  return b === 0x09 || (b >= 0x20 && b <= 0x7e);
}

/** Octet checks of buf[s, e) ([WIRE-3] [WIRE-9]); see decoder.ts for the CR-at-end rule. */
function octets(buf: Uint8Array, s: number, e: number, crAtEndOk: boolean): ImspError | null {
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (isTextOctet(b)) continue;
    if (b === 0x0d) return crAtEndOk && i === e - 1 ? null : new ImspError('ERR_BARE_CR', i);
    if (b === 0x0a) return new ImspError('ERR_BARE_LF', i);
    return new ImspError('ERR_NON_ASCII', i);
  }
  return null;
}

export interface ReferenceResult {
  messages: Message[];
  error: ImspError | null;
}

/**
 * A whole well-formed head at m, decided by one message_head parse: every line within the
 * limits, of text octets, CRLF-terminated, and the grammar accepts the head. Returns null
 * for anything else (the caller then goes line by line, which finds the first error in
 * order). Only saves parser calls: the outcome is the same.
 */
function wholeHead(
  buf: Buffer,
  m: number,
  lim: ReturnType<typeof resolveLimits>,
): { start: StartLine; headers: HeaderField[]; end: number } | null {
  let s = m;
  let lines = 0;
  for (;;) {
    let j = s;
    while (j < buf.length && buf[j] !== 0x0a) j++;
    if (j === buf.length || j === s || buf[j - 1] !== 0x0d) return null;
    if (j + 1 - s > lim.maxLineLength || j + 1 - m > lim.maxHeadSize || octets(buf, s, j - 1, false)) return null;
    lines++;
    if (j - 1 === s && lines > 1) break;
    if (lines > lim.maxHeaders + 1) return null;
    s = j + 1;
  }
  const end = s + 2;
  try {
    const head = peggyParse(latin1(buf, m, end), { startRule: 'message_head' }) as {
      start: StartLine;
      headers: HeaderField[];
    };
    return { ...head, end };
  } catch {
    return null;
  }
}

/** Decodes a whole stream with the grammar; never throws for bad input. */
export function decodeWithGrammar(input: Uint8Array, opts: DecoderOptions = {}): ReferenceResult {
  const lim = resolveLimits(opts.limits);
  const buf = Buffer.from(input.buffer, input.byteOffset, input.length);
  const messages: Message[] = [];
  let pos = 0;
  let m = 0;
  try {
    while (pos < buf.length) {
      m = pos;
      let start: StartLine | null = null;
      const headers: Header[] = [];
      let contentLength = -1;
      const whole = wholeHead(buf, m, lim);
      if (whole) {
        // Content-length checks as below, in order, with offsets from the field's line.
        let lineStart = m + buf.subarray(m).indexOf(0x0a) + 1;
        for (const h of whole.headers) {
          if (h.name.toLowerCase() === 'content-length') {
            if (contentLength >= 0) throw new ImspError('ERR_DUPLICATE_CONTENT_LENGTH', lineStart);
            const at = m + h.valueOffset;
            if (!VALUE_VALIDATORS.length(h.value) || h.value.length > LIMITS.maxContentLengthDigits)
              throw new ImspError('ERR_BAD_CONTENT_LENGTH', at);
            contentLength = Number(h.value);
            if (contentLength > lim.maxBodySize) throw new ImspError('ERR_BODY_TOO_LARGE', at);
          }
          headers.push([h.name, h.value]);
          lineStart = buf.indexOf(0x0a, lineStart) + 1;
        }
        start = whole.start;
        pos = whole.end;
      }
      for (; whole === null; ) {
        const s = pos;
        if (
          start !== null &&
          headers.length >= lim.maxHeaders &&
          s < buf.length &&
          buf[s] !== 0x0d &&
          buf[s] !== 0x0a
        ) {
          throw new ImspError('ERR_TOO_MANY_HEADERS', s);
        }
        const cut = Math.min(s + lim.maxLineLength, m + lim.maxHeadSize);
        let j = s;
        while (j < buf.length && j < cut && buf[j] !== 0x0a) j++;
        if (j === cut) {
          throw (
            octets(buf, s, cut, true) ??
            new ImspError(
              s + lim.maxLineLength <= m + lim.maxHeadSize ? 'ERR_LINE_TOO_LONG' : 'ERR_HEAD_TOO_LARGE',
              cut,
            )
          );
        }
        if (j === buf.length) throw octets(buf, s, j, true) ?? new ImspError('ERR_TRUNCATED', buf.length);
        if (j === s || buf[j - 1] !== 0x0d) throw octets(buf, s, j, false) ?? new ImspError('ERR_BARE_LF', j);
        const oe = octets(buf, s, j - 1, false);
        if (oe) throw oe;
        const text = latin1(buf, s, j - 1);
        pos = j + 1;
        if (start === null) {
          start = rule<StartLine>(text, 'start_line', s, 'ERR_BAD_METHOD');
          continue;
        }
        if (text === '') break;
        const h = rule<HeaderField>(text, 'header_line', s, 'ERR_BAD_HEADER_NAME');
        if (h.name.toLowerCase() === 'content-length') {
          if (contentLength >= 0) throw new ImspError('ERR_DUPLICATE_CONTENT_LENGTH', s);
          if (!VALUE_VALIDATORS.length(h.value) || h.value.length > LIMITS.maxContentLengthDigits) {
            throw new ImspError('ERR_BAD_CONTENT_LENGTH', s + h.valueOffset);
          }
          contentLength = Number(h.value);
          if (contentLength > lim.maxBodySize) throw new ImspError('ERR_BODY_TOO_LARGE', s + h.valueOffset);
        }
        headers.push([h.name, h.value]);
      }
      const len = Math.max(contentLength, 0);
      if (buf.length - pos < len) throw new ImspError('ERR_TRUNCATED', buf.length);
      const body = Buffer.from(buf.subarray(pos, pos + len));
      pos += len;
      const sl = start as StartLine; // set by the whole-head parse or by the first line
      messages.push(
        sl.kind === 'request'
          ? { kind: 'request', method: sl.method, headers, body }
          : { kind: 'response', status: sl.status, reason: sl.reason, headers, body },
      );
    }
  } catch (e) {
    if (e instanceof ImspError) {
      e.messageOffset = e.offset - m;
      return { messages, error: e };
    }
    throw e;
  }
  return { messages, error: null };
}

/** The grammar's message_head rule over a whole head (CRLF included), for the benchmark. */
export function parseHeadWithGrammar(head: string): { start: StartLine; headers: HeaderField[] } {
  return rule(head, 'message_head', 0, 'ERR_BAD_HEADER_NAME');
}

/** The grammar's records_body rule; throws ERR_BAD_RECORDS at the failure offset. [REC-2] */
export function parseRecordsWithGrammar(body: Uint8Array): Header[][] {
  const text = latin1(body, 0, body.length);
  return rule<Header[][]>(text, 'records_body', 0, 'ERR_BAD_RECORDS').map((r) => r.map(([n, v]) => [n, v] as Header));
}
