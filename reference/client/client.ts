// ImspClient: the reference IMSP client library ([§8 Login and Logout] [§9 Presence, Contacts and the User's Data] [§10 Peer-to-Peer Sessions]).
//
// - login(): LOCATE at the CRS (unless an MS is given), LOGIN / 300 Challenge / PROOF at the MS with
//   the SCRAM-shaped proof; checks the Server-proof; opens the sealed key blob with the password;
//   applies the login bundle (contacts, presence, pending ADDs); keeps the link alive with PING.
// - Pushes on the MS link (PRESENCE, CONTACT, ADD, ANSWER, NOTICE) update the contact book and
//   become events (events.ts).
// - Listens on its own address for peer sessions (INIT / INIT-ACK, then SEALED MSG, TYPING, BYE);
//   the bound address is what LOGIN announces. Refuses INIT and MSG from a non-buddy, a blocked
//   user, a bad signature or a replay, with the registry's error, then closes.
// - Session keys live in memory only and are dropped on logout, on the peer going offline or
//   stopping being a buddy, on BYE and on close.
import { EventEmitter } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  anyHeader,
  headerOf,
  isMethodName,
  LIMITS,
  encode,
  errorResponse,
  headers as allHeaders,
  parseRecords,
  response,
  type Decision,
  type ErrorCode,
  type Header,
  type HeaderName,
  type Message,
  type RequestMessage,
  type RequestsOn,
  type ResponseMessage,
  type ResponseTo,
  type SearchField,
} from '../../codec/index.js';
import { b64, unb64 } from '../crypto/b64.js';
import { CryptoError } from '../crypto/errors.js';
import { openKeyBlobAsync, sealKeyBlobAsync, parseKeyBlob } from '../crypto/key-blob.js';
import { generateKeyShare, x25519, type Identity } from '../crypto/keys.js';
import { NonceCache, buildInit, buildInitAck, openInit, openInitAck, type PeerLookup } from '../crypto/p2p.js';
import {
  clientKey as deriveClientKey,
  clientLogin,
  clientProof,
  loginAuthMessage,
  loginLinkKeys,
  makeNonce,
  makeVerifier,
  saltedPassword,
  serverKey as deriveServerKey,
  verifyServerProof,
} from '../crypto/scram.js';
import { startHeartbeat, type Heartbeat } from '../net/heartbeat.js';
import { Link, linkError } from '../net/link.js';
import { parseHostPort } from '../net/address.js';
import { ContactBook, type Presence, type Relation, type SettableStatus } from './contacts.js';
import type { ClientEvents, TypingState } from './events.js';
import type { FileLimits, OutgoingFile } from './files.js';
import { PeerSession, type PeerHooks } from './peer.js';

const LIMIT = LIMITS as unknown as Record<string, number>;

export interface ClientLimits extends FileLimits {
  maxBodySize: number;
  maxClockSkew: number;
  handshakeTimeout: number;
  requestTimeout: number;
  clientHeartbeatInterval: number;
  /** [HB-6] the session ends when nothing came from the MS for this long. */
  sessionTimeout: number;
  scramMaxIterations: number;
  scramMinIterations: number;
  /** Peer sessions at once (incoming and outgoing). */
  maxPeerSessions: number;
  /** [TYPING-2] a peer's `typing` not renewed for this long is reported as `paused` (30 s). */
  typingStaleMs: number;
  /** [RECONNECT-2] upper bound of the first reconnect delay; each later bound doubles. */
  clientReconnectDelay: number;
  /** [RECONNECT-2] largest reconnect delay. */
  clientReconnectMaxDelay: number;
}

export function defaultLimits(): ClientLimits {
  return {
    fileChunkSize: LIMIT.fileChunkSize,
    maxFileSize: LIMIT.maxFileSize,
    maxActiveTransfers: 4,
    maxBodySize: LIMIT.maxBodySize,
    maxClockSkew: LIMIT.maxClockSkew,
    handshakeTimeout: LIMIT.handshakeTimeout,
    requestTimeout: LIMIT.requestTimeout,
    clientHeartbeatInterval: LIMIT.clientHeartbeatInterval,
    sessionTimeout: LIMIT.sessionTimeout,
    scramMaxIterations: LIMIT.scramMaxIterations,
    scramMinIterations: LIMIT.scramMinIterations,
    maxPeerSessions: 64,
    typingStaleMs: 30_000,
    clientReconnectDelay: LIMIT.clientReconnectDelay,
    clientReconnectMaxDelay: LIMIT.clientReconnectMaxDelay,
  };
}

export interface ClientOptions {
  user: string;
  password: string;
  /** CRS `host:port`, asked with LOCATE which MS to use. */
  crs?: string;
  /** MS `host:port`: skips LOCATE. */
  ms?: string;
  /** Where to accept peer sessions; default 127.0.0.1:0 (any free port). */
  listen?: string;
  /** Address to announce in LOGIN; default the bound listen address. */
  advertise?: string;
  status?: SettableStatus;
  /** Where received files go; default $TMPDIR/imsp-<user>. */
  downloadDir?: string;
  limits?: Partial<ClientLimits>;
  /** Clock in ms (tests). */
  now?: () => number;
  /**
   * [MS-SHUTDOWN-4] After NOTICE ERR_SHUTDOWN, LOCATE (needs `crs`) and log in again after a random
   * delay of up to `reloginDelayMax` ms (3000 by default).
   */
  relogin?: boolean;
  reloginDelayMax?: number;
  /**
   * [RECONNECT-1] When the session ends without LOGOUT (the MS died or shut down, the CRS restarted,
   * the link went silent), log in again by itself: LOCATE (with `crs`) and a new login, with backoff
   * and jitter (limits clientReconnectDelay, clientReconnectMaxDelay), keeping ClientKey, ServerKey
   * and the opened private keys, never the password. Default true (`relogin: false` also turns it off).
   * Events: `reconnecting` before each attempt, `reconnected` after a successful one.
   */
  reconnect?: boolean;
}

/** What a client keeps to log in again without the password [RECONNECT-4]: RFC 5802's cached keys. */
interface ProofKeys {
  salt: string;
  iterations: number;
  clientKey: Buffer;
  serverKey: Buffer;
}

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

export { parseHostPort };

function fmtHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function connectTo(addr: string, timeout: number): Promise<Socket> {
  const { host, port } = parseHostPort(addr);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ClientError('ERR_TIMEOUT', 408, `connect to ${addr} timed out`));
    }, timeout);
    s.once('connect', () => {
      clearTimeout(timer);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(new ClientError('ERR_UNAVAILABLE', 503, `cannot connect to ${addr}: ${e.message}`));
    });
  });
}

function fromResponse(res: ResponseMessage, what: string): ClientError {
  const code = headerOf(res, 'Error-code') ?? `ERR_STATUS_${res.status}`;
  const ra = headerOf(res, 'Retry-after');
  const retryAfter = ra !== undefined && /^[0-9]{1,10}$/.test(ra) ? Number(ra) : undefined;
  return new ClientError(code, res.status, `${what}: ${res.status} ${res.reason} (${code})`, retryAfter);
}

/**
 * [HDR-TEXT-1] A text value longer than maxTextValue characters is never sent: the MS would refuse it with
 * ERR_BAD_VALUE, so the client refuses it first, with the same error (found by client/text/1).
 */
function checkTextValues(hs: readonly Header[]): void {
  for (const [name, value] of hs)
    if ([...value].length > LIMIT.maxTextValue)
      throw new ClientError('ERR_BAD_VALUE', 422, `${name} is longer than ${LIMIT.maxTextValue} characters`);
}

/** Failures after which the next Server of LOCATE is tried: no connection, or LOGIN answered 503 [LOCATE-4]. */
const TRY_NEXT_SERVER = new WeakSet<Error>();

function asClientError(e: unknown): ClientError {
  if (e instanceof ClientError) return e;
  const x = e as { code?: unknown; status?: unknown; message?: unknown };
  if (typeof x?.code === 'string' && typeof x.status === 'number')
    return new ClientError(x.code, x.status, String(x.message ?? x.code));
  return new ClientError('ERR_INTERNAL', 500, e instanceof Error ? e.message : String(e));
}

function req<M extends string>(
  method: M,
  hs: Header[] = [],
  body: Buffer = Buffer.alloc(0),
): RequestMessage & { readonly method: M } {
  return { kind: 'request', method, headers: hs, body };
}

export class ImspClient extends EventEmitter<ClientEvents> {
  readonly user: string;
  readonly contacts: ContactBook;
  readonly limits: ClientLimits;
  private readonly opts: ClientOptions;
  /** Held only until the first login completes [RECONNECT-4]; login(password) gives it again. */
  private password: string | undefined;
  /** ClientKey and ServerKey of the last login, with their Salt and Iterations [RECONNECT-4]. */
  private proofKeys: ProofKeys | undefined;
  /** A session is established on `ms` (the bundle applied). */
  private active = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Attempts since the session ended; 0 when none is pending. */
  private reconnectAttempt = 0;
  /** Set by setReconnect(); overrides the options. */
  private reconnectSetting: boolean | undefined;
  /** Retry-after (ms) of the last refused attempt [LOGIN-6]. */
  private retryAfterMs = 0;
  private readonly now: () => number;
  private readonly downloadDir: string;
  private readonly nonces: NonceCache;

  private server: Server | undefined;
  /** The port of the last peer listener: taken again after a reconnect when it is free. */
  private peerPort: number | undefined;
  private ms: Link | undefined;
  private heartbeat: Heartbeat | undefined;
  private identity: Identity | undefined;
  private loggingOut = false;
  /** The sealed key blob as delivered at login (PASSWD checks the current password against it). */
  private keyBlob = '';
  /** NOTICE ERR_SHUTDOWN came on the current MS link. */
  private shutdownNotice = false;
  /** The next login asks the CRS (the MS given in the options shut down). */
  private preferLocate = false;
  private reloginTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** [RATE-6] no request but PING before this time (after a 429 or NOTICE ERR_RATE_LIMITED). */
  private quietUntil = 0;
  /** scrypt cost of the key blob as delivered; PASSWD re-seals with the same cost. */
  private blobLog2N = 15;
  /** Established peer sessions by user. */
  private readonly sessions = new Map<string, PeerSession>();
  /** Outgoing handshakes in progress by user. */
  private readonly opening = new Map<string, Promise<PeerSession>>();
  /** Every peer link (handshaking or established), closed at logout. */
  private readonly peerLinks = new Set<Link>();

  address = '';
  msAddress = '';
  status: Presence = 'offline';
  sessionId = '';

  constructor(opts: ClientOptions) {
    super();
    this.opts = opts;
    this.user = opts.user;
    this.password = opts.password;
    this.limits = { ...defaultLimits(), ...opts.limits };
    // The book holds no more than the CRS may store for one user.
    this.contacts = new ContactBook({
      maxEntries: LIMIT.maxContacts + LIMIT.maxBlocked,
      maxRequests: LIMIT.maxPendingAdds,
    });
    this.now = opts.now ?? Date.now;
    this.downloadDir = opts.downloadDir ?? join(tmpdir(), `imsp-${opts.user}`);
    // [P2P-8] an INIT nonce is remembered as long as its Time could still be accepted.
    this.nonces = new NonceCache(2 * this.limits.maxClockSkew, 10_000);
  }

  get loggedIn(): boolean {
    return this.ms !== undefined && !this.ms.isClosed && this.identity !== undefined;
  }

  // ---------------------------------------------------------------- login

  /**
   * LOCATE (when a CRS is given), then LOGIN / PROOF; resolves when the login bundle is applied.
   * The password of the options serves the first login only [RECONNECT-4]: a later login after an
   * explicit logout (which forgets the private keys, [LOGOUT-4]) needs it again, as `password`.
   */
  async login(password?: string): Promise<void> {
    if (this.ms) throw new ClientError('ERR_OUT_OF_STATE', 425, 'already logged in or logging in');
    if (password !== undefined) this.password = password;
    this.cancelReconnect();
    this.closing = false;
    await this.connectAndLogin();
  }

  /** One login attempt (the user's, or a reconnect's). */
  private async connectAndLogin(): Promise<void> {
    if (this.reloginTimer) clearTimeout(this.reloginTimer);
    this.reloginTimer = undefined;
    this.loggingOut = false;
    this.shutdownNotice = false;
    if (this.password === undefined && !(this.proofKeys && this.identity)) {
      throw new ClientError('ERR_OUT_OF_STATE', 425, 'the password is needed to log in again');
    }
    const direct = this.preferLocate ? undefined : this.opts.ms;
    const servers = direct !== undefined ? [direct] : await this.locate();
    // [LOCATE-4] the Servers in the order given: the next one when a connection fails or LOGIN is
    // answered 503; any other failure (and the last Server's) is the attempt's.
    for (let i = 0; ; i++) {
      try {
        await this.loginAt(servers[i]);
        return;
      } catch (e) {
        if (!TRY_NEXT_SERVER.has(e as Error) || i === servers.length - 1) throw e;
      }
    }
  }

  /** LOGIN and PROOF at one MS; resolves when the login bundle is applied. */
  private async loginAt(msAddr: string): Promise<void> {
    await this.listen();
    let socket: Socket;
    try {
      socket = await connectTo(msAddr, this.limits.handshakeTimeout);
    } catch (e) {
      await this.stopListening();
      const err = asClientError(e);
      TRY_NEXT_SERVER.add(err);
      throw err;
    }
    const link = new Link(socket, {
      local: 'client',
      remote: 'ms',
      handler: (m) => this.onMsRequest(m),
      requestTimeout: this.limits.requestTimeout,
      handshakeTimeout: this.limits.handshakeTimeout,
      limits: { maxBodySize: this.limits.maxBodySize },
    });
    this.ms = link;
    this.msAddress = msAddr;
    // [PRESENCE-9] Pushes that follow the 200 to PROOF wait, in order, until the bundle is applied:
    // none is dropped while the Server-proof is checked and the key blob opened (scrypt).
    const early: RequestMessage[] = [];
    let bundleApplied = false;
    link.on('notification', (m) => (bundleApplied ? this.onPush(m) : early.push(m)));
    try {
      await this.authenticate(link);
    } catch (e) {
      link.close();
      this.ms = undefined;
      // A reconnect attempt that failed keeps the private keys for the next one [LOGOUT-4].
      if (this.reconnectAttempt === 0) this.forgetIdentity();
      await this.stopListening();
      throw asClientError(e);
    }
    bundleApplied = true;
    this.active = true;
    // [RECONNECT-4] the password is not kept once a login completed: ClientKey and ServerKey serve the next.
    this.password = undefined;
    link.on('close', (reason) => this.onMsClosed(reason?.code));
    for (const m of early.splice(0)) this.onPush(m);
  }

  /** LOCATE: the MSs the CRS names, in its order [LOCATE-4]. */
  private async locate(): Promise<string[]> {
    if (!this.opts.crs) throw new ClientError('ERR_UNAVAILABLE', 503, 'neither a CRS nor an MS address was given');
    const socket = await connectTo(this.opts.crs, this.limits.handshakeTimeout);
    const link = new Link(socket, { local: 'client', remote: 'crs', requestTimeout: this.limits.requestTimeout });
    try {
      const res = await link.request(req('LOCATE', [['Imsp-version', '1']]));
      if (res.status !== 200) throw fromResponse(res, 'LOCATE');
      const servers = allHeaders(res, 'Server');
      if (servers.length === 0) throw new ClientError('ERR_UNAVAILABLE', 503, 'LOCATE named no MS');
      return servers;
    } finally {
      link.close();
    }
  }

  /**
   * The SCRAM proof for this challenge: from the password when the client has it, else from the kept
   * ClientKey when the challenge's Salt and Iterations are those it was derived from [RECONNECT-4];
   * other ones mean the password changed, and only the user can go on [RECONNECT-5].
   */
  private proof(
    salt: string,
    iterations: number,
    auth: string,
  ): { proof: Buffer; clientKey: Buffer; serverKey: Buffer } {
    if (this.password !== undefined) return clientLogin(this.password, unb64(salt), iterations, auth);
    const k = this.proofKeys;
    if (!k || k.salt !== salt || k.iterations !== iterations)
      throw new ClientError('ERR_AUTH_FAILED', 401, 'the password has changed: it is needed to log in again');
    return { proof: clientProof(k.clientKey, auth), clientKey: k.clientKey, serverKey: k.serverKey };
  }

  private async authenticate(link: Link): Promise<void> {
    const eph = generateKeyShare();
    const cnonce = makeNonce();
    const eC = b64(eph.publicKey);
    const loginHeaders: Header[] = [
      ['Imsp-version', '1'],
      ['User', this.user],
      ['Nonce', cnonce],
      ['Key-share', eC],
      ['Address', this.address],
    ];
    if (this.opts.status) loginHeaders.push(['Status', this.opts.status]);
    const challenge = await link.request(req('LOGIN', loginHeaders));
    if (challenge.status !== 300) {
      const err = fromResponse(challenge, 'LOGIN');
      if (challenge.status === 503) TRY_NEXT_SERVER.add(err); // [LOCATE-4]
      throw err;
    }
    const nonce = headerOf(challenge, 'Nonce') ?? '';
    const saltText = headerOf(challenge, 'Salt') ?? '';
    const iterations = Number(headerOf(challenge, 'Iterations'));
    const eS = headerOf(challenge, 'Key-share') ?? '';
    // The server's nonce must extend ours, or an old challenge could be replayed to us.
    if (!nonce.startsWith(cnonce) || nonce.length <= cnonce.length)
      throw new ClientError('ERR_AUTH_FAILED', 401, 'challenge nonce does not extend the client nonce');
    // [AUTH-6] a server cannot make us work without bound (nor accept a verifier below the minimum).
    if (
      !Number.isSafeInteger(iterations) ||
      iterations < this.limits.scramMinIterations ||
      iterations > this.limits.scramMaxIterations
    ) {
      throw new ClientError(
        'ERR_BAD_VALUE',
        422,
        `challenge Iterations ${iterations} outside ${this.limits.scramMinIterations}..${this.limits.scramMaxIterations}`,
      );
    }
    const auth = loginAuthMessage({
      user: this.user,
      cnonce,
      nonce,
      salt: saltText,
      iterations,
      eC,
      eS,
      address: this.address,
    });
    const scram = this.proof(saltText, iterations, auth);
    const keys = loginLinkKeys('client', x25519(eph.privateKey, unb64(eS, 32)), scram.clientKey, auth);
    const proofDone = link.request(req('PROOF', [['Proof', b64(scram.proof)]]));
    // The PROOF was the last clear message: its answer is the first SEALED envelope (or a clear error).
    link.enableSealing(keys);
    keys.send.fill(0);
    keys.receive.fill(0);
    const ok = await proofDone;
    if (ok.status !== 200) throw fromResponse(ok, 'PROOF');
    const serverProof = headerOf(ok, 'Server-proof') ?? '';
    // [AUTH-11] the MS must prove it holds the verifier before anything in the response is used.
    let proven = false;
    try {
      proven = verifyServerProof(scram.serverKey, auth, unb64(serverProof, 32));
    } catch {
      proven = false;
    }
    if (!proven)
      throw new ClientError('ERR_AUTH_FAILED', 401, 'the MS did not prove it holds the verifier (Server-proof)');
    const blob = headerOf(ok, 'Key-blob') ?? '';
    const publicKey = headerOf(ok, 'Public-key') ?? '';
    let identity: Identity;
    if (this.password === undefined && this.identity) {
      // [RECONNECT-6] logged in with kept keys: the private keys are those already open, and the
      // bundle must name the same public key; no KDF, no password.
      identity = this.identity;
      if (identity.publicKey !== publicKey)
        throw new ClientError('ERR_BAD_VALUE', 422, 'the Public-key the MS delivered is not the one this client holds');
    } else {
      try {
        identity = await openKeyBlobAsync(this.password ?? '', this.user, blob);
      } catch (e) {
        throw new ClientError(
          e instanceof CryptoError ? e.code : 'ERR_DECRYPT',
          401,
          'the key blob does not open with this password',
        );
      }
      if (identity.publicKey !== publicKey)
        throw new ClientError('ERR_BAD_VALUE', 422, 'the key blob does not match the Public-key the MS delivered');
      if (this.identity && this.identity !== identity) this.forgetIdentity();
    }
    // Copied before the old keys are wiped: on a login with kept keys, scram.clientKey IS the kept
    // buffer, and wiping it first left zeros to copy, so the second reconnect failed with 401 and the
    // client stopped reconnecting (found by `make chaos`, issue 14) [RECONNECT-4].
    const kept: ProofKeys = {
      salt: saltText,
      iterations,
      clientKey: Buffer.from(scram.clientKey),
      serverKey: Buffer.from(scram.serverKey),
    };
    this.proofKeys?.clientKey.fill(0);
    this.proofKeys?.serverKey.fill(0);
    this.proofKeys = kept;
    this.identity = identity;
    this.keyBlob = blob;
    this.blobLog2N = parseKeyBlob(blob).log2N;
    this.sessionId = headerOf(ok, 'Session') ?? '';
    this.status = (headerOf(ok, 'Status') as Presence | undefined) ?? 'online';
    let records: Header[][] = [];
    if (ok.body.length > 0) records = parseRecords(ok.body);
    this.contacts.load(records);
    const hb = Number(headerOf(ok, 'Heartbeat'));
    const interval =
      Number.isSafeInteger(hb) && hb >= 50
        ? Math.min(hb, this.limits.clientHeartbeatInterval)
        : this.limits.clientHeartbeatInterval;
    // [HB-1] PING when nothing else was sent for an interval; [HB-6] an MS silent for the Session-timeout it
    // announced [HB-11] ends the session (three Heartbeat intervals when it announced none; never under two).
    const st = Number(headerOf(ok, 'Session-timeout'));
    const timeout = Math.max(Number.isSafeInteger(st) && st > 0 ? st : 3 * interval, 2 * interval);
    this.heartbeat = startHeartbeat(link, { interval, timeout });
    this.emit('login', {
      user: this.user,
      ms: this.msAddress,
      address: this.address,
      status: this.status,
      contacts: this.contacts.contacts.size,
      requests: this.contacts.requests.size,
    });
    for (const r of this.contacts.requests.values())
      this.emit('request', r.time === undefined ? { from: r.from } : { from: r.from, time: r.time });
  }

  // ---------------------------------------------------------------- MS link

  private onMsRequest(m: RequestMessage): Message | undefined {
    if (m.method === 'PING') return response(200);
    // ADD and ANSWER pushes are requests in the registry but get no response on this link.
    return errorResponse(linkError('ERR_METHOD_NOT_ALLOWED', `${m.method} is not served by a client`));
  }

  private onPush(m: RequestMessage): void {
    const h = (n: HeaderName) => anyHeader(m, n);
    // The Link emits only requests registered on this link [REG-1], so the guard holds for every push.
    if (this.listenerCount('ms-push') > 0 && isMethodName(m.method)) {
      const [user, status] = [h('User'), h('Status')];
      this.emit('ms-push', {
        method: m.method,
        ...(user !== undefined && { user }),
        ...(status !== undefined && { status }),
      });
    }
    if (m.method === 'PRESENCE' || m.method === 'CONTACT') for (const l of this.listReplay) l.push(m);
    switch (m.method) {
      case 'PRESENCE': {
        const user = h('User') ?? '';
        const status = (h('Status') ?? 'offline') as Presence;
        const change = this.contacts.presence(user, status, h('Address'), h('Public-key'));
        if (!change) return;
        // [P2P-10] the peer went offline: its session key is dropped.
        if (status === 'offline') this.dropSession(user, 'peer went offline');
        this.emit(
          'presence',
          change.after?.address ? { user, status, address: change.after.address } : { user, status },
        );
        return;
      }
      case 'CONTACT': {
        const user = h('User') ?? '';
        const relation = (h('Relation') ?? 'none') as Relation;
        const status = (h('Status') ?? 'offline') as Presence;
        const change = this.contacts.contact(user, relation, status, h('Address'), h('Public-key'));
        // [P2P-10] no longer a buddy (removed or blocked): the session key is dropped.
        if (relation !== 'buddy' || status === 'offline') this.dropSession(user, `relation ${relation}`);
        this.emit('contact', { user, relation, status });
        if (change.before?.status !== status)
          this.emit(
            'presence',
            change.after?.address ? { user, status, address: change.after.address } : { user, status },
          );
        return;
      }
      case 'ADD': {
        const from = h('From') ?? '';
        const t = h('Time');
        const time = t !== undefined ? Number(t) : undefined;
        this.contacts.addRequest(from, time);
        this.emit('request', time === undefined ? { from } : { from, time });
        return;
      }
      case 'ANSWER': {
        const from = h('From') ?? '';
        const decision = h('Decision') === 'grant' ? 'grant' : 'deny';
        this.contacts.answered(from, decision);
        this.emit('answer', { from, decision });
        return;
      }
      case 'NOTICE': {
        const code = h('Error-code') ?? 'ERR_INTERNAL';
        const reason = h('Reason');
        const ra = h('Retry-after');
        this.emit('notice', {
          code,
          ...(reason !== undefined ? { reason } : {}),
          ...(ra !== undefined ? { retryAfter: Number(ra) } : {}),
        });
        if (code === 'ERR_RATE_LIMITED') this.slowDown(ra);
        // [ERR-7] the MS is going away or ended the session: the session is over [LOGOUT-4].
        if (code === 'ERR_SHUTDOWN') this.shutdownNotice = true;
        if (code === 'ERR_SHUTDOWN' || code === 'ERR_SESSION_ENDED') this.ms?.close();
        return;
      }
      default:
        this.emit('warning', { message: `unexpected ${m.method} from the MS` });
    }
  }

  /** [RATE-6] holds back requests (not PING) for Retry-after ms (1 s when absent, at most a minute). */
  private slowDown(retryAfter: string | undefined): void {
    const ms = retryAfter !== undefined && /^\d{1,9}$/.test(retryAfter) ? Math.min(Number(retryAfter), 60_000) : 1000;
    this.quietUntil = Math.max(this.quietUntil, Date.now() + ms);
  }

  private onMsClosed(code: string | undefined): void {
    this.heartbeat?.stop();
    this.heartbeat = undefined;
    this.active = false;
    const reason = this.loggingOut
      ? 'logout'
      : this.shutdownNotice
        ? 'the MS is shutting down'
        : `connection to the MS closed${code ? ` (${code})` : ''}`;
    // [LOGOUT-4] BYE on every peer session, every session key forgotten; the private keys too,
    // unless the client reconnects [RECONNECT-1] (then they stay until it is back or gives up).
    this.endAllSessions(reason);
    this.status = 'offline';
    this.ms = undefined;
    void this.stopListening();
    const again =
      !this.loggingOut &&
      !this.closing &&
      this.reconnectEnabled() &&
      this.proofKeys !== undefined &&
      this.identity !== undefined;
    if (!again) this.forgetIdentity();
    // The MS given in the options shut down: the next login asks the CRS [MS-SHUTDOWN-4].
    if (this.shutdownNotice && this.opts.crs !== undefined) this.preferLocate = true;
    this.emit('logout', { reason, reconnecting: again });
    if (again) this.scheduleReconnect(reason);
  }

  private reconnectEnabled(): boolean {
    return this.reconnectSetting ?? this.opts.reconnect ?? this.opts.relogin ?? true;
  }

  /**
   * Turns reconnecting on or off from now on (`reconnect on|off` of the control interface,
   * [§90.6 The Client Control Interface]); off also stops a pending reconnect [RECONNECT-1].
   */
  setReconnect(on: boolean): void {
    this.reconnectSetting = on;
    if (!on && this.reconnectTimer) {
      this.cancelReconnect();
      this.forgetIdentity();
      this.forgetProofKeys();
    }
  }

  /**
   * [RECONNECT-2] The delay before attempt n: uniform in [b/2, b], b = min(max, base x 2^(n-1)), and
   * not before the last refusal's Retry-after [LOGIN-6]. `reloginDelayMax` (older option) sets the base.
   */
  reconnectDelay(attempt: number, random: () => number = Math.random): number {
    const base = this.opts.reloginDelayMax ?? this.limits.clientReconnectDelay;
    const b = Math.min(this.limits.clientReconnectMaxDelay, base * 2 ** Math.min(attempt - 1, 30));
    return Math.max(Math.round(b / 2 + random() * (b / 2)), this.retryAfterMs);
  }

  private scheduleReconnect(reason: string): void {
    this.reconnectAttempt++;
    const attempt = this.reconnectAttempt;
    const delayMs = this.reconnectDelay(attempt);
    this.retryAfterMs = 0;
    this.emit('reconnecting', { attempt, delayMs, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      // [RECONNECT-3] a complete login each time: LOCATE when a CRS is known, then LOGIN and PROOF.
      if (this.opts.crs !== undefined) this.preferLocate = true;
      this.connectAndLogin().then(
        () => {
          this.reconnectAttempt = 0;
          this.emit('reconnected', {});
        },
        (e: unknown) => {
          const err = asClientError(e);
          if (this.closing || this.ms) return;
          // [RECONNECT-5] refused credentials (or another identity): only the user can go on.
          if (err.status === 401 || err.code === 'ERR_BAD_VALUE') {
            this.reconnectAttempt = 0;
            this.forgetIdentity();
            this.forgetProofKeys();
            this.emit('logout', { reason: `logging in again failed: ${err.message}`, reconnecting: false });
            return;
          }
          this.retryAfterMs = Math.min(err.retryAfter ?? 0, this.limits.clientReconnectMaxDelay);
          this.scheduleReconnect(`${err.code}: ${err.message}`);
        },
      );
    }, delayMs);
    this.reconnectTimer.unref();
  }

  /** Stops a pending reconnect (the user logs in, logs out or closes). */
  private cancelReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.reconnectAttempt = 0;
    this.retryAfterMs = 0;
  }

  /** Whether a reconnect is pending (the session ended; the client will log in again by itself). */
  get reconnecting(): boolean {
    return this.reconnectAttempt > 0;
  }

  private forgetProofKeys(): void {
    this.proofKeys?.clientKey.fill(0);
    this.proofKeys?.serverKey.fill(0);
    this.proofKeys = undefined;
  }

  /** Sends one request on the MS link and returns its response when its status is in `ok`. */
  private async call<M extends RequestsOn<'client', 'ms'>>(
    method: M,
    hs: Header[],
    ok: number[] = [200],
  ): Promise<ResponseTo<M>> {
    const link = this.ms;
    if (!link || link.isClosed || !this.identity) throw new ClientError('ERR_OUT_OF_STATE', 425, 'not logged in');
    const wait = this.quietUntil - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (link.isClosed) throw new ClientError('ERR_OUT_OF_STATE', 425, 'not logged in');
    let res: ResponseTo<M>;
    try {
      res = await link.request(req(method, hs));
    } catch (e) {
      throw asClientError(e);
    }
    if (res.status === 429) this.slowDown(headerOf(res, 'Retry-after'));
    if (!ok.includes(res.status)) throw fromResponse(res, method);
    return res;
  }

  async setStatus(status: SettableStatus): Promise<void> {
    await this.call('STATUS', [['Status', status]]);
    this.status = status;
  }

  /** ADD: 'delivered' (200, the target is online) or 'stored' (202, delivered at its next login). */
  async add(user: string): Promise<'delivered' | 'stored'> {
    const res = await this.call('ADD', [['To', user]], [200, 202]);
    this.contacts.pending(user);
    return res.status === 202 ? 'stored' : 'delivered';
  }

  async answer(user: string, decision: Decision): Promise<void> {
    await this.call('ANSWER', [
      ['User', user],
      ['Decision', decision],
    ]);
    this.contacts.removeRequest(user);
  }

  async rem(user: string): Promise<void> {
    await this.call('REM', [['User', user]]);
    this.contacts.contact(user, 'none', 'offline');
    this.dropSession(user, 'removed');
  }

  async block(user: string): Promise<void> {
    await this.call('BLOCK', [['User', user]]);
    this.contacts.contact(user, 'blocked', 'offline');
    this.contacts.removeRequest(user);
    this.dropSession(user, 'blocked');
  }

  async unblock(user: string): Promise<void> {
    await this.call('UNBLOCK', [['User', user]]);
    if (this.contacts.isBlocked(user)) this.contacts.contact(user, 'none', 'offline');
  }

  /** Pushes received while a LIST is in flight, re-applied on top of its answer [PRESENCE-10]. */
  private listReplay: RequestMessage[][] = [];

  /** LIST: refreshes the contact book from the MS. */
  async list(): Promise<void> {
    const since: RequestMessage[] = [];
    this.listReplay.push(since);
    try {
      const res = await this.call('LIST', []);
      this.contacts.load(res.body.length > 0 ? parseRecords(res.body) : []);
      // [PRESENCE-10] the snapshot, then every push received since the LIST was sent, in order.
      for (const m of since) this.replay(m);
    } finally {
      this.listReplay = this.listReplay.filter((l) => l !== since);
    }
  }

  /** Applies a push to the contact book again, silently (its events were emitted when it came). */
  private replay(m: RequestMessage): void {
    const h = (n: HeaderName) => anyHeader(m, n);
    const user = h('User') ?? '';
    const status = (h('Status') ?? 'offline') as Presence;
    if (m.method === 'PRESENCE') this.contacts.presence(user, status, h('Address'), h('Public-key'));
    else if (m.method === 'CONTACT')
      this.contacts.contact(user, (h('Relation') ?? 'none') as Relation, status, h('Address'), h('Public-key'));
  }

  async profile(user?: string): Promise<Record<string, string>> {
    const res = await this.call('PROFILE', user ? [['User', user]] : []);
    const out: Record<string, string> = {};
    for (const n of ['User', 'Full-name', 'Location', 'About'] as const) {
      const v = headerOf(res, n);
      if (v !== undefined) out[n] = v;
    }
    return out;
  }

  async setProfile(fields: { fullName?: string; location?: string; about?: string }): Promise<void> {
    const hs: Header[] = [];
    if (fields.fullName !== undefined) hs.push(['Full-name', fields.fullName]);
    if (fields.location !== undefined) hs.push(['Location', fields.location]);
    if (fields.about !== undefined) hs.push(['About', fields.about]);
    checkTextValues(hs);
    await this.call('PROFILE', hs);
  }

  async search(
    query: string,
    opts: { field?: SearchField; cursor?: string; limit?: number } = {},
  ): Promise<Record<string, string>[]> {
    const hs: Header[] = [['Query', query]];
    checkTextValues(hs);
    if (opts.field) hs.push(['Field', opts.field]);
    if (opts.cursor) hs.push(['Cursor', opts.cursor]);
    if (opts.limit !== undefined) hs.push(['Limit', String(opts.limit)]);
    const res = await this.call('SEARCH', hs);
    return (res.body.length > 0 ? parseRecords(res.body) : []).map((r) => Object.fromEntries(r));
  }

  /**
   * PASSWD: a new verifier (fresh salt) and the same private keys re-sealed (fresh salt and iv)
   * under the new password [PASSWD-2]. The current password is checked first by opening the key
   * blob with it, since no server can check it [PASSWD-1].
   */
  async passwd(currentPassword: string, newPassword: string): Promise<void> {
    if (!this.identity) throw new ClientError('ERR_OUT_OF_STATE', 425, 'not logged in');
    try {
      await openKeyBlobAsync(currentPassword, this.user, this.keyBlob);
    } catch {
      throw new ClientError('ERR_AUTH_FAILED', 401, 'the current password does not open the key blob');
    }
    const v = makeVerifier(newPassword);
    const blob = await sealKeyBlobAsync(newPassword, this.user, this.identity, { log2N: this.blobLog2N });
    await this.call('PASSWD', [
      ['Salt', v.salt],
      ['Iterations', String(v.iterations)],
      ['Stored-key', v.storedKey],
      ['Server-key', v.serverKey],
      ['Key-blob', blob],
    ]);
    this.keyBlob = blob;
    // [RECONNECT-4] the kept proof keys follow the new verifier (the password itself is not kept).
    const salted = saltedPassword(newPassword, unb64(v.salt), v.iterations);
    this.forgetProofKeys();
    this.proofKeys = {
      salt: v.salt,
      iterations: v.iterations,
      clientKey: deriveClientKey(salted),
      serverKey: deriveServerKey(salted),
    };
    salted.fill(0);
  }

  /** Overwrites and drops the private keys [LOGOUT-4]. */
  private forgetIdentity(): void {
    const id = this.identity;
    this.identity = undefined;
    if (!id) return;
    id.edSeed.fill(0);
    id.xPrivate.fill(0);
  }

  /** LOGOUT: BYE to every peer, keys dropped, then LOGOUT at the MS and close. */
  async logout(): Promise<void> {
    const link = this.ms;
    if (!link || !this.active) {
      // Between sessions (a reconnect pending or in flight): stop it; the keys go [LOGOUT-4].
      if (this.reconnecting || link) {
        this.loggingOut = true;
        this.cancelReconnect();
        link?.close();
        this.forgetIdentity();
        this.emit('logout', { reason: 'logout', reconnecting: false });
      }
      return;
    }
    this.loggingOut = true;
    this.endAllSessions('logout');
    if (!link.isClosed) {
      try {
        await link.request(req('LOGOUT'));
      } catch {
        // the MS is gone already: the session is over either way
      }
    }
    const closed = new Promise<void>((resolve) =>
      link.isClosed && !this.ms ? resolve() : this.once('logout', () => resolve()),
    );
    link.close();
    await closed;
  }

  /** Closes everything without LOGOUT (the MS ends the session on its own). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.reloginTimer) clearTimeout(this.reloginTimer);
    this.reloginTimer = undefined;
    this.cancelReconnect();
    if (this.ms && !this.active) {
      // A login in flight: it fails on the closed link (no session, so no logout event to wait for).
      this.ms.close();
    } else if (this.ms) {
      const link = this.ms;
      const closed = new Promise<void>((resolve) => this.once('logout', () => resolve()));
      link.close();
      await closed;
    }
    this.endAllSessions('closed');
    this.forgetIdentity();
    this.forgetProofKeys();
    await this.stopListening();
  }

  // ---------------------------------------------------------------- peer sessions

  /**
   * Accepts and opens peer sessions with a given identity and no MS session: for tests and tools
   * that fill the contact book themselves. A logged-in client never needs it.
   */
  async startPeers(identity: Identity): Promise<void> {
    if (this.ms) throw new ClientError('ERR_OUT_OF_STATE', 425, 'logged in: the identity comes from the key blob');
    this.identity = identity;
    await this.listen();
  }

  private async listen(): Promise<void> {
    if (this.server) return;
    const { host, port } = parseHostPort(this.opts.listen ?? '127.0.0.1:0');
    const bind = (p: number): Promise<Server> => {
      // [WIRE-20] half-open: a peer that half-closes inside a message is answered before the close
      const server = createServer({ allowHalfOpen: true }, (s) => this.onPeerConnection(s));
      return new Promise<Server>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, host, () => {
          server.off('error', reject);
          resolve(server);
        });
      });
    };
    // After a reconnect the peer port stays the one buddies last saw (Appendix A.5): a client that
    // asked for any port takes its previous one again when it is free, else any port. `make fuzz-roles`
    // found the old address refusing connections once the client had logged in again (issue 14).
    let server: Server;
    try {
      server = await bind(port === 0 && this.peerPort ? this.peerPort : port);
    } catch (e) {
      if (!(port === 0 && this.peerPort)) throw e;
      server = await bind(0);
    }
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('listen: no address');
    this.peerPort = a.port;
    this.server = server;
    this.address = this.opts.advertise ?? fmtHostPort(host, a.port);
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const l of this.peerLinks) l.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private lookup = (user: string): PeerLookup => {
    const c = this.contacts.get(user);
    if (!c) return { relation: 'none' };
    if (c.relation === 'blocked') {
      const k = this.contacts.blockedKey(user);
      return k ? { relation: 'blocked', blocked: true, publicKey: k } : { relation: 'blocked', blocked: true };
    }
    const key = this.contacts.buddyKey(user);
    return key ? { relation: c.relation, publicKey: key } : { relation: c.relation };
  };

  private allowed = (peer: string): ErrorCode | undefined => {
    if (this.contacts.isBlocked(peer)) return 'ERR_BLOCKED';
    if (!this.contacts.isBuddy(peer)) return 'ERR_NOT_BUDDY';
    return undefined;
  };

  private hooks(): PeerHooks {
    return {
      self: this.user,
      allowed: this.allowed,
      message: (from, text) => this.emit('message', { from, to: this.user, text, time: this.now() }),
      typing: (from, state) => this.emit('typing', { from, state }),
      fileProgress: (peer, direction, p) =>
        this.emit('file-progress', { peer, direction, fileId: p.fileId, name: p.name, done: p.done, size: p.size }),
      file: (from, f) =>
        this.emit('file', {
          from,
          fileId: f.fileId,
          name: f.name,
          size: f.size,
          path: f.path,
          contentType: f.contentType,
        }),
      refused: (peer, err) =>
        this.emit('refused', { user: peer, direction: 'in', code: err.code, status: err.status, reason: err.message }),
      ended: (s, reason) => {
        if (this.sessions.get(s.peer) === s) {
          this.sessions.delete(s.peer);
          this.emit('session-end', { user: s.peer, reason });
        }
      },
    };
  }

  private peerLink(
    socket: Socket,
    handler: (m: RequestMessage, link: Link) => Promise<Message | undefined> | Message | undefined,
  ): Link {
    const link = new Link(socket, {
      local: 'client',
      remote: 'client',
      handler,
      requestTimeout: this.limits.requestTimeout,
      handshakeTimeout: this.limits.handshakeTimeout,
      limits: { maxBodySize: this.limits.maxBodySize },
      // [SEAL-14] the messages of one turn share an envelope; [MSG-7] the 200s of one turn share a Count
      coalesce: true,
      batchAcks: true,
    });
    this.peerLinks.add(link);
    link.on('close', () => this.peerLinks.delete(link));
    return link;
  }

  /** A peer connected to us: it must open with INIT within handshakeTimeout. */
  private onPeerConnection(socket: Socket): void {
    socket.setNoDelay(true);
    if (!this.identity || this.peerLinks.size >= this.limits.maxPeerSessions) {
      // [P2P-7] at capacity (or logged out, [P2P-5]): answered in clear, then closed.
      socket.on('error', () => undefined);
      socket.end(
        encode(
          errorResponse(
            linkError(this.identity ? 'ERR_UNAVAILABLE' : 'ERR_SESSION_ENDED', 'not accepting peer sessions'),
          ),
        ),
      );
      return;
    }
    let session: PeerSession | undefined;
    const link = this.peerLink(socket, async (m, l) => {
      if (session) return session.handle(m);
      if (m.method !== 'INIT') {
        // [STATE-1] nothing but INIT before the handshake.
        l.notify(errorResponse(linkError('ERR_OUT_OF_STATE', `${m.method} before INIT`)));
        l.close();
        return undefined;
      }
      session = await this.acceptInit(m, l);
      return undefined;
    });
    // Before the handshake the link answers what it refuses as the error table says [ERR-8]: a MSG in
    // clear (425, [STATE-5]) or a bad INIT [P2P-18] closes; an unknown or misdirected method is answered
    // and the connection goes on [REG-9] until an INIT or the handshake timeout below.
    // [CONN-4] a connection that does not complete its handshake in time is closed.
    const timer = setTimeout(() => {
      if (!session) link.close(linkError('ERR_TIMEOUT', 'no INIT within handshakeTimeout'));
    }, this.limits.handshakeTimeout);
    timer.unref();
    link.on('close', () => clearTimeout(timer));
  }

  /** Checks an INIT and answers INIT-ACK, or answers the error and closes [P2P-3] [P2P-6] [P2P-8] [BLOCK-3]. */
  private async acceptInit(m: RequestMessage, link: Link): Promise<PeerSession | undefined> {
    const identity = this.identity;
    const refuse = (code: string, status: number, reason: string, user?: string): undefined => {
      this.emit('refused', { ...(user ? { user } : {}), direction: 'in', code, status, reason });
      link.notify(errorResponse(linkError(code as ErrorCode, reason)));
      link.close();
      return undefined;
    };
    if (!identity) return refuse('ERR_SESSION_ENDED', 410, 'not logged in');
    const open = () =>
      openInit(m, {
        self: this.user,
        identity,
        lookup: this.lookup,
        now: this.now(),
        maxClockSkew: this.limits.maxClockSkew,
        nonces: this.nonces,
      });
    let accepted;
    try {
      try {
        accepted = open();
      } catch (e) {
        // A buddy whose key has not reached us yet (its PRESENCE may trail its INIT): ask the MS once.
        if (!(e instanceof CryptoError && e.code === ('ERR_NOT_BUDDY' as string) && this.keyMissing())) throw e;
        await this.list().catch(() => undefined);
        accepted = open();
      }
    } catch (e) {
      const err = asClientError(e);
      return refuse(err.code, err.status, err.message);
    }
    const { message, keys } = buildInitAck({ init: accepted, identity, time: this.now() });
    link.notify(message);
    link.enableSealing(keys);
    const session = new PeerSession(accepted.from, false, link, keys, this.hooks(), this.limits, this.downloadDir);
    this.install(session);
    return session;
  }

  private lastRefresh = Number.NEGATIVE_INFINITY;

  /**
   * Whether a refused INIT might come from a buddy whose key we lack (its PRESENCE may trail its
   * INIT), worth one LIST. At most one such LIST per 5 s: strangers' INITs cannot make us flood the MS.
   */
  private keyMissing(): boolean {
    const now = Date.now();
    if (now - this.lastRefresh < 5000 || !this.ms) return false;
    this.lastRefresh = now;
    return [...this.contacts.contacts.values()].some((c) => c.relation === 'buddy' && c.publicKey === undefined);
  }

  /** Registers an established session; of two sessions between the same pair, keeps the one opened by the user whose name sorts first. */
  private install(s: PeerSession): void {
    const existing = this.sessions.get(s.peer);
    if (existing && existing.live) {
      const keepInitiatedBySelf = this.user < s.peer;
      const keepNew = s.initiator === keepInitiatedBySelf;
      const [keep, drop] = keepNew ? [s, existing] : [existing, s];
      this.sessions.set(s.peer, keep);
      drop.end('simultaneous INIT: duplicate session', true);
      return;
    }
    this.sessions.set(s.peer, s);
    this.emit('session', { user: s.peer, initiator: s.initiator });
  }

  /** The live session with `user`, opening one (INIT / INIT-ACK) when there is none. */
  async openSession(user: string): Promise<PeerSession> {
    const s = this.sessions.get(user);
    if (s?.live) return s;
    const inflight = this.opening.get(user);
    if (inflight) return inflight;
    const p = this.initiate(user).finally(() => this.opening.delete(user));
    this.opening.set(user, p);
    return p;
  }

  private async initiate(user: string): Promise<PeerSession> {
    const identity = this.identity;
    if (!identity) throw new ClientError('ERR_OUT_OF_STATE', 425, 'not logged in');
    if (this.contacts.isBlocked(user)) throw new ClientError('ERR_BLOCKED', 403, `${user} is blocked`);
    const c = this.contacts.get(user);
    const key = this.contacts.buddyKey(user);
    if (!c || c.relation !== 'buddy') throw new ClientError('ERR_NOT_BUDDY', 403, `${user} is not a buddy`);
    if (!key || !c.address) throw new ClientError('ERR_UNAVAILABLE', 503, `${user} is offline`);
    const socket = await connectTo(c.address, this.limits.handshakeTimeout);
    let session: PeerSession | undefined;
    const link = this.peerLink(socket, (m) =>
      session ? session.handle(m) : errorResponse(linkError('ERR_OUT_OF_STATE', 'handshake not complete')),
    );
    try {
      const { message, pending } = buildInit({
        from: this.user,
        to: user,
        identity,
        peerPublicKey: key,
        time: this.now(),
      });
      const reply = await link.handshake(message, { timeout: this.limits.handshakeTimeout });
      if (reply.kind === 'response') throw fromResponse(reply, `INIT to ${user}`);
      if (reply.method !== 'INIT-ACK')
        throw new ClientError('ERR_OUT_OF_STATE', 425, `${user} answered ${reply.method}`);
      const keys = openInitAck(reply, pending, { now: this.now(), maxClockSkew: this.limits.maxClockSkew });
      pending.secret.fill(0);
      link.enableSealing(keys);
      session = new PeerSession(user, true, link, keys, this.hooks(), this.limits, this.downloadDir);
    } catch (e) {
      const err = asClientError(e);
      this.emit('refused', { user, direction: 'out', code: err.code, status: err.status, reason: err.message });
      link.close();
      throw err;
    }
    this.install(session);
    const kept = this.sessions.get(user);
    if (!kept) throw new ClientError('ERR_SESSION_ENDED', 410, `session with ${user} ended`);
    return kept;
  }

  /** Largest inner MSG that fits one SEALED envelope (maxBodySize minus the AEAD tag). */
  private get maxInner(): number {
    return this.limits.maxBodySize - 16;
  }

  async send(user: string, text: string): Promise<void> {
    const s = await this.openSession(user);
    await s.sendText(text, this.maxInner).catch((e: unknown) => {
      throw asClientError(e);
    });
  }

  async sendFile(user: string, path: string): Promise<OutgoingFile> {
    const s = await this.openSession(user);
    try {
      return await s.sendFile(path);
    } catch (e) {
      throw asClientError(e);
    }
  }

  /**
   * TYPING to `user` when a session with him is open; false (nothing sent) otherwise, since a
   * session is never opened only to send TYPING [TYPING-3].
   */
  async typing(user: string, state: TypingState): Promise<boolean> {
    const s = this.sessions.get(user);
    if (!s?.live) return false;
    s.typing(state, this.now());
    return true;
  }

  async bye(user: string): Promise<void> {
    this.dropSession(user, 'bye');
  }

  private dropSession(user: string, reason: string): void {
    this.sessions.get(user)?.end(reason, true);
  }

  private endAllSessions(reason: string): void {
    for (const s of [...this.sessions.values()]) s.end(reason, true);
    for (const l of this.peerLinks) l.close();
  }

  /** Users with a live peer session. */
  sessionUsers(): string[] {
    return [...this.sessions.values()]
      .filter((s) => s.live)
      .map((s) => s.peer)
      .sort();
  }

  /** How many session keys this client holds: 0 after logout [P2P-10]. */
  sessionKeyCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.keyMaterial.length;
    return n;
  }

  /** The session key buffers held now (tests keep them and check they are zeroed later). */
  sessionKeys(): Buffer[] {
    return [...this.sessions.values()].flatMap((s) => s.keyMaterial);
  }
}
