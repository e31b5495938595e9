/**
 * The typed errors the crypto layer raises. Every failure is an ImspError (the codec's one error type)
 * with a registry error code (spec/registry/errors.json), its status and reason, so a caller can answer
 * it on the wire as is with errorResponse().
 * @module
 */
import { ImspError } from '../../codec/index.js';

/** Error codes the crypto layer can raise. */
export type CryptoErrorCode =
  | 'ERR_DECRYPT'
  | 'ERR_AUTH_FAILED'
  | 'ERR_BAD_SIGNATURE'
  | 'ERR_BAD_VALUE'
  | 'ERR_BAD_RECORDS'
  | 'ERR_REPLAY'
  | 'ERR_NOT_BUDDY'
  | 'ERR_BLOCKED'
  | 'ERR_FORBIDDEN'
  | 'ERR_UNAVAILABLE';

/** A crypto failure: an ImspError (offset -1) whose code is one of {@link CryptoErrorCode}. */
export class CryptoError extends ImspError {
  declare readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, detail?: string) {
    super(code, -1, detail);
  }
}

/** Builds the typed error for a crypto failure. */
export function cryptoError(code: CryptoErrorCode, detail?: string): CryptoError {
  return new CryptoError(code, detail);
}
