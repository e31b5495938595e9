// Glue between the servers and the link layer (reference/net/link.ts): link options from the
// server's limits, address formatting, and the CRS's choice of a connection's peer role.
import type { Socket, AddressInfo } from 'node:net';
import type { LinkOptions, RequestHandler } from '../net/link.js';
import { RateLimiter } from '../net/rate-limit.js';
import type { Role } from '../../generated/index.js';
import { wireLimits, type ServerLimits } from './limits.js';

/** host:port of a bound socket address (IPv6 in brackets). */
export function formatAddress(a: AddressInfo | { address: string; port: number; family?: string }): string {
  const v6 = a.family === 'IPv6' || a.address.includes(':');
  return `${v6 ? `[${a.address}]` : a.address}:${a.port}`;
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
    // [RATE-1] [RATE-3] per-connection token bucket, warnings then disconnect.
    o.rateLimiter = new RateLimiter({ perSecond: limits.rateLimitPerSecond, burst: limits.rateLimitBurst, warnings: limits.rateLimitWarnings });
  }
  return o;
}

/**
 * Waits for the first octets of a connection to tell a client's LOCATE from an MS's ENROLL
 * (DESIGN 1: "the CRS tells an MS connection from a client connection by its first message").
 * Only the method name is looked at; the link's decoder reads everything, these octets included.
 * Resolves 'client' when the first message starts with LOCATE, 'ms' otherwise (so that any other
 * message is validated, and refused, as coming from an MS), null when the socket closes first.
 */
export function sniffPeer(socket: Socket, timeoutMs: number): Promise<Role | null> {
  return new Promise((resolve) => {
    let seen = Buffer.alloc(0);
    const done = (role: Role | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (seen.length > 0) socket.unshift(seen);
      resolve(role);
    };
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const want = Buffer.from('LOCATE');
      const n = Math.min(seen.length, want.length + 1);
      const prefix = seen.subarray(0, n);
      const isLocate = prefix.subarray(0, Math.min(n, want.length)).equals(want.subarray(0, Math.min(n, want.length)));
      if (!isLocate) return done('ms');
      if (seen.length > want.length) return done(/[\r\n ]/.test(String.fromCharCode(seen[want.length]!)) ? 'client' : 'ms');
    };
    const onClose = (): void => done(null);
    const timer = setTimeout(() => done(seen.length > 0 ? 'ms' : null), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}
