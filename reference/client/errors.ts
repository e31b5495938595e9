// The client's errors: a refusal from a server or a peer carries the registry's code and status.
import { headerOf, type Header, type ResponseMessage } from '../../codec/index.js';
import { LIMIT } from './options.js';

/** A refusal from a server or a peer, with the registry's code and status. */
export class ClientError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Retry-after of the refusal in ms, when it carried one (a lockout after failed logins [RATE-4]). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/**
 * No connection at all to a server or peer (refused, unreachable, no answer within handshakeTimeout):
 * nothing refused the request, so the user is told the address that could not be reached.
 */
export class UnreachableError extends ClientError {
  constructor(
    code: 'ERR_UNAVAILABLE' | 'ERR_TIMEOUT',
    status: number,
    readonly address: string,
    /** The socket's error code (ECONNREFUSED, ...), or 'ETIMEDOUT' when the connect timed out. */
    readonly socketCode: string,
    message: string,
  ) {
    super(code, status, message);
    this.name = 'UnreachableError';
  }
}

export function fromResponse(res: ResponseMessage, what: string): ClientError {
  const code = headerOf(res, 'Error-code') ?? `ERR_STATUS_${res.status}`;
  const ra = headerOf(res, 'Retry-after');
  const retryAfter = ra !== undefined && /^[0-9]{1,10}$/.test(ra) ? Number(ra) : undefined;
  return new ClientError(code, res.status, `${what}: ${res.status} ${res.reason} (${code})`, retryAfter);
}

/**
 * [HDR-TEXT-1] A text value longer than maxTextValue characters is never sent: the MS would refuse it with
 * ERR_BAD_VALUE, so the client refuses it first, with the same error (found by client/text/1).
 */
export function checkTextValues(hs: readonly Header[]): void {
  for (const [name, value] of hs)
    if ([...value].length > LIMIT.maxTextValue)
      throw new ClientError('ERR_BAD_VALUE', 422, `${name} is longer than ${LIMIT.maxTextValue} characters`);
}

/** Failures after which the next Server of LOCATE is tried: no connection, or LOGIN answered 503 [LOCATE-4]. */
export const TRY_NEXT_SERVER = new WeakSet<Error>();

export function asClientError(e: unknown): ClientError {
  if (e instanceof ClientError) return e;
  const x = e as { code?: unknown; status?: unknown; message?: unknown };
  if (typeof x?.code === 'string' && typeof x.status === 'number')
    return new ClientError(x.code, x.status, String(x.message ?? x.code));
  return new ClientError('ERR_INTERNAL', 500, e instanceof Error ? e.message : String(e));
}
