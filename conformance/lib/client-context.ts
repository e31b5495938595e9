// The context of the client-role cases: the kit plays the CRS (LOCATE), the MS (login with the kit's own SCRAM check,
// pushes) and the peers (INIT/INIT-ACK, SEALED MSG) and drives the client under test through the
// control interface (spec/text/90-conformance.md): a fresh client process per case, started from
// --client-cmd with {crs} (and {user} {password} {ms}) substituted.
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  encodeRecords,
  header,
  response,
  type Header,
  type RequestMessage,
  type ResponseMessage,
} from '../../codec/index.js';
import { SetupError, type KitConfig, type RoleSetup } from './config.js';
import type { CaseDef, Finding } from './case.js';
import { Conn, Transcript, fmtHostPort, parseHostPort, type HostPort } from './conn.js';
import { ControlledClient, type ControlEvent } from './control.js';
import {
  b64,
  loginAuth,
  loginLinkKeys,
  loginServerProof,
  makeVerifier,
  newIdentity,
  nonCanonical,
  sealKeyBlob,
  strictOctets,
  verifyClientProof,
  x25519,
  x25519Pair,
  type Identity,
} from './crypto.js';
import { buildInit, buildInitAck, openInit, openInitAck } from './p2p.js';
import { errorSpec, type Limits } from './registry.js';
import type { Driver, RunOptions } from './runner.js';
import { closeConns, RoleContext } from './role-context.js';

export interface KitAccount {
  name: string;
  password: string;
  identity: Identity;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
  keyBlob: string;
  bundle: Header[][];
  /** Faults the kit MS injects into this user's login. */
  badServerProof?: boolean;
  challengeIterations?: number;
  /** A challenge Nonce that does not start with the client's own nonce [AUTH-3]. */
  foreignNonce?: boolean;
  /** The challenge's Key-share or the 200's Server-proof, right but spelled in non-canonical base64url [CRYPTO-4]. */
  nonCanonical?: 'Key-share' | 'Server-proof';
  /** The login response's Public-key is not the key sealed in the Key-blob [KEYBLOB-4]. */
  wrongPublicKey?: boolean;
  /** Heartbeat and Session-timeout the kit MS announces for this login (default: the limits). */
  heartbeat?: number;
  sessionTimeout?: number;
  /** Pushes the kit MS writes right behind the 200 to PROOF, before the client can act [PRESENCE-9]. */
  pushAfterLogin?: RequestMessage[];
  /** LOGINs the kit MS has seen for this user (the first login is 1). */
  logins?: number;
  /** A fault for the n-th LOGIN of this user (the reconnect cases of [§8.5 Reconnecting]). */
  loginFault?: (n: number) => LoginFault | undefined;
}

/** What the kit MS does wrong to one LOGIN. */
export interface LoginFault {
  /** Answer LOGIN with this instead of the challenge (e.g. 503 with Retry-after), then close. */
  refuse?: ResponseMessage;
  /** The challenge carries this Salt instead of the verifier's (the password was changed) [RECONNECT-5]. */
  salt?: Buffer;
  /** PROOF is answered 401 ERR_AUTH_FAILED whatever it holds [RECONNECT-5]. */
  proof401?: boolean;
  /** The bundle's Public-key is another one than the key blob's [RECONNECT-6]. */
  otherPublicKey?: boolean;
  /**
   * The kit MS goes silent: it leaves this request (LOGIN, or PROOF after its challenge) unanswered
   * and sends nothing more, until the client closes the connection [CONN-13].
   */
  silent?: 'LOGIN' | 'PROOF';
}

/** One handshake request the kit's CRS or MS received, in order of arrival. */
export interface HandshakeSeen {
  method: 'LOCATE' | 'LOGIN' | 'PROOF';
  user: string;
  at: number;
  /** Its place in the order of arrival (see KitServices.mark): exact where `at` (ms) ties. */
  seq: number;
  msg: RequestMessage;
}

/** One session request the kit MS received. */
export interface RequestSeen {
  user: string;
  msg: RequestMessage;
  at: number;
  seq: number;
}

/** The kit's CRS (LOCATE only) and MS (login, session requests, pushes) for a client under test. */
class KitServices {
  readonly crs = net.createServer((s) => this.onCrs(s));
  readonly ms = net.createServer((s) => this.onMs(s));
  crsAddr!: HostPort;
  msAddr!: HostPort;
  readonly accounts = new Map<string, KitAccount>();
  /** Live client sessions by user. */
  readonly sessions = new Map<string, Conn>();
  /** Every session request received, with its user. */
  readonly requests: RequestSeen[] = [];
  /** Every connection a client opened to the kit CRS, in order. */
  readonly crsConns: Conn[] = [];
  /** Every connection the client opened to the kit's MS in this case (logged in or not): their violations are the case's. */
  readonly msConns: Conn[] = [];
  tr: Transcript = new Transcript();
  proofsSeen = 0;
  /** Every LOCATE, LOGIN and PROOF the kit received (LOCATE has no user: ''). */
  readonly handshakes: HandshakeSeen[] = [];
  /** Per user, the last login connection the kit MS went silent on (LoginFault.silent), and when it opened. */
  readonly silenced = new Map<string, { conn: Conn; opened: number }>();
  /** Servers LOCATE names, in order (default: the kit MS alone) [LOCATE-4]. */
  servers: string[] | undefined;
  private locateFault: ((n: number) => ResponseMessage | undefined) | undefined;
  private locates = 0;
  private arrivals = 0;

  /**
   * How many handshakes and session requests the kit has received so far. A check of what the
   * client sent in answer to a step compares `seq` with the mark taken before the step: a wall-clock
   * `at` cannot order them, since the last PROOF of one step and the start of the next fall in the
   * same millisecond often enough to flake (client/fuzz/2 blamed a step for the PROOF before it).
   */
  get mark(): number {
    return this.arrivals;
  }

  /** A handshake request, stamped with its arrival. */
  private handshake(method: HandshakeSeen['method'], user: string, msg: RequestMessage): void {
    this.handshakes.push({ method, user, msg, at: Date.now(), seq: ++this.arrivals });
  }

  /** A session request from `user`, stamped with its arrival. */
  recordRequest(user: string, msg: RequestMessage): void {
    this.requests.push({ user, msg, at: Date.now(), seq: ++this.arrivals });
  }

  /** From now on, answer the n-th LOCATE (n counted from this call, from 1) with `f(n)` when it gives one. */
  refuseLocate(f: (n: number) => ResponseMessage | undefined): void {
    this.locateFault = f;
    this.locates = 0;
  }

  /** Forget what one case set up. */
  reset(): void {
    this.handshakes.length = 0;
    for (const { conn } of this.silenced.values()) conn.destroy();
    this.silenced.clear();
    this.servers = undefined;
    this.locateFault = undefined;
    this.locates = 0;
  }

  constructor(private readonly limits: Limits) {}

  async start(): Promise<void> {
    const listen = (s: net.Server): Promise<HostPort> =>
      new Promise((res) =>
        s.listen(0, '127.0.0.1', () => res({ host: '127.0.0.1', port: (s.address() as net.AddressInfo).port })),
      );
    this.crsAddr = await listen(this.crs);
    this.msAddr = await listen(this.ms);
  }

  async close(): Promise<void> {
    for (const c of this.sessions.values()) c.destroy();
    await Promise.all([new Promise((r) => this.crs.close(r)), new Promise((r) => this.ms.close(r))]);
  }

  private onCrs(socket: net.Socket): void {
    const c = new Conn(socket, 'kit-crs', this.tr);
    this.crsConns.push(c);
    c.auto = (req) => {
      if (req.method !== 'LOCATE') return response(425, [['Error-code', 'ERR_OUT_OF_STATE']]);
      this.handshake('LOCATE', '', req);
      const refusal = this.locateFault?.(++this.locates);
      if (refusal) return refusal;
      const servers = this.servers ?? [fmtHostPort(this.msAddr)];
      return response(200, [...tagOf(req), ...servers.map((s): Header => ['Server', s])]);
    };
  }

  private async onMs(socket: net.Socket): Promise<void> {
    const c = new Conn(socket, 'kit-ms', this.tr);
    this.msConns.push(c);
    const opened = Date.now();
    // The kit is patient as a server: a slow client under load is not what these cases test.
    const hs = Math.max(this.limits.get('handshakeTimeout'), 15000);
    const login = await c.waitEvent(() => true, hs);
    if (!login || login.method !== 'LOGIN') return c.destroy();
    const user = header(login, 'User') ?? '';
    const acct = this.accounts.get(user);
    this.handshake('LOGIN', user, login);
    if (!acct) {
      c.send(response(503, [['Error-code', 'ERR_UNAVAILABLE']]));
      return c.end();
    }
    acct.logins = (acct.logins ?? 0) + 1;
    const fault = acct.loginFault?.(acct.logins) ?? {};
    if (fault.silent === 'LOGIN') return void this.silenced.set(user, { conn: c, opened });
    if (fault.refuse) {
      c.send(fault.refuse);
      return c.end();
    }
    const eph = x25519Pair();
    const cnonce = header(login, 'Nonce') ?? '';
    const nonce = (acct.foreignNonce ? b64(randomBytes(18)) : cnonce) + b64(randomBytes(18));
    const iterations = acct.challengeIterations ?? acct.iterations;
    const salt = b64(fault.salt ?? acct.salt);
    const eS = acct.nonCanonical === 'Key-share' ? nonCanonical(b64(eph.publicKey)) : b64(eph.publicKey);
    c.send(
      response(300, [
        ['Nonce', nonce],
        ['Salt', salt],
        ['Iterations', String(iterations)],
        ['Key-share', eS],
      ]),
    );
    const proof = await c.waitEvent(() => true, hs);
    if (!proof || proof.method !== 'PROOF') return c.destroy();
    this.proofsSeen++;
    this.handshake('PROOF', user, proof);
    if (fault.silent === 'PROOF') return void this.silenced.set(user, { conn: c, opened });
    const address = header(login, 'Address') ?? '';
    const auth = loginAuth({
      user,
      cnonce,
      nonce,
      salt,
      iterations,
      eC: header(login, 'Key-share') ?? '',
      eS,
      address,
    });
    // A Proof or Key-share spelled other than canonically fails as a proof that does not verify; Conn
    // has recorded it as the client's wire violation [CRYPTO-4].
    const proofOctets = strictOctets(proof, 'Proof');
    const eC = strictOctets(login, 'Key-share');
    const clientKey = proofOctets && eC && verifyClientProof(proofOctets, acct.storedKey, auth);
    if (!clientKey || !eC || fault.proof401) {
      c.send(response(401, [['Error-code', 'ERR_AUTH_FAILED']]));
      return c.end();
    }
    const keys = loginLinkKeys(x25519(eph.privateKey, eC), clientKey, auth);
    c.sealing = { send: keys.down, recv: keys.up, sendSeq: 0, recvSeq: 0 };
    const sp = acct.badServerProof ? randomBytes(32) : loginServerProof(acct.serverKey, auth);
    c.send(
      response(
        200,
        [
          ['Server-proof', acct.nonCanonical === 'Server-proof' ? nonCanonical(b64(sp)) : b64(sp)],
          ['Session', b64(randomBytes(16))],
          ['Heartbeat', String(acct.heartbeat ?? this.limits.get('clientHeartbeatInterval'))],
          ['Session-timeout', String(acct.sessionTimeout ?? this.limits.get('sessionTimeout'))], // [HB-11]
          ['Key-blob', acct.keyBlob],
          [
            'Public-key',
            acct.wrongPublicKey || fault.otherPublicKey ? newIdentity().publicKey : acct.identity.publicKey,
          ],
          ['Status', header(login, 'Status') ?? 'online'],
          ['Content-type', 'application/imsp-records'],
        ],
        encodeRecords(acct.bundle),
      ),
    );
    for (const m of acct.pushAfterLogin ?? []) c.send(m);
    this.sessions.set(user, c);
    c.auto = (req) => {
      this.recordRequest(user, req);
      if (req.method === 'LOGOUT') {
        setImmediate(() => c.end());
        return response(200, tagOf(req));
      }
      if (req.method === 'LIST')
        return response(200, [...tagOf(req), ['Content-type', 'application/imsp-records']], encodeRecords(acct.bundle));
      if (req.method === 'ADD') return response(202, tagOf(req));
      if (req.method === 'PROFILE') return response(200, [...tagOf(req), ['User', header(req, 'User') ?? user]]);
      return response(200, tagOf(req));
    };
  }
}

const tagOf = (m: RequestMessage): Header[] => (header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : []);

interface ClientEnv {
  svc: KitServices;
  opts: RunOptions;
  template: string;
  /** --client-ms-cmd: the client given the kit MS and no CRS (undefined: those cases skip). */
  msTemplate: string | undefined;
  cwd?: string;
  runId: string;
  counter: number;
}

/** A kit peer: a buddy of the client with its own identity and a listener for the client's INITs. */
export interface Peer {
  name: string;
  identity: Identity;
  server: net.Server;
  address: string;
  inbound: Conn[];
}

/** How long a freshly started client may take to print its ready line [CTL-1] (see readyTimeout). */
const clientReadyTimeout = (timeoutMs: number): number => Math.max(60_000, timeoutMs * 3);

export class ClientContext extends RoleContext<ClientEnv> {
  /** Every client process the case started, in order; the run stops each one after the case. */
  readonly clients: ControlledClient[] = [];
  /** The client the case started last (most cases start one). */
  get client(): ControlledClient | null {
    return this.clients.at(-1) ?? null;
  }
  readonly peers: Peer[] = [];
  /**
   * How long a freshly started client may take to print its ready line [CTL-1]. Starting a process is not
   * protocol timing: on a loaded machine a client that compiles its sources at start took 19 s, so this
   * is at least 60 s, whatever --timeout says for the protocol.
   */
  get readyTimeout(): number {
    return clientReadyTimeout(this.timeout);
  }
  get svc(): KitServices {
    return this.env.svc;
  }
  account(bundle: Header[][] = [], extra: Partial<KitAccount> = {}): KitAccount {
    const name = this.uniq('c');
    const password = b64(randomBytes(9));
    const identity = newIdentity();
    const v = makeVerifier(password, 4096);
    const a: KitAccount = {
      name,
      password,
      identity,
      salt: v.salt,
      iterations: 4096,
      storedKey: v.storedKey,
      serverKey: v.serverKey,
      keyBlob: sealKeyBlob(password, name, identity, 10),
      bundle,
      ...extra,
    };
    this.svc.accounts.set(name, a);
    return a;
  }

  /** A kit buddy; `prefix` starts its name (the tie-break of [P2P-15] compares names). */
  async peer(prefix = 'p'): Promise<Peer> {
    const name = this.uniq(prefix);
    const identity = newIdentity();
    const p: Peer = { name, identity, server: net.createServer(), address: '', inbound: [] };
    p.server.on('connection', (s) => p.inbound.push(new Conn(s, `peer-${name}-in`, this.tr)));
    await new Promise<void>((res) => p.server.listen(0, '127.0.0.1', () => res()));
    p.address = `127.0.0.1:${(p.server.address() as net.AddressInfo).port}`;
    this.peers.push(p);
    return p;
  }

  buddyRecord(p: Peer, online = true): Header[] {
    return online
      ? [
          ['User', p.name],
          ['Relation', 'buddy'],
          ['Status', 'online'],
          ['Address', p.address],
          ['Public-key', p.identity.publicKey],
        ]
      : [
          ['User', p.name],
          ['Relation', 'buddy'],
          ['Status', 'offline'],
        ];
  }

  /**
   * [RATE-6] `what`, sent at `at`, came no earlier than Retry-after `retryMs` after `since` (the NOTICE or
   * the 429 that asked for it), with 50 ms of slack for timer and clock granularity.
   */
  mustHoldBack(what: string, at: number, since: number, retryMs: number, after: string): void {
    this.must(
      at - since >= retryMs - 50,
      'RATE-6',
      `${what} came ${at - since} ms after ${after} with Retry-after ${retryMs}`,
    );
  }

  /**
   * Start a fresh client process for `a` (the case's client) and wait for its ready line [CTL-1]; `direct`:
   * from --client-ms-cmd, the client given the kit MS and no CRS (the case skips when the run has none).
   */
  async startClient(a: KitAccount, direct = false): Promise<ControlledClient> {
    if (direct && this.env.msTemplate === undefined)
      this.skip('needs --client-ms-cmd: the client under test given an MS ({ms}) and no CRS');
    const c = ControlledClient.start(
      direct ? this.env.msTemplate! : this.env.template,
      { crs: fmtHostPort(this.svc.crsAddr), ms: fmtHostPort(this.svc.msAddr), user: a.name, password: a.password },
      this.tr,
      this.env.cwd,
    );
    this.clients.push(c);
    this.pre(
      await c.ready(this.readyTimeout),
      'CTL-1',
      `the client did not print {"event":"ready"} (${c.stderr.slice(-300)})`,
    );
    return c;
  }

  /** Start a fresh client process and send it `login` as `a`: the client and its answer (ok or error). */
  async tryLogin(a: KitAccount): Promise<{ c: ControlledClient; r: ControlEvent | null }> {
    const c = await this.startClient(a);
    return { c, r: await c.command(`login ${a.name} ${a.password}`, this.timeout * 4) };
  }

  /** Start a fresh client process and log it in as `a`. */
  async startLoggedIn(a: KitAccount): Promise<ControlledClient> {
    const { c, r } = await this.tryLogin(a);
    this.pre(
      r?.event === 'ok',
      'LOGIN-7',
      `the client could not log in to the kit: ${JSON.stringify(r)} ${c.stderr.slice(-300)}`,
    );
    return c;
  }

  /** A kit peer `p`, and a client logged in as `a`, whose bundle lists `p` as a buddy (online, or offline). */
  async withBuddy(online = true): Promise<{ p: Peer; a: KitAccount; c: ControlledClient }> {
    const p = await this.peer();
    const a = this.account([this.buddyRecord(p, online)]);
    return { p, a, c: await this.startLoggedIn(a) };
  }

  /** withBuddy, and a peer session opened from `p` to the client ([§10.1 INIT and INIT-ACK]): the sealed connection. */
  async buddySession(): Promise<{ p: Peer; a: KitAccount; c: ControlledClient; conn: Conn }> {
    const b = await this.withBuddy();
    return { ...b, conn: await this.initFrom(b.p, b.a) };
  }

  /** The first connection the client opened to kit peer `p` within `ms`, or undefined. */
  async inboundTo(p: Peer, ms: number): Promise<Conn | undefined> {
    const deadline = Date.now() + ms;
    while (p.inbound.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return p.inbound[0];
  }

  /** The client's peer address, as it sent it in LOGIN. */
  clientAddress(a: KitAccount): HostPort {
    const c = this.svc.sessions.get(a.name);
    this.pre(c, 'LOGIN-7', 'the client has no session at the kit MS');
    const login = c.received.find((m) => m.msg.kind === 'request' && m.msg.method === 'LOGIN')?.msg as
      | RequestMessage
      | undefined;
    const addr = login ? header(login, 'Address') : undefined;
    this.pre(addr, 'LOGIN-1', 'LOGIN must carry the client Address');
    return parseHostPort(addr);
  }

  /** The logged-in client the wire cases talk to (a buddy-less user), started on first use in a case. */
  private wireAccount: KitAccount | undefined;

  /**
   * Connect to `addr`; with no address (the wire and registry cases of [§4 Message Format], which see the client
   * as a receiver on its own peer address), start a logged-in client first and connect to its Address.
   */
  async connect(addr?: HostPort | string, name?: string): Promise<Conn> {
    if (addr === undefined || typeof addr === 'string') {
      if (!this.wireAccount) {
        const a = this.account();
        await this.startLoggedIn(a);
        this.wireAccount = a;
      }
      return this.connect(this.clientAddress(this.wireAccount), addr ?? 'kit-peer');
    }
    return this.open(addr, name ?? 'kit-peer');
  }

  /** The client's session at the kit MS (a precondition of every case that pushes). */
  ms(a: KitAccount): Conn {
    const c = this.svc.sessions.get(a.name);
    this.pre(c, 'LOGIN-7', 'the client has no session at the kit MS');
    return c;
  }

  /**
   * `reconnect on` ([§90.6 The Client Control Interface]): true when the client accepted it. A client that
   * answers error does not reconnect by itself.
   */
  async reconnectOn(c: ControlledClient): Promise<boolean> {
    const r = await c.command('reconnect on', this.timeout);
    return r?.event === 'ok';
  }

  /** LOCATE, LOGIN and PROOF the kit received after `mark` (KitServices.mark; LOGIN and PROOF: of user `a` only). */
  handshakesAfter(mark: number, a?: KitAccount): HandshakeSeen[] {
    return this.svc.handshakes.filter(
      (h) => h.seq > mark && (a === undefined || h.method === 'LOCATE' || h.user === a.name),
    );
  }

  /** LOCATE, LOGIN and PROOF the kit received from the millisecond `since` on (LOGIN and PROOF: of user `a` only). */
  handshakesSince(since: number, a?: KitAccount): HandshakeSeen[] {
    return this.svc.handshakes.filter(
      (h) => h.at >= since && (a === undefined || h.method === 'LOCATE' || h.user === a.name),
    );
  }

  /** Wait until the kit received a handshake request matching `pred`; null on timeout. */
  async waitHandshake(pred: (h: HandshakeSeen) => boolean, timeoutMs: number): Promise<HandshakeSeen | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.svc.handshakes.find(pred);
      if (hit) return hit;
      if (Date.now() >= deadline) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Session requests the kit MS received from `a` with this method. */
  msRequests(a: KitAccount, method: string): RequestSeen[] {
    return this.svc.requests.filter((r) => r.user === a.name && r.msg.method === method);
  }

  /**
   * Wait for the client `a` to connect to kit peer `p` and answer its INIT with an INIT-ACK, so that the
   * client's own command (send, sendfile, typing...) goes on; the session answers MSG and PING 200.
   * Returns null when the client opened no session within the timeout.
   */
  async acceptFrom(p: Peer, a: KitAccount): Promise<Conn | null> {
    const conn = await this.inboundTo(p, this.timeout * 2);
    if (!conn) return null;
    this.conns.push(conn);
    const init = await conn.waitEvent((m) => m.method === 'INIT', this.timeout);
    this.must(init, 'P2P-1', 'the client must open the session with INIT');
    const o = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
    this.must(!('error' in o), 'P2P-1', `INIT: ${'error' in o ? o.error : ''}`);
    const { msg, keys } = buildInitAck(o, p.identity);
    conn.send(msg);
    conn.sealing = { send: keys.r2i, recv: keys.i2r, sendSeq: 0, recvSeq: 0 };
    conn.auto = (req) =>
      req.method === 'MSG' || req.method === 'PING'
        ? response(200, header(req, 'Tag') ? [['Tag', header(req, 'Tag')!]] : [])
        : undefined;
    return conn;
  }

  /** Open a peer session from kit peer `p` to the client `a`; returns the sealed connection. */
  async initFrom(p: Peer, a: KitAccount): Promise<Conn> {
    const conn = await this.connect(this.clientAddress(a), `peer-${p.name}`);
    const { msg, state } = buildInit(p.name, p.identity, a.name, a.identity.publicKey);
    conn.send(msg);
    const ack = await conn.waitEvent((m) => m.method === 'INIT-ACK', this.timeout);
    this.must(
      ack,
      'P2P-9',
      `a valid INIT from a buddy must be answered INIT-ACK (got ${conn.received.at(-1)?.msg.kind === 'response' ? (conn.received.at(-1)!.msg as ResponseMessage).status : 'nothing'})`,
    );
    const o = openInitAck(state, ack, a.identity.publicKey);
    this.must('keys' in o, 'P2P-9', `INIT-ACK: ${'error' in o ? o.error : ''}`);
    conn.sealing = { send: o.keys.i2r, recv: o.keys.r2i, sendSeq: 0, recvSeq: 0 };
    return conn;
  }
}

/** An INIT refused as the error table says: the registry's status and code, no INIT-ACK, then the close. */
export async function expectInitRefusal(ctx: ClientContext, conn: Conn, code: string, what: string): Promise<void> {
  const e = errorSpec(code);
  const r = await conn.nextResponse(ctx.timeout, `the refusal of ${what}`).catch(() => null);
  const ack = conn.received.find((m) => m.msg.kind === 'request' && m.msg.method === 'INIT-ACK');
  ctx.must(!ack, e.req, `${what} must be refused, the client answered INIT-ACK`);
  ctx.must(r, e.req, `${what} must be answered ${e.status} ${code}, got nothing`);
  ctx.must(
    r.status === e.status,
    e.req,
    `${what}: expected ${e.status} ${code}, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
  );
  ctx.should(
    header(r, 'Error-code') === code,
    e.req,
    `${what}: expected Error-code ${code}, got ${header(r, 'Error-code')}`,
  );
  ctx.must(await conn.closedWithin(ctx.timeout), e.req, `${what}: the client must close the connection after refusing`);
}

class ClientDriver implements Driver<ClientContext> {
  constructor(
    readonly env: ClientEnv,
    readonly cases: CaseDef<ClientContext>[],
  ) {}
  context(tr: Transcript, findings: Finding[]): ClientContext {
    this.env.svc.tr = tr;
    return new ClientContext(this.env, tr, findings);
  }
  async cleanup(ctx: ClientContext): Promise<{ req: string; text: string }[]> {
    // Every client the case started, not only its last: one left running would outlive the run.
    await Promise.all(ctx.clients.map((c) => c.stop()));
    const v = ctx.clients.flatMap((c) => c.violations); // [CONF-12] control lines that break the schema [CTL-7]
    v.push(
      ...closeConns(
        new Set([
          ...ctx.conns,
          ...ctx.peers.flatMap((p) => p.inbound),
          ...this.env.svc.sessions.values(),
          ...this.env.svc.msConns.splice(0),
        ]),
      ),
    );
    this.env.svc.sessions.clear();
    for (const c of this.env.svc.crsConns.splice(0)) c.destroy();
    this.env.svc.reset();
    for (const p of ctx.peers) p.server.close();
    return v;
  }
  async probe(): Promise<string | null> {
    return null; // every case starts a fresh client process; a crash shows in the case itself
  }
}

/**
 * Before any case [CONF-14]: the client command starts and prints its ready line [CTL-1]. A command
 * that cannot start (a typo, a missing file, a crash at start) is a set-up error, not a finding: every
 * case would otherwise fail or skip on the same missing ready line, and the run might even pass.
 */
async function preflightClient(env: ClientEnv, timeoutMs: number): Promise<void> {
  const vars = { crs: fmtHostPort(env.svc.crsAddr), ms: fmtHostPort(env.svc.msAddr), user: 'kit', password: 'kit' };
  const c = ControlledClient.start(env.template, vars, new Transcript(), env.cwd);
  const wait = clientReadyTimeout(timeoutMs);
  try {
    if (await c.ready(wait)) return;
    const said = c.stderr.trim().slice(-300);
    throw new SetupError(
      `the client command did not start: it printed no {"event":"ready"} ${c.exited !== null ? `and exited with status ${c.exited}` : `within ${wait / 1000} s`} [CTL-1]${said ? `; its stderr: ${said}` : ''}`,
    );
  } finally {
    await c.stop();
  }
}

/** Set up a run against a client: the kit's CRS and MS listen; each case starts the client. */
export async function setupClient(
  cfg: KitConfig,
  run: RunOptions,
  cases: CaseDef<ClientContext>[],
): Promise<RoleSetup<ClientContext>> {
  const svc = new KitServices(cfg.limits);
  await svc.start();
  const env: ClientEnv = {
    svc,
    opts: run,
    template: cfg.clientCmd!,
    msTemplate: cfg.clientMsCmd,
    runId: randomBytes(2)
      .toString('hex')
      .replace(/^[0-9]/, 'z'),
    counter: 0,
    ...((cfg as KitConfig & { cwd?: string }).cwd ? { cwd: (cfg as KitConfig & { cwd?: string }).cwd! } : {}),
  };
  try {
    await preflightClient(env, cfg.timeoutMs);
  } catch (e) {
    await svc.close();
    throw e;
  }
  return {
    driver: new ClientDriver(env, cases),
    target: cfg.clientCmd!,
    teardown: () => svc.close(),
  };
}

// A case starts a client process: its start (readyTimeout, up to 60 s on a loaded machine) comes on top.
export const clientCaseBudgetMs = (cfg: KitConfig): number => 30 * cfg.timeoutMs + 60_000;
