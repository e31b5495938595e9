// The typed errors of the link layer: every failure is an ImspError with a registry code.
import { ImspError, type ErrorCode } from '../../codec/index.js';

/** The typed error the link raises for `code`. */
export function linkError(code: ErrorCode, detail?: string): ImspError {
  return new ImspError(code, -1, detail);
}

/** `e` as an ImspError (anything else is ERR_INTERNAL with its message). */
export function typedError(e: unknown): ImspError {
  if (e instanceof ImspError) return e;
  return linkError('ERR_INTERNAL', e instanceof Error ? e.message : String(e));
}
