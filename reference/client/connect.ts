// Connecting to a server or a peer, and composing a request.
import { connect, type Socket } from 'node:net';
import type { Header, RequestMessage } from '../../codec/index.js';
import { parseHostPort } from '../net/address.js';
import { UnreachableError } from './errors.js';

export function fmtHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function connectTo(addr: string, timeout: number): Promise<Socket> {
  const { host, port } = parseHostPort(addr);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UnreachableError('ERR_TIMEOUT', 408, addr, 'ETIMEDOUT', `connect to ${addr} timed out`));
    }, timeout);
    s.once('connect', () => {
      clearTimeout(timer);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new UnreachableError(
          'ERR_UNAVAILABLE',
          503,
          addr,
          e.code ?? 'ERROR',
          `cannot connect to ${addr}: ${e.message}`,
        ),
      );
    });
  });
}

export function req<M extends string>(
  method: M,
  hs: Header[] = [],
  body: Buffer = Buffer.alloc(0),
): RequestMessage & { readonly method: M } {
  return { kind: 'request', method, headers: hs, body };
}
