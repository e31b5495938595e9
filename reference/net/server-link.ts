// Glue between the servers and the link layer (reference/net/link.ts): link options from the
// server's limits, closing after an answer, and the CRS's choice of a connection's peer role.
import type { Socket } from 'node:net';
import type { Link, LinkOptions, RequestHandler } from './link.js';
import { RateLimiter } from './rate-limit.js';
import { Decoder, ImspError, type Message, type Role, type WireLimits } from '../../codec/index.js';
import { wireLimits, type ServerLimits } from '../proto/limits.js';

/** Closes a link after the response being returned now has been written. */
export function closeSoon(link: Link): void {
  setImmediate(() => link.close());
}

/** Link options for one connection of a server. */
export function serverLinkOptions(
  limits: ServerLimits,
  local: Role,
  remote: Role,
  handler: RequestHandler | undefined,
  opts: { rateLimit?: boolean } = {},
): LinkOptions {
  const o: LinkOptions = {
    local,
    remote,
    limits: wireLimits(limits),
    requestTimeout: limits.requestTimeout,
    handshakeTimeout: limits.handshakeTimeout,
    maxOutboundQueue: limits.maxOutboundQueue,
  };
  if (handler) o.handler = handler;
  if (opts.rateLimit) {
    // [RATE-1] [RATE-3] per-connection token bucket, warnings then disconnect; [RATE-8] a PING at the
    // link's own heartbeat interval is free (clientHeartbeatInterval on a client link, else msHeartbeatInterval).
    o.rateLimiter = new RateLimiter({
      perSecond: limits.rateLimitPerSecond,
      burst: limits.rateLimitBurst,
      warnings: limits.rateLimitWarnings,
      heartbeatInterval: remote === 'client' ? limits.clientHeartbeatInterval : limits.msHeartbeatInterval,
    });
  }
  return o;
}

/** What the first line of a CRS connection says it is. */
export type FirstMessage = 'ms' | 'client' | 'other';

/**
 * The peer half-closed the connection inside its first message: the decoder's error for the octets
 * that came (ERR_TRUNCATED, or the error of a partial line), to be answered before the close [WIRE-20].
 */
export interface EndedInside {
  ended: ImspError;
}

/**
 * Reads the first message of a connection to tell an MS's ENROLL from a client's LOCATE ([CONN-1]:
 * "the CRS tells an MS connection from a client connection by its first message"), framing it with
 * the generated Decoder; the octets are put back for the link, which decodes them again.
 * - 'ms' for ENROLL, 'client' for LOCATE;
 * - 'other' for any other well-framed first message: the CRS answers 425 and closes [CONN-1];
 * - 'ms' for a framing error inside the first message, so that the link answers it with the
 *   decoder's error; a framing error after a complete first message leaves the first to decide;
 * - `{ ended }` when the peer half-closes inside its first message (the socket can still be written:
 *   the server answers the error, then closes [WIRE-20]);
 * - null when the socket closes, or ends before any octet (or nothing comes within timeoutMs).
 */
export function sniffPeer(
  socket: Socket,
  timeoutMs: number,
  limits?: Partial<WireLimits>,
): Promise<FirstMessage | EndedInside | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const decoder = new Decoder(limits ? { limits } : undefined);
    // Set once the sniff is decided (by a message, the peer's end or close, or the timer): the
    // deferred timer check below then does nothing.
    let finished = false;
    const stop = (): void => {
      finished = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('end', onEnd);
    };
    const done = (role: FirstMessage | null): void => {
      stop();
      socket.pause();
      if (chunks.length > 0) socket.unshift(Buffer.concat(chunks));
      resolve(role);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      let msgs: Message[];
      try {
        msgs = decoder.push(chunk);
      } catch (e) {
        // [CONN-9] [WIRE-14] a first message completed before a framing error in the same octets
        // still decides the connection (and is answered first); only an error inside the first
        // message leaves it to the link, which answers the decoder's error.
        if (!(e instanceof ImspError) || e.messages.length === 0) return done('ms');
        msgs = e.messages;
      }
      const m = msgs[0];
      if (!m) return;
      if (m.kind === 'request' && m.method === 'ENROLL') return done('ms');
      if (m.kind === 'request' && m.method === 'LOCATE') return done('client');
      return done('other');
    };
    const onClose = (): void => done(null);
    // The end of the peer's octets before a whole first message: nothing can be unshifted after the
    // stream's end, so the error is handed back instead of the octets.
    const onEnd = (): void => {
      stop();
      if (chunks.length === 0) return resolve(null);
      try {
        decoder.end();
      } catch (e) {
        if (e instanceof ImspError) return resolve({ ended: e });
      }
      resolve(null);
    };
    // [CONN-9] On expiry, decide one turn later: Node runs expired timers before it polls for I/O, so
    // on a stalled loop a first message already in the socket would otherwise be closed unread. The
    // check phase (setImmediate) runs after that poll, once the octets that arrived are read.
    const timer = setTimeout(() => setImmediate(() => finished || done(chunks.length > 0 ? 'ms' : null)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onEnd);
  });
}
