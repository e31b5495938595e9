// The connecting side's bound on a handshake [CONN-13]: a client logging in (LOGIN, PROOF) and an MS
// enrolling (ENROLL, PROOF) give up when the handshake is not complete within their handshakeTimeout of
// the connection's opening, however long each request may wait on its own (requestTimeout [CONN-5]).
import { linkError } from './link-error.js';

/** The limits the deadline needs. */
export interface HandshakeLimits {
  readonly handshakeTimeout: number;
  readonly requestTimeout: number;
}

/**
 * Sends one request of a handshake with what is left of `deadline` (performance.now() of the
 * connection's opening plus handshakeTimeout) as its timeout, at most requestTimeout. Rejects with
 * ERR_TIMEOUT naming handshakeTimeout when the deadline has passed or runs out first; the caller
 * closes the link.
 */
export async function withinHandshake<T>(
  deadline: number,
  limits: HandshakeLimits,
  send: (timeout: number) => Promise<T>,
): Promise<T> {
  const expired = () =>
    linkError('ERR_TIMEOUT', `the handshake did not complete within handshakeTimeout (${limits.handshakeTimeout} ms)`);
  const left = Math.ceil(deadline - performance.now());
  if (left <= 0) throw expired();
  const bounded = left < limits.requestTimeout;
  try {
    return await send(bounded ? left : limits.requestTimeout);
  } catch (e) {
    if (bounded && (e as { code?: unknown }).code === 'ERR_TIMEOUT') throw expired();
    throw e;
  }
}
