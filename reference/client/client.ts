// ImspClient: the reference IMSP client library ([§8 Login and Logout] [§9 Presence, Contacts and the User's Data] [§10 Peer-to-Peer Sessions]).
//
// - login(): LOCATE at the CRS (unless an MS is given), LOGIN / 300 Challenge / PROOF at the MS with
//   the SCRAM-shaped proof (authenticate.ts); applies the login bundle (contacts, presence, pending
//   ADDs); keeps the link alive with PING.
// - Pushes on the MS link (PRESENCE, CONTACT, ADD, ANSWER, NOTICE) update the contact book and
//   become events (ms-push.ts, events.ts).
// - When the session ends without LOGOUT, logs in again by itself (reconnect.ts).
// - Peer sessions (peers.ts, peer.ts): listens on its own address for INIT; the bound address is what
//   LOGIN announces. Session keys live in memory only and are dropped on logout, on the peer going
//   offline or stopping being a buddy, on BYE and on close.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  headers as allHeaders,
  headerOf,
  parseRecords,
  type Decision,
  type Header,
  type RequestMessage,
  type RequestsOn,
  type ResponseTo,
  type SearchField,
} from '../../codec/index.js';
import { openKeyBlobAsync, sealKeyBlobAsync, parseKeyBlob } from '../crypto/key-blob.js';
import type { Identity } from '../crypto/keys.js';
import type { NonceCache } from '../crypto/p2p.js';
import { makeVerifier } from '../crypto/scram.js';
import { startHeartbeat, type Heartbeat } from '../net/heartbeat.js';
import { Link } from '../net/link.js';
import { parseHostPort } from '../net/address.js';
import { heartbeatTiming, proofKeysFor, scramLogin, type LoginResult } from './authenticate.js';
import { connectTo, req } from './connect.js';
import { ContactBook, type Presence, type SettableStatus } from './contacts.js';
import { asClientError, checkTextValues, ClientError, fromResponse, TRY_NEXT_SERVER } from './errors.js';
import type { ClientEvents, TypingState } from './events.js';
import type { OutgoingFile } from './files.js';
import { answerMsRequest, applyPush, replayPush } from './ms-push.js';
import { defaultLimits, LIMIT, type ClientLimits, type ClientOptions, type ProofKeys } from './options.js';
import type { PeerSession } from './peer.js';
import { PeerHub } from './peers.js';
import { Reconnector } from './reconnect.js';

export { ClientError, defaultLimits, parseHostPort, type ClientLimits, type ClientOptions };

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
  private readonly reconnector: Reconnector;
  /** Set by setReconnect(); overrides the options. */
  private reconnectSetting: boolean | undefined;
  private readonly now: () => number;
  private readonly peers: PeerHub;
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
  /** Pushes received while a LIST is in flight, re-applied on top of its answer [PRESENCE-10]. */
  private listReplay: RequestMessage[][] = [];

  address = '';
  msAddress = '';
  status: Presence = 'offline';
  sessionId = '';
  /** The status the user chose last (the option, then every STATUS): a reconnect logs in with it
   *  [RECONNECT-7], as XMPP clients send their last presence again after a reconnect. */
  private chosenStatus: SettableStatus | undefined;

  constructor(opts: ClientOptions) {
    super();
    this.opts = opts;
    this.user = opts.user;
    this.password = opts.password;
    this.chosenStatus = opts.status;
    this.limits = { ...defaultLimits(), ...opts.limits };
    // The book holds no more than the CRS may store for one user.
    this.contacts = new ContactBook({
      maxEntries: LIMIT.maxContacts + LIMIT.maxBlocked,
      maxRequests: LIMIT.maxPendingAdds,
    });
    this.now = opts.now ?? Date.now;
    this.peers = new PeerHub({
      user: this.user,
      contacts: this.contacts,
      limits: this.limits,
      downloadDir: opts.downloadDir ?? join(tmpdir(), `imsp-${opts.user}`),
      events: this,
      listen: opts.listen,
      advertise: opts.advertise,
      now: () => this.now(),
      identity: () => this.identity,
      linked: () => this.ms !== undefined,
      refresh: () => this.list(),
      nonces: opts.nonces,
    });
    this.reconnector = new Reconnector({
      events: this,
      limits: this.limits,
      baseDelay: opts.reloginDelayMax,
      closing: () => this.closing,
      linked: () => this.ms !== undefined,
      relogin: () => {
        // [RECONNECT-3] a complete login each time: LOCATE when a CRS is known, then LOGIN and PROOF.
        if (this.opts.crs !== undefined) this.preferLocate = true;
        return this.connectAndLogin();
      },
      giveUp: (err) => {
        this.forgetIdentity();
        this.forgetProofKeys();
        this.emit('logout', { reason: `logging in again failed: ${err.message}`, reconnecting: false });
      },
    });
  }

  /** The INIT nonces this client accepted [P2P-8], for the client of the next login. */
  get initNonces(): NonceCache {
    return this.peers.initNonces;
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
    this.reconnector.cancel();
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
      await this.peers.stopListening();
      const err = asClientError(e);
      TRY_NEXT_SERVER.add(err);
      throw err;
    }
    const link = new Link(socket, {
      local: 'client',
      remote: 'ms',
      handler: (m) => answerMsRequest(m),
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
      // [CONN-13] the handshake must complete within handshakeTimeout of the connection's opening.
      await this.authenticate(link, performance.now() + this.limits.handshakeTimeout);
    } catch (e) {
      link.close();
      this.ms = undefined;
      // A reconnect attempt that failed keeps the private keys for the next one [LOGOUT-4].
      if (this.reconnector.idle) this.forgetIdentity();
      await this.peers.stopListening();
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

  /** The SCRAM step (authenticate.ts), then the login bundle applied. */
  private async authenticate(link: Link, deadline: number): Promise<void> {
    const r = await scramLogin(link, {
      deadline,
      user: this.user,
      address: this.address,
      status: this.chosenStatus,
      limits: this.limits,
      password: this.password,
      proofKeys: this.proofKeys,
      identity: this.identity,
    });
    if (this.identity && this.identity !== r.identity) this.forgetIdentity();
    this.proofKeys?.clientKey.fill(0);
    this.proofKeys?.serverKey.fill(0);
    this.proofKeys = r.proofKeys;
    this.identity = r.identity;
    this.keyBlob = r.keyBlob;
    this.blobLog2N = parseKeyBlob(r.keyBlob).log2N;
    this.applyBundle(link, r);
  }

  /** The login bundle: session, presence, contacts and pending ADDs; the heartbeat starts. */
  private applyBundle(link: Link, { bundle: ok }: LoginResult): void {
    this.sessionId = headerOf(ok, 'Session') ?? '';
    this.status = (headerOf(ok, 'Status') as Presence | undefined) ?? 'online';
    let records: Header[][] = [];
    if (ok.body.length > 0) records = parseRecords(ok.body);
    this.contacts.load(records);
    this.heartbeat = startHeartbeat(link, heartbeatTiming(ok, this.limits));
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

  private onPush(m: RequestMessage): void {
    applyPush(m, {
      contacts: this.contacts,
      events: this,
      dropSession: (user, reason) => this.peers.dropSession(user, reason),
      seen: (p) => {
        if (p.method === 'PRESENCE' || p.method === 'CONTACT') for (const l of this.listReplay) l.push(p);
      },
      notice: (code, ra) => {
        if (code === 'ERR_RATE_LIMITED') this.slowDown(ra);
        // [ERR-7] the MS is going away or ended the session: the session is over [LOGOUT-4].
        if (code === 'ERR_SHUTDOWN') this.shutdownNotice = true;
        if (code === 'ERR_SHUTDOWN' || code === 'ERR_SESSION_ENDED') this.ms?.close();
      },
    });
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
    this.peers.endAllSessions(reason);
    this.status = 'offline';
    this.ms = undefined;
    void this.peers.stopListening();
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
    if (again) this.reconnector.schedule(reason);
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
    if (!on && this.reconnector.scheduled) {
      this.reconnector.cancel();
      this.forgetIdentity();
      this.forgetProofKeys();
    }
  }

  /**
   * [RECONNECT-2] The delay before attempt n: uniform in [b/2, b], b = min(max, base x 2^(n-1)), and
   * not before the last refusal's Retry-after [LOGIN-6]. `reloginDelayMax` (older option) sets the base.
   */
  reconnectDelay(attempt: number, random: () => number = Math.random): number {
    return this.reconnector.delay(attempt, random);
  }

  /** Whether a reconnect is pending (the session ended; the client will log in again by itself). */
  get reconnecting(): boolean {
    return this.reconnector.pending;
  }

  private forgetProofKeys(): void {
    this.proofKeys?.clientKey.fill(0);
    this.proofKeys?.serverKey.fill(0);
    this.proofKeys = undefined;
  }

  // ---------------------------------------------------------------- requests to the MS

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
    this.chosenStatus = status;
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
    this.peers.dropSession(user, 'removed');
  }

  async block(user: string): Promise<void> {
    await this.call('BLOCK', [['User', user]]);
    this.contacts.contact(user, 'blocked', 'offline');
    this.contacts.removeRequest(user);
    this.peers.dropSession(user, 'blocked');
  }

  async unblock(user: string): Promise<void> {
    await this.call('UNBLOCK', [['User', user]]);
    if (this.contacts.isBlocked(user)) this.contacts.contact(user, 'none', 'offline');
    // [BLOCK-5] an ADD from `user` that the block withheld is deliverable now, but nothing pushes it:
    // it is in the next LIST and login bundle [ADD-3]. LIST at once, so that the request shows now and
    // not only at the next login. The UNBLOCK stands whatever the LIST does; the bundle brings it then.
    if (this.contacts.requests.has(user)) return;
    let pushed = false;
    const onRequest = (e: { from: string }): void => {
      if (e.from === user) pushed = true;
    };
    this.on('request', onRequest);
    try {
      await this.list();
    } catch {
      return;
    } finally {
      this.off('request', onRequest);
    }
    const r = this.contacts.requests.get(user);
    if (r && !pushed) this.emit('request', r.time === undefined ? { from: user } : { from: user, time: r.time });
  }

  /** LIST: refreshes the contact book from the MS. */
  async list(): Promise<void> {
    const since: RequestMessage[] = [];
    this.listReplay.push(since);
    try {
      const res = await this.call('LIST', []);
      this.contacts.load(res.body.length > 0 ? parseRecords(res.body) : []);
      // [PRESENCE-10] the snapshot, then every push received since the LIST was sent, in order.
      for (const m of since) replayPush(m, this.contacts);
    } finally {
      this.listReplay = this.listReplay.filter((l) => l !== since);
    }
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
    const identity = this.identity;
    if (!identity) throw new ClientError('ERR_OUT_OF_STATE', 425, 'not logged in');
    // [CTL-8] the key-blob work below takes a while; a session that ends meanwhile (logout, a lost MS)
    // drops and overwrites the keys [LOGOUT-4], so the change fails as out of state rather than seal
    // overwritten keys or fault on missing ones.
    // A logout that has begun counts as ended: it is about to close the link, so a PASSWD sent now
    // would meet the closed link (503) instead of failing as out of state.
    const stillLoggedIn = (): void => {
      if (this.identity !== identity || this.loggingOut)
        throw new ClientError('ERR_OUT_OF_STATE', 425, 'the session ended during the password change');
    };
    try {
      await openKeyBlobAsync(currentPassword, this.user, this.keyBlob);
    } catch {
      stillLoggedIn();
      throw new ClientError('ERR_AUTH_FAILED', 401, 'the current password does not open the key blob');
    }
    stillLoggedIn();
    const v = makeVerifier(newPassword);
    const blob = await sealKeyBlobAsync(newPassword, this.user, identity, { log2N: this.blobLog2N });
    stillLoggedIn();
    await this.call('PASSWD', [
      ['Salt', v.salt],
      ['Iterations', String(v.iterations)],
      ['Stored-key', v.storedKey],
      ['Server-key', v.serverKey],
      ['Key-blob', blob],
    ]);
    this.keyBlob = blob;
    // [RECONNECT-4] the kept proof keys follow the new verifier (the password itself is not kept).
    const keys = proofKeysFor(newPassword, v.salt, v.iterations);
    this.forgetProofKeys();
    this.proofKeys = keys;
  }

  // ---------------------------------------------------------------- logout and close

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
        this.reconnector.cancel();
        link?.close();
        this.forgetIdentity();
        this.emit('logout', { reason: 'logout', reconnecting: false });
      }
      return;
    }
    this.loggingOut = true;
    this.peers.endAllSessions('logout');
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
    this.reconnector.cancel();
    if (this.ms && !this.active) {
      // A login in flight: it fails on the closed link (no session, so no logout event to wait for).
      this.ms.close();
    } else if (this.ms) {
      const link = this.ms;
      const closed = new Promise<void>((resolve) => this.once('logout', () => resolve()));
      link.close();
      await closed;
    }
    this.peers.endAllSessions('closed');
    this.forgetIdentity();
    this.forgetProofKeys();
    await this.peers.stopListening();
  }

  // ---------------------------------------------------------------- peer sessions (peers.ts)

  /**
   * Accepts and opens peer sessions with a given identity and no MS session: for tests and tools
   * that fill the contact book themselves. A logged-in client never needs it.
   */
  async startPeers(identity: Identity): Promise<void> {
    if (this.ms) throw new ClientError('ERR_OUT_OF_STATE', 425, 'logged in: the identity comes from the key blob');
    this.identity = identity;
    await this.listen();
  }

  /** Binds the peer listener (once); its address is what LOGIN announces. */
  private async listen(): Promise<void> {
    const address = await this.peers.listen();
    if (address !== undefined) this.address = address;
  }

  /** The live session with `user`, opening one (INIT / INIT-ACK) when there is none. */
  openSession(user: string): Promise<PeerSession> {
    return this.peers.openSession(user);
  }

  send(user: string, text: string): Promise<void> {
    return this.peers.send(user, text);
  }

  sendFile(user: string, path: string): Promise<OutgoingFile> {
    return this.peers.sendFile(user, path);
  }

  /**
   * TYPING to `user` when a session with him is open; false (nothing sent) otherwise, since a
   * session is never opened only to send TYPING [TYPING-3].
   */
  typing(user: string, state: TypingState): Promise<boolean> {
    return this.peers.typing(user, state);
  }

  async bye(user: string): Promise<void> {
    this.peers.dropSession(user, 'bye');
  }

  /** Users with a live peer session. */
  sessionUsers(): string[] {
    return this.peers.sessionUsers();
  }

  /** How many session keys this client holds: 0 after logout [P2P-10]. */
  sessionKeyCount(): number {
    return this.peers.sessionKeyCount();
  }

  /** The session key buffers held now (tests keep them and check they are zeroed later). */
  sessionKeys(): Buffer[] {
    return this.peers.sessionKeys();
  }
}
