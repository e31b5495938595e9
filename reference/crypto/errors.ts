/**
 * The typed errors the crypto layer raises. Every failure is one registry error code
 * (spec/registry/errors.json) with its status and reason, so a caller can answer it on the wire as is.
 * @module
 */

/** Error codes the crypto layer can raise. */
export type CryptoErrorCode = 'ERR_DECRYPT' | 'ERR_AUTH_FAILED' | 'ERR_BAD_SIGNATURE' | 'ERR_BAD_VALUE' | 'ERR_REPLAY';

const TABLE: Record<CryptoErrorCode, { status: number; reason: string }> = {
  ERR_DECRYPT: { status: 401, reason: 'Decryption failed' },
  ERR_AUTH_FAILED: { status: 401, reason: 'Authentication failed' },
  ERR_BAD_SIGNATURE: { status: 401, reason: 'Bad signature' },
  ERR_BAD_VALUE: { status: 422, reason: 'Invalid header value' },
  ERR_REPLAY: { status: 450, reason: 'Replay or reorder' },
};

/** A crypto failure: registry code, status and reason (offset is -1: not tied to an octet of a message). */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly code: CryptoErrorCode;
  readonly status: number;
  readonly reason: string;
  readonly offset = -1;
  constructor(code: CryptoErrorCode, detail?: string) {
    const { status, reason } = TABLE[code];
    super(detail ? `${reason}: ${detail}` : reason);
    this.code = code;
    this.status = status;
    this.reason = reason;
  }
}

/** Builds the typed error for a crypto failure. */
export function cryptoError(code: CryptoErrorCode, detail?: string): CryptoError {
  return new CryptoError(code, detail);
}
