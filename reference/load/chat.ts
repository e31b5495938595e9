// The chat scenario's two ends: a responder (logs in with its own peer listener, answers INIT with
// INIT-ACK, then 200 to every sealed MSG) and an initiator (logs in, opens the peer session with
// INIT/INIT-ACK through reference/crypto/p2p, then keeps `window` MSGs in flight for a bounded time
// or count). Both log in through the MS for real so that each gets the other's Public-key from the
// MS (login bundle or PRESENCE push), and open their own key blob with the password.
import net from 'node:net';
import {
  headerOf,
  isRequestOf,
  parseRecords,
  response,
  errorResponse,
  type RequestMessage,
  type ResponseMessage,
} from '../../codec/index.js';
import { Link, linkError } from '../net/link.js';
import {
  buildInit,
  buildInitAck,
  openInit,
  openInitAck,
  openKeyBlobAsync,
  NonceCache,
  type Identity,
} from '../crypto/index.js';
import { LOAD_PASSWORD, type SharedCredentials } from './population.js';
import { SimClient, connectTcp, nowMs, type LoginResult } from './sim-client.js';

const MAX_CLOCK_SKEW = 300_000;

/** A chat end logged in at the MS, with its identity and the public keys it has learnt. */
interface ChatEnd {
  client: SimClient;
  identity: Identity;
  keys: Map<string, string>;
  login: LoginResult;
}

async function loginEnd(
  user: string,
  creds: SharedCredentials,
  msAddress: string,
  peerAddress: string,
): Promise<ChatEnd> {
  const keys = new Map<string, string>();
  const client = new SimClient(user, creds);
  const login = await client.login(msAddress, { address: peerAddress });
  if (!login.ok || !login.response) throw new Error(`chat: login of ${user} failed: ${login.code ?? '?'}`);
  client.link!.on('notification', (m) => {
    if (!isRequestOf(m, 'PRESENCE')) return;
    const u = headerOf(m, 'User');
    const k = headerOf(m, 'Public-key');
    if (u && k) keys.set(u, k);
  });
  for (const rec of parseRecords(login.response.body)) {
    const get = (n: string): string | undefined => rec.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
    const u = get('User');
    const k = get('Public-key');
    if (u && k && get('Relation') === 'buddy') keys.set(u, k);
  }
  const blob = headerOf(login.response, 'Key-blob') ?? '';
  const identity = await openKeyBlobAsync(LOAD_PASSWORD, user, blob, headerOf(login.response, 'Public-key'));
  return { client, identity, keys, login };
}

/** A running responder: its peer address, and stop(). */
export interface ChatResponder {
  address: string;
  /** MSGs answered so far. */
  received(): number;
  stop(): Promise<void>;
}

/** Logs `user` in with a peer listener on 127.0.0.1 and serves one or more peer sessions. */
export async function startResponder(
  user: string,
  creds: SharedCredentials,
  msAddress: string,
): Promise<ChatResponder> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address() as net.AddressInfo;
  const address = `127.0.0.1:${a.port}`;
  let end: ChatEnd;
  try {
    end = await loginEnd(user, creds, msAddress, address);
  } catch (e) {
    server.close();
    throw e;
  }
  const nonces = new NonceCache(2 * MAX_CLOCK_SKEW);
  const links = new Set<Link>();
  let count = 0;
  // One answer object for every MSG: the link only reads it (and copies it to echo a Tag).
  const ok = response(200);
  server.on('connection', (socket) => {
    socket.on('error', () => undefined);
    let open = false;
    let peer = '';
    const link: Link = new Link(socket, {
      local: 'client',
      remote: 'client',
      // [SEAL-14] [MSG-7] one envelope and one Count per turn, as the reference client does
      coalesce: true,
      batchAcks: true,
      handler: (m: RequestMessage, l: Link) => {
        if (open) {
          if (m.method === 'PING') return ok;
          if (!isRequestOf(m, 'MSG')) return errorResponse('ERR_METHOD_NOT_ALLOWED');
          // [MSG-2] the session's two users, sender first
          if (headerOf(m, 'From') !== peer || headerOf(m, 'To') !== user)
            return errorResponse(linkError('ERR_FORBIDDEN', 'MSG names another pair'));
          count++;
          return ok;
        }
        if (m.method !== 'INIT') {
          l.notify(errorResponse(linkError('ERR_OUT_OF_STATE', `${m.method} before INIT`)));
          l.close();
          return undefined;
        }
        try {
          const accepted = openInit(m, {
            self: user,
            identity: end.identity,
            lookup: (u) => {
              const k = end.keys.get(u);
              return k ? { relation: 'buddy', publicKey: k } : { relation: 'none' };
            },
            now: Date.now(),
            maxClockSkew: MAX_CLOCK_SKEW,
            nonces,
          });
          const { message, keys } = buildInitAck({ init: accepted, identity: end.identity, time: Date.now() });
          l.notify(message);
          l.enableSealing(keys);
          open = true;
          peer = accepted.from;
        } catch (e) {
          const code = (e as { code?: string }).code ?? 'ERR_INTERNAL';
          l.notify(errorResponse(linkError(code as 'ERR_DECRYPT', 'INIT refused')));
          l.close();
        }
        return undefined;
      },
    });
    links.add(link);
    link.on('close', () => links.delete(link));
  });
  return {
    address,
    received: () => count,
    async stop() {
      for (const l of links) l.close();
      server.close();
      await end.client.logout();
      end.identity.edSeed.fill(0);
      end.identity.xPrivate.fill(0);
    },
  };
}

/** Options of runInitiator. */
export interface ChatOptions {
  /** Stop after this many ms of sending (bounded). */
  durationMs: number;
  /** Stop after this many MSGs (bounded). */
  maxMessages: number;
  /** MSGs in flight. */
  window: number;
  /** Octets of text per MSG. */
  size: number;
}

/** What one pair achieved. */
export interface ChatResult {
  messages: number;
  bytes: number;
  seconds: number;
  msgsPerSecond: number;
  mbPerSecond: number;
  /** INIT to INIT-ACK, ms. */
  handshakeMs: number;
  errors: Record<string, number>;
}

/** Logs `user` in, opens a peer session to `peer` (who must be online as a buddy) and streams MSGs. */
export async function runInitiator(
  user: string,
  peer: string,
  creds: SharedCredentials,
  msAddress: string,
  opts: ChatOptions,
): Promise<ChatResult> {
  const end = await loginEnd(user, creds, msAddress, '127.0.0.1:7200');
  const errors: Record<string, number> = {};
  try {
    // The peer's key and address: from the login bundle, or the PRESENCE push if it came later.
    const bundle = parseRecords(end.login.response!.body).map((r) => Object.fromEntries(r));
    const peerRec = bundle.find((r) => r.User === peer);
    const address = peerRec?.Address;
    const key = end.keys.get(peer);
    if (!address || !key) throw new Error(`chat: ${peer} is not an online buddy of ${user}`);
    const socket = await connectTcp(address);
    socket.on('error', () => undefined);
    const link = new Link(socket, {
      local: 'client',
      remote: 'client',
      coalesce: true,
      batchAcks: true,
      handler: (m) => (m.method === 'PING' ? response(200) : errorResponse('ERR_METHOD_NOT_ALLOWED')),
    });
    const t0 = nowMs();
    const { message, pending } = buildInit({
      from: user,
      to: peer,
      identity: end.identity,
      peerPublicKey: key,
      time: Date.now(),
    });
    const reply = await link.handshake(message);
    if (reply.kind === 'response' || reply.method !== 'INIT-ACK')
      throw new Error(`chat: INIT refused: ${reply.kind === 'response' ? reply.status : reply.method}`);
    const keys = openInitAck(reply, pending, { now: Date.now(), maxClockSkew: MAX_CLOCK_SKEW });
    pending.secret.fill(0);
    link.enableSealing(keys, { strict: true });
    const handshakeMs = nowMs() - t0;
    const body = Buffer.alloc(opts.size, 'x');
    // One MSG object for the whole run: the link only reads what it sends.
    const msg: RequestMessage = {
      kind: 'request',
      method: 'MSG',
      headers: [
        ['From', user],
        ['To', peer],
        ['Content-type', 'text/plain; charset=utf-8'],
        ['Content-length', String(body.length)],
      ],
      body,
    };
    const count = (c: string): void => {
      errors[c] = (errors[c] ?? 0) + 1;
    };
    let sent = 0;
    let done = 0;
    const start = nowMs();
    const deadline = start + opts.durationMs;
    await new Promise<void>((resolve) => {
      let inFlight = 0;
      /** No more MSGs are sent (count, time or a closed link); resolve once the last is answered. */
      let stopped = false;
      // Refills the window to full when half of it is answered, so that MSGs leave in bursts.
      const pump = (): void => {
        if (stopped) return;
        if (sent >= opts.maxMessages || nowMs() >= deadline || link.isClosed) {
          stopped = true;
          if (inFlight === 0) resolve();
          return;
        }
        const n = Math.min(opts.window - inFlight, opts.maxMessages - sent);
        for (let i = 0; i < n; i++) {
          sent++;
          inFlight++;
          link.request(msg).then(answered, failed);
        }
        if (inFlight === 0) {
          stopped = true; // a window of 0: nothing to wait for
          resolve();
        }
      };
      const after = (): void => {
        inFlight--;
        if (stopped) {
          if (inFlight === 0) resolve();
        } else if (inFlight <= opts.window / 2) pump();
      };
      const answered = (res: ResponseMessage): void => {
        if (res.status === 200) done++;
        else count(headerOf(res, 'Error-code') ?? String(res.status));
        after();
      };
      const failed = (e: unknown): void => {
        count((e as { code?: string }).code ?? 'ERR_INTERNAL');
        after();
      };
      pump();
    });
    const seconds = (nowMs() - start) / 1000;
    link.close();
    return {
      messages: done,
      bytes: done * opts.size,
      seconds,
      msgsPerSecond: done / seconds,
      mbPerSecond: (done * opts.size) / seconds / 1e6,
      handshakeMs,
      errors,
    };
  } finally {
    await end.client.logout();
    end.identity.edSeed.fill(0);
    end.identity.xPrivate.fill(0);
  }
}
