// The one error type of the codec: every bad input becomes an ImspError with a stable code
// from spec/registry/errors.json, the status to answer with, a fixed reason and the octet
// offset where it was found (-1 when no offset applies, e.g. registry checks).
import { ERRORS, type ErrorCode } from '../generated/registry.js';
import type { Message } from './types.js';

export class ImspError extends Error {
  override readonly name = 'ImspError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly reason: string;
  /** Octet offset in the stream (decoder), the body (records) or -1. */
  readonly offset: number;
  /**
   * Decoder only: the offset within the offending message (what the Offset header of the
   * error response carries [WIRE-14]); -1 when no offset applies.
   */
  messageOffset = -1;
  /** Decoder only: the messages completed in the same push() before the error. */
  messages: Message[] = [];

  constructor(code: ErrorCode, offset = -1, detail?: string) {
    const e = ERRORS[code];
    super(`${code}: ${e.reason}${offset >= 0 ? ` at offset ${offset}` : ''}${detail ? ` (${detail})` : ''}`);
    this.code = code;
    this.status = e.status;
    this.reason = e.reason;
    this.offset = offset;
  }

  /** A plain object for logs and JSON output. */
  toJSON(): { code: ErrorCode; status: number; reason: string; offset: number; message: string } {
    return { code: this.code, status: this.status, reason: this.reason, offset: this.offset, message: this.message };
  }
}

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERRORS, s);
}
