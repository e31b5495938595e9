// The reference Central Repository Server (spec section 3, 3.2, 4, 5).
//
// One TCP (optionally TLS) listener. The first message of a connection says what it is:
// ENROLL starts an MS link (challenge-response on the MS key, then SEALED both ways), LOCATE is a
// client asking where to log in. Every MS->CRS method of spec/registry/methods.json is served from
// the Store; pushes (PRESENCE, CONTACT, ADD, ANSWER) are driven by the store's change feed, so that
// several CRS processes on one PostgreSQL database each push to the MSs connected to them.
// A sweeper expires dead MSs (no message for msLease [HB-4]) and lock leases [LOCK-3].
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { header, encode, type Header, type RequestMessage, type ResponseMessage, type ErrorCode, type Role } from '../../generated/index.js';
import { b64, unb64 } from '../crypto/b64.js';
import { generateKeyShare, x25519 } from '../crypto/keys.js';
import { enrollAuthMessage, msProof, crsProof, verifyProof, enrollLinkKeys, makeNonce } from '../crypto/scram.js';
import type { Store, StoreEvent, MsRef, ContactEntry, PendingAdd, Presence } from '../store/store.js';
import { isStatus } from '../store/store.js';
import { silentLogger } from '../ops/log.js';
import { createMetrics, type ServerMetrics } from '../ops/metrics.js';
import { resolveLimits, wireLimits, type ServerLimits } from '../ops/limits.js';
import { req, ok, fail, get, must, records, type Fields } from '../ops/proto.js';
import { Link, linkError } from '../net/link.js';
import { startHeartbeat } from '../net/heartbeat.js';
import { formatAddress, serverLinkOptions, sniffPeer } from '../ops/server-link.js';

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

interface MsConn {
  ref: MsRef;
  listen: string;
  capacity: number;
  link: Link;
  lastRenew: number;
}

interface PendingEnroll {
  msId: string;
  incarnation: number;
  listen: string;
  capacity: number;
  mnonce: string;
  cnonce: string;
  eM: string;
  eR: string;
  ePriv: Buffer;
}

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

export class CrsServer extends EventEmitter<CrsEvents> {
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  private readonly msKey: Buffer;
  private readonly now: () => number;
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();
  private readonly sockets = new Set<net.Socket>();
  /** Enrolled MS links on this process, by Ms-id. */
  private readonly msConns = new Map<string, MsConn>();
  private sweeper: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private offFeed: (() => void) | null = null;
  private eventChain: Promise<void> = Promise.resolve();
  /** Online users and their MS, learned from the change feed (every CRS process sees every event). */
  private readonly userMs = new Map<string, { msId: string }>();
  private closing = false;
  private boundAddress = '';

  private constructor(opts: CrsOptions) {
    super();
    this.store = opts.store;
    this.msKey = opts.msKey;
    this.logger = opts.logger ?? silentLogger();
    this.metrics = opts.metrics ?? createMetrics('crs');
    this.limits = resolveLimits(opts.limits ?? {});
    this.now = opts.now ?? Date.now;
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
    return (this.server?.address() as AddressInfo).port;
  }
  /** Ms-ids of the MSs enrolled through this process. */
  enrolledMs(): MsRef[] {
    return [...this.msConns.values()].map((c) => c.ref);
  }

  private async listen(host: string, port: number, tlsOpts?: CrsOptions['tls']): Promise<void> {
    const onConn = (socket: net.Socket): void => this.accept(socket);
    const server = tlsOpts ? tls.createServer({ cert: tlsOpts.cert, key: tlsOpts.key }, onConn) : net.createServer(onConn);
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
      this.eventChain = this.eventChain.then(() => this.onStoreEvent(e)).catch((err: unknown) => this.logger.error({ err }, 'push failed'));
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
    // [CONN-4] the handshake (ENROLL/PROOF) or the LOCATE must come within handshakeTimeout.
    const deadline = setTimeout(() => {
      if (!ms) socket.destroy();
    }, this.limits.handshakeTimeout);
    deadline.unref();
    let ms: MsConn | null = null;
    void sniffPeer(socket, this.limits.handshakeTimeout, wireLimits(this.limits)).then((first) => {
      if (first === null || this.closing) {
        socket.destroy();
        return;
      }
      if (first === 'other') {
        // [CONN-1] a first message other than ENROLL or LOCATE: 425, then close.
        this.metrics.errors.inc({ code: 'ERR_OUT_OF_STATE' });
        socket.end(encode(fail('ERR_OUT_OF_STATE', { Reason: 'the first message must be ENROLL or LOCATE' })));
        return;
      }
      const role: Role = first;
      let handled = false;
      let refusedFirst = false;
      let pending: PendingEnroll | null = null;
      let located = false;
      const handler = async (m: RequestMessage, link: Link): Promise<ResponseMessage | undefined> => {
        this.metrics.requests.inc({ method: m.method });
        if (ms) {
          // [HB-4] renewed alongside, not before: the store checks the enrollment in every operation
          // anyway, and requests keep their arrival order into the store (the link overlaps handlers).
          this.renewSoon(ms);
          return this.perUser(get(m, 'User') ?? get(m, 'From'), () => this.handleMs(ms!, m));
        }
        if (role === 'client') {
          // A client connection carries one LOCATE [LOCATE-1]; the client closes it.
          if (m.method !== 'LOCATE' || located) return this.refuse('ERR_OUT_OF_STATE');
          located = true;
          clearTimeout(deadline);
          return this.locate();
        }
        if (m.method === 'ENROLL' && !pending) {
          const r = await this.enroll(m); // a refusal (ERR_VERSION, ERR_MS_CONFLICT, shutdown) closes [ERR-5]
          if (r.pending) pending = r.pending;
          else closeSoon(link); // [ENROLL-6] a refused ENROLL ends the connection
          return r.response;
        }
        if (m.method === 'PROOF' && pending) {
          const p = pending;
          pending = null;
          const r = await this.proof(link, p, m);
          if (r.conn) {
            ms = r.conn;
            clearTimeout(deadline);
          }
          return r.response;
        }
        // [STATE-1] anything else before enrollment is out of state.
        return this.refuse('ERR_OUT_OF_STATE');
      };
      const counted = async (m: RequestMessage, l: Link): Promise<ResponseMessage | undefined> => {
        if (refusedFirst) {
          l.close(); // [CONN-1] nothing after a refused first message is served
          return undefined;
        }
        handled = true;
        const r = await handler(m, l);
        if (r && r.status >= 400) this.metrics.errors.inc({ code: header(r, 'Error-code') ?? String(r.status) });
        return r;
      };
      // An MS link carries many logins at once: their handlers overlap so that the store can share one
      // commit (one WAL sync) among them; answers still go out in arrival order [CONN-9].
      const link = new Link(socket, { ...serverLinkOptions(this.limits, 'crs', role, counted, { rateLimit: role === 'client' }), ...(role === 'ms' ? { concurrency: MS_LINK_CONCURRENCY } : {}) });
      this.links.add(link);
      link.on('protocolError', (err) => {
        this.metrics.errors.inc({ code: err.code });
        // [CONN-1] a refused first message (bad headers, say) ends the connection after its answer.
        if (!handled) {
          refusedFirst = true;
          setImmediate(() => link.close());
        }
      });
      link.on('notification', (m) => {
        if (ms) this.renewSoon(ms);
        this.logger.debug({ method: m.method }, 'notification from MS ignored');
      });
      link.on('close', (reason) => {
        clearTimeout(deadline);
        this.links.delete(link);
        const c = ms as MsConn | null;
        if (c && this.msConns.get(c.ref.msId) === c) {
          this.msConns.delete(c.ref.msId);
          this.metrics.sessions.set({ kind: 'ms' }, this.msConns.size);
          this.logger.info({ ms: c.ref, reason: reason?.code }, 'MS link closed: ending its enrollment');
          // [ENROLL-10] a closed or failed MS link ends the enrollment at once, with its locks and sessions.
          this.track(
            this.store
              .leaveMs(c.ref)
              .catch((err: unknown) => this.logger.error({ err }, 'ending enrollment failed'))
              .finally(() => this.emit('ms-closed', c.ref)),
          );
        } else if (c) {
          this.emit('ms-closed', c.ref);
        }
      });
      socket.resume();
    });
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
  private track(p: Promise<unknown>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  private refuse(code: ErrorCode, extra: Fields = {}): ResponseMessage {
    return fail(code, extra);
  }

  private async locate(): Promise<ResponseMessage> {
    // [LOCATE-1] at most three, lowest load/capacity first, then lower load, then Ms-id.
    const live = await this.store.locateMs(this.now(), 3);
    // [LOCATE-3] no MS that is not full: 503 with Retry-after.
    if (live.length === 0) return this.refuse('ERR_UNAVAILABLE', { 'Retry-after': this.limits.msHeartbeatInterval, Reason: 'no Messaging Server available' });
    // [LOCATE-2] the Listen address each MS gave in its ENROLL.
    const headers: Header[] = live.map((m) => ['Server', m.listen]);
    return ok(200, {}, undefined, headers);
  }

  // -------------------------------------------------------------------------------------------
  // Enrollment (spec section 7.1)

  private async enroll(m: RequestMessage): Promise<{ response: ResponseMessage; pending?: PendingEnroll }> {
    if (get(m, 'Imsp-version') !== '1') return { response: fail('ERR_VERSION') };
    if (this.closing) return { response: fail('ERR_SHUTDOWN') };
    const msId = must(m, 'Ms-id');
    const incarnation = Number(must(m, 'Incarnation'));
    const existing = await this.store.getMs(msId);
    // [ENROLL-6] an equal or higher incarnation is enrolled already.
    if (existing && existing.incarnation >= incarnation && existing.leaseExpiresAt > this.now()) {
      return { response: fail('ERR_MS_CONFLICT') };
    }
    const share = generateKeyShare();
    const p: PendingEnroll = {
      msId,
      incarnation,
      listen: must(m, 'Listen'),
      capacity: Number(must(m, 'Capacity')),
      mnonce: must(m, 'Nonce'),
      cnonce: makeNonce(), // [ENROLL-3] fresh each time: a captured exchange cannot be replayed
      eM: must(m, 'Key-share'),
      eR: b64(share.publicKey),
      ePriv: share.privateKey,
    };
    return { response: ok(300, { Nonce: p.cnonce, 'Key-share': p.eR }), pending: p };
  }

  private async proof(link: Link, p: PendingEnroll, m: RequestMessage): Promise<{ response: ResponseMessage; conn?: MsConn }> {
    const auth = enrollAuthMessage({ msId: p.msId, incarnation: p.incarnation, listen: p.listen, capacity: p.capacity, mnonce: p.mnonce, cnonce: p.cnonce, eM: p.eM, eR: p.eR });
    let shared: Buffer;
    let proof: Buffer;
    try {
      proof = unb64(must(m, 'Proof'));
      shared = x25519(p.ePriv, unb64(p.eM));
    } catch {
      closeSoon(link);
      return { response: fail('ERR_AUTH_FAILED') };
    }
    // [ENROLL-4] the proof is HMAC(MSkey, "ms," + auth), compared in constant time.
    if (!verifyProof(msProof(this.msKey, auth), proof)) {
      this.logger.warn({ msId: p.msId }, 'enrollment proof failed');
      closeSoon(link);
      return { response: fail('ERR_AUTH_FAILED') };
    }
    const now = this.now();
    const r = await this.store.enrollMs({ msId: p.msId, incarnation: p.incarnation, listen: p.listen, capacity: p.capacity }, now, this.limits.msLease);
    if (!r.ok) {
      closeSoon(link);
      return { response: fail(r.error === 'conflict' ? 'ERR_MS_CONFLICT' : 'ERR_BAD_VALUE') };
    }
    // A higher incarnation replaced an older one: its link (if on this process) is dead now [ENROLL-7].
    const old = this.msConns.get(p.msId);
    if (old) {
      this.msConns.delete(p.msId);
      old.link.close();
    }
    const conn: MsConn = { ref: { msId: p.msId, incarnation: p.incarnation }, listen: p.listen, capacity: p.capacity, link, lastRenew: now };
    this.msConns.set(p.msId, conn);
    this.metrics.sessions.set({ kind: 'ms' }, this.msConns.size);
    // [HB-9] PING an MS we sent nothing to for msHeartbeatInterval; [HB-4] is the sweeper's (store lease).
    // [HB-3] every message from the MS renews its lease, the answers to these PINGs too: an MS that
    // answers our PINGs has sent something and so sends no PING of its own; without this its lease
    // ran out while it was alive and talking, and every session on it ended.
    startHeartbeat(link, { interval: this.limits.msHeartbeatInterval, timeout: 0, onAnswer: () => this.track(this.renew(conn)) });
    // [SEAL-1] the 200 is the first SEALED envelope CRS->MS; the MS seals from its next message on.
    link.enableSealing(enrollLinkKeys('crs', shared, this.msKey, auth));
    this.logger.info({ ms: conn.ref, listen: p.listen, capacity: p.capacity, replaced: r.replaced }, 'MS enrolled');
    this.emit('enrolled', conn.ref);
    const response = ok(200, { 'Server-proof': b64(crsProof(this.msKey, auth)), Lease: this.limits.msLease, Heartbeat: this.limits.msHeartbeatInterval });
    return { response, conn };
  }

  /** [HB-4] renew on a message from the MS: decided here, so that the messages in between (most of
   *  them) cost no promise. */
  private renewSoon(ms: MsConn): void {
    if (this.now() - ms.lastRenew >= this.limits.msLease / 10) this.track(this.renew(ms));
  }

  /** [HB-4] every message from an MS renews its lease (written at most every msLease/10). */
  private async renew(ms: MsConn, load?: number): Promise<void> {
    const now = this.now();
    if (load === undefined && now - ms.lastRenew < this.limits.msLease / 10) return;
    ms.lastRenew = now;
    const r = await this.store.renewMs(ms.ref, now, this.limits.msLease, load);
    if (!r.ok) {
      // The lease ended (or a newer incarnation took over): this link is dead.
      this.logger.warn({ ms: ms.ref }, 'message from an expired MS enrollment: closing');
      ms.link.notify(req('NOTICE', { 'Error-code': 'ERR_SESSION_ENDED', Reason: 'MS lease expired; enroll again' }));
      closeSoon(ms.link);
    }
  }

  // -------------------------------------------------------------------------------------------
  // MS -> CRS methods

  private async handleMs(ms: MsConn, m: RequestMessage): Promise<ResponseMessage | undefined> {
    const now = this.now();
    const s = this.store;
    switch (m.method) {
      case 'PING': {
        const load = get(m, 'Load');
        if (load !== undefined) await this.renew(ms, Number(load));
        return ok(200, { Lease: this.limits.msLease });
      }
      case 'LEAVE': {
        // [ENROLL-9] end the enrollment, answer 200, close. The link leaves the table first, so
        // that the store's 'ms-gone' event (which may arrive before leaveMs resolves) does not
        // close it before the 200 is written.
        if (this.msConns.get(ms.ref.msId) === ms) this.msConns.delete(ms.ref.msId);
        this.metrics.sessions.set({ kind: 'ms' }, this.msConns.size);
        const r = await s.leaveMs(ms.ref);
        this.logger.info({ ms: ms.ref, freed: r.ok ? r.freed : null, reason: get(m, 'Reason') }, 'MS left');
        closeSoon(ms.link);
        return ok(200);
      }
      case 'REGISTER': {
        const r = await s.registerUser(
          {
            username: must(m, 'User'),
            verifier: { salt: must(m, 'Salt'), iterations: Number(must(m, 'Iterations')), storedKey: must(m, 'Stored-key'), serverKey: must(m, 'Server-key') },
            publicKey: must(m, 'Public-key'),
            keyBlob: must(m, 'Key-blob'),
            profile: { fullName: get(m, 'Full-name'), location: get(m, 'Location'), about: get(m, 'About') },
          },
          now,
        );
        if (r.ok) return ok(201);
        return r.error === 'exists' ? fail('ERR_USER_EXISTS') : fail('ERR_BAD_VALUE', { Reason: r.detail });
      }
      case 'LOCK': {
        const user = must(m, 'User');
        const r = await s.tryLock(user, ms.ref, now, this.limits.lockLease);
        if (r.ok) {
          return ok(200, {
            Epoch: r.epoch,
            Lease: this.limits.lockLease,
            Salt: r.verifier.salt,
            Iterations: r.verifier.iterations,
            'Stored-key': r.verifier.storedKey,
            'Server-key': r.verifier.serverKey,
          });
        }
        switch (r.error) {
          case 'unknown':
            return fail('ERR_UNKNOWN_USER');
          case 'online': // [LOCK-2]
            this.metrics.lockContention.inc({ result: 'online' });
            return fail('ERR_ALREADY_ONLINE');
          case 'locked': // [LOCK-1]
            this.metrics.lockContention.inc({ result: 'locked' });
            return fail('ERR_LOCKED');
          case 'ms-unknown':
            ms.link.notify(req('NOTICE', { 'Error-code': 'ERR_SESSION_ENDED', Reason: 'MS enrollment expired; enroll again' }));
            closeSoon(ms.link);
            return fail('ERR_LOCKED');
        }
        return fail('ERR_INTERNAL');
      }
      case 'UNLOCK': {
        const r = await s.unlock(must(m, 'User'), Number(must(m, 'Epoch')), ms.ref);
        return r.ok ? ok(200) : fail('ERR_STALE_EPOCH'); // [LOCK-6]
      }
      case 'ONLINE': {
        const user = must(m, 'User');
        const status = must(m, 'Status');
        if (!isStatus(status)) return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
        const r = await s.goOnline(user, Number(must(m, 'Epoch')), ms.ref, must(m, 'Address'), status, now);
        if (!r.ok) return fail('ERR_STALE_EPOCH'); // [LOCK-6] stale, expired, or another MS
        this.metrics.logins.inc({ result: 'ok' });
        const rec = records([...r.contacts.map(contactRecord), ...r.pending.map(pendingRecord)]);
        return ok(200, { 'Key-blob': r.keyBlob, 'Public-key': r.publicKey, 'Content-type': rec.contentType }, rec.body);
      }
      case 'OFFLINE': {
        const r = await s.goOffline(must(m, 'User'), Number(must(m, 'Epoch')), ms.ref);
        return r.ok ? ok(200) : fail('ERR_STALE_EPOCH');
      }
      case 'STATUS': {
        const status = must(m, 'Status');
        if (!isStatus(status)) return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
        const r = await s.setStatus(must(m, 'User'), Number(must(m, 'Epoch')), status, ms.ref);
        return r.ok ? ok(200) : fail('ERR_STALE_EPOCH');
      }
      case 'PROFILE':
        return this.profile(ms, m);
      case 'PASSWD': {
        const r = await s.passwd(
          { user: must(m, 'User'), epoch: Number(must(m, 'Epoch')), ms: ms.ref },
          { salt: must(m, 'Salt'), iterations: Number(must(m, 'Iterations')), storedKey: must(m, 'Stored-key'), serverKey: must(m, 'Server-key') },
          must(m, 'Key-blob'),
        );
        if (r.ok) return ok(200);
        return r.error === 'stale' ? fail('ERR_STALE_EPOCH') : fail('ERR_BAD_VALUE', { Reason: r.detail });
      }
      case 'SEARCH': {
        const from = must(m, 'From');
        const chk = await s.checkSession(from, Number(must(m, 'Epoch')), ms.ref);
        if (!chk.ok) return fail('ERR_STALE_EPOCH');
        const limitH = get(m, 'Limit');
        const limit = Math.min(limitH === undefined ? this.limits.maxSearchResults : Number(limitH), this.limits.maxSearchResults); // [SEARCH-3]
        const field = (get(m, 'Field') ?? 'any') as 'username' | 'name' | 'location' | 'any';
        const page = await s.searchUsers(must(m, 'Query'), field, get(m, 'Cursor') ?? null, Math.max(1, limit));
        if (!page.ok) return fail('ERR_BAD_VALUE', { Reason: page.detail });
        const rec = records(page.results.map((u) => fieldsOf({ User: u.username, 'Full-name': u.fullName || undefined, Location: u.location || undefined })));
        return ok(200, { 'Next-cursor': page.nextCursor ?? undefined, 'Content-type': rec.contentType }, rec.body);
      }
      case 'ADD': {
        const r = await s.addRequest({ user: must(m, 'From'), epoch: Number(must(m, 'Epoch')), ms: ms.ref }, must(m, 'To'), now);
        if (r.ok) {
          switch (r.outcome) {
            case 'delivered':
            case 'granted':
              return ok(200);
            case 'stored':
            case 'blocked-silently': // [BLOCK-4] answered like a stored ADD: blocking is not revealed
              return ok(202);
          }
        }
        switch (r.error) {
          case 'unknown':
            return fail('ERR_UNKNOWN_USER');
          case 'buddy':
          case 'duplicate':
            return fail('ERR_ALREADY_BUDDY'); // [ADD-4]
          case 'self': // [ADD-6]
            return fail('ERR_FORBIDDEN', { Reason: 'cannot ADD oneself' });
          case 'forbidden': // [ADD-6]
            return fail('ERR_FORBIDDEN', { Reason: 'the user is on your block list' });
          case 'limit':
            return fail('ERR_LIMIT', { Reason: r.which === 'contacts' ? 'contact list full' : 'too many pending requests for that user' });
          case 'stale':
            return fail('ERR_STALE_EPOCH');
        }
        return fail('ERR_INTERNAL');
      }
      case 'ANSWER': {
        const decision = must(m, 'Decision') as 'grant' | 'deny';
        const r = await s.answer({ user: must(m, 'From'), epoch: Number(must(m, 'Epoch')), ms: ms.ref }, must(m, 'To'), decision, now);
        if (r.ok) return ok(200);
        switch (r.error) {
          case 'no-pending':
            return fail('ERR_NO_PENDING'); // [ADD-9]
          case 'limit':
            return fail('ERR_LIMIT', { Reason: 'contact list full' });
          case 'stale':
            return fail('ERR_STALE_EPOCH');
        }
        return fail('ERR_INTERNAL');
      }
      case 'REM': {
        const r = await s.remove({ user: must(m, 'From'), epoch: Number(must(m, 'Epoch')), ms: ms.ref }, must(m, 'User'));
        if (r.ok) return ok(200);
        return r.error === 'not-contact' ? fail('ERR_NOT_CONTACT') : fail('ERR_STALE_EPOCH');
      }
      case 'BLOCK': {
        const r = await s.block({ user: must(m, 'From'), epoch: Number(must(m, 'Epoch')), ms: ms.ref }, must(m, 'User'));
        if (r.ok) return ok(200);
        switch (r.error) {
          case 'unknown':
            return fail('ERR_UNKNOWN_USER');
          case 'self': // [BLOCK-7]
            return fail('ERR_FORBIDDEN', { Reason: 'cannot BLOCK oneself' });
          case 'limit':
            return fail('ERR_LIMIT', { Reason: 'block list full' });
          case 'stale':
            return fail('ERR_STALE_EPOCH');
        }
        return fail('ERR_INTERNAL');
      }
      case 'UNBLOCK': {
        const r = await s.unblock({ user: must(m, 'From'), epoch: Number(must(m, 'Epoch')), ms: ms.ref }, must(m, 'User'));
        if (r.ok) return ok(200);
        return r.error === 'not-blocked' ? fail('ERR_NOT_CONTACT') : fail('ERR_STALE_EPOCH');
      }
      case 'LIST': {
        const user = must(m, 'User');
        const chk = await s.checkSession(user, Number(must(m, 'Epoch')), ms.ref);
        if (!chk.ok) return fail('ERR_STALE_EPOCH');
        const [contacts, pending] = await Promise.all([s.listContacts(user), s.pendingFor(user)]);
        const rec = records([...contacts.map(contactRecord), ...pending.map(pendingRecord)]);
        return ok(200, { 'Content-type': rec.contentType }, rec.body);
      }
      default:
        // Registered methods the registry lets an MS send but that are not requests here
        // (validation rejects the rest before this point).
        return fail('ERR_METHOD_NOT_ALLOWED');
    }
  }

  private async profile(ms: MsConn, m: RequestMessage): Promise<ResponseMessage> {
    const from = must(m, 'From');
    const epoch = Number(must(m, 'Epoch'));
    const target = get(m, 'User') ?? from;
    const change: { fullName?: string; location?: string; about?: string } = {};
    const fn = get(m, 'Full-name');
    const loc = get(m, 'Location');
    const about = get(m, 'About');
    if (fn !== undefined) change.fullName = fn;
    if (loc !== undefined) change.location = loc;
    if (about !== undefined) change.about = about;
    if (Object.keys(change).length > 0) {
      // [PROFILE-3] only one's own profile may be changed.
      if (target !== from) return fail('ERR_FORBIDDEN');
      const r = await this.store.setProfile({ user: from, epoch, ms: ms.ref }, change);
      if (!r.ok) return r.error === 'stale' ? fail('ERR_STALE_EPOCH') : fail('ERR_BAD_VALUE', { Reason: r.detail });
    } else {
      const chk = await this.store.checkSession(from, epoch, ms.ref);
      if (!chk.ok) return fail('ERR_STALE_EPOCH');
    }
    const p = await this.store.getProfile(target);
    if (!p) return fail('ERR_UNKNOWN_USER');
    return ok(200, { User: target, 'Full-name': p.fullName || undefined, Location: p.location || undefined, About: p.about || undefined });
  }

  // -------------------------------------------------------------------------------------------
  // Pushes from the change feed

  private linkOf(ref: MsRef | { msId: string; incarnation?: number }): MsConn | undefined {
    const c = this.msConns.get(ref.msId);
    if (!c) return undefined;
    if (ref.incarnation !== undefined && c.ref.incarnation !== ref.incarnation) return undefined;
    return c;
  }

  /** The MS link (on this process) of an online user, if any: from the presence feed, else the store. */
  private async msOfUser(user: string): Promise<MsConn | undefined> {
    const known = this.userMs.get(user);
    if (known) return this.linkOf(known);
    const u = await this.store.getUser(user);
    if (!u || u.state.kind !== 'online') return undefined;
    return this.linkOf(u.state);
  }

  private push(conn: MsConn, msg: RequestMessage): void {
    this.metrics.pushes.inc({ method: msg.method });
    conn.link.notify(msg);
  }

  private async onStoreEvent(e: StoreEvent): Promise<void> {
    if (this.closing) return;
    switch (e.type) {
      case 'presence': {
        if (!e.to) {
          if (e.status === 'offline') this.userMs.delete(e.user);
          else if (e.msId) this.userMs.set(e.user, { msId: e.msId });
        }
        const visible = e.status !== 'offline';
        const base: Fields = { User: e.user, Status: e.status, Address: visible ? e.address : undefined, 'Public-key': visible ? e.publicKey : undefined };
        if (e.to) {
          // A block or unblock: only that user is told [BLOCK-2].
          const c = await this.msOfUser(e.to);
          if (c) this.push(c, req('PRESENCE', { ...base, To: e.to }));
          return;
        }
        // [PRESENCE-2] [PRESENCE-3] every enrolled MS gets the change; each forwards it to its clients
        // that have the user as a buddy [PRESENCE-4]. A block removes the buddy relation both ways
        // [BLOCK-1] (and its CONTACT push reaches the MS first [CONTACT-1]), so no block leaks.
        const msg = req('PRESENCE', base);
        for (const c of this.msConns.values()) this.push(c, msg);
        return;
      }
      case 'contact': {
        const c = await this.msOfUser(e.owner);
        if (!c) return;
        const k = e.contact;
        const full = 'address' in k ? k : undefined;
        this.push(c, req('CONTACT', { To: e.owner, User: k.user, Relation: k.relation, Status: k.status, Address: full?.address, 'Public-key': full?.publicKey }));
        return;
      }
      case 'add': {
        const c = await this.msOfUser(e.to);
        if (c) this.push(c, req('ADD', { From: e.from, To: e.to, Time: e.time }));
        return;
      }
      case 'answer': {
        const c = await this.msOfUser(e.to);
        if (c) this.push(c, req('ANSWER', { From: e.from, To: e.to, Decision: e.decision }));
        return;
      }
      case 'ms-gone': {
        const c = this.linkOf(e);
        if (c) {
          this.logger.warn({ ms: c.ref, reason: e.reason }, 'MS enrollment ended: closing its link');
          this.msConns.delete(c.ref.msId);
          this.metrics.sessions.set({ kind: 'ms' }, this.msConns.size);
          if (e.reason === 'expired') c.link.notify(req('NOTICE', { 'Error-code': 'ERR_SESSION_ENDED', Reason: 'MS lease expired' }));
          closeSoon(c.link);
        }
        return;
      }
      case 'ms-enrolled':
        return;
    }
  }

  /** [HB-4] [LOCK-3] expire dead MSs and stale locks. Safe to run on several CRS processes. */
  private sweeping = false;
  async sweep(): Promise<void> {
    if (this.sweeping || this.closing) return;
    this.sweeping = true;
    try {
      const now = this.now();
      const gone = await this.store.expireMs(now);
      for (const g of gone) this.logger.warn({ ms: { msId: g.msId, incarnation: g.incarnation }, freed: g.freed }, 'MS lease expired');
      if (gone.length > 0) this.emit('ms-expired', gone.map((g) => ({ msId: g.msId, incarnation: g.incarnation })));
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
    this.logger.warn({ ms: conns.map((c) => c.ref.msId) }, 'change feed back after a loss: closing the MS links so that their sessions start again');
    this.emit('feed-resumed', conns.map((c) => c.ref));
    for (const c of conns) c.link.close(linkError('ERR_UNAVAILABLE', 'the CRS missed changes (change feed interrupted)'));
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
    const linksClosed = [...this.links].map((l) => new Promise<void>((resolve) => (l.isClosed && !this.links.has(l) ? resolve() : l.once('close', () => resolve()))));
    for (const l of this.links) l.close();
    for (const so of this.sockets) so.destroy();
    await closed;
    await Promise.all(linksClosed);
    await new Promise<void>((resolve) => setImmediate(resolve)); // close handlers queue their store work
    await this.eventChain;
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }
}

function fieldsOf(obj: Fields): Header[] {
  const out: Header[] = [];
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null) out.push([k, String(v)]);
  return out;
}

/** A contact record (spec section 4.8): User, Relation, Status, and Address/Public-key when visible.
 *  Built directly (a login bundle holds one per contact). */
export function contactRecord(c: ContactEntry): Header[] {
  const status: Presence = c.status;
  const h: Header[] = [
    ['User', c.user],
    ['Relation', c.relation],
    ['Status', status],
  ];
  if (c.address !== undefined) h.push(['Address', c.address]);
  if (c.publicKey !== undefined) h.push(['Public-key', c.publicKey]);
  return h;
}

/** An incoming-request record (spec section 4.8): From, Time. */
export function pendingRecord(p: PendingAdd): Header[] {
  return [
    ['From', p.from],
    ['Time', String(p.time)],
  ];
}

/** Closes a link after the response being returned now has been written. */
function closeSoon(link: Link): void {
  setImmediate(() => link.close());
}
