// The client's peer sessions [§10 Peer-to-Peer Sessions]: listens on its own address for INIT,
// opens sessions with INIT / INIT-ACK, keeps one live session per buddy, and drops the keys when a
// session ends. The ImspClient owns one PeerHub and tells it who is a buddy through the contact book.
import type { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { encode, errorResponse, type ErrorCode, type Message, type RequestMessage } from '../../codec/index.js';
import { CryptoError } from '../crypto/errors.js';
import type { Identity } from '../crypto/keys.js';
import { NonceCache, buildInit, buildInitAck, openInit, openInitAck, type PeerLookup } from '../crypto/p2p.js';
import { parseHostPort } from '../net/address.js';
import { Link, linkError } from '../net/link.js';
import { connectTo, fmtHostPort } from './connect.js';
import type { ContactBook } from './contacts.js';
import { asClientError, ClientError, fromResponse } from './errors.js';
import type { ClientEvents, TypingState } from './events.js';
import { LocalFileError, type OutgoingFile } from './files.js';
import type { ClientLimits } from './options.js';
import { PeerSession, type PeerHooks } from './peer.js';

/** What the peer sessions need from the client. */
export interface PeerHost {
  readonly user: string;
  readonly contacts: ContactBook;
  readonly limits: ClientLimits;
  readonly downloadDir: string;
  readonly events: EventEmitter<ClientEvents>;
  /** Where to accept peer sessions (`host:port`); default 127.0.0.1:0. */
  readonly listen: string | undefined;
  /** Address to announce instead of the bound one. */
  readonly advertise: string | undefined;
  now(): number;
  /** The private keys, while logged in (or given to startPeers). */
  identity(): Identity | undefined;
  /** Whether the MS link is up. */
  linked(): boolean;
  /** LIST at the MS: refreshes the buddies' keys. */
  refresh(): Promise<void>;
  /** The INIT nonces already accepted (kept across logins by the caller); a new memory when absent. */
  readonly nonces?: NonceCache | undefined;
}

export class PeerHub {
  private server: Server | undefined;
  /** The port of the last peer listener: taken again after a reconnect when it is free. */
  private peerPort: number | undefined;
  /** Established peer sessions by user. */
  private readonly sessions = new Map<string, PeerSession>();
  /** Outgoing handshakes in progress by user. */
  private readonly opening = new Map<string, Promise<PeerSession>>();
  /** Every peer link (handshaking or established), closed at logout. */
  private readonly peerLinks = new Set<Link>();
  private readonly nonces: NonceCache;
  private readonly ev: EventEmitter<ClientEvents>;

  constructor(private readonly host: PeerHost) {
    this.ev = host.events;
    // [P2P-8] an INIT nonce is remembered as long as its Time could still be accepted.
    this.nonces = host.nonces ?? new NonceCache(2 * host.limits.maxClockSkew, 10_000);
  }

  /** The INIT nonces accepted so far [P2P-8]: a client made for the next login takes them over. */
  get initNonces(): NonceCache {
    return this.nonces;
  }

  /** Binds the peer listener; the address to announce, or undefined when already listening. */
  async listen(): Promise<string | undefined> {
    if (this.server) return undefined;
    const { host, port } = parseHostPort(this.host.listen ?? '127.0.0.1:0');
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
    return this.host.advertise ?? fmtHostPort(host, a.port);
  }

  async stopListening(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const l of this.peerLinks) l.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private lookup = (user: string): PeerLookup => {
    const c = this.host.contacts.get(user);
    if (!c) return { relation: 'none' };
    if (c.relation === 'blocked') {
      const k = this.host.contacts.blockedKey(user);
      return k ? { relation: 'blocked', blocked: true, publicKey: k } : { relation: 'blocked', blocked: true };
    }
    const key = this.host.contacts.buddyKey(user);
    return key ? { relation: c.relation, publicKey: key } : { relation: c.relation };
  };

  private allowed = (peer: string): ErrorCode | undefined => {
    if (this.host.contacts.isBlocked(peer)) return 'ERR_BLOCKED';
    if (!this.host.contacts.isBuddy(peer)) return 'ERR_NOT_BUDDY';
    return undefined;
  };

  private hooks(): PeerHooks {
    return {
      self: this.host.user,
      allowed: this.allowed,
      message: (from, text) => this.ev.emit('message', { from, to: this.host.user, text, time: this.host.now() }),
      typing: (from, state) => this.ev.emit('typing', { from, state }),
      fileProgress: (peer, direction, p) =>
        this.ev.emit('file-progress', { peer, direction, fileId: p.fileId, name: p.name, done: p.done, size: p.size }),
      file: (from, f) =>
        this.ev.emit('file', {
          from,
          fileId: f.fileId,
          name: f.name,
          size: f.size,
          path: f.path,
          contentType: f.contentType,
        }),
      refused: (peer, err) =>
        this.ev.emit('refused', {
          user: peer,
          direction: 'in',
          code: err.code,
          status: err.status,
          reason: err.message,
        }),
      ended: (s, reason) => {
        if (this.sessions.get(s.peer) === s) {
          this.sessions.delete(s.peer);
          this.ev.emit('session-end', { user: s.peer, reason });
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
      requestTimeout: this.host.limits.requestTimeout,
      handshakeTimeout: this.host.limits.handshakeTimeout,
      limits: { maxBodySize: this.host.limits.maxBodySize },
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
    if (!this.host.identity() || this.peerLinks.size >= this.host.limits.maxPeerSessions) {
      // [P2P-7] at capacity (or logged out, [P2P-5]): answered in clear, then closed.
      socket.on('error', () => undefined);
      socket.end(
        encode(
          errorResponse(
            linkError(this.host.identity() ? 'ERR_UNAVAILABLE' : 'ERR_SESSION_ENDED', 'not accepting peer sessions'),
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
    }, this.host.limits.handshakeTimeout);
    timer.unref();
    link.on('close', () => clearTimeout(timer));
  }

  /** Checks an INIT and answers INIT-ACK, or answers the error and closes [P2P-3] [P2P-6] [P2P-8] [BLOCK-3]. */
  private async acceptInit(m: RequestMessage, link: Link): Promise<PeerSession | undefined> {
    const identity = this.host.identity();
    const refuse = (code: string, status: number, reason: string, user?: string): undefined => {
      this.ev.emit('refused', { ...(user ? { user } : {}), direction: 'in', code, status, reason });
      link.notify(errorResponse(linkError(code as ErrorCode, reason)));
      link.close();
      return undefined;
    };
    if (!identity) return refuse('ERR_SESSION_ENDED', 410, 'not logged in');
    const open = () =>
      openInit(m, {
        self: this.host.user,
        identity,
        lookup: this.lookup,
        now: this.host.now(),
        maxClockSkew: this.host.limits.maxClockSkew,
        nonces: this.nonces,
      });
    let accepted: ReturnType<typeof openInit>;
    try {
      try {
        accepted = open();
      } catch (e) {
        // A buddy whose key has not reached us yet (its PRESENCE may trail its INIT): ask the MS once.
        if (!(e instanceof CryptoError && e.code === ('ERR_NOT_BUDDY' as string) && this.keyMissing())) throw e;
        await this.host.refresh().catch(() => undefined);
        accepted = open();
      }
    } catch (e) {
      const err = asClientError(e);
      return refuse(err.code, err.status, err.message);
    }
    const { message, keys } = buildInitAck({ init: accepted, identity, time: this.host.now() });
    link.notify(message);
    link.enableSealing(keys);
    const session = new PeerSession(
      accepted.from,
      false,
      link,
      keys,
      this.hooks(),
      this.host.limits,
      this.host.downloadDir,
    );
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
    if (now - this.lastRefresh < 5000 || !this.host.linked()) return false;
    this.lastRefresh = now;
    return [...this.host.contacts.contacts.values()].some((c) => c.relation === 'buddy' && c.publicKey === undefined);
  }

  /** Registers an established session; of two sessions between the same pair, keeps the one opened by the user whose name sorts first. */
  private install(s: PeerSession): void {
    const existing = this.sessions.get(s.peer);
    if (existing && existing.live) {
      const keepInitiatedBySelf = this.host.user < s.peer;
      const keepNew = s.initiator === keepInitiatedBySelf;
      const [keep, drop] = keepNew ? [s, existing] : [existing, s];
      this.sessions.set(s.peer, keep);
      drop.end('simultaneous INIT: duplicate session', true);
      return;
    }
    this.sessions.set(s.peer, s);
    this.ev.emit('session', { user: s.peer, initiator: s.initiator });
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
    const identity = this.host.identity();
    if (!identity) throw new ClientError('ERR_OUT_OF_STATE', 425, 'not logged in');
    if (this.host.contacts.isBlocked(user)) throw new ClientError('ERR_BLOCKED', 403, `${user} is blocked`);
    const c = this.host.contacts.get(user);
    const key = this.host.contacts.buddyKey(user);
    if (!c || c.relation !== 'buddy') throw new ClientError('ERR_NOT_BUDDY', 403, `${user} is not a buddy`);
    if (!key || !c.address) throw new ClientError('ERR_UNAVAILABLE', 503, `${user} is offline`);
    const socket = await connectTo(c.address, this.host.limits.handshakeTimeout);
    let session: PeerSession | undefined;
    const link = this.peerLink(socket, (m) =>
      session ? session.handle(m) : errorResponse(linkError('ERR_OUT_OF_STATE', 'handshake not complete')),
    );
    try {
      const { message, pending } = buildInit({
        from: this.host.user,
        to: user,
        identity,
        peerPublicKey: key,
        time: this.host.now(),
      });
      // [CONN-13] the initiator gives up INIT after handshakeTimeout (the connection opened just before).
      const reply = await link.handshake(message, { timeout: this.host.limits.handshakeTimeout });
      if (reply.kind === 'response') throw fromResponse(reply, `INIT to ${user}`);
      if (reply.method !== 'INIT-ACK')
        throw new ClientError('ERR_OUT_OF_STATE', 425, `${user} answered ${reply.method}`);
      const keys = openInitAck(reply, pending, { now: this.host.now(), maxClockSkew: this.host.limits.maxClockSkew });
      pending.secret.fill(0);
      link.enableSealing(keys);
      session = new PeerSession(user, true, link, keys, this.hooks(), this.host.limits, this.host.downloadDir);
    } catch (e) {
      const err = asClientError(e);
      this.ev.emit('refused', { user, direction: 'out', code: err.code, status: err.status, reason: err.message });
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
    return this.host.limits.maxBodySize - 16;
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
      // a file we cannot read is no protocol error: it keeps its own code [CTL-3]
      if (e instanceof LocalFileError) throw e;
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
    s.typing(state, this.host.now());
    return true;
  }

  dropSession(user: string, reason: string): void {
    this.sessions.get(user)?.end(reason, true);
  }

  endAllSessions(reason: string): void {
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
