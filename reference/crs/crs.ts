// The reference Central Repository Server [§3 Architecture] [§4 Message Format] [§5 Methods].
//
// One TCP (optionally TLS) listener. The first message of a connection says what it is: ENROLL
// starts an MS link (challenge-response on the MS key, then SEALED both ways), LOCATE is a client
// asking where to log in. This file holds the connections and routes an enrolled MS's requests
// through a handler table keyed by the registry's MS -> CRS methods; the methods live in one module
// per family, as Prosody's mod_*: mod-enroll.ts (ENROLL, PROOF, PING, LEAVE, LOCATE), mod-session.ts
// (LOCK, UNLOCK, ONLINE, OFFLINE), mod-presence.ts (STATUS and the pushes of the store's change
// feed), mod-contacts.ts (ADD, ANSWER, REM, BLOCK, UNBLOCK, LIST), mod-profile.ts (REGISTER,
// PROFILE, PASSWD, SEARCH). A sweeper expires dead MSs (no message for msLease [HB-4]) and lock
// leases [LOCK-3].
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import {
  anyHeader,
  isRequestOf,
  encode,
  errorResponse,
  type RequestMessage,
  type RequestOf,
  type ResponseMessage,
  type Role,
} from '../../codec/index.js';
import type { Store, MsRef } from '../store/store.js';
import { silentLogger } from '../ops/log.js';
import { createMetrics, type ServerMetrics } from '../ops/metrics.js';
import { resolveLimits, wireLimits, type ServerLimits } from '../proto/limits.js';
import { fail, req } from '../proto/messages.js';
import { formatAddress } from '../net/address.js';
import { Link, linkError } from '../net/link.js';
import { closeSoon, serverLinkOptions, sniffPeer, type EndedInside, type FirstMessage } from '../net/server-link.js';
import type { CrsContext, MsConn, MsHandler, MsHandlers, MsMethod } from './context.js';
import { Enrollment, type PendingEnroll } from './mod-enroll.js';
import { sessionModule } from './mod-session.js';
import { presenceModule, CrsPushes } from './mod-presence.js';
import { contactsModule } from './mod-contacts.js';
import { profileModule } from './mod-profile.js';

export { contactRecord, pendingRecord } from './mod-contacts.js';

export interface CrsOptions {
  store: Store;
  /** The shared MS key (at least 32 octets) [ENROLL-1]. */
  msKey: Buffer;
  host?: string;
  /** 0 picks a free port. Default 7000. */
  port?: number;
  /** Serve TLS underneath IMSP. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /** Overrides of configurable limits (spec/registry/limits.json). */
  limits?: Partial<ServerLimits>;
  logger?: Logger;
  metrics?: ServerMetrics;
  now?: () => number;
  /** [PERSIST-2] End every enrollment and session at start. Default: true on SQLite (one CRS per
   *  file), false on PostgreSQL (other CRS processes may be serving the same data). */
  resetSessions?: boolean;
}

/** Requests of one MS whose handlers may be in flight at once (bounded memory per MS link). */
const MS_LINK_CONCURRENCY = 256;

export interface CrsEvents {
  enrolled: [ms: MsRef];
  'ms-closed': [ms: MsRef];
  /** MSs whose lease ended (the sweeper removed them). */
  'ms-expired': [ms: MsRef[]];
  /** Users whose login lock lease ended (the sweeper freed them). */
  'locks-expired': [users: string[]];
  /** The store's change feed came back after a loss; the links of these MSs are being closed [PERSIST-3]. */
  'feed-resumed': [ms: MsRef[]];
}

/** One connection, from accept to close: what its first message made it, and its handshake. */
interface PeerConn {
  readonly socket: net.Socket;
  /** [CONN-4] the handshake (ENROLL/PROOF) or the LOCATE must come within handshakeTimeout. */
  readonly deadline: NodeJS.Timeout;
  role: Role;
  /** Set by a successful PROOF: the connection is an enrolled MS link. */
  ms: MsConn | null;
  /** A request was served (a protocol error after that does not end the connection). */
  handled: boolean;
  /** [CONN-1] the first message was refused: nothing after it is served. */
  refusedFirst: boolean;
  /** An ENROLL answered, waiting for its PROOF. */
  pending: PendingEnroll | null;
  /** [LOCATE-1] the one LOCATE of a client connection was answered. */
  located: boolean;
}

export class CrsServer extends EventEmitter<CrsEvents> implements CrsContext {
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  /** @internal */
  readonly now: () => number;
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();
  private readonly sockets = new Set<net.Socket>();
  /** @internal Enrolled MS links on this process, by Ms-id. */
  readonly msConns = new Map<string, MsConn>();
  private readonly enrollment: Enrollment;
  private readonly pushes: CrsPushes;
  private readonly handlers: MsHandlers;
  private sweeper: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private offFeed: (() => void) | null = null;
  private eventChain: Promise<void> = Promise.resolve();
  private closing = false;
  private boundAddress = '';

  private constructor(opts: CrsOptions) {
    super();
    this.store = opts.store;
    this.logger = opts.logger ?? silentLogger();
    this.metrics = opts.metrics ?? createMetrics('crs');
    this.limits = resolveLimits(opts.limits ?? {});
    this.now = opts.now ?? Date.now;
    this.enrollment = new Enrollment(this, opts.msKey);
    this.pushes = new CrsPushes(this);
    this.handlers = {
      ...this.enrollment.handlers(),
      ...sessionModule(this),
      ...presenceModule(this),
      ...contactsModule(this),
      ...profileModule(this),
    };
  }

  /** Starts a CRS listening on host:port; resolves once it accepts connections. */
  static async start(opts: CrsOptions): Promise<CrsServer> {
    if (opts.msKey.length < 32) throw new Error('MS key shorter than 32 octets');
    const crs = new CrsServer(opts);
    if (opts.resetSessions ?? opts.store.kind === 'sqlite') {
      // [PERSIST-2] a CRS starts with no MS enrolled and every record offline. (On PostgreSQL other
      // CRS processes may be serving the same data: their MSs expire by lease instead.)
      await opts.store.resetSessions();
    }
    await crs.listen(opts.host ?? '127.0.0.1', opts.port ?? 7000, opts.tls);
    return crs;
  }

  /** host:port the CRS listens on. */
  get address(): string {
    return this.boundAddress;
  }
  get port(): number {
    const bound = this.server?.address() as AddressInfo | null | undefined;
    return bound?.port ?? 0;
  }
  /** @internal */
  get isClosing(): boolean {
    return this.closing;
  }
  /** Ms-ids of the MSs enrolled through this process. */
  enrolledMs(): MsRef[] {
    return [...this.msConns.values()].map((c) => c.ref);
  }

  private async listen(host: string, port: number, tlsOpts?: CrsOptions['tls']): Promise<void> {
    const onConn = (socket: net.Socket): void => this.accept(socket);
    const server = tlsOpts
      ? tls.createServer({ cert: tlsOpts.cert, key: tlsOpts.key }, onConn)
      : // [WIRE-20] half-open: a peer that half-closes inside a message is answered before the close
        net.createServer({ allowHalfOpen: true }, onConn);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error({ err }, 'listener error'));
    this.boundAddress = formatAddress(server.address() as AddressInfo);
    this.unsubscribe = this.store.onChange((e) => {
      // Pushes go out in the order of the feed [PRESENCE-5].
      this.eventChain = this.eventChain
        .then(() => this.pushes.onStoreEvent(e))
        .catch((err: unknown) => this.logger.error({ err }, 'push failed'));
    });
    // [PERSIST-3] a store whose change feed can be interrupted (PostgreSQL: its LISTEN connection): the
    // changes made meanwhile through other CRS processes were never pushed, so this CRS can no longer
    // vouch for its MSs' copies of presence and contact lists. When the feed is back it closes their
    // links; they end their sessions and enroll again [ENROLL-12], and each login reads fresh state.
    const feed = (this.store as { feed?: unknown }).feed;
    if (feed instanceof EventEmitter) {
      const onUp = (): void => this.feedResumed();
      feed.on('up', onUp);
      this.offFeed = () => feed.off('up', onUp);
    }
    const tick = Math.max(20, Math.min(this.limits.msLease, this.limits.lockLease) / 5);
    this.sweeper = setInterval(() => this.track(this.sweep()), tick);
    this.sweeper.unref();
    this.logger.info({ address: this.boundAddress, store: this.store.kind, tls: !!tlsOpts }, 'CRS listening');
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const deadline = setTimeout(() => {
      if (!c.ms) socket.destroy();
    }, this.limits.handshakeTimeout);
    deadline.unref();
    const c: PeerConn = {
      socket,
      deadline,
      role: 'ms',
      ms: null,
      handled: false,
      refusedFirst: false,
      pending: null,
      located: false,
    };
    void sniffPeer(socket, this.limits.handshakeTimeout, wireLimits(this.limits)).then((first) =>
      this.onFirstMessage(c, first),
    );
  }

  /** The first message says what the connection is: an MS link, a client's LOCATE, or neither. */
  private onFirstMessage(c: PeerConn, first: FirstMessage | EndedInside | null): void {
    const socket = c.socket;
    if (first === null || this.closing) {
      socket.destroy();
      return;
    }
    if (typeof first === 'object') {
      // [WIRE-20] the peer half-closed inside its first message: its error, with Offset, then close.
      this.metrics.errors.inc({ code: first.ended.code });
      socket.end(encode(errorResponse(first.ended)));
      return;
    }
    if (first === 'other') {
      // [CONN-1] a first message other than ENROLL or LOCATE: 425, then close.
      this.metrics.errors.inc({ code: 'ERR_OUT_OF_STATE' });
      socket.end(encode(fail('ERR_OUT_OF_STATE', { Reason: 'the first message must be ENROLL or LOCATE' })));
      return;
    }
    c.role = first;
    const counted = async (m: RequestMessage, l: Link): Promise<ResponseMessage | undefined> => {
      if (c.refusedFirst) {
        l.close(); // [CONN-1] nothing after a refused first message is served
        return undefined;
      }
      c.handled = true;
      const r = await this.onRequest(c, m, l);
      if (r && r.status >= 400) this.metrics.errors.inc({ code: anyHeader(r, 'Error-code') ?? String(r.status) });
      return r;
    };
    // An MS link carries many logins at once: their handlers overlap so that the store can share one
    // commit (one WAL sync) among them; answers still go out in arrival order [CONN-9].
    const link = new Link(socket, {
      ...serverLinkOptions(this.limits, 'crs', c.role, counted, { rateLimit: c.role === 'client' }),
      ...(c.role === 'ms' ? { concurrency: MS_LINK_CONCURRENCY, coalesce: true } : {}),
    });
    this.links.add(link);
    link.on('protocolError', (err) => {
      this.metrics.errors.inc({ code: err.code });
      // [CONN-1] a refused first message (bad headers, say) ends the connection after its answer.
      if (!c.handled) {
        c.refusedFirst = true;
        setImmediate(() => link.close());
      }
    });
    link.on('notification', (m) => {
      if (c.ms) this.enrollment.renewSoon(c.ms);
      this.logger.debug({ method: m.method }, 'notification from MS ignored');
    });
    link.on('close', (reason) => this.onLinkClosed(c, link, reason?.code));
    socket.resume();
  }

  /** One request: an enrolled MS's through the handler table, else the handshake or the LOCATE. */
  private async onRequest(c: PeerConn, m: RequestMessage, link: Link): Promise<ResponseMessage | undefined> {
    this.metrics.requests.inc({ method: m.method });
    const ms = c.ms;
    if (ms) {
      // [HB-4] renewed alongside, not before: the store checks the enrollment in every operation
      // anyway, and requests keep their arrival order into the store (the link overlaps handlers).
      this.enrollment.renewSoon(ms);
      return this.perUser(anyHeader(m, 'User') ?? anyHeader(m, 'From'), () => this.route(ms, m));
    }
    if (c.role === 'client') {
      // A client connection carries one LOCATE [LOCATE-1]; the client closes it.
      if (m.method !== 'LOCATE' || c.located) return fail('ERR_OUT_OF_STATE');
      c.located = true;
      clearTimeout(c.deadline);
      return this.enrollment.locate();
    }
    if (isRequestOf(m, 'ENROLL') && !c.pending) {
      const r = await this.enrollment.enroll(m); // a refusal (ERR_VERSION, ERR_MS_CONFLICT, shutdown) closes [ERR-5]
      if (r.pending) c.pending = r.pending;
      else closeSoon(link); // [ENROLL-6] a refused ENROLL ends the connection
      return r.response;
    }
    if (isRequestOf(m, 'PROOF') && c.pending) {
      const p = c.pending;
      c.pending = null;
      const r = await this.enrollment.proof(link, p, m);
      if (r.conn) {
        c.ms = r.conn;
        clearTimeout(c.deadline);
      }
      return r.response;
    }
    // [STATE-1] anything else before enrollment is out of state.
    return fail('ERR_OUT_OF_STATE');
  }

  /** An enrolled MS's request, by the handler table. */
  private route(ms: MsConn, m: RequestMessage): Promise<ResponseMessage | undefined> {
    const now = this.now();
    // The table's entry for m.method takes requests of that method (the one cast of the router).
    const h = (Object.hasOwn(this.handlers, m.method) ? this.handlers[m.method as MsMethod] : undefined) as
      | MsHandler
      | undefined;
    // Registered methods the registry lets an MS send but that are not requests here
    // (validation rejects the rest before this point).
    if (!h) return Promise.resolve(fail('ERR_METHOD_NOT_ALLOWED'));
    const req = m as RequestOf<MsMethod>;
    if (!this.logger.isLevelEnabled('debug')) return h(ms, req, now);
    // --log-level debug: every MS request with its answer (names only: no header value is a secret here)
    return h(ms, req, now).then((r) => {
      this.logger.debug(
        {
          ms: ms.ref.msId,
          method: m.method,
          user: anyHeader(m, 'User') ?? anyHeader(m, 'From'),
          status: r?.status,
          code: r ? anyHeader(r, 'Error-code') : undefined,
          ms_elapsed: this.now() - now,
        },
        `MS ${ms.ref.msId} ${m.method} -> ${r?.status ?? 'no answer'}`,
      );
      return r;
    });
  }

  private onLinkClosed(c: PeerConn, link: Link, code: string | undefined): void {
    clearTimeout(c.deadline);
    this.links.delete(link);
    const ms = c.ms;
    if (ms && this.msConns.get(ms.ref.msId) === ms) {
      this.msConns.delete(ms.ref.msId);
      this.metrics.sessions.set({ kind: 'ms' }, this.msConns.size);
      this.logger.warn(
        { event: 'ms_lost', ms: ms.ref, reason: code ?? 'link closed' },
        `MS ${ms.ref.msId} lost (${code ?? 'link closed'}): ending its enrollment and its users' sessions`,
      );
      // [ENROLL-10] a closed or failed MS link ends the enrollment at once, with its locks and sessions.
      this.track(
        this.store
          .leaveMs(ms.ref)
          .catch((err: unknown) => this.logger.error({ err }, 'ending enrollment failed'))
          .finally(() => this.emit('ms-closed', ms.ref)),
      );
    } else if (ms) {
      this.emit('ms-closed', ms.ref);
    }
  }

  /** Requests about one user run one after another, in arrival order, even when an MS link
   *  overlaps its handlers: an UNLOCK then a LOCK of the same user must not be reordered. */
  private readonly userChains = new Map<string, Promise<unknown>>();
  private perUser<T>(user: string | undefined, f: () => Promise<T>): Promise<T> {
    if (user === undefined) return f();
    const prev = this.userChains.get(user) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => undefined);
    this.userChains.set(user, tail);
    void tail.then(() => {
      if (this.userChains.get(user) === tail) this.userChains.delete(user);
    });
    return next;
  }

  /** Background store work (not tied to a response) that close() waits for. */
  private readonly background = new Set<Promise<unknown>>();
  /** @internal */
  track(p: Promise<unknown>): void {
    this.background.add(p);
    // A failure here has no request to answer: it is logged, never left as an unhandled
    // rejection (which ends a Node process). While closing, the store may already be shut:
    // the work is moot then, not an error.
    void p
      .catch((err: unknown) => {
        if (!this.closing) this.logger.error({ err }, 'background store work failed');
      })
      .finally(() => this.background.delete(p));
  }

  /** [HB-4] [LOCK-3] expire dead MSs and stale locks. Safe to run on several CRS processes. */
  private sweeping = false;
  async sweep(): Promise<void> {
    if (this.sweeping || this.closing) return;
    this.sweeping = true;
    try {
      const now = this.now();
      const gone = await this.store.expireMs(now);
      for (const g of gone)
        this.logger.warn(
          {
            event: 'ms_lost',
            ms: { msId: g.msId, incarnation: g.incarnation },
            reason: 'lease expired',
            freed: g.freed,
          },
          `MS ${g.msId} lost (lease expired): its users are offline`,
        );
      if (gone.length > 0)
        this.emit(
          'ms-expired',
          gone.map((g) => ({ msId: g.msId, incarnation: g.incarnation })),
        );
      const users = await this.store.expireLocks(now);
      if (users.length > 0) {
        this.logger.info({ users }, 'lock leases expired');
        this.emit('locks-expired', users);
      }
    } catch (err) {
      this.logger.error({ err }, 'sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  /** [PERSIST-3] the store's change feed is back after a loss: close every MS link (see listen). */
  private feedResumed(): void {
    if (this.closing) return;
    const conns = [...this.msConns.values()];
    this.logger.warn(
      { ms: conns.map((c) => c.ref.msId) },
      'change feed back after a loss: closing the MS links so that their sessions start again',
    );
    this.emit(
      'feed-resumed',
      conns.map((c) => c.ref),
    );
    for (const c of conns)
      c.link.close(linkError('ERR_UNAVAILABLE', 'the CRS missed changes (change feed interrupted)'));
  }

  /** Closes the link of an MS as if the connection broke (tests, operators). The enrollment stays until its lease ends or the MS re-enrolls. */
  async dropMs(msId: string): Promise<boolean> {
    const c = this.msConns.get(msId);
    if (!c) return false;
    this.msConns.delete(msId);
    const closed = new Promise<void>((resolve) => c.link.once('close', () => resolve()));
    c.link.close();
    await closed;
    return true;
  }

  /** Stops listening, closes every link, waits for pushes in flight. Does not close the store. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.unsubscribe?.();
    this.offFeed?.();
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    const linksClosed = [...this.links].map(
      (l) =>
        new Promise<void>((resolve) =>
          l.isClosed && !this.links.has(l) ? resolve() : l.once('close', () => resolve()),
        ),
    );
    // [CRS-SHUTDOWN-2] each enrolled MS is told that the CRS stops on purpose (it then ends its sessions
    // and enrolls again, as for a lost link [ERR-9]); the NOTICE is written before its link closes.
    for (const c of this.msConns.values())
      c.link.notify(req('NOTICE', { 'Error-code': 'ERR_SHUTDOWN', Reason: 'CRS shutting down' }));
    await new Promise<void>((resolve) => setImmediate(resolve));
    // [CRS-SHUTDOWN-1] no new connection, and every link closed.
    for (const l of this.links) l.close();
    for (const so of this.sockets) so.destroy();
    await closed;
    await Promise.all(linksClosed);
    await new Promise<void>((resolve) => setImmediate(resolve)); // close handlers queue their store work
    await this.eventChain;
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }
}
