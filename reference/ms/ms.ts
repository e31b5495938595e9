// The reference Messaging Server ([§3 Architecture] [§4 Message Format] [§5 Methods]; the client-session machine in
// spec/machines/client-session.json, whose state names ConnState is).
//
// This file holds the connections: it accepts clients, closes logins that take too long [CONN-4],
// ends silent sessions [HB-2], and routes each client request through a handler table keyed by the
// registry's client -> MS methods. The methods themselves live in one module per family, as
// Prosody's mod_*: mod-session.ts (LOGIN, PROOF, LOGOUT, PING), mod-presence.ts (STATUS and the
// pushes), mod-contacts.ts (ADD, ANSWER, REM, BLOCK, UNBLOCK, LIST), mod-profile.ts (PROFILE,
// PASSWD, SEARCH); the link to the CRS (enrollment, heartbeat, re-enrollment) is crs-uplink.ts.
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import {
  headerOf,
  errorRule,
  type Header,
  type RequestMessage,
  type RequestOf,
  type ResponseMessage,
  type ErrorCode,
} from '../../codec/index.js';
import { decoyKey } from '../crypto/scram.js';
import { formatAddress } from '../net/address.js';
import { Link } from '../net/link.js';
import { TokenBucket } from '../net/rate-limit.js';
import { closeSoon, serverLinkOptions } from '../net/server-link.js';
import { silentLogger } from '../ops/log.js';
import { createMetrics, type ServerMetrics } from '../ops/metrics.js';
import { resolveLimits, type ServerLimits } from '../proto/limits.js';
import { req, ok, fail, pick } from '../proto/messages.js';
import {
  bucketOf,
  clientAddress,
  type ClientConn,
  type ClientHandler,
  type ClientHandlers,
  type ClientMethod,
  type MsContext,
  type Session,
} from './context.js';
import { CrsUplink } from './crs-uplink.js';
import { FailureWindow } from './failures.js';
import { contactsModule } from './mod-contacts.js';
import { presenceModule, Pushes } from './mod-presence.js';
import { profileModule } from './mod-profile.js';
import { sessionModule } from './mod-session.js';

export { bundleContacts } from './mod-presence.js';

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

export interface MsEvents {
  enrolled: [incarnation: number];
  /** An enrollment attempt failed (connection refused, TLS, refused by the CRS); it is retried. */
  'enroll-failed': [reason: string];
  'crs-lost': [reason: string];
  login: [user: string];
  logout: [user: string, reason: string];
}

export class MsServer extends EventEmitter<MsEvents> implements MsContext {
  readonly msId: string;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  readonly capacity: number;
  /** @internal [AUTH-14] the decoy key, HMAC(MS key, "imsp1 decoy key"): every MS of the service gives the same decoy salt. */
  readonly decoy: Buffer;
  /** @internal */
  readonly now: () => number;
  private readonly opts: MsOptions;
  private server: net.Server | null = null;
  private listenAddr = '';
  private readonly uplink: CrsUplink;
  /** Client connections by their link (the handler and close listener every link shares find theirs here). */
  private readonly conns = new Map<Link, ClientConn>();
  /** @internal live sessions by user */
  readonly sessions = new Map<string, Session>();
  /**
   * @internal Connections whose ONLINE is in flight (state 'onlining', no session yet): an untargeted
   * PRESENCE is buffered for each (the contact list is not known yet), a targeted push for the one of its
   * user. Kept apart from `conns` so that a push does not scan every connection.
   */
  readonly onlining = new Set<ClientConn>();
  /** @internal Users with a login in progress at this MS (between LOGIN and the end of ONLINE). */
  readonly loggingIn = new Set<string>();
  /** @internal */
  readonly failedByUser: FailureWindow;
  /** @internal */
  readonly failedByAddress: FailureWindow;
  /** @internal */
  readonly pushes: Pushes;
  private readonly handlers: ClientHandlers;
  private readonly userBuckets = new Map<string, TokenBucket>();
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

  private constructor(opts: MsOptions) {
    super();
    this.opts = opts;
    this.msId = opts.msId;
    this.decoy = decoyKey(opts.msKey);
    this.capacity = opts.capacity ?? 1000;
    this.logger = (opts.logger ?? silentLogger()).child({ ms: opts.msId });
    this.metrics = opts.metrics ?? createMetrics('ms');
    this.limits = resolveLimits(opts.limits ?? {});
    this.now = opts.now ?? Date.now;
    this.failedByUser = new FailureWindow({
      max: this.limits.maxFailedLoginsPerUser,
      windowMs: 5 * 60_000,
      now: this.now,
    });
    this.failedByAddress = new FailureWindow({
      max: this.limits.maxFailedLoginsPerAddress,
      windowMs: 60_000,
      now: this.now,
    });
    this.pushes = new Pushes(this);
    this.uplink = new CrsUplink(this, opts);
    this.handlers = {
      ...sessionModule(this),
      ...presenceModule(this),
      ...contactsModule(this),
      ...profileModule(this),
    };
  }

  /** Starts listening and begins enrollment; resolves when listening (see `ready()` for enrollment). */
  static async start(opts: MsOptions): Promise<MsServer> {
    if (opts.msKey.length < 32) throw new Error('MS key shorter than 32 octets');
    const ms = new MsServer(opts);
    await ms.listen(opts.host ?? '127.0.0.1', opts.port ?? 7100);
    ms.uplink.connect();
    return ms;
  }

  /** host:port on which this MS accepts clients. */
  get address(): string {
    return this.listenAddr;
  }
  /** @internal the address the uplink sends in ENROLL unless `advertise` says otherwise */
  get listenAddress(): string {
    return this.listenAddr;
  }
  get incarnation(): number {
    return this.uplink.incarnation;
  }
  get enrolled(): boolean {
    return this.uplink.enrolled;
  }
  /** @internal */
  get isStopping(): boolean {
    return this.stopping;
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
    return this.uplink.ready();
  }

  private async listen(host: string, port: number): Promise<void> {
    const onConn = (socket: net.Socket): void => this.accept(socket);
    const t = this.opts.tls;
    // [WIRE-20] half-open: a client that half-closes inside a message is answered before the close
    const server = t
      ? tls.createServer({ cert: t.cert, key: t.key }, onConn)
      : net.createServer({ allowHalfOpen: true }, onConn);
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

  /** @internal */
  crsRequest(m: RequestMessage): Promise<ResponseMessage> {
    return this.uplink.request(m);
  }

  // -------------------------------------------------------------------------------------------
  // Client connections

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const conn: ClientConn = {
      link: null as unknown as Link,
      socket,
      ip: socket.remoteAddress ?? '?',
      state: 'idle',
      attempt: null,
      session: null,
      buffered: null,
      since: performance.now(),
    };
    // The link's clock is the MS's, so the session sweep can read link.lastReceived [HB-2].
    // [SEAL-14] the answers and pushes ready for this client in one turn share envelopes (up to
    // maxRecordsPerEnvelope each), as the CRS does on its MS links.
    const link = new Link(socket, {
      ...serverLinkOptions(this.limits, 'ms', 'client', this.clientHandler, { rateLimit: true }),
      clock: this.now,
      coalesce: true,
    });
    conn.link = link;
    this.conns.set(link, conn);
    // [CONN-4] the login must complete within handshakeTimeout.
    this.handshakeQueue.push(conn);
    if (!this.handshakeTimer) this.armHandshakeTimer();
    link.on('close', this.onLinkClosed);
    link.on('protocolError', this.countProtocolError);
    this.logger.debug({ client: clientAddress(conn) }, 'client connected');
  }

  /**
   * Serves a request of a client: one function for every connection (not a closure per connection,
   * issue 15), which finds the connection by its link.
   */
  private readonly clientHandler = async (m: RequestMessage, link: Link): Promise<ResponseMessage | undefined> => {
    const conn = this.conns.get(link);
    if (!conn) return undefined; // the link closed before its request was reached: nothing is written
    const r = await this.onClientRequest(conn, m);
    if (r && r.status >= 400) this.metrics.errors.inc({ code: headerOf(r, 'Error-code') ?? String(r.status) });
    // --log-level debug: every client request with its answer (no header values: they may be secrets)
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug(
        {
          user: conn.session?.user ?? conn.attempt?.user,
          client: clientAddress(conn),
          method: m.method,
          status: r?.status,
          code: r ? headerOf(r, 'Error-code') : undefined,
          state: conn.state,
        },
        `client ${m.method} -> ${r?.status ?? 'no answer'}`,
      );
    }
    return r;
  };

  /** A client link closed (a listener every link shares: `this` is the link). */
  private readonly onLinkClosed = ((ms: MsServer) =>
    function (this: Link): void {
      const conn = ms.conns.get(this);
      if (conn) ms.onClientClosed(conn);
    })(this);

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
        this.logger.info(
          { event: 'login_timeout', client: clientAddress(conn), user: conn.attempt?.user, state: conn.state },
          'login did not complete in time: connection closed',
        );
        // [CONN-4] a LOGIN (locking) or PROOF (onlining) still outstanding gets 408 ERR_TIMEOUT; with none
        // outstanding (idle, challenged) the connection closes without an answer, as the error table says.
        const rule = errorRule('ERR_TIMEOUT', {
          handshake: true,
          noRequest: conn.state !== 'locking' && conn.state !== 'onlining',
        });
        if (rule.action === 'answer-close')
          conn.link.send(fail('ERR_TIMEOUT', { Reason: 'login did not complete within handshakeTimeout' }));
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
    this.conns.delete(conn.link);
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
      this.sessionEnded(s, 'connection closed');
    }
  }

  /** Routes a client request by the handler table; [STATE-1] a method outside its state is 425. */
  private async onClientRequest(conn: ClientConn, m: RequestMessage): Promise<ResponseMessage | undefined> {
    this.metrics.requests.inc({ method: m.method });
    const s = conn.session;
    // [RATE-8] a PING the connection's limiter let through free is counted by no limit.
    if (s && !conn.link.isFreePing(m)) {
      // [RATE-2] the per-user limit, across all of one user's activity here.
      const rate = this.limits.userRateLimitPerSecond;
      const burst = this.limits.userRateLimitBurst;
      const b = bucketOf(this.userBuckets, s.user, () => new TokenBucket(rate, Math.max(1, burst), this.now()));
      if (!b.take(this.now())) {
        return fail('ERR_RATE_LIMITED', {
          'Retry-after': Math.max(1, b.retryAfter(this.now())),
          Reason: 'user rate limit',
        });
      }
    }
    // The table's entry for m.method takes requests of that method (the one cast of the router).
    const h = (Object.hasOwn(this.handlers, m.method) ? this.handlers[m.method as ClientMethod] : undefined) as
      | ClientHandler
      | undefined;
    if (!h) return fail('ERR_METHOD_NOT_ALLOWED');
    const req = m as RequestOf<ClientMethod>;
    if (h.state === 'active') {
      if (conn.state !== 'active' || !s) return fail('ERR_OUT_OF_STATE'); // [STATE-1]
      return h.run(s, req);
    }
    if (conn.state !== h.state) return fail('ERR_OUT_OF_STATE'); // [STATE-1]
    return h.run(conn, req);
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  /** @internal Relays a request to the CRS and its answer back; a stale epoch ends the session [LOCK-6]. */
  async relay(s: Session, m: RequestMessage): Promise<ResponseMessage> {
    const r = await this.crsRequest(m);
    const code = headerOf(r, 'Error-code');
    if (code === 'ERR_STALE_EPOCH') {
      // [LOCK-12] the client's request gets its one response, 410 ERR_SESSION_ENDED, in place of the NOTICE
      // of [LOCK-7]; the Link closes after it, as the error table says (answer-close), and no OFFLINE is sent.
      this.endSession(s, 'ERR_SESSION_ENDED', 'session no longer valid at the CRS', false, false);
      return fail('ERR_SESSION_ENDED', { Reason: 'session no longer valid at the CRS' });
    }
    if (code !== undefined) {
      return fail(code as ErrorCode, pick(r, ['Reason', 'Retry-after']));
    }
    const h: Header[] = r.headers.filter(([k]) => !/^(tag|content-length)$/i.test(k));
    return ok(r.status, {}, r.body.length > 0 ? r.body : undefined, h);
  }

  /**
   * @internal Ends a session from the server side: NOTICE to the client, OFFLINE to the CRS, close. With
   * `notice` false the caller answers a request with the code instead, and the Link closes after it [LOCK-12].
   */
  endSession(s: Session, code: ErrorCode, reason: string, tellCrs = true, notice = true): void {
    this.forget(s);
    s.conn.state = 'ended';
    this.metrics.errors.inc({ code });
    if (notice) {
      s.conn.link.notify(req('NOTICE', { 'Error-code': code, Reason: reason }));
      closeSoon(s.conn.link);
    }
    if (tellCrs) void this.crsRequest(req('OFFLINE', { User: s.user, Epoch: s.epoch }));
    this.sessionEnded(s, `${code}: ${reason}`, code);
  }

  /** @internal The end of a session: the operators' log line (with the client's address), then 'logout'. */
  sessionEnded(s: Session, reason: string, code = reason): void {
    this.logger.info(
      {
        event: 'logout',
        user: s.user,
        client: clientAddress(s.conn),
        reason,
        session: s.id,
        seconds: Math.round((this.now() - s.startedAt) / 1000),
      },
      `logout ${s.user} from ${clientAddress(s.conn)}: ${reason}`,
    );
    this.emit('logout', s.user, code);
  }

  /** The sessions here, for `imsp admin sessions`. */
  adminSessions(): Array<{ user: string; ms: string; status: string; address: string; client: string; since: number }> {
    return [...this.sessions.values()].map((s) => ({
      user: s.user,
      ms: this.msId,
      status: s.status,
      address: s.address,
      client: clientAddress(s.conn),
      since: s.startedAt,
    }));
  }

  /** `imsp admin kick USER`: ends USER's session here (NOTICE ERR_SESSION_ENDED, OFFLINE, close); false when there is none. */
  kick(user: string, reason = 'ended by the operator'): boolean {
    const s = this.sessions.get(user);
    if (!s) return false;
    this.logger.warn(
      { event: 'kick', user, client: clientAddress(s.conn) },
      `session of ${user} ended by the operator`,
    );
    this.endSession(s, 'ERR_SESSION_ENDED', reason);
    return true;
  }

  /** @internal Removes a session from the tables (idempotent). */
  forget(s: Session): void {
    if (this.sessions.get(s.user) === s) this.sessions.delete(s.user);
    this.pushes.unindex(s);
    this.metrics.sessions.set({ kind: 'client' }, this.sessions.size);
  }

  /** [HB-2] end sessions silent for sessionTimeout; [CONN-4] drop unfinished logins. */
  private sweepSessions(): void {
    const now = this.now();
    for (const s of [...this.sessions.values()]) {
      // [HB-2] nothing arrived (request, response or notification) for sessionTimeout.
      if (now - s.conn.link.lastReceived > this.limits.sessionTimeout) {
        this.logger.debug(
          { user: s.user, silentMs: now - s.conn.link.lastReceived },
          'session silent for sessionTimeout',
        );
        this.endSession(s, 'ERR_SESSION_ENDED', 'no heartbeat within sessionTimeout');
      }
    }
    for (const [u] of this.userBuckets) if (!this.sessions.has(u)) this.userBuckets.delete(u);
  }

  // -------------------------------------------------------------------------------------------
  // Shutdown

  private stopTimers(): void {
    this.uplink.stopTimers();
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
  }

  /**
   * [MS-SHUTDOWN-1] Graceful stop: NOTICE ERR_SHUTDOWN and OFFLINE for every session, LEAVE, close.
   */
  async stop(reason = 'shutdown'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.server?.close();
    this.stopTimers();
    const offline: Promise<unknown>[] = [];
    for (const s of [...this.sessions.values()]) {
      this.forget(s);
      s.conn.state = 'ended';
      s.conn.link.notify(
        req('NOTICE', { 'Error-code': 'ERR_SHUTDOWN', Reason: 'Messaging Server shutting down; log in again' }),
      );
      closeSoon(s.conn.link);
      offline.push(this.crsRequest(req('OFFLINE', { User: s.user, Epoch: s.epoch })));
      this.sessionEnded(s, 'MS shutting down', 'ERR_SHUTDOWN');
    }
    await Promise.all(offline);
    this.metrics.sessions.set({ kind: 'client' }, 0);
    for (const c of [...this.conns.values()]) c.link.close();
    await this.uplink.leave(reason);
    this.stopped = true;
  }

  /**
   * Freezes the MS as SIGSTOP would (tests): nothing is read or sent any more, no timer runs, and
   * the sockets stay open, so the CRS can only notice by the lease [HB-4].
   */
  freeze(): void {
    this.stopping = true;
    this.stopTimers();
    this.uplink.pause();
    for (const c of this.conns.values()) c.socket.pause();
  }

  /** Abrupt stop, as if the process died: every socket destroyed, nothing said (tests). */
  kill(): void {
    this.stopping = true;
    this.stopTimers();
    this.server?.close();
    for (const c of [...this.conns.values()]) c.socket.destroy();
    this.uplink.destroy();
    this.stopped = true;
  }
}
