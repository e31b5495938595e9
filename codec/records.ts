// application/imsp-records bodies ([REC-1] [REC-2] [REC-3]): records of header lines, separated by
// one empty line, the body ending with the CRLF of the last record's last line; an empty
// list is an empty body. Same line syntax as head headers (grammar rule records_body).
import { CLASS, C_NAME_CHAR, C_WSP, C_TEXT_OCTET } from '../generated/internal/tables.js';
import { HEADERS, LIMITS } from '../generated/registry.js';
import { ImspError } from './errors.js';
import { isHeaderName, isHeaderValue } from './encoder.js';
import type { Header } from './types.js';

/** Buffer's latin1 fast paths (present at run time, absent from @types/node). */
interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}
const latin1 = (b: Uint8Array, s: number, e: number): string => (b as unknown as Latin1Buffer).latin1Slice(s, e);

const CR = 13;
const LF = 10;
const COLON = 58;

/** The registered header names by length, each with its octets (as the registry spells it). */
const NAMES_BY_LENGTH: ReadonlyArray<ReadonlyArray<readonly [string, Buffer]>> = (() => {
  const t: Array<Array<readonly [string, Buffer]>> = [];
  for (const n of Object.keys(HEADERS)) (t[n.length] ??= []).push([n, Buffer.from(n, 'latin1')]);
  return t;
})();

/**
 * The registered name that data[start, end) spells exactly (same case), as the registry's own string,
 * or undefined: then the caller makes a string of the octets. That is a call into Node per field, and
 * a login bundle of 50 contacts has 250 fields of five registered names (issue 15).
 */
function registeredName(data: Buffer, start: number, end: number): string | undefined {
  const candidates = NAMES_BY_LENGTH[end - start];
  if (candidates === undefined) return undefined;
  next: for (const [name, octets] of candidates) {
    for (let i = 0; i < octets.length; i++) if (data[start + i] !== octets[i]) continue next;
    return name;
  }
  return undefined;
}

/** Parses a records body; throws ERR_BAD_RECORDS with the offset in the body. [REC-2] */
export function parseRecords(body: Uint8Array): Header[][] {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.length);
  const len = data.length;
  const out: Header[][] = [];
  let cur: Header[] = [];
  let pos = 0;
  const bad = (at: number, why: string): never => {
    throw new ImspError('ERR_BAD_RECORDS', at, why);
  };
  while (pos < len) {
    if (data[pos] === CR && data[pos + 1] === LF) {
      // The separator: only between two records.
      if (cur.length === 0) bad(pos, 'empty record');
      if (pos + 2 === len) bad(pos, 'empty line at the end');
      out.push(cur);
      cur = [];
      pos += 2;
      continue;
    }
    const lf = data.indexOf(LF, pos);
    if (lf === -1) bad(len, 'line without CRLF');
    const e = lf - 1;
    if (e < pos || data[e] !== CR) bad(lf, 'bare LF');
    if (e - pos + 2 > LIMITS.maxLineLength) bad(pos + LIMITS.maxLineLength, 'line too long');
    let i = pos;
    while (i < e && (CLASS[data[i]!]! & C_NAME_CHAR) !== 0) i++;
    if (i === pos || data[i] !== COLON) bad(i, 'malformed header name');
    const nameEnd = i++;
    while (i < e && (CLASS[data[i]!]! & C_WSP) !== 0) i++;
    const vs = i;
    let ve = e;
    while (ve > vs && (CLASS[data[ve - 1]!]! & C_WSP) !== 0) ve--;
    for (let j = vs; j < ve; j++) if ((CLASS[data[j]!]! & C_TEXT_OCTET) === 0) bad(j, 'bad value octet');
    cur.push([registeredName(data, pos, nameEnd) ?? latin1(data, pos, nameEnd), latin1(data, vs, ve)]);
    pos = lf + 1;
    if (cur.length === 1 && out.length >= LIMITS.maxRecordsPerBody) bad(pos, 'too many records'); // [REC-3]
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * The registered header names as the registry spells them: each is a field_name [WIRE-6] (a test
 * checks all of them), so encodeRecords tests only other names (a login bundle of 50 contacts has 250
 * fields, all of five registered names, issue 15).
 */
const REGISTERED_NAMES: ReadonlySet<string> = new Set(Object.keys(HEADERS));

/** The records body of a list of records (each a non-empty list of headers). [REC-1] */
export function encodeRecords(records: readonly (readonly Header[])[]): Buffer {
  let s = '';
  records.forEach((r, k) => {
    if (r.length === 0) throw new ImspError('ERR_BAD_RECORDS', -1, `record ${k} is empty`);
    if (k > 0) s += '\r\n';
    for (const [n, v] of r) {
      if (!REGISTERED_NAMES.has(n) && !isHeaderName(n))
        throw new ImspError('ERR_BAD_RECORDS', -1, `bad name ${JSON.stringify(n)}`);
      if (!isHeaderValue(v)) throw new ImspError('ERR_BAD_RECORDS', -1, `bad value ${JSON.stringify(v)}`);
      s += `${n}: ${v}\r\n`;
    }
  });
  return Buffer.from(s, 'latin1');
}
