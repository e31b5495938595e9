// Helpers shared by the MS sections: the harmless first message, and what the kit CRS saw the MS send.
import { randomBytes } from 'node:crypto';
import { header, request, type RequestMessage, type ResponseMessage } from '../../../generated/index.js';
import { b64 } from '../../lib/crypto.js';
import type { MsContext } from '../../roles/ms.js';
import type { WireTarget } from '../wire.js';

export const msWireTarget = (ctx: { uniq?: (p: string) => string } = {}): WireTarget => ({
  role: 'ms',
  from: 'client',
  start: 'LOGIN',
  first: () =>
    request('LOGIN', [['Imsp-version', '1'], ['User', (ctx.uniq ?? ((p: string) => p + randomBytes(3).toString('hex')))('ghost')], ['Nonce', b64(randomBytes(18))], ['Key-share', b64(randomBytes(32))], ['Address', '127.0.0.1:9']]),
  firstOk: (r: ResponseMessage) => r.status === 300,
});

export const since = (ctx: MsContext): number => ctx.crs.requests.length;
export const sentSince = (ctx: MsContext, n: number, method: string, user?: string): RequestMessage | undefined => ctx.crs.requests.slice(n).find((m) => m.method === method && (user === undefined || header(m, 'User') === user || header(m, 'From') === user));

