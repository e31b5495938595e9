// The production decoder: a streaming byte-table scanner (indexOf framing, octet tables
// generated from grammar/imsp.peggy's character classes). generated/reference-decoder.ts
// decodes with the peggy parser itself; property tests check both agree on every input.
//
// Decoding, line by line ([WIRE-1]). A line starts at s and ends at the first LF; cut is
// the first octet a limit forbids (s + maxLineLength, message start + maxHeadSize).
//  1. No LF before cut while cut octets are available: octet checks of [s, cut) (a CR at
//     cut-1 is not judged), then ERR_LINE_TOO_LONG or ERR_HEAD_TOO_LARGE at cut.
//     [WIRE-LIMIT-1] [WIRE-LIMIT-3] Nothing past cut is ever buffered for a head.
//  2. The line is complete: octet checks of its text (every octet printable ASCII or tab;
//     a CR not followed by LF is ERR_BARE_CR, an LF not after CR is ERR_BARE_LF, any other
//     octet ERR_NON_ASCII) [WIRE-3] [WIRE-9]; first error by offset.
//  3. (Before 1 and 2.) A header line beyond maxHeaders: ERR_TOO_MANY_HEADERS at s as soon
//     as its first octet arrives, unless that octet is CR or LF. [WIRE-LIMIT-2]
//  4. The syntax of the line (the grammar's start_line / header_line rules): the error
//     code the grammar names, at the end of the longest valid prefix.
//  5. Content-length: a second one is ERR_DUPLICATE_CONTENT_LENGTH at s [WIRE-11]; a value
//     not 1..10 digits ERR_BAD_CONTENT_LENGTH at the value [WIRE-10]; above maxBodySize
//     ERR_BODY_TOO_LARGE at the value [WIRE-LIMIT-4] (decided from the header alone).
//  6. The empty line ends the head; then exactly Content-length octets of body (none
//     without the header).
// The octets of a partial line are checked as they arrive (so a bare CR or a non-ASCII octet
// is reported at once); its syntax waits for its end, since an octet error later in the line
// would come first. end() inside a message: the octet checks of the partial line, then
// ERR_TRUNCATED at the end of the stream. [WIRE-12]
import {
  CLASS,
  C_METHOD_FIRST,
  C_METHOD_CHAR,
  C_DIGIT,
  C_REASON_CHAR,
  C_NAME_CHAR,
  C_WSP,
  C_TEXT_OCTET,
} from '../generated/internal/tables.js';
import {
  FAST_CONTENT_LENGTH,
  FAST_HEADERS,
  FAST_METHODS,
  matchHeader,
  matchMethod,
} from '../generated/internal/fast-names.js';
import { LIMITS, LIMIT_SPECS, WIRE_LIMITS, type ErrorCode, type WireLimits } from '../generated/registry.js';
import { ImspError } from './errors.js';
import type { Header, Message, RequestMessage, ResponseMessage } from './types.js';

/** Buffer's latin1 fast paths (present at run time, absent from @types/node). */
interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}
const latin1 = (b: Uint8Array, s: number, e: number): string => (b as unknown as Latin1Buffer).latin1Slice(s, e);

const CR = 13;
const LF = 10;
const COLON = 58;
const SP = 32;
const MAX_CL_DIGITS: number = LIMITS.maxContentLengthDigits;
const EMPTY = Buffer.alloc(0);
/** The header list of a decoder between messages (the start line gives each message its own). */
const NO_HEADERS: Header[] = [];
/** Line ends found by the fast path, shared by all decoders (grown to the largest maxHeaders + 1). */
let lineEnds = new Int32Array(0);
const NO_VIEW = new DataView(new ArrayBuffer(0));
/** Lower-case "content-length", for a case-insensitive comparison with | 0x20. */
const CL_NAME = Buffer.from('content-length', 'latin1');

export interface DecoderOptions {
  /** Wire limits; each must lie within the bounds limits.json gives. */
  limits?: Partial<WireLimits>;
}

/** The effective wire limits for opts, checked against the registry's bounds. */
export function resolveLimits(limits: Partial<WireLimits> = {}): WireLimits {
  const out: WireLimits = { ...WIRE_LIMITS };
  for (const key of Object.keys(out) as (keyof WireLimits)[]) {
    const v = limits[key];
    if (v === undefined) continue;
    const spec = LIMIT_SPECS[key];
    if (!Number.isInteger(v) || v < spec.min || v > spec.max) {
      throw new RangeError(`${key} must be an integer from ${spec.min} to ${spec.max}, got ${String(v)}`);
    }
    out[key] = v;
  }
  return out;
}

const DEFAULT_RESOLVED: Readonly<WireLimits> = Object.freeze(resolveLimits());
const RESOLVED = new WeakMap<Partial<WireLimits>, Readonly<WireLimits>>();

/**
 * resolveLimits(limits), frozen, and shared by the decoders given the same frozen limits object
 * (a server's links all are): a session's decoder then holds no copy of its own.
 */
function resolvedLimits(limits: Partial<WireLimits> | undefined): Readonly<WireLimits> {
  if (limits === undefined) return DEFAULT_RESOLVED;
  if (!Object.isFrozen(limits)) return Object.freeze(resolveLimits(limits));
  let r = RESOLVED.get(limits);
  if (r === undefined) {
    r = Object.freeze(resolveLimits(limits));
    RESOLVED.set(limits, r);
  }
  return r;
}

/**
 * The first octet error in data[s, e), or null. Every CR inside the range is bare (the line's
 * LF is not inside), except a CR at e-1 when crAtEndOk (its successor is not in view).
 */
function octetError(data: Uint8Array, s: number, e: number, base: number, crAtEndOk: boolean): ImspError | null {
  for (let i = s; i < e; i++) {
    const b = data[i]!;
    if ((CLASS[b]! & C_TEXT_OCTET) !== 0) continue;
    if (b === CR) {
      if (crAtEndOk && i === e - 1) return null;
      return new ImspError('ERR_BARE_CR', base + i); // [WIRE-3]
    }
    if (b === LF) return new ImspError('ERR_BARE_LF', base + i); // [WIRE-3]
    return new ImspError('ERR_NON_ASCII', base + i); // [WIRE-9]
  }
  return null;
}

// The objects a decode returns are made where V8 keeps no pretenuring feedback (issue 15: the slow state).
// V8 pretenures an array or object literal's allocation site when a scavenge at the young generation's
// full size finds most of what the unoptimized code allocated there since the last scavenge still alive.
// A scavenge inside a push does: the push holds its chunk's messages until it returns. When that happened
// early in a process (about 1 `make bench` process in 7 quiet, 4 in 10 under load), the optimized fast
// path allocated every header line (and could allocate every message) in the old generation: each young
// value string stored into one went through the remembered set, the old generation filled with
// short-lived arrays, and the decoder ran 4-6x slower for the rest of the process while llhttp in the same
// process did not. test/codec/pretenure.test.ts forces the decision and checks where they are allocated.

/**
 * A header line, made by `new Array(2)`, not by an array literal: the Array constructor records allocation
 * feedback only while its site's elements kind is a Smi kind, so after the first header line never again,
 * and its site is never pretenured.
 */
function headerPair(name: string, value: string): Header {
  const h = new Array<string>(2) as Header;
  h[0] = name;
  h[1] = value;
  return h;
}

interface DecodedRequestCtor {
  new (method: string, headers: Header[], body: Buffer): RequestMessage;
  prototype: object;
}
interface DecodedResponseCtor {
  new (status: number, reason: string, headers: Header[], body: Buffer): ResponseMessage;
  prototype: object;
}
/**
 * A decoded request, made by `new` (which V8 always allocates young), not by an object literal. Its
 * prototype is Object.prototype and its properties are the literal's in the same order, so it is a plain
 * object as before (deepStrictEqual to one built by request()).
 */
const DecodedRequest = function (this: RequestMessage, method: string, headers: Header[], body: Buffer): void {
  this.kind = 'request';
  this.method = method;
  this.headers = headers;
  this.body = body;
} as unknown as DecodedRequestCtor;
/** A decoded response, made as DecodedRequest is. */
const DecodedResponse = function (
  this: ResponseMessage,
  status: number,
  reason: string,
  headers: Header[],
  body: Buffer,
): void {
  this.kind = 'response';
  this.status = status;
  this.reason = reason;
  this.headers = headers;
  this.body = body;
} as unknown as DecodedResponseCtor;
DecodedRequest.prototype = Object.prototype;
DecodedResponse.prototype = Object.prototype;

const HEAD = 0;
const BODY = 1;

/**
 * Streaming decoder. push() takes chunks of any size and returns the messages they
 * complete; the output is the same however the stream is split. On bad input push() or
 * end() throws an ImspError (its `messages` holds the messages completed earlier in the
 * same push); the decoder then stays failed. Bodies may share memory with pushed chunks.
 */
export class Decoder {
  readonly limits: Readonly<WireLimits>;
  /** Leftover octets of the current message (store[0] is its first octet). */
  private store: Buffer = EMPTY;
  private storeLen = 0;
  /** Stream offset of the current message's first octet. */
  private base = 0;
  private failed: ImspError | null = null;
  // Progress through the current message, relative to its first octet.
  private phase = HEAD;
  private lineRel = 0;
  private scanRel = 0;
  /** Octets of the current partial line already found valid (a trailing CR excluded). */
  private checkedRel = 0;
  private bodyRel = 0;
  private isRequest = false;
  private method = '';
  private status = 0;
  private reason = '';
  /** The current message's headers (NO_HEADERS until its start line is read; never returned). */
  private headerList: Header[] = NO_HEADERS;
  private contentLength = -1;
  /** Octets of the message step or fastMessage last returned. */
  private msgSize = 0;
  /** A view of the octets last scanned by the fast path. */
  private view: DataView = NO_VIEW;
  private viewFor: Buffer | null = null;

  constructor(opts: DecoderOptions = {}) {
    this.limits = resolvedLimits(opts.limits);
  }

  /** Octets consumed by completed messages so far (the stream offset of the next message). */
  get offset(): number {
    return this.base;
  }

  /** True when no partial message is buffered. */
  get idle(): boolean {
    return this.storeLen === 0 && this.phase === HEAD && this.lineRel === 0;
  }

  push(chunk: Uint8Array): Message[] {
    if (this.failed) throw this.failed;
    const out: Message[] = [];
    if (chunk.length === 0) return out;
    const input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let data: Buffer;
    let end: number;
    let fromStore = this.storeLen > 0;
    /** Where the chunk starts in the store, when the store is used. */
    let chunkAt = 0;
    /** Octets of the chunk copied into the store so far. */
    let taken = 0;
    if (fromStore) {
      // A message is buffered: copy in only what it needs (its body's remainder, or a
      // growing piece for a head), then go on in the chunk itself.
      chunkAt = this.storeLen;
      taken = Math.min(input.length, this.phase === BODY ? this.bodyRel + this.contentLength - this.storeLen : 512);
      this.append(input.subarray(0, taken));
      data = this.store;
      end = this.storeLen;
    } else {
      data = input;
      end = input.length;
    }
    let m = 0; // index in data of the current message's first octet
    try {
      for (;;) {
        // The fast path first, once per message; the general path (step) decides everything else.
        let msg: Message | null = null;
        if (this.phase === HEAD && this.lineRel === 0 && this.scanRel === 0)
          msg = this.fastMessage(data, m, end, fromStore);
        if (msg === null) msg = this.step(data, m, end, fromStore);
        if (msg === null) {
          if (fromStore && taken < input.length) {
            // The buffered message needs more of the chunk.
            const more = Math.min(
              input.length - taken,
              Math.max(taken, this.phase === BODY ? this.bodyRel + this.contentLength - this.storeLen : 512),
            );
            this.append(input.subarray(taken, taken + more));
            taken += more;
            data = this.store;
            end = this.storeLen;
            continue;
          }
          break;
        }
        out.push(msg);
        const size = this.msgSize;
        m += size;
        this.base += size;
        if (this.phase !== HEAD) this.reset(); // the fast path leaves the fields as they are
        if (fromStore) {
          // The buffered message is complete: go on in the chunk itself (no copies).
          m -= chunkAt;
          data = input;
          end = input.length;
          fromStore = false;
          this.storeLen = 0;
        }
        if (m === end) break;
      }
    } catch (err) {
      const e = err instanceof ImspError ? err : new ImspError('ERR_INTERNAL', this.base, String(err));
      e.messages = out;
      e.messageOffset = e.offset - this.base;
      this.failed = e;
      this.store = EMPTY;
      this.storeLen = 0;
      throw e;
    }
    this.viewFor = null; // do not keep the chunk alive through the view
    this.view = NO_VIEW;
    // Keep the leftover of the current message.
    const left = end - m;
    if (fromStore) {
      if (m > 0) this.store.copyWithin(0, m, end);
      this.storeLen = left;
    } else {
      this.storeLen = 0;
      if (left > 0) this.append(data.subarray(m, end));
    }
    // An idle decoder holds no buffer: most links sit between messages most of the time.
    if (this.storeLen === 0) this.store = EMPTY;
    return out;
  }

  /** Ends the stream: throws ERR_TRUNCATED (or the error of the partial line) mid-message. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.storeLen === 0) return;
    let e: ImspError | null = null;
    if (this.phase === HEAD) e = octetError(this.store, this.lineRel, this.storeLen, this.base, true);
    e ??= new ImspError('ERR_TRUNCATED', this.base + this.storeLen); // [WIRE-12]
    e.messageOffset = e.offset - this.base;
    this.failed = e;
    throw e;
  }

  private append(chunk: Uint8Array): void {
    const need = this.storeLen + chunk.length;
    if (need > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.store.length * 2, 4096));
      this.store.copy(grown, 0, 0, this.storeLen);
      this.store = grown;
    }
    this.store.set(chunk, this.storeLen);
    this.storeLen = need;
  }

  private reset(): void {
    this.phase = HEAD;
    this.lineRel = 0;
    this.scanRel = 0;
    this.checkedRel = 0;
    this.bodyRel = 0;
    this.method = '';
    this.reason = '';
    this.status = 0;
    this.headerList = NO_HEADERS;
    this.contentLength = -1;
  }

  /** A DataView of data for the four-octet scan (kept while data is the same buffer). */
  private viewOf(data: Buffer): DataView {
    if (this.viewFor !== data) {
      this.view = new DataView(data.buffer, data.byteOffset, data.length);
      this.viewFor = data;
    }
    return this.view;
  }

  /** The text of data[a, b). */
  private text(data: Buffer, a: number, b: number): string {
    return latin1(data, a, b);
  }

  /** Advances the message starting at data[m]; returns it when complete, else null. */
  private step(data: Buffer, m: number, end: number, copyBody: boolean): Message | null {
    const lim = this.limits;
    const base = this.base - m; // stream offset of data[0]
    while (this.phase === HEAD) {
      const s = m + this.lineRel;
      if (
        this.lineRel !== 0 &&
        this.headerList.length >= lim.maxHeaders &&
        s < end &&
        data[s] !== CR &&
        data[s] !== LF
      ) {
        throw new ImspError('ERR_TOO_MANY_HEADERS', base + s); // [WIRE-LIMIT-2] [WIRE-LIMIT-6]
      }
      const lineCut = s + lim.maxLineLength;
      const headCut = m + lim.maxHeadSize;
      const cut = lineCut < headCut ? lineCut : headCut;
      let lf = data.indexOf(LF, m + this.scanRel);
      if (lf >= end) lf = -1;
      if (lf === -1 || lf >= cut) {
        if (end >= cut) {
          // [WIRE-LIMIT-1] [WIRE-LIMIT-3]
          throw (
            octetError(data, s, cut, base, true) ??
            new ImspError(lineCut <= headCut ? 'ERR_LINE_TOO_LONG' : 'ERR_HEAD_TOO_LARGE', base + cut)
          );
        }
        // A partial line: its octets are judged as they arrive (an octet error is final
        // whatever follows; syntax waits for the line end). [WIRE-3] [WIRE-9]
        const from = Math.max(s, m + this.checkedRel);
        const oe = octetError(data, from, end, base, true);
        if (oe) throw oe;
        this.checkedRel = (data[end - 1] === CR ? end - 1 : end) - m;
        this.scanRel = end - m;
        return null;
      }
      if (lf === s || data[lf - 1] !== CR) {
        throw octetError(data, s, lf, base, false) ?? new ImspError('ERR_BARE_LF', base + lf); // [WIRE-3]
      }
      const e = lf - 1;
      if (this.lineRel === 0) this.startLine(data, s, e, base);
      else if (e === s) {
        this.phase = BODY;
        this.bodyRel = lf + 1 - m;
        if (this.contentLength < 0) this.contentLength = 0;
      } else this.headerLine(data, s, e, base);
      this.lineRel = lf + 1 - m;
      this.scanRel = this.lineRel;
      this.checkedRel = this.lineRel;
    }
    const bodyStart = m + this.bodyRel;
    const len = this.contentLength;
    if (end - bodyStart < len) return null;
    const body = bodyOf(data, bodyStart, len, copyBody);
    this.msgSize = this.bodyRel + len;
    return this.isRequest
      ? new DecodedRequest(this.method, this.headerList, body)
      : new DecodedResponse(this.status, this.reason, this.headerList, body);
  }

  /**
   * Fast path: a head wholly in view in data[m, end) that is entirely well-formed and within
   * the limits is taken in one scan; it returns null for anything else (a partial head, an
   * error of any kind) with the decoder's state untouched, leaving every decision about bad input
   * to the general path (step), which then reports the error the grammar names. One pass over the
   * octets checks them against the grammar's text_octet class and finds the CRLF line ends; the
   * fields are then sliced from one latin1 string of the head. Registered methods and header names,
   * spelled as in the registry, are found by the generated matchers (generated/internal/fast-names.ts:
   * a switch on the first four octets, then four-octet compares) and given as the registry's strings
   * (issue 15: no per-character class scan, no copy); any other spelling takes the class scan. When
   * the body is in view too, the message is returned without touching the decoder's per-message
   * fields (msgSize only); otherwise they are set as the general path sets them and the body is
   * awaited in phase BODY.
   */
  private fastMessage(data: Buffer, m: number, end: number, copyBody: boolean): Message | null {
    const lim = this.limits;
    // Imports read once into locals (+2% messages/s): optimized code reloads an imported binding,
    // and checks it for the hole of its temporal dead zone, at every use, here per word or line.
    const cls = CLASS;
    const textOctet = C_TEXT_OCTET;
    const wsp = C_WSP;
    const headerNames = FAST_HEADERS;
    const stop = Math.min(end, m + lim.maxHeadSize);
    const maxLines = lim.maxHeaders + 1;
    // One scratch array for every decoder: fastMessage runs to completion without yielding, and a
    // per-decoder array (4 KiB at the default maxHeaders) was the largest object of an idle session.
    if (lineEnds.length < maxLines) lineEnds = new Int32Array(maxLines);
    const ends = lineEnds;
    let lines = 0;
    let lineStart = m;
    let i = m;
    let headEnd = -1;
    const view = this.viewOf(data);
    const stop4 = stop - 4;
    for (;;) {
      // Four octets at a time while they are all printable (0x20-0x7E): no byte below 0x20,
      // none above 0x7E (SWAR "hasless"/"hasmore" tests, exact as yes/no answers).
      while (i <= stop4) {
        const w = view.getInt32(i, true);
        const bad = (((w - 0x20202020) & ~w) | (w + 0x01010101) | w) & 0x80808080;
        if (bad !== 0) {
          // The lowest flagged octet is exactly the first one not printable (every octet below it is
          // printable, so no borrow or carry reaches it): step straight to it.
          i += (31 - Math.clz32(bad & -bad)) >> 3;
          break;
        }
        i += 4;
      }
      if (i >= stop) break;
      const c = data[i]!;
      if ((cls[c]! & textOctet) !== 0) {
        i++;
        continue;
      }
      if (c !== CR || i + 1 >= stop || data[i + 1] !== LF) return null;
      if (i === lineStart) {
        if (lines === 0) return null; // an empty start line
        headEnd = i + 2;
        break;
      }
      if (i + 2 - lineStart > lim.maxLineLength || lines >= maxLines) return null;
      ends[lines++] = i;
      i += 2;
      lineStart = i;
    }
    if (headEnd < 0) return null;
    // Start line (octets read from data, strings sliced from h: index in h = index in data - m).
    const e0 = ends[0]!;
    const c0 = CLASS[data[m]!]!;
    let isRequest: boolean;
    let method = '';
    let status = 0;
    let reason = '';
    let h: string;
    if ((c0 & C_METHOD_FIRST) !== 0) {
      const mi = matchMethod(view, m, e0);
      if (mi >= 0) method = FAST_METHODS[mi]!;
      else for (let j = m + 1; j < e0; j++) if ((CLASS[data[j]!]! & C_METHOD_CHAR) === 0) return null;
      isRequest = true;
      h = latin1(data, m, headEnd);
      if (mi < 0) method = h.slice(0, e0 - m);
    } else if ((c0 & C_DIGIT) !== 0) {
      if (
        e0 - m < 5 ||
        (CLASS[data[m + 1]!]! & C_DIGIT) === 0 ||
        (CLASS[data[m + 2]!]! & C_DIGIT) === 0 ||
        data[m + 3] !== SP
      )
        return null;
      let prevSpace = true;
      for (let j = m + 4; j < e0; j++) {
        const c = data[j]!;
        if (c === SP) {
          if (prevSpace) return null;
          prevSpace = true;
        } else if ((CLASS[c]! & C_REASON_CHAR) !== 0) prevSpace = false;
        else return null;
      }
      if (prevSpace) return null;
      status = (data[m]! - 48) * 100 + (data[m + 1]! - 48) * 10 + (data[m + 2]! - 48);
      isRequest = false;
      h = latin1(data, m, headEnd);
      reason = h.slice(4, e0 - m);
    } else return null;
    // Header lines.
    const list: Header[] = new Array<Header>(lines - 1);
    let cl = -1;
    for (let k = 1; k < lines; k++) {
      const s = ends[k - 1]! + 2;
      const e = ends[k]!;
      let j: number;
      let name: string;
      let isCl: boolean;
      const hi = matchHeader(view, s, e);
      if (hi >= 0) {
        name = headerNames[hi]!;
        j = s + name.length;
        isCl = hi === FAST_CONTENT_LENGTH;
      } else {
        j = s;
        while ((CLASS[data[j]!]! & C_NAME_CHAR) !== 0) j++;
        if (j === s || data[j] !== COLON) return null;
        name = h.slice(s - m, j - m);
        isCl = j - s === 14 && isContentLength(data, s);
      }
      let vs = j + 1;
      if (data[vs] === SP) vs++; // the usual one space after the colon (SP is in the grammar's WSP)
      while (vs < e && (cls[data[vs]!]! & wsp) !== 0) vs++;
      let ve = e;
      while (ve > vs && (cls[data[ve - 1]!]! & wsp) !== 0) ve--;
      if (isCl) {
        if (cl >= 0 || ve - vs < 1 || ve - vs > MAX_CL_DIGITS) return null;
        cl = 0;
        for (let q = vs; q < ve; q++) {
          const d = data[q]! - 48;
          if (d < 0 || d > 9) return null;
          cl = cl * 10 + d;
        }
        if (cl > lim.maxBodySize) return null;
      }
      list[k - 1] = headerPair(name, h.slice(vs - m, ve - m));
    }
    const len = cl < 0 ? 0 : cl;
    if (end - headEnd < len) {
      // The body is still to come: the general path's state after the empty line.
      this.isRequest = isRequest;
      this.method = method;
      this.status = status;
      this.reason = reason;
      this.headerList = list;
      this.contentLength = len;
      this.phase = BODY;
      this.bodyRel = headEnd - m;
      return null;
    }
    this.msgSize = headEnd - m + len;
    const body = bodyOf(data, headEnd, len, copyBody);
    return isRequest ? new DecodedRequest(method, list, body) : new DecodedResponse(status, reason, list, body);
  }

  /** Grammar rule start_line over data[s, e). [WIRE-4] [WIRE-5] */
  private startLine(data: Buffer, s: number, e: number, base: number): void {
    this.headerList = [];
    const c = CLASS[data[s]!]!;
    if (s < e && (c & C_METHOD_FIRST) !== 0) {
      let i = s + 1;
      while (i < e && (CLASS[data[i]!]! & C_METHOD_CHAR) !== 0) i++;
      if (i !== e) this.syntax(data, s, e, base, 'ERR_BAD_METHOD', i);
      this.isRequest = true;
      this.method = this.text(data, s, e);
      return;
    }
    if (s < e && (c & C_DIGIT) !== 0) {
      let i = s + 1;
      if (i < e && (CLASS[data[i]!]! & C_DIGIT) !== 0) i++;
      else this.syntax(data, s, e, base, 'ERR_BAD_STATUS_LINE', i);
      if (i < e && (CLASS[data[i]!]! & C_DIGIT) !== 0) i++;
      else this.syntax(data, s, e, base, 'ERR_BAD_STATUS_LINE', i);
      if (i < e && data[i] === SP) i++;
      else this.syntax(data, s, e, base, 'ERR_BAD_STATUS_LINE', i);
      const r = i;
      for (;;) {
        if (i >= e || (CLASS[data[i]!]! & C_REASON_CHAR) === 0) this.syntax(data, s, e, base, 'ERR_BAD_STATUS_LINE', i);
        i++;
        while (i < e && (CLASS[data[i]!]! & C_REASON_CHAR) !== 0) i++;
        if (i === e) break;
        if (data[i] !== SP) this.syntax(data, s, e, base, 'ERR_BAD_STATUS_LINE', i);
        i++;
      }
      this.isRequest = false;
      this.status = (data[s]! - 48) * 100 + (data[s + 1]! - 48) * 10 + (data[s + 2]! - 48);
      this.reason = this.text(data, r, e);
      return;
    }
    if (s === e) throw new ImspError('ERR_EMPTY_START_LINE', base + s); // [WIRE-4]
    this.syntax(data, s, e, base, 'ERR_BAD_METHOD', s);
  }

  /** Grammar rule header_line over data[s, e) (not empty). [WIRE-6] [WIRE-7] [WIRE-8] */
  private headerLine(data: Buffer, s: number, e: number, base: number): void {
    let i = s;
    while (i < e && (CLASS[data[i]!]! & C_NAME_CHAR) !== 0) i++;
    if (i === s || i === e || data[i] !== COLON) {
      const oe = octetError(data, s, e, base, false);
      if (oe) throw oe;
      if ((CLASS[data[s]!]! & C_WSP) !== 0) throw new ImspError('ERR_FOLDED_HEADER', base + s); // [WIRE-8]
      const colon = data.indexOf(COLON, i);
      throw new ImspError(colon !== -1 && colon < e ? 'ERR_BAD_HEADER_NAME' : 'ERR_MISSING_COLON', base + i); // [WIRE-6]
    }
    const nameEnd = i;
    i++;
    while (i < e && (CLASS[data[i]!]! & C_WSP) !== 0) i++;
    const vs = i;
    let ve = e;
    while (ve > vs && (CLASS[data[ve - 1]!]! & C_WSP) !== 0) ve--;
    for (let j = vs; j < ve; j++) {
      if ((CLASS[data[j]!]! & C_TEXT_OCTET) === 0) throw octetError(data, s, e, base, false)!; // [WIRE-7] [WIRE-9]
    }
    if (nameEnd - s === 14 && isContentLength(data, s)) this.contentLengthValue(data, s, vs, ve, base);
    this.headerList.push(headerPair(this.text(data, s, nameEnd), this.text(data, vs, ve)));
  }

  private contentLengthValue(data: Buffer, s: number, vs: number, ve: number, base: number): void {
    if (this.contentLength >= 0) throw new ImspError('ERR_DUPLICATE_CONTENT_LENGTH', base + s); // [WIRE-11]
    const n = ve - vs;
    if (n < 1 || n > MAX_CL_DIGITS) throw new ImspError('ERR_BAD_CONTENT_LENGTH', base + vs); // [WIRE-10]
    let v = 0;
    for (let j = vs; j < ve; j++) {
      const d = data[j]! - 48;
      if (d < 0 || d > 9) throw new ImspError('ERR_BAD_CONTENT_LENGTH', base + vs); // [WIRE-10]
      v = v * 10 + d;
    }
    if (v > this.limits.maxBodySize) throw new ImspError('ERR_BODY_TOO_LARGE', base + vs); // [WIRE-LIMIT-4]
    this.contentLength = v;
  }

  /** A syntax error at i, unless the line has an octet error (those come first). */
  private syntax(data: Buffer, s: number, e: number, base: number, code: ErrorCode, i: number): never {
    throw octetError(data, s, e, base, false) ?? new ImspError(code, base + i);
  }
}

/** The body data[at, at + len): a view of data, or a copy when data is the decoder's own store. */
function bodyOf(data: Buffer, at: number, len: number, copy: boolean): Buffer {
  if (len === 0) return EMPTY;
  if (!copy) return data.subarray(at, at + len);
  const body = Buffer.allocUnsafe(len);
  data.copy(body, 0, at, at + len);
  return body;
}

function isContentLength(data: Buffer, s: number): boolean {
  for (let k = 0; k < 14; k++) if ((data[s + k]! | 0x20) !== CL_NAME[k]) return false;
  return true;
}

/** Decodes a whole buffer: push(buf) then end(). Throws ImspError. */
export function decode(buf: Uint8Array, opts?: DecoderOptions): Message[] {
  const d = new Decoder(opts);
  const out = d.push(buf);
  try {
    d.end();
  } catch (e) {
    if (e instanceof ImspError) e.messages = out;
    throw e;
  }
  return out;
}
