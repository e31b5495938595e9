// A lean simulated client for load runs: the real client side of LOGIN/PROOF (SCRAM proof from a
// cached ClientKey, ephemeral X25519, link keys, SEALED link through reference/net's Link), PING
// answers and heartbeats, PRESENCE receipts with timestamps, LOGOUT. No contact book, no UI, no
// peer listener: one process holds thousands of these.
import net from 'node:net';
import { headerOf, isRequestOf, type RequestMessage, type ResponseMessage } from '../../codec/index.js';
import { Link } from '../net/link.js';
import { parseHostPort } from '../net/address.js';
import {
  b64,
  unb64,
  clientProof,
  generateEphemeralKey,
  loginAuthMessage,
  loginLinkKeys,
  makeNonce,
  verifyServerProof,
  x25519,
} from '../crypto/index.js';
import { req } from '../proto/messages.js';
import type { SharedCredentials } from './population.js';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Opens TCP to `address`, from `localAddress` when given (one of several loopback sources). */
export function connectTcp(address: string, localAddress?: string, timeoutMs = 10_000): Promise<net.Socket> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Timings (nowMs) and outcome of one login. */
export interface LoginResult {
  user: string;
  ok: boolean;
  /** Error-code of a refusal, or a local error name (ECONNREFUSED, ERR_TIMEOUT, BAD_SERVER_PROOF...). */
  code?: string;
  /** Before connecting. */
  tStart: number;
  /** When PROOF was written. */
  tProof: number;
  /** When the 200 (or the refusal) arrived. */
  tDone: number;
  /** The login bundle's response, when ok (headers and records). */
  response?: ResponseMessage;
}

/**
 * The receive path of the simulated clients (issue 15, Appendix A.8): a push is timed when its octets
 * arrive, before it is decoded and its envelope opened. A real client has a process of its own; one
 * load worker holds thousands, and a PRESENCE reaches some 25 of them in one event-loop turn. Timed
 * after decoding and opening the pushes read before it, the last buddy's receipt measured the worker's
 * backlog, not the server (the step "last buddy has PRESENCE": p99 8.99 ms against the XMPP
 * generator's 5.28 ms in the quiet run of session 8, and that generator times a stanza when its octets
 * arrive: bench/xmpp/client.ts). So a socket's 'data' only notes the time and queues the chunk; the
 * queued chunks go to their Links, each socket's in order, in one setImmediate after the poll phase
 * that read them (and a socket's own at once before its 'end' or 'close' is handled). Every push is
 * still decoded, its envelope's Seq checked and its tag verified [SEAL-3] [SEAL-4] before its receipt
 * counts: a push that does not open is not delivered.
 */
interface Inbound {
  owner: SimClient;
  socket: net.Socket;
  /** The Link's own 'data' listeners, taken off the socket (called on it: they find their Link there). */
  deliver: Array<(this: net.Socket, chunk: Buffer) => void>;
  chunks: Buffer[];
  times: number[];
  /** In the ready list (reset when the list is drained). */
  queued: boolean;
}

const ready: Inbound[] = [];
let drainScheduled = false;

function drainInbound(q: Inbound): void {
  // chunks may be added meanwhile (never synchronously by delivery, but be exact): index, not a copy
  for (let i = 0; i < q.chunks.length; i++) {
    q.owner.arrivedAt = q.times[i]!;
    for (const d of q.deliver) d.call(q.socket, q.chunks[i]!);
  }
  q.chunks.length = 0;
  q.times.length = 0;
}

function drainReady(): void {
  drainScheduled = false;
  for (let i = 0; i < ready.length; i++) {
    const q = ready[i]!;
    q.queued = false;
    drainInbound(q);
  }
  ready.length = 0;
}

/** Moves the Link's 'data' listeners of `socket` behind the arrival queue (see Inbound). */
function timeOnArrival(socket: net.Socket, owner: SimClient): void {
  const q: Inbound = {
    owner,
    socket,
    deliver: socket.listeners('data') as Array<(this: net.Socket, chunk: Buffer) => void>,
    chunks: [],
    times: [],
    queued: false,
  };
  socket.removeAllListeners('data');
  socket.on('data', (chunk: Buffer) => {
    q.chunks.push(chunk);
    q.times.push(nowMs());
    if (!q.queued) {
      q.queued = true;
      ready.push(q);
    }
    if (!drainScheduled) {
      drainScheduled = true;
      setImmediate(drainReady);
    }
  });
  // the octets before the end are read before the end is handled, as without the queue
  const flush = (): void => drainInbound(q);
  socket.prependListener('end', flush);
  socket.prependListener('close', flush);
}

/**
 * Called for every PRESENCE push: the user it is about, its status, the receipt time (its octets
 * arrived), the client, and when it had been decoded and opened (nowMs; the receipt time before issue
 * 15's change, reported beside it).
 */
export type PresenceListener = (user: string, status: string, t: number, to: SimClient, opened: number) => void;

const PONG: ResponseMessage = { kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) };

/** One simulated user's connection to an MS. */
export class SimClient {
  readonly user: string;
  link: Link | null = null;
  /** Session heartbeat interval from the login response (ms). */
  heartbeat = 0;
  online = false;
  /** When the chunk now being handed to the Link arrived (nowMs): the receipt time of the pushes in it. */
  arrivedAt = 0;
  private closedPromise: Promise<void> | null = null;

  constructor(
    user: string,
    private readonly creds: SharedCredentials,
    private readonly onPresence?: PresenceListener,
  ) {
    this.user = user;
  }

  /** LOGIN then PROOF on a new connection to `msAddress` (from `source` when given). Never throws. */
  async login(
    msAddress: string,
    opts: { source?: string; address?: string; timeoutMs?: number } = {},
  ): Promise<LoginResult> {
    const tStart = nowMs();
    const r: LoginResult = { user: this.user, ok: false, tStart, tProof: tStart, tDone: tStart };
    let socket: net.Socket;
    try {
      socket = await connectTcp(msAddress, opts.source, opts.timeoutMs);
    } catch (e) {
      r.code = (e as { code?: string }).code ?? 'ECONNECT';
      r.tDone = nowMs();
      return r;
    }
    socket.on('error', () => undefined);
    const link = new Link(socket, {
      local: 'client',
      remote: 'ms',
      requestTimeout: opts.timeoutMs ?? 10_000,
      handler: (m) => (m.method === 'PING' ? PONG : undefined),
    });
    timeOnArrival(socket, this);
    this.link = link;
    this.closedPromise = new Promise((resolve) =>
      link.once('close', () => {
        this.online = false;
        resolve();
      }),
    );
    link.on('notification', (m: RequestMessage) => {
      if (isRequestOf(m, 'PRESENCE') && this.onPresence) {
        const u = headerOf(m, 'User');
        if (u !== undefined) this.onPresence(u, headerOf(m, 'Status') ?? '', this.arrivedAt, this, nowMs());
      }
    });
    try {
      const share = generateEphemeralKey();
      const cnonce = makeNonce();
      const eC = b64(share.publicKey);
      const address = opts.address ?? '127.0.0.1:7200';
      const challenge = await link.request(
        req('LOGIN', { 'Imsp-version': 1, User: this.user, Nonce: cnonce, 'Key-share': eC, Address: address }),
      );
      if (challenge.status !== 300) return this.refused(r, challenge);
      const nonce = headerOf(challenge, 'Nonce') ?? '';
      const salt = headerOf(challenge, 'Salt') ?? '';
      const iterations = Number(headerOf(challenge, 'Iterations'));
      const eS = headerOf(challenge, 'Key-share') ?? '';
      if (salt !== this.creds.salt || iterations !== this.creds.iterations) return this.local(r, 'UNEXPECTED_SALT');
      const auth = loginAuthMessage({ user: this.user, cnonce, nonce, salt, iterations, eC, eS, address });
      const ck = unb64(this.creds.clientKey);
      const keys = loginLinkKeys('client', x25519(share.privateKey, unb64(eS)), ck, auth);
      r.tProof = nowMs();
      const pending = link.request(req('PROOF', { Proof: b64(clientProof(ck, auth)) }));
      link.enableSealing(keys);
      const result = await pending;
      if (result.status !== 200) return this.refused(r, result);
      const sp = headerOf(result, 'Server-proof');
      if (sp === undefined || !verifyServerProof(unb64(this.creds.serverKey), auth, unb64(sp)))
        return this.local(r, 'BAD_SERVER_PROOF');
      this.heartbeat = Number(headerOf(result, 'Heartbeat') ?? 0);
      this.online = true;
      r.ok = true;
      r.tDone = nowMs();
      r.response = result;
      return r;
    } catch (e) {
      return this.local(r, (e as { code?: string }).code ?? 'ERR_INTERNAL');
    }
  }

  private refused(r: LoginResult, res: ResponseMessage): LoginResult {
    r.code = headerOf(res, 'Error-code') ?? String(res.status);
    r.tDone = nowMs();
    this.close();
    return r;
  }

  private local(r: LoginResult, code: string): LoginResult {
    r.code = code;
    r.tDone = nowMs();
    this.close();
    return r;
  }

  /** Sends PING when nothing was sent for `interval` ms (one timer per worker calls this). */
  heartbeatTick(now: number): void {
    const l = this.link;
    if (!l || l.isClosed || !this.online || this.heartbeat <= 0) return;
    if (now - l.lastSent >= this.heartbeat * 0.8) l.request(req('PING')).catch(() => undefined);
  }

  /** LOGOUT (200 then the MS closes); resolves when the connection is closed. */
  async logout(): Promise<void> {
    const l = this.link;
    if (!l || l.isClosed) return;
    this.online = false;
    try {
      await l.request(req('LOGOUT'));
    } catch {
      // closed first: the same outcome
    }
    l.close();
    await this.closedPromise;
  }

  /** Closes the connection without LOGOUT (the MS ends the session as LOGOUT would). */
  close(): void {
    this.online = false;
    this.link?.close();
  }

  /** Resolves when the connection is closed. */
  closed(): Promise<void> {
    return this.closedPromise ?? Promise.resolve();
  }
}
