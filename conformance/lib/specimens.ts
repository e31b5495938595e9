// Malformed-input specimens, one per framing error of spec/registry/errors.json, built from the
// limits in force. The expected outcome of each is not typed here: it is what the generated codec
// (the grammar's executable form) says about the same octets, mapped to the registry's status.
import { decode, ImspError } from '../../codec/index.js';
import type { Limits } from './registry.js';

export interface Specimen {
  /** The error code this specimen is meant to produce. */
  code: string;
  /** A few words for the case title. */
  what: string;
  /** Octets to send on a fresh connection, before any other message. */
  bytes: Buffer;
  /** Half-close after sending (the message is cut short). */
  halfClose?: boolean;
}

const A = (s: string): Buffer => Buffer.from(s, 'latin1');

/** `start` is a valid start line with no headers that the target accepts as a first message. */
export function framingSpecimens(start: string, limits: Limits): Specimen[] {
  const maxLine = limits.get('maxLineLength');
  const maxHeaders = limits.get('maxHeaders');
  const maxHead = limits.get('maxHeadSize');
  const maxBody = limits.get('maxBodySize');
  const lineLen = Math.min(maxLine - 16, 4000);
  const headLines = Math.ceil(maxHead / (lineLen + 8)) + 2;
  return [
    { code: 'ERR_BARE_LF', what: 'bare LF ending the start line', bytes: A(`${start}\nX-a: b\r\n\r\n`) },
    { code: 'ERR_BARE_CR', what: 'bare CR inside a header value', bytes: A(`${start}\r\nX-a: b\rc\r\n\r\n`) },
    { code: 'ERR_NON_ASCII', what: 'octet 0xE9 in a header value', bytes: A(`${start}\r\nX-a: caf\xe9\r\n\r\n`) },
    { code: 'ERR_EMPTY_START_LINE', what: 'message starting with an empty line', bytes: A(`\r\n${start}\r\n\r\n`) },
    { code: 'ERR_BAD_METHOD', what: 'lower-case method', bytes: A(`${start.toLowerCase()}\r\n\r\n`) },
    { code: 'ERR_BAD_STATUS_LINE', what: 'status line with two digits', bytes: A(`20 OK\r\n\r\n`) },
    { code: 'ERR_BAD_HEADER_NAME', what: 'space inside a header name', bytes: A(`${start}\r\nX a: b\r\n\r\n`) },
    { code: 'ERR_MISSING_COLON', what: 'header line without a colon', bytes: A(`${start}\r\nX-a b\r\n\r\n`) },
    {
      code: 'ERR_BAD_HEADER_VALUE',
      what: 'control octet 0x01 in a header value',
      bytes: A(`${start}\r\nX-a: b\x01c\r\n\r\n`),
    },
    { code: 'ERR_FOLDED_HEADER', what: 'folded header line', bytes: A(`${start}\r\nX-a: b\r\n c\r\n\r\n`) },
    {
      code: 'ERR_BAD_CONTENT_LENGTH',
      what: 'Content-length with a letter',
      bytes: A(`${start}\r\nContent-length: 1a\r\n\r\n`),
    },
    {
      code: 'ERR_BAD_CONTENT_LENGTH',
      what: 'Content-length of 11 digits',
      bytes: A(`${start}\r\nContent-length: 00000000000\r\n\r\n`),
    },
    {
      code: 'ERR_DUPLICATE_CONTENT_LENGTH',
      what: 'Content-length twice',
      bytes: A(`${start}\r\nContent-length: 0\r\nContent-length: 0\r\n\r\n`),
    },
    {
      code: 'ERR_LINE_TOO_LONG',
      what: `header line of ${maxLine + 1} octets`,
      bytes: A(`${start}\r\nX-a: ${'a'.repeat(maxLine)}\r\n\r\n`),
    },
    {
      code: 'ERR_TOO_MANY_HEADERS',
      what: `${maxHeaders + 1} header lines`,
      bytes: A(`${start}\r\n${'X-a: b\r\n'.repeat(maxHeaders + 1)}\r\n`),
    },
    {
      code: 'ERR_HEAD_TOO_LARGE',
      what: `head above ${maxHead} octets`,
      bytes: A(
        `${start}\r\n${Array.from({ length: headLines }, (_, i) => `X-${i}: ${'h'.repeat(lineLen)}\r\n`).join('')}\r\n`,
      ),
    },
    {
      code: 'ERR_BODY_TOO_LARGE',
      what: `Content-length ${maxBody + 1} (body not sent)`,
      bytes: A(`${start}\r\nContent-length: ${maxBody + 1}\r\n\r\n`),
    },
    { code: 'ERR_TRUNCATED', what: 'head cut short, then half-close', bytes: A(`${start}\r\nX-a: b`), halfClose: true },
  ];
}

/** What the generated codec says about these octets: the first error, or null if they decode. */
export function oracle(bytes: Buffer, limits: Limits, truncated = false): ImspError | null {
  try {
    decode(bytes, { limits: limits.codec() });
    return null;
  } catch (e) {
    if (e instanceof ImspError) return e;
    throw e;
  }
}
