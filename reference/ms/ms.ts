// The reference Messaging Server (spec section 3, 3.1, 3.2, 4, 5; the client-session
// machine in spec/machines/client-session.json, whose state names this file uses).
//
// An MS enrolls with the CRS (challenge-response on the MS key, incarnation = start time in ms) and
// keeps one SEALED link to it, PINGing every msHeartbeatInterval; when the link is lost, every local
// session is ended (the CRS frees them when this MS re-enrolls) and the MS re-enrolls with a higher
// incarnation, with exponential backoff. Clients log in with LOGIN/PROOF (the per-user lock at the
// CRS), then talk over a SEALED link; the MS relays their requests to the CRS with From stamped
// from the session and the lock epoch as fencing token, and forwards the CRS's pushes.
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Header, RequestMessage, ResponseMessage, ErrorCode } from '../../generated/index.js';
import { b64, unb64 } from '../crypto/b64.js';
import { generateEphemeralKey, x25519 } from '../crypto/keys.js';
import {
  enrollAuthMessage,
  msProof,
  crsProof,
  verifyProof,
  enrollLinkKeys,
  makeNonce,
  loginAuthMessage,
  verifyClientProof,
  serverProof,
  loginLinkKeys,
  decoyKey,
  decoySalt,
  SCRAM_MIN_ITERATIONS,
  type LoginTranscript,
} from '../crypto/scram.js';
import { TokenBucket } from '../net/rate-limit.js';
import { silentLogger } from '../ops/log.js';
import { createMetrics, type ServerMetrics } from '../ops/metrics.js';
import { resolveLimits, type ServerLimits } from '../ops/limits.js';
import { req, ok, fail, get, must, type Fields } from '../ops/proto.js';
import { Link } from '../net/link.js';
import { startHeartbeat, type Heartbeat } from '../net/heartbeat.js';
import { formatAddress, serverLinkOptions } from '../ops/server-link.js';
import { FailureWindow } from './failures.js';

export interface MsOptions {
  /** host:port of the CRS. */
  crs: string;
  /** The shared MS key (at least 32 octets). */
  msKey: Buffer;
  /** This MS's name, unique among enrolled MSs. */
  msId: string;
  /** Most client sessions. Default 1000. */
  capacity?: number;
  host?: string;
  /** 0 picks a free port. Default 7100. */
  port?: number;
  /** The `Listen` address sent in ENROLL (what LOCATE hands to clients); default the bound address. */
  advertise?: string;
  /** Default Date.now() at start; each re-enrollment uses a higher one. */
  incarnation?: number;
  /** TLS to the CRS (options of tls.connect; `servername`/`ca` as needed). */
  crsTls?: tls.ConnectionOptions;
  /** Serve clients over TLS. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  limits?: Partial<ServerLimits>;
  logger?: Logger;
  metrics?: ServerMetrics;
  now?: () => number;
  /** First re-enrollment delay (doubles up to 30 s). Default 200 ms. */
  reconnectDelay?: number;
}

/**
 * One entry of a session's contact list, as the MS keeps it to filter pushes: the relation only (the
 * MS forwards a PRESENCE by relation [PRESENCE-4] and never reads a contact's status; one string per
 * contact, no object, keeps the per-session memory down).
 */
type Relation = 'buddy' | 'pending' | 'blocked';

type ConnState = 'idle' | 'locking' | 'challenged' | 'onlining' | 'active' | 'ended';

/** A login between LOGIN and the end of PROOF: the transcript the proof is bound to, and the MS's state. */
interface LoginAttempt extends LoginTranscript {
  /** The MS's ephemeral X25519 key of this login (kept as a KeyObject, never exported). */
  ePriv: KeyObject;
  status: 'online' | 'busy' | 'away';
  /** Absent for an unknown user: the fake challenge [AUTH-8]. */
  lock?: { epoch: number; storedKey: Buffer; serverKey: Buffer };
}

interface Session {
  id: string;
  user: string;
  epoch: number;
  address: string;
  status: string;
  conn: ClientConn;
  contacts: Map<string, Relation>;
}

interface ClientConn {
  link: Link;
  socket: net.Socket;
  ip: string;
  state: ConnState;
  attempt: LoginAttempt | null;
  session: Session | null;
  /** Pushes that arrived while ONLINE was in flight, delivered after the login response. */
  buffered: RequestMessage[] | null;
  /** performance.now() at accept: the login must be complete by since + handshakeTimeout [CONN-4]. */
  since: number;
}

export interface MsEvents {
  enrolled: [incarnation: number];
  /** An enrollment attempt failed (connection refused, TLS, refused by the CRS); it is retried. */
  'enroll-failed': [reason: string];
  'crs-lost': [reason: string];
  login: [user: string];
  logout: [user: string, reason: string];
}

const SESSION_METHODS = new Set(['LOGOUT', 'STATUS', 'PROFILE', 'PASSWD', 'SEARCH', 'ADD', 'ANSWER', 'REM', 'BLOCK', 'UNBLOCK', 'LIST', 'PING']);

export class MsServer extends EventEmitter<MsEvents> {
  readonly msId: string;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  readonly capacity: number;
  private readonly opts: MsOptions;
  private readonly msKey: Buffer;
  /** [AUTH-14] the decoy key, HMAC(MS key, "imsp1 decoy key"): every MS of the service gives the same decoy salt. */
  private readonly decoy: Buffer;
  private readonly now: () => number;
  private server: net.Server | null = null;
  private listenAddr = '';
  private crsLink: Link | null = null;
  private crsSocket: net.Socket | null = null;
  private enrolledFlag = false;
  private incarnationValue: number;
  private heartbeat: Heartbeat | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay: number;
  private readonly conns = new Set<ClientConn>();
  private readonly sessions = new Map<string, Session>();
  /** user -> local sessions whose contact list holds that user (any relation): who may watch it. */
  private readonly watchIndex = new Map<string, Set<Session>>();
  /**
   * Connections whose ONLINE is in flight (state 'onlining', no session yet): an untargeted PRESENCE is
   * buffered for each (the contact list is not known yet), a targeted push for the one of its user.
   * Kept apart from `conns` so that a push does not scan every connection.
   */
  private readonly onlining = new Set<ClientConn>();
  /**
   * What the MS forwards of a push from the CRS, built once for all its local targets: those of
   * onPush and those that take it from their buffer after their login (interleaved, per session).
   */
  private readonly forwards = new WeakMap<RequestMessage, RequestMessage>();
  /** Users with a login in progress at this MS (between LOGIN and the end of ONLINE). */
  private readonly loggingIn = new Set<string>();
  private readonly failedByUser: FailureWindow;
  private readonly failedByAddress: FailureWindow;
  private readonly userBuckets = new Map<string, TokenBucket>();
  private readonly addBuckets = new Map<string, TokenBucket>();
  private sweeper: NodeJS.Timeout | null = null;
  /**
   * [CONN-4] connections in accept order, each to be closed at since + handshakeTimeout unless its login
   * is complete by then: one timer for all (armed for the oldest) instead of a timer per connection,
   * which a session kept (through its close listener) for as long as it lived.
   */
  private handshakeQueue: Array<ClientConn | undefined> = [];
  private handshakeHead = 0;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private readonly countProtocolError = (err: { code: string }): void => {
    this.metrics.errors.inc({ code: err.code });
  };
  private stopping = false;
  private stopped = false;
  private enrollWaiters: Array<() => void> = [];

  private constructor(opts: MsOptions) {
    super();
    this.opts = opts;
    this.msId = opts.msId;
    this.msKey = opts.msKey;
    this.decoy = decoyKey(opts.msKey);
    this.capacity = opts.capacity ?? 1000;
    this.logger = (opts.logger ?? silentLogger()).child({ ms: opts.msId });
    this.metrics = opts.metrics ?? createMetrics('ms');
    this.limits = resolveLimits(opts.limits ?? {});
    this.now = opts.now ?? Date.now;
    this.incarnationValue = opts.incarnation ?? Date.now();
    this.reconnectDelay = opts.reconnectDelay ?? 200;
    this.failedByUser = new FailureWindow({ max: this.limits.maxFailedLoginsPerUser, windowMs: 5 * 60_000, now: this.now });
    this.failedByAddress = new FailureWindow({ max: this.limits.maxFailedLoginsPerAddress, windowMs: 60_000, now: this.now });
  }

  /** Starts listening and begins enrollment; resolves when listening (see `ready()` for enrollment). */
  static async start(opts: MsOptions): Promise<MsServer> {
    if (opts.msKey.length < 32) throw new Error('MS key shorter than 32 octets');
    const ms = new MsServer(opts);
    await ms.listen(opts.host ?? '127.0.0.1', opts.port ?? 7100);
    ms.connectCrs();
    return ms;
  }

  /** host:port on which this MS accepts clients. */
  get address(): string {
    return this.listenAddr;
  }
  get incarnation(): number {
    return this.incarnationValue;
  }
  get enrolled(): boolean {
    return this.enrolledFlag;
  }
  /** Number of live client sessions. */
  get load(): number {
    return this.sessions.size;
  }
  /** Users with a live session at this MS. */
  users(): string[] {
    return [...this.sessions.keys()];
  }

  /** Resolves when the MS is enrolled with the CRS (at once if it is). */
  ready(): Promise<void> {
    if (this.enrolledFlag) return Promise.resolve();
    return new Promise((resolve) => this.enrollWaiters.push(resolve));
  }

  private async listen(host: string, port: number): Promise<void> {
    const onConn = (socket: net.Socket): void => this.accept(socket);
    const t = this.opts.tls;
    const server = t ? tls.createServer({ cert: t.cert, key: t.key }, onConn) : net.createServer(onConn);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error({ err }, 'listener error'));
    this.listenAddr = formatAddress(server.address() as AddressInfo);
    const tick = Math.max(20, Math.min(this.limits.sessionTimeout, this.limits.handshakeTimeout) / 4);
    this.sweeper = setInterval(() => this.sweepSessions(), tick);
    this.sweeper.unref();
    this.logger.info({ address: this.listenAddr }, 'MS listening');
  }

  // -------------------------------------------------------------------------------------------
  // The CRS link (spec section 7.1)

  private connectCrs(): void {
    if (this.stopping) return;
    const [host, portText] = splitHostPort(this.opts.crs);
    const socket = this.opts.crsTls ? tls.connect({ host, port: Number(portText), ...this.opts.crsTls }) : net.connect({ host, port: Number(portText) });
    socket.on('error', (err) => {
      if (!this.enrolledFlag) this.emit('enroll-failed', err.message);
    });
    const link = new Link(socket, serverLinkOptions(this.limits, 'ms', 'crs', async (m) => this.onCrsRequest(m)));
    this.crsLink = link;
    this.crsSocket = socket;
    link.on('close', (reason) => this.onCrsClosed(link, reason?.message ?? 'closed'));
    link.on('notification', (m) => this.onCrsNotification(m));
    link.on('protocolError', (err) => {
      this.metrics.errors.inc({ code: err.code });
      this.logger.warn({ code: err.code, err: err.message }, 'protocol error on the CRS link');
    });
    const started = (): void => {
      this.enroll(link).catch((err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        this.logger.warn({ err: reason }, 'enrollment failed');
        this.emit('enroll-failed', reason);
        link.close();
      });
    };
    if (this.opts.crsTls) socket.once('secureConnect', started);
    else socket.once('connect', started);
  }

  private async enroll(link: Link): Promise<void> {
    const share = generateEphemeralKey();
    const mnonce = makeNonce();
    const eM = b64(share.publicKey);
    const listen = this.opts.advertise ?? this.listenAddr;
    const inc = this.incarnationValue;
    const r1 = await link.request(req('ENROLL', { 'Imsp-version': 1, 'Ms-id': this.msId, Incarnation: inc, Nonce: mnonce, 'Key-share': eM, Listen: listen, Capacity: this.capacity }));
    if (r1.status !== 300) {
      const code = get(r1, 'Error-code');
      if (code === 'ERR_MS_CONFLICT') this.incarnationValue = Math.max(this.incarnationValue + 1, Date.now()); // [ENROLL-6] try higher
      throw new Error(`ENROLL refused: ${r1.status} ${code ?? ''}`);
    }
    const cnonce = must(r1, 'Nonce');
    const eR = must(r1, 'Key-share');
    const auth = enrollAuthMessage({ msId: this.msId, incarnation: inc, listen, capacity: this.capacity, mnonce, cnonce, eM, eR });
    const keys = enrollLinkKeys('ms', x25519(share.privateKey, unb64(eR)), this.msKey, auth);
    // [SEAL-1] our PROOF is the last clear message; the CRS's 200 is its first SEALED envelope.
    const proofDone = link.request(req('PROOF', { Proof: b64(msProof(this.msKey, auth)) }));
    link.enableSealing(keys);
    const r2 = await proofDone;
    if (r2.status !== 200) throw new Error(`PROOF refused: ${r2.status} ${get(r2, 'Error-code') ?? ''}`);
    // [ENROLL-5] the CRS proves it holds the MS key too.
    if (!verifyProof(crsProof(this.msKey, auth), unb64(must(r2, 'Server-proof')))) throw new Error('CRS Server-proof did not verify');
    const hb = Number(get(r2, 'Heartbeat') ?? this.limits.msHeartbeatInterval);
    this.enrolledFlag = true;
    this.reconnectDelay = this.opts.reconnectDelay ?? 200;
    this.startHeartbeat(link, Math.max(10, Math.min(hb, this.limits.msHeartbeatInterval)));
    this.logger.info({ incarnation: inc, crs: this.opts.crs }, 'enrolled');
    const waiters = this.enrollWaiters;
    this.enrollWaiters = [];
    for (const w of waiters) w();
    this.emit('enrolled', inc);
  }

  private startHeartbeat(link: Link, interval: number): void {
    this.heartbeat?.stop();
    // [HB-3] PING the CRS when we sent nothing for the interval (it renews all our leases);
    // [ENROLL-12] nothing from the CRS for msLease: the link is lost.
    this.heartbeat = startHeartbeat(link, { interval, timeout: this.limits.msLease, ping: () => req('PING', { Load: this.sessions.size }) });
  }

  private onCrsClosed(link: Link, reason: string): void {
    if (this.crsLink !== link) return;
    this.crsLink = null;
    const was = this.enrolledFlag;
    this.enrolledFlag = false;
    this.heartbeat?.stop();
    this.heartbeat = null;
    if (this.stopping) return;
    if (was) {
      this.logger.warn({ reason }, 'CRS link lost: ending every session');
      this.emit('crs-lost', reason);
      // The CRS frees this incarnation's sessions; ours are void [HB-2].
      for (const s of [...this.sessions.values()]) this.endSession(s, 'ERR_SESSION_ENDED', 'Messaging Server lost the CRS', false);
      this.incarnationValue = Math.max(this.incarnationValue + 1, Date.now()); // [ENROLL-7]
    }
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 30_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connectCrs();
    }, delay);
    this.reconnectTimer.unref();
  }

  private crsRequest(m: RequestMessage): Promise<ResponseMessage> {
    const link = this.crsLink;
    if (!link || !this.enrolledFlag) return Promise.resolve(fail('ERR_UNAVAILABLE', { Reason: 'CRS unreachable' }));
    return link.request(m).catch(() => fail('ERR_UNAVAILABLE', { Reason: 'CRS did not answer' }));
  }

  /** Requests from the CRS (PING). */
  private async onCrsRequest(m: RequestMessage): Promise<ResponseMessage | undefined> {
    if (m.method === 'PING') return ok(200);
    return fail('ERR_METHOD_NOT_ALLOWED');
  }

  /** Pushes from the CRS. */
  private onCrsNotification(m: RequestMessage): void {
    switch (m.method) {
      case 'NOTICE':
        this.logger.warn({ code: get(m, 'Error-code'), reason: get(m, 'Reason') }, 'NOTICE from the CRS');
        return;
      case 'PRESENCE':
      case 'CONTACT':
      case 'ADD':
      case 'ANSWER':
        this.onPush(m);
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Pushes CRS -> MS -> client (spec section 9)

  private targetsOf(m: RequestMessage): ClientConn[] {
    const to = get(m, 'To');
    if (to !== undefined) {
      const s = this.sessions.get(to);
      if (s) return [s.conn];
      for (const c of this.onlining) if (c.attempt?.user === to) return [c];
      return [];
    }
    // An untargeted PRESENCE: the local sessions that list the user, and logins in flight.
    if (m.method !== 'PRESENCE') return [];
    const out: ClientConn[] = [];
    for (const s of this.watchIndex.get(must(m, 'User')) ?? []) out.push(s.conn);
    for (const c of this.onlining) out.push(c);
    return out;
  }

  private onPush(m: RequestMessage): void {
    let sent = 0;
    for (const c of this.targetsOf(m)) {
      if (c.buffered) {
        // ONLINE is in flight, or its 200 is not written yet: keep the order bundle -> pushes.
        c.buffered.push(m);
        continue;
      }
      if (c.session && this.deliver(c.session, m)) sent++;
    }
    if (sent > 0) this.metrics.pushes.inc({ method: m.method }, sent);
  }

  /** What the MS forwards of push `m` to a client that may see it (the same for every local target). */
  private forwarded(m: RequestMessage): RequestMessage {
    let f = this.forwards.get(m);
    if (f) return f;
    switch (m.method) {
      case 'PRESENCE':
        f = req('PRESENCE', pick(m, ['User', 'Status', 'Address', 'Public-key']));
        break;
      case 'CONTACT':
        f = req('CONTACT', pick(m, ['User', 'Relation', 'Status', 'Address', 'Public-key']));
        break;
      case 'ADD':
        f = req('ADD', pick(m, ['From', 'Time']));
        break;
      default:
        f = req('ANSWER', pick(m, ['From', 'Decision']));
    }
    this.forwards.set(m, f);
    return f;
  }

  /**
   * Applies one push to a session's contact list and forwards what the client may see.
   * @returns whether a message was sent to the client (the caller counts pushes in the metrics)
   */
  private deliver(s: Session, m: RequestMessage): boolean {
    switch (m.method) {
      case 'PRESENCE': {
        // [PRESENCE-4] only to a client that has the user as a buddy (not pending, not blocked by it).
        if (s.contacts.get(must(m, 'User')) !== 'buddy') return false;
        break;
      }
      case 'CONTACT': {
        const user = must(m, 'User');
        const relation = must(m, 'Relation');
        // [CONTACT-1] applied to the MS's copy before it is forwarded (and before later PRESENCE).
        if (relation === 'none') this.unsetContact(s, user);
        else if (relation === 'buddy' || relation === 'pending' || relation === 'blocked') this.setContact(s, user, relation);
        break;
      }
      case 'ADD':
      case 'ANSWER':
        break;
      default:
        return false;
    }
    s.conn.link.notify(this.forwarded(m));
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Client connections

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const conn: ClientConn = { link: null as unknown as Link, socket, ip: socket.remoteAddress ?? '?', state: 'idle', attempt: null, session: null, buffered: null, since: performance.now() };
    const handler = async (m: RequestMessage): Promise<ResponseMessage | undefined> => {
      const r = await this.onClientRequest(conn, m);
      if (r && r.status >= 400) this.metrics.errors.inc({ code: get(r, 'Error-code') ?? String(r.status) });
      return r;
    };
    // The link's clock is the MS's, so the session sweep can read link.lastReceived [HB-2].
    const link = new Link(socket, { ...serverLinkOptions(this.limits, 'ms', 'client', handler, { rateLimit: true }), clock: this.now });
    conn.link = link;
    this.conns.add(conn);
    // [CONN-4] the login must complete within handshakeTimeout.
    this.handshakeQueue.push(conn);
    if (!this.handshakeTimer) this.armHandshakeTimer();
    link.on('close', () => this.onClientClosed(conn));
    link.on('protocolError', this.countProtocolError);
  }

  /** Arms the handshake timer for the oldest connection still queued (none: the queue is reset). */
  private armHandshakeTimer(): void {
    const head = this.handshakeQueue[this.handshakeHead];
    if (!head) {
      this.handshakeQueue = [];
      this.handshakeHead = 0;
      return;
    }
    const delay = Math.max(0, head.since + this.limits.handshakeTimeout - performance.now());
    this.handshakeTimer = setTimeout(this.onHandshakeTimer, delay);
    this.handshakeTimer.unref();
  }

  /** [CONN-4] closes every queued connection whose time is up and whose login is not complete. */
  private readonly onHandshakeTimer = (): void => {
    this.handshakeTimer = null;
    const now = performance.now();
    const q = this.handshakeQueue;
    while (this.handshakeHead < q.length) {
      const conn = q[this.handshakeHead]!;
      if (conn.since + this.limits.handshakeTimeout > now) break;
      q[this.handshakeHead++] = undefined;
      if (conn.state !== 'active' && conn.state !== 'ended') {
        this.logger.info({ ip: conn.ip, state: conn.state }, 'login did not complete in time');
        conn.link.close();
      }
    }
    if (this.handshakeHead > 1024 && this.handshakeHead * 2 > q.length) {
      q.splice(0, this.handshakeHead);
      this.handshakeHead = 0;
    }
    if (!this.stopping) this.armHandshakeTimer();
  };

  private onClientClosed(conn: ClientConn): void {
    this.conns.delete(conn);
    this.onlining.delete(conn);
    const prev = conn.state;
    conn.state = 'ended';
    if (prev === 'challenged' && conn.attempt?.lock) {
      // [LOCK-4] a login abandoned mid-way releases the lock.
      void this.crsRequest(req('UNLOCK', { User: conn.attempt.user, Epoch: conn.attempt.lock.epoch }));
    }
    if (conn.attempt && prev !== 'onlining') this.loggingIn.delete(conn.attempt.user);
    const s = conn.session;
    if (s && this.sessions.get(s.user) === s) {
      this.forget(s);
      // [LOGOUT-3] a closed connection ends the session as LOGOUT would.
      void this.crsRequest(req('OFFLINE', { User: s.user, Epoch: s.epoch }));
      this.emit('logout', s.user, 'closed');
    }
  }

  private async onClientRequest(conn: ClientConn, m: RequestMessage): Promise<ResponseMessage | undefined> {
    this.metrics.requests.inc({ method: m.method });
    const s = conn.session;
    if (s) {
      // [RATE-2] the per-user limit, across all of one user's activity here.
      const b = this.bucketOf(this.userBuckets, s.user, this.limits.userRateLimitPerSecond, this.limits.userRateLimitPerSecond * 2);
      if (!b.take(this.now())) {
        return fail('ERR_RATE_LIMITED', { 'Retry-after': Math.max(1, b.retryAfter(this.now())), Reason: 'user rate limit' });
      }
    }
    switch (m.method) {
      case 'LOGIN':
        if (conn.state !== 'idle') return fail('ERR_OUT_OF_STATE'); // [STATE-1]
        return this.login(conn, m);
      case 'PROOF':
        if (conn.state !== 'challenged') return fail('ERR_OUT_OF_STATE');
        return this.proof(conn, m);
      default:
        if (!SESSION_METHODS.has(m.method)) return fail('ERR_METHOD_NOT_ALLOWED');
        if (conn.state !== 'active' || !s) return fail('ERR_OUT_OF_STATE'); // [STATE-1]
        return this.sessionRequest(s, m);
    }
  }

  // LOGIN (spec section 6.1-6.3 and 8.1 steps 1-3)
  private async login(conn: ClientConn, m: RequestMessage): Promise<ResponseMessage> {
    const user = must(m, 'User');
    if (get(m, 'Imsp-version') !== '1') {
      closeSoon(conn.link); // [CONN-2] [ERR-5] answered, then closed
      return fail('ERR_VERSION');
    }
    if (this.stopping) return fail('ERR_SHUTDOWN');
    // [RATE-4] [RATE-5] failed-login limits per user and per address.
    const wait = Math.max(this.failedByUser.retryAfter(user), this.failedByAddress.retryAfter(conn.ip));
    if (wait > 0) {
      this.metrics.logins.inc({ result: 'rate_limited' });
      return fail('ERR_RATE_LIMITED', { 'Retry-after': wait, Reason: 'too many failed logins' });
    }
    if (!this.enrolledFlag) {
      this.metrics.logins.inc({ result: 'unavailable' });
      return fail('ERR_UNAVAILABLE', { Reason: 'CRS unreachable' });
    }
    if (this.sessions.size + this.loggingIn.size >= this.capacity) {
      this.metrics.logins.inc({ result: 'unavailable' });
      return fail('ERR_UNAVAILABLE', { Reason: 'Messaging Server full' });
    }
    const statusH = get(m, 'Status') ?? 'online';
    if (statusH !== 'online' && statusH !== 'busy' && statusH !== 'away') return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
    if (this.sessions.has(user)) {
      this.metrics.logins.inc({ result: 'already_online' });
      return fail('ERR_ALREADY_ONLINE'); // [LOCK-2]
    }
    conn.state = 'locking';
    this.loggingIn.add(user);
    const r = await this.crsRequest(req('LOCK', { User: user }));
    if (conn.state !== 'locking') {
      // The client went away while we waited: give the lock back.
      this.loggingIn.delete(user);
      if (r.status === 200) void this.crsRequest(req('UNLOCK', { User: user, Epoch: must(r, 'Epoch') }));
      return fail('ERR_SESSION_ENDED');
    }
    const share = generateEphemeralKey();
    const base = { user, cnonce: must(m, 'Nonce'), eC: must(m, 'Key-share'), address: must(m, 'Address'), status: statusH, ePriv: share.privateKey, eS: b64(share.publicKey) } as const;
    let attempt: LoginAttempt;
    if (r.status === 200) {
      attempt = {
        ...base,
        nonce: base.cnonce + makeNonce(),
        salt: must(r, 'Salt'),
        iterations: Number(must(r, 'Iterations')),
        lock: { epoch: Number(must(r, 'Epoch')), storedKey: unb64(must(r, 'Stored-key')), serverKey: unb64(must(r, 'Server-key')) },
      };
    } else if (r.status === 404) {
      // [AUTH-8] [AUTH-9] an unknown user gets a challenge like any other: the decoy salt, 4096 iterations;
      // [AUTH-14] from the decoy key, so every MS gives the same salt for the same name.
      attempt = { ...base, nonce: base.cnonce + makeNonce(), salt: b64(decoySalt(this.decoy, user)), iterations: SCRAM_MIN_ITERATIONS };
    } else {
      conn.state = 'idle';
      this.loggingIn.delete(user);
      const code = (get(r, 'Error-code') ?? 'ERR_UNAVAILABLE') as ErrorCode;
      if (code === 'ERR_ALREADY_ONLINE') this.metrics.logins.inc({ result: 'already_online' });
      else if (code === 'ERR_LOCKED') this.metrics.logins.inc({ result: 'locked' });
      else this.metrics.logins.inc({ result: 'unavailable' });
      // [LOCK-1] [LOCK-2] 423 and 409 go to the client as they are; the connection stays open.
      return code === 'ERR_ALREADY_ONLINE' || code === 'ERR_LOCKED' ? fail(code) : fail('ERR_UNAVAILABLE', { Reason: 'CRS refused the lock' });
    }
    conn.attempt = attempt;
    conn.state = 'challenged';
    return ok(300, { Nonce: attempt.nonce, Salt: attempt.salt, Iterations: attempt.iterations, 'Key-share': attempt.eS });
  }

  // PROOF (spec section 6.1-6.3 and 8.1 steps 4-6)
  private async proof(conn: ClientConn, m: RequestMessage): Promise<ResponseMessage> {
    const a = conn.attempt!;
    const auth = loginAuthMessage(a);
    let clientKey: Buffer | null = null;
    let shared: Buffer | null = null;
    try {
      if (a.lock) clientKey = verifyClientProof(a.lock.storedKey, auth, unb64(must(m, 'Proof')));
      if (clientKey) shared = x25519(a.ePriv, unb64(a.eC));
    } catch {
      clientKey = null;
    }
    if (!clientKey || !shared || !a.lock) {
      conn.state = 'ended';
      this.loggingIn.delete(a.user);
      // [AUTH-8] wrong password and unknown user look the same: 401 in clear, then close.
      // [LOGIN-9] the lock is given back before the client hears of the failure.
      if (a.lock) await this.crsRequest(req('UNLOCK', { User: a.user, Epoch: a.lock.epoch }));
      this.failedByUser.fail(a.user);
      this.failedByAddress.fail(conn.ip);
      this.metrics.logins.inc({ result: 'auth_failed' });
      closeSoon(conn.link);
      return fail('ERR_AUTH_FAILED');
    }
    conn.state = 'onlining';
    conn.buffered = [];
    this.onlining.add(conn);
    const r = await this.crsRequest(req('ONLINE', { User: a.user, Epoch: a.lock.epoch, Address: a.address, Status: a.status }));
    // From here on (synchronously) the connection has a session or is ended: pushes find it by its session.
    this.onlining.delete(conn);
    this.loggingIn.delete(a.user);
    if (r.status !== 200) {
      conn.state = 'ended';
      conn.buffered = null;
      closeSoon(conn.link);
      this.metrics.logins.inc({ result: 'unavailable' });
      // 410: the lock lease ran out before the proof came [LOCK-3].
      // [LOGIN-8] ONLINE failed (410: the lock lease ran out first, or no answer): 503, then close.
      return fail('ERR_UNAVAILABLE', { Reason: get(r, 'Error-code') === 'ERR_STALE_EPOCH' ? 'login lock expired' : 'CRS did not confirm the login' });
    }
    if ((conn.state as ConnState) === 'ended') {
      conn.buffered = null;
      // The client left while ONLINE was in flight: end the session we just opened.
      void this.crsRequest(req('OFFLINE', { User: a.user, Epoch: a.lock.epoch }));
      return fail('ERR_SESSION_ENDED');
    }
    const session: Session = { id: b64(randomBytes(16)), // [LOGIN-11]
       user: a.user, epoch: a.lock.epoch, address: a.address, status: a.status, conn, contacts: new Map() };
    for (const [user, relation] of bundleContacts(r.body)) {
      if (user && (relation === 'buddy' || relation === 'pending' || relation === 'blocked')) this.setContact(session, user, relation);
    }
    conn.session = session;
    conn.state = 'active';
    conn.attempt = null;
    this.sessions.set(a.user, session);
    this.failedByUser.clear(a.user);
    this.metrics.sessions.set({ kind: 'client' }, this.sessions.size);
    this.metrics.logins.inc({ result: 'ok' });
    // [SEAL-1] this 200 is the first SEALED envelope MS->client; from now on everything is sealed.
    const keys = loginLinkKeys('ms', shared, clientKey, auth);
    conn.link.enableSealing(keys);
    // [HB-8] PING a client we sent nothing to for clientHeartbeatInterval ([HB-2] is sweepSessions').
    startHeartbeat(conn.link, { interval: this.limits.clientHeartbeatInterval, timeout: 0 });
    // Pushes that came while ONLINE was in flight follow the 200 (written when this returns).
    setImmediate(() => {
      const buffered = conn.buffered ?? [];
      conn.buffered = null;
      if (conn.session === session && this.sessions.get(session.user) === session) {
        for (const p of buffered) if (this.deliver(session, p)) this.metrics.pushes.inc({ method: p.method });
      }
    });
    this.logger.info({ user: a.user, epoch: a.lock.epoch }, 'login');
    this.emit('login', a.user);
    const fields: Fields = {
      'Server-proof': b64(serverProof(a.lock.serverKey, auth)),
      Session: session.id,
      Heartbeat: this.limits.clientHeartbeatInterval,
      'Key-blob': must(r, 'Key-blob'),
      'Public-key': must(r, 'Public-key'),
      Status: a.status,
      'Content-type': r.body.length > 0 ? 'application/imsp-records' : undefined,
    };
    return ok(200, fields, r.body);
  }

  // -------------------------------------------------------------------------------------------
  // Session requests (client -> MS -> CRS)

  private async sessionRequest(s: Session, m: RequestMessage): Promise<ResponseMessage> {
    const fence = { User: s.user, Epoch: s.epoch };
    const from = { From: s.user, Epoch: s.epoch };
    switch (m.method) {
      case 'PING':
        return ok(200);
      case 'LOGOUT': {
        // [LOGOUT-1] OFFLINE to the CRS, 200, close.
        this.forget(s);
        s.conn.state = 'ended';
        await this.crsRequest(req('OFFLINE', fence));
        closeSoon(s.conn.link);
        this.emit('logout', s.user, 'logout');
        return ok(200);
      }
      case 'STATUS': {
        const status = must(m, 'Status');
        if (status !== 'online' && status !== 'busy' && status !== 'away') return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
        const r = await this.relay(s, req('STATUS', { ...fence, Status: status }));
        if (r.status === 200) s.status = status;
        return r;
      }
      case 'PROFILE': {
        const target = get(m, 'User');
        const changing = ['Full-name', 'Location', 'About'].some((n) => get(m, n) !== undefined);
        // [PROFILE-3] only one's own profile may be changed.
        if (changing && target !== undefined && target !== s.user) return fail('ERR_FORBIDDEN');
        return this.relay(s, req('PROFILE', { ...from, User: target, ...pick(m, ['Full-name', 'Location', 'About']) }));
      }
      case 'PASSWD': {
        const it = Number(must(m, 'Iterations'));
        if (it < SCRAM_MIN_ITERATIONS) return fail('ERR_BAD_VALUE', { Reason: `Iterations below ${SCRAM_MIN_ITERATIONS}` }); // [AUTH-5]
        return this.relay(s, req('PASSWD', { ...fence, ...pick(m, ['Salt', 'Iterations', 'Stored-key', 'Server-key', 'Key-blob']) }));
      }
      case 'SEARCH':
        return this.relay(s, req('SEARCH', { ...from, ...pick(m, ['Query', 'Field', 'Cursor', 'Limit']) }));
      case 'ADD': {
        const to = must(m, 'To');
        // [ADD-LIMIT-3] ADDs per user per minute.
        const b = this.bucketOf(this.addBuckets, s.user, this.limits.maxAddsPerMinute / 60, this.limits.maxAddsPerMinute);
        if (!b.take(this.now())) return fail('ERR_RATE_LIMITED', { 'Retry-after': Math.max(1, b.retryAfter(this.now())), Reason: 'too many ADD requests' });
        if (to === s.user) return fail('ERR_FORBIDDEN', { Reason: 'cannot ADD oneself' }); // [ADD-6]
        // [ADD-2] From is stamped from the session; a client's From is never used.
        return this.relay(s, req('ADD', { From: s.user, To: to, Epoch: s.epoch }));
      }
      case 'ANSWER':
        return this.relay(s, req('ANSWER', { From: s.user, To: must(m, 'User'), Decision: must(m, 'Decision'), Epoch: s.epoch }));
      case 'REM':
      case 'BLOCK':
      case 'UNBLOCK':
        return this.relay(s, req(m.method, { ...from, User: must(m, 'User') }));
      case 'LIST':
        return this.relay(s, req('LIST', fence));
      default:
        return fail('ERR_METHOD_NOT_ALLOWED');
    }
  }

  /** Relays a request to the CRS and its answer back; a stale epoch ends the session [LOCK-6]. */
  private async relay(s: Session, m: RequestMessage): Promise<ResponseMessage> {
    const r = await this.crsRequest(m);
    const code = get(r, 'Error-code');
    if (code === 'ERR_STALE_EPOCH') {
      this.endSession(s, 'ERR_SESSION_ENDED', 'session no longer valid at the CRS', false);
      return fail('ERR_SESSION_ENDED');
    }
    if (code !== undefined) {
      return fail(code as ErrorCode, pick(r, ['Reason', 'Retry-after']));
    }
    const h: Header[] = r.headers.filter(([k]) => !/^(tag|content-length)$/i.test(k));
    return ok(r.status, {}, r.body.length > 0 ? r.body : undefined, h);
  }

  /** Ends a session from the server side: NOTICE to the client, OFFLINE to the CRS, close. */
  private endSession(s: Session, code: ErrorCode, reason: string, tellCrs = true): void {
    this.forget(s);
    s.conn.state = 'ended';
    this.metrics.errors.inc({ code });
    s.conn.link.notify(req('NOTICE', { 'Error-code': code, Reason: reason }));
    closeSoon(s.conn.link);
    if (tellCrs) void this.crsRequest(req('OFFLINE', { User: s.user, Epoch: s.epoch }));
    this.emit('logout', s.user, code);
  }

  private setContact(s: Session, user: string, relation: Relation): void {
    s.contacts.set(user, relation);
    let set = this.watchIndex.get(user);
    if (!set) this.watchIndex.set(user, (set = new Set()));
    set.add(s);
  }

  private unsetContact(s: Session, user: string): void {
    s.contacts.delete(user);
    const set = this.watchIndex.get(user);
    if (set) {
      set.delete(s);
      if (set.size === 0) this.watchIndex.delete(user);
    }
  }

  /** Removes a session from the tables (idempotent). */
  private forget(s: Session): void {
    if (this.sessions.get(s.user) === s) this.sessions.delete(s.user);
    this.unindex(s);
    this.metrics.sessions.set({ kind: 'client' }, this.sessions.size);
  }

  /** Drops a session from the watch index (its contact list is no longer watched). */
  private unindex(s: Session): void {
    for (const user of s.contacts.keys()) {
      const set = this.watchIndex.get(user);
      if (set) {
        set.delete(s);
        if (set.size === 0) this.watchIndex.delete(user);
      }
    }
  }

  private bucketOf(map: Map<string, TokenBucket>, user: string, rate: number, burst: number): TokenBucket {
    let b = map.get(user);
    if (!b) {
      b = new TokenBucket(rate, Math.max(1, burst), this.now());
      if (map.size > 100_000) map.clear();
      map.set(user, b);
    }
    return b;
  }

  /** [HB-2] end sessions silent for sessionTimeout; [CONN-4] drop unfinished logins. */
  private sweepSessions(): void {
    const now = this.now();
    for (const s of [...this.sessions.values()]) {
      // [HB-2] nothing arrived (request, response or notification) for sessionTimeout.
      if (now - s.conn.link.lastReceived > this.limits.sessionTimeout) {
        this.logger.info({ user: s.user }, 'session timed out');
        this.endSession(s, 'ERR_SESSION_ENDED', 'no heartbeat within sessionTimeout');
      }
    }
    for (const [u] of this.userBuckets) if (!this.sessions.has(u)) this.userBuckets.delete(u);
  }

  // -------------------------------------------------------------------------------------------
  // Shutdown

  /**
   * [MS-SHUTDOWN-1] Graceful stop: NOTICE ERR_SHUTDOWN and OFFLINE for every session, LEAVE, close.
   */
  async stop(reason = 'shutdown'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.server?.close();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.heartbeat?.stop();
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    const offline: Promise<unknown>[] = [];
    for (const s of [...this.sessions.values()]) {
      this.forget(s);
      s.conn.state = 'ended';
      s.conn.link.notify(req('NOTICE', { 'Error-code': 'ERR_SHUTDOWN', Reason: 'Messaging Server shutting down; log in again' }));
      closeSoon(s.conn.link);
      offline.push(this.crsRequest(req('OFFLINE', { User: s.user, Epoch: s.epoch })));
      this.emit('logout', s.user, 'ERR_SHUTDOWN');
    }
    await Promise.all(offline);
    this.metrics.sessions.set({ kind: 'client' }, 0);
    for (const c of [...this.conns]) c.link.close();
    const link = this.crsLink;
    if (link && this.enrolledFlag) {
      await link.request(req('LEAVE', { Reason: reason })).catch(() => undefined);
    }
    this.enrolledFlag = false;
    link?.close();
    this.stopped = true;
  }

  /**
   * Freezes the MS as SIGSTOP would (tests): nothing is read or sent any more, no timer runs, and
   * the sockets stay open, so the CRS can only notice by the lease [HB-4].
   */
  freeze(): void {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.heartbeat?.stop();
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.crsSocket?.pause();
    for (const c of this.conns) c.socket.pause();
  }

  /** Abrupt stop, as if the process died: every socket destroyed, nothing said (tests). */
  kill(): void {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.heartbeat?.stop();
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.server?.close();
    for (const c of [...this.conns]) c.socket.destroy();
    this.crsSocket?.destroy();
    this.enrolledFlag = false;
    this.stopped = true;
  }
}

const CR = 13;
const LF = 10;
const COLON = 58;

/** Whether body[at..at+lower.length) is the ASCII letters of `lower` in any case (header names are case-insensitive). */
function nameIs(body: Buffer, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((body[at + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The value of a header line body[from..end) after its colon, without the surrounding spaces and tabs. */
function lineValue(body: Buffer, from: number, end: number): string {
  while (from < end && (body[from] === 32 || body[from] === 9)) from++;
  while (end > from && (body[end - 1] === 32 || body[end - 1] === 9)) end--;
  return body.toString('latin1', from, end);
}

/**
 * [User, Relation] of each record of a login bundle (application/imsp-records, spec 4.3), the first
 * of each per record, undefined when absent. The body is the CRS's ONLINE response, which the Link has
 * already validated in full (registry validation of a records body parses it, [REC-2]): this only picks
 * the two fields the MS keeps, without making strings of the others (Status, Address, Public-key), and
 * gives what parseRecords would for a valid body (test/reference/ms-push.test.ts checks both agree).
 */
export function bundleContacts(body: Buffer): Array<[user: string | undefined, relation: string | undefined]> {
  const out: Array<[string | undefined, string | undefined]> = [];
  let user: string | undefined;
  let relation: string | undefined;
  let fields = 0;
  let pos = 0;
  const len = body.length;
  while (pos < len) {
    const lf = body.indexOf(LF, pos);
    const next = lf === -1 ? len : lf + 1;
    const end = lf === -1 ? len : lf > pos && body[lf - 1] === CR ? lf - 1 : lf;
    if (end === pos) {
      // the empty line between two records
      if (fields > 0) out.push([user, relation]);
      user = relation = undefined;
      fields = 0;
    } else {
      fields++;
      const colon = body.indexOf(COLON, pos);
      if (colon !== -1 && colon < end) {
        const n = colon - pos;
        if (n === 4 && user === undefined && nameIs(body, pos, 'user')) user = lineValue(body, colon + 1, end);
        else if (n === 8 && relation === undefined && nameIs(body, pos, 'relation')) relation = lineValue(body, colon + 1, end);
      }
    }
    pos = next;
  }
  if (fields > 0) out.push([user, relation]);
  return out;
}

function pick(m: RequestMessage | ResponseMessage, names: string[]): Fields {
  const out: Fields = {};
  for (const n of names) {
    const v = get(m, n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

export function splitHostPort(hp: string): [string, string] {
  const i = hp.lastIndexOf(':');
  if (i <= 0) throw new Error(`expected host:port, got ${hp}`);
  let host = hp.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return [host, hp.slice(i + 1)];
}

/** Closes a link after the response being returned now has been written. */
function closeSoon(link: Link): void {
  setImmediate(() => link.close());
}
