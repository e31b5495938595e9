// The client role: the kit plays the CRS (LOCATE), the MS (login with the kit's own SCRAM check,
// pushes) and the peers (INIT/INIT-ACK, SEALED MSG) and drives the client under test through the
// control interface (spec/text/90-conformance.md): a fresh client process per case, started from
// --client-cmd with {crs} (and {user} {password} {ms}) substituted.
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { encodeRecords, header, request, response, type Header, type RequestMessage, type ResponseMessage } from '../../generated/index.js';
import type { KitConfig, RoleModule } from '../cli.js';
import type { CaseDef, CaseResult, Finding } from '../lib/case.js';
import { Conn, Transcript, fmtHostPort, parseHostPort, type HostPort } from '../lib/conn.js';
import { ControlledClient } from '../lib/control.js';
import {
  b64,
  loginAuth,
  loginLinkKeys,
  loginServerProof,
  makeVerifier,
  newIdentity,
  sealKeyBlob,
  unb64,
  verifyClientProof,
  x25519,
  x25519Pair,
  type Identity,
} from '../lib/crypto.js';
import { buildInit, buildInitAck, openInit, openInitAck } from '../lib/p2p.js';
import type { Limits } from '../lib/registry.js';
import { errorSpec } from '../lib/registry.js';
import { Checker, type Driver, type RunOptions } from '../lib/runner.js';
import type { Workdir } from '../lib/spawn.js';

interface KitAccount {
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
  readonly requests: { user: string; msg: RequestMessage }[] = [];
  tr: Transcript = new Transcript();
  proofsSeen = 0;

  constructor(private readonly limits: Limits) {}

  async start(): Promise<void> {
    const listen = (s: net.Server): Promise<HostPort> =>
      new Promise((res) => s.listen(0, '127.0.0.1', () => res({ host: '127.0.0.1', port: (s.address() as net.AddressInfo).port })));
    this.crsAddr = await listen(this.crs);
    this.msAddr = await listen(this.ms);
  }

  async close(): Promise<void> {
    for (const c of this.sessions.values()) c.destroy();
    await Promise.all([new Promise((r) => this.crs.close(r)), new Promise((r) => this.ms.close(r))]);
  }

  private onCrs(socket: net.Socket): void {
    const c = new Conn(socket, 'kit-crs', this.tr);
    c.auto = (req) => (req.method === 'LOCATE' ? response(200, [...tagOf(req), ['Server', fmtHostPort(this.msAddr)]]) : response(425, [['Error-code', 'ERR_OUT_OF_STATE']]));
  }

  private async onMs(socket: net.Socket): Promise<void> {
    const c = new Conn(socket, 'kit-ms', this.tr);
    // The kit is patient as a server: a slow client under load is not what these cases test.
    const hs = Math.max(this.limits.get('handshakeTimeout'), 15000);
    const login = await c.waitEvent(() => true, hs);
    if (!login || login.method !== 'LOGIN') return c.destroy();
    const user = header(login, 'User') ?? '';
    const acct = this.accounts.get(user);
    if (!acct) {
      c.send(response(503, [['Error-code', 'ERR_UNAVAILABLE']]));
      return c.end();
    }
    const eph = x25519Pair();
    const cnonce = header(login, 'Nonce') ?? '';
    const nonce = cnonce + b64(randomBytes(18));
    const iterations = acct.challengeIterations ?? acct.iterations;
    const salt = b64(acct.salt);
    const eS = b64(eph.publicKey);
    c.send(response(300, [['Nonce', nonce], ['Salt', salt], ['Iterations', String(iterations)], ['Key-share', eS]]));
    const proof = await c.waitEvent(() => true, hs);
    if (!proof || proof.method !== 'PROOF') return c.destroy();
    this.proofsSeen++;
    const address = header(login, 'Address') ?? '';
    const auth = loginAuth({ user, cnonce, nonce, salt, iterations, eC: header(login, 'Key-share') ?? '', eS, address });
    const clientKey = verifyClientProof(unb64(header(proof, 'Proof') ?? ''), acct.storedKey, auth);
    if (!clientKey) {
      c.send(response(401, [['Error-code', 'ERR_AUTH_FAILED']]));
      return c.end();
    }
    const keys = loginLinkKeys(x25519(eph.privateKey, unb64(header(login, 'Key-share') ?? '')), clientKey, auth);
    c.sealing = { send: keys.down, recv: keys.up, sendSeq: 0, recvSeq: 0 };
    const sp = acct.badServerProof ? randomBytes(32) : loginServerProof(acct.serverKey, auth);
    c.send(
      response(
        200,
        [
          ['Server-proof', b64(sp)],
          ['Session', b64(randomBytes(16))],
          ['Heartbeat', String(this.limits.get('clientHeartbeatInterval'))],
          ['Key-blob', acct.keyBlob],
          ['Public-key', acct.identity.publicKey],
          ['Status', header(login, 'Status') ?? 'online'],
          ['Content-type', 'application/imsp-records'],
        ],
        encodeRecords(acct.bundle),
      ),
    );
    this.sessions.set(user, c);
    c.auto = (req) => {
      this.requests.push({ user, msg: req });
      if (req.method === 'LOGOUT') {
        setImmediate(() => c.end());
        return response(200, tagOf(req));
      }
      if (req.method === 'LIST') return response(200, [...tagOf(req), ['Content-type', 'application/imsp-records']], encodeRecords(acct.bundle));
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
  cwd?: string;
  runId: string;
  counter: number;
}

/** A kit peer: a buddy of the client with its own identity and a listener for the client's INITs. */
interface Peer {
  name: string;
  identity: Identity;
  server: net.Server;
  address: string;
  inbound: Conn[];
}

export class ClientContext extends Checker {
  client: ControlledClient | null = null;
  readonly conns: Conn[] = [];
  readonly peers: Peer[] = [];
  constructor(
    readonly env: ClientEnv,
    tr: Transcript,
    findings: Finding[],
  ) {
    super(findings, tr);
  }
  get timeout(): number {
    return this.env.opts.timeoutMs;
  }
  get svc(): KitServices {
    return this.env.svc;
  }
  uniq(p: string): string {
    return `${p}${this.env.runId}${(this.env.counter++).toString(36)}`;
  }

  account(bundle: Header[][] = [], extra: Partial<KitAccount> = {}): KitAccount {
    const name = this.uniq('c');
    const password = b64(randomBytes(9));
    const identity = newIdentity();
    const v = makeVerifier(password, 4096);
    const a: KitAccount = { name, password, identity, salt: v.salt, iterations: 4096, storedKey: v.storedKey, serverKey: v.serverKey, keyBlob: sealKeyBlob(password, name, identity, 10), bundle, ...extra };
    this.svc.accounts.set(name, a);
    return a;
  }

  async peer(): Promise<Peer> {
    const name = this.uniq('p');
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
      ? [['User', p.name], ['Relation', 'buddy'], ['Status', 'online'], ['Address', p.address], ['Public-key', p.identity.publicKey]]
      : [['User', p.name], ['Relation', 'buddy'], ['Status', 'offline']];
  }

  /** Start a fresh client process and log it in as `a`. */
  async startLoggedIn(a: KitAccount): Promise<ControlledClient> {
    const c = ControlledClient.start(this.env.template, { crs: fmtHostPort(this.svc.crsAddr), ms: fmtHostPort(this.svc.msAddr), user: a.name, password: a.password }, this.tr, this.env.cwd);
    this.client = c;
    this.must(await c.ready(this.timeout * 3), 'CTL-1', `the client did not print {"event":"ready"} (${c.stderr.slice(-300)})`);
    const r = await c.command(`login ${a.name} ${a.password}`, this.timeout * 4);
    this.must(r?.event === 'ok', 'LOGIN-7', `the client could not log in to the kit: ${JSON.stringify(r)} ${c.stderr.slice(-300)}`);
    return c;
  }

  /** The client's peer address, as it sent it in LOGIN. */
  clientAddress(a: KitAccount): HostPort {
    const c = this.svc.sessions.get(a.name);
    this.must(c, 'LOGIN-7', 'the client has no session at the kit MS');
    const login = c.received.find((m) => m.msg.kind === 'request' && m.msg.method === 'LOGIN')?.msg as RequestMessage | undefined;
    const addr = login ? header(login, 'Address') : undefined;
    this.must(addr, 'LOGIN-1', 'LOGIN must carry the client Address');
    return parseHostPort(addr);
  }

  async connect(addr: HostPort, name: string): Promise<Conn> {
    const c = await Conn.connect(addr, name, this.tr, this.timeout);
    this.conns.push(c);
    return c;
  }

  /** Open a peer session from kit peer `p` to the client `a`; returns the sealed connection. */
  async initFrom(p: Peer, a: KitAccount): Promise<Conn> {
    const conn = await this.connect(this.clientAddress(a), `peer-${p.name}`);
    const { msg, state } = buildInit(p.name, p.identity, a.name, a.identity.publicKey);
    conn.send(msg);
    const ack = await conn.waitEvent((m) => m.method === 'INIT-ACK', this.timeout);
    this.must(ack, 'P2P-9', `a valid INIT from a buddy must be answered INIT-ACK (got ${conn.received.at(-1)?.msg.kind === 'response' ? (conn.received.at(-1)!.msg as ResponseMessage).status : 'nothing'})`);
    const o = openInitAck(state, ack, a.identity.publicKey);
    this.must('keys' in o, 'P2P-9', `INIT-ACK: ${'error' in o ? o.error : ''}`);
    conn.sealing = { send: o.keys.i2r, recv: o.keys.r2i, sendSeq: 0, recvSeq: 0 };
    return conn;
  }
}

async function expectRefusal(ctx: ClientContext, conn: Conn, code: string, what: string): Promise<void> {
  const e = errorSpec(code);
  const r = await conn.nextResponse(ctx.timeout, `the refusal of ${what}`).catch(() => null);
  const ack = conn.received.find((m) => m.msg.kind === 'request' && m.msg.method === 'INIT-ACK');
  ctx.must(!ack, e.req, `${what} must be refused, the client answered INIT-ACK`);
  ctx.must(r, e.req, `${what} must be answered ${e.status} ${code}, got nothing`);
  ctx.must(r.status === e.status, e.req, `${what}: expected ${e.status} ${code}, got ${r.status} ${header(r, 'Error-code') ?? ''}`);
  ctx.should(header(r, 'Error-code') === code, e.req, `${what}: expected Error-code ${code}, got ${header(r, 'Error-code')}`);
  ctx.must(await conn.closedWithin(ctx.timeout), e.req, `${what}: the client must close the connection after refusing`);
}

export const clientCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/login/1',
    section: 'login',
    title: 'the client locates its MS and logs in: LOGIN with version, fresh nonce, key share and address; a PROOF that verifies',
    reqs: ['LOGIN-1', 'AUTH-12', 'HB-7'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      await ctx.startLoggedIn(a);
      const c = ctx.svc.sessions.get(a.name)!;
      const login = c.received[0]!.msg as RequestMessage;
      ctx.must(header(login, 'Imsp-version') === '1', 'CONN-2', 'LOGIN must carry Imsp-version: 1');
      ctx.must(unb64(header(login, 'Nonce') ?? '').length >= 18, 'AUTH-12', 'the client nonce must hold 18 random octets');
      ctx.must(/^[A-Za-z0-9_-]{43}$/.test(header(login, 'Key-share') ?? ''), 'LOGIN-1', 'LOGIN must carry an X25519 Key-share');
      const ping = await c.request(request('PING', [['Tag', 'kit']]), ctx.timeout);
      ctx.must(ping.status === 200, 'HB-7', 'the client must answer PING from its MS');
    },
  },
  {
    id: 'client/login/2',
    section: 'login',
    title: 'a wrong Server-proof makes the client abandon the login (the MS is not authenticated)',
    reqs: ['AUTH-11'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { badServerProof: true });
      const c = ControlledClient.start(ctx.env.template, { crs: fmtHostPort(ctx.svc.crsAddr), ms: fmtHostPort(ctx.svc.msAddr), user: a.name, password: a.password }, ctx.tr, ctx.env.cwd);
      ctx.client = c;
      ctx.must(await c.ready(ctx.timeout * 3), 'CTL-1', 'the client did not become ready');
      const r = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.must(r?.event === 'error', 'AUTH-11', `a login with a wrong Server-proof must fail, the client reported ${JSON.stringify(r)}`);
    },
  },
  {
    id: 'client/login/3',
    section: 'login',
    title: 'a challenge with more iterations than scramMaxIterations is refused without a PROOF',
    reqs: ['AUTH-6'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { challengeIterations: 1_000_001 });
      const before = ctx.svc.proofsSeen;
      const c = ControlledClient.start(ctx.env.template, { crs: fmtHostPort(ctx.svc.crsAddr), ms: fmtHostPort(ctx.svc.msAddr), user: a.name, password: a.password }, ctx.tr, ctx.env.cwd);
      ctx.client = c;
      ctx.must(await c.ready(ctx.timeout * 3), 'CTL-1', 'the client did not become ready');
      const r = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.must(r?.event === 'error', 'AUTH-6', `a challenge above scramMaxIterations must be refused, the client reported ${JSON.stringify(r)}`);
      ctx.must(ctx.svc.proofsSeen === before, 'AUTH-6', 'the client must not answer such a challenge with PROOF');
    },
  },
  {
    id: 'client/presence/1',
    section: 'presence',
    title: 'a PRESENCE push for a buddy is reported by the client',
    reqs: ['PRESENCE-7'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p, false)]);
      const c = await ctx.startLoggedIn(a);
      ctx.svc.sessions.get(a.name)!.send(request('PRESENCE', [['User', p.name], ['Status', 'busy'], ['Address', p.address], ['Public-key', p.identity.publicKey]]));
      const ev = await c.waitFor((e) => e.event === 'presence' && e.user === p.name && e.status === 'busy', ctx.timeout);
      ctx.must(ev, 'PRESENCE-7', 'the client must take the PRESENCE push (no presence event seen)');
    },
  },
  {
    id: 'client/p2p/1',
    section: 'p2p',
    title: 'a valid INIT from a buddy is answered with an INIT-ACK that opens and verifies; a SEALED MSG is answered 200 and delivered',
    reqs: ['P2P-9', 'MSG-1'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      const text = `hello ${randomBytes(4).toString('hex')}`;
      const r = await conn.request(request('MSG', [['From', p.name], ['To', a.name], ['Content-type', 'text/plain; charset=utf-8']], Buffer.from(text)), ctx.timeout);
      ctx.must(r.status === 200, 'MSG-1', `MSG must be answered 200, got ${r.status} ${header(r, 'Error-code') ?? ''}`);
      ctx.must(await c.waitFor((e) => e.event === 'message' && e.text === text, ctx.timeout), 'MSG-1', 'the message must be delivered to the user');
    },
  },
  {
    id: 'client/p2p/2',
    section: 'p2p',
    title: 'an INIT from a user who is not a buddy is refused 403 ERR_NOT_BUDDY and the connection closed',
    reqs: ['P2P-3', 'INV-6'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const stranger = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'stranger');
      conn.send(buildInit(stranger.name, stranger.identity, a.name, a.identity.publicKey).msg);
      await expectRefusal(ctx, conn, 'ERR_NOT_BUDDY', 'an INIT from a non-buddy');
    },
  },
  {
    id: 'client/p2p/3',
    section: 'p2p',
    title: 'an INIT claiming to be from a buddy but signed with another key is refused 401 ERR_BAD_SIGNATURE',
    reqs: ['P2P-6'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'forger');
      conn.send(buildInit(buddy.name, buddy.identity, a.name, a.identity.publicKey, { signWith: newIdentity() }).msg);
      await expectRefusal(ctx, conn, 'ERR_BAD_SIGNATURE', 'an INIT with a forged signature');
    },
  },
  {
    id: 'client/p2p/4',
    section: 'p2p',
    title: 'a replayed INIT (same octets on a new connection) is refused 450 ERR_REPLAY',
    reqs: ['P2P-8'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const { msg } = buildInit(buddy.name, buddy.identity, a.name, a.identity.publicKey);
      const first = await ctx.connect(ctx.clientAddress(a), 'peer');
      first.send(msg);
      ctx.must(await first.waitEvent((m) => m.method === 'INIT-ACK', ctx.timeout), 'P2P-9', 'the original INIT must be accepted');
      const again = await ctx.connect(ctx.clientAddress(a), 'replayer');
      again.send(msg);
      await expectRefusal(ctx, again, 'ERR_REPLAY', 'a replayed INIT');
    },
  },
  {
    id: 'client/p2p/5',
    section: 'p2p',
    title: 'an INIT whose Time is outside maxClockSkew is refused 450 ERR_REPLAY',
    reqs: ['P2P-8'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'peer');
      conn.send(buildInit(buddy.name, buddy.identity, a.name, a.identity.publicKey, { time: Date.now() - 2 * ctx.env.opts.limits.get('maxClockSkew') }).msg);
      await expectRefusal(ctx, conn, 'ERR_REPLAY', 'an INIT with an old Time');
    },
  },
  {
    id: 'client/p2p/6',
    section: 'p2p',
    title: 'after the client logs out, its old session key is no longer accepted: a MSG on the old session is not delivered',
    reqs: ['INV-5', 'P2P-14', 'LOGOUT-4'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      const r1 = await conn.request(request('MSG', [['From', p.name], ['To', a.name], ['Content-type', 'text/plain; charset=utf-8']], Buffer.from('before')), ctx.timeout);
      ctx.must(r1.status === 200, 'MSG-1', 'MSG before logout must be answered 200');
      const out = await c.command('logout', ctx.timeout * 2);
      ctx.must(out?.event === 'ok', 'LOGOUT-1', `logout failed: ${JSON.stringify(out)}`);
      const secret = `after-logout-${randomBytes(3).toString('hex')}`;
      if (!conn.closed) conn.send(request('MSG', [['From', p.name], ['To', a.name], ['Content-type', 'text/plain; charset=utf-8']], Buffer.from(secret)));
      const r2 = conn.closed ? null : await conn.nextResponse(ctx.timeout, 'an answer').catch(() => null);
      ctx.must(!r2 || r2.status !== 200, 'INV-5', 'a MSG sealed under a session key of a logged-out user must not be accepted');
      ctx.must(!(await c.waitFor((e) => e.event === 'message' && e.text === secret, 300)), 'INV-5', 'a MSG after logout must not be delivered');
    },
  },
  {
    id: 'client/p2p/7',
    section: 'p2p',
    title: 'the client opens a session to a buddy with a valid, signed INIT and sends the text sealed',
    reqs: ['P2P-1', 'P2P-2', 'MSG-1'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const text = `hi ${randomBytes(3).toString('hex')}`;
      const sent = c.command(`send ${p.name} ${text}`, ctx.timeout * 3);
      const deadline = Date.now() + ctx.timeout;
      while (p.inbound.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const conn = p.inbound[0];
      ctx.must(conn, 'P2P-1', 'the client did not connect to the buddy\'s Address');
      ctx.conns.push(conn);
      const init = await conn.waitEvent((m) => m.method === 'INIT', ctx.timeout);
      ctx.must(init, 'P2P-1', 'the client must open the session with INIT');
      const o = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
      ctx.must(!('error' in o), 'P2P-1', `INIT: ${'error' in o ? o.error : ''}`);
      ctx.must(o.from === a.name && o.to === p.name, 'P2P-2', `INIT record From/To must be ${a.name}/${p.name}, got ${o.from}/${o.to}`);
      ctx.must(o.signatureOk, 'P2P-2', 'the INIT signature must verify under the sender\'s Public-key');
      const { msg, keys } = buildInitAck(o, p.identity);
      conn.send(msg);
      conn.sealing = { send: keys.r2i, recv: keys.i2r, sendSeq: 0, recvSeq: 0 };
      conn.auto = (req) => (req.method === 'MSG' ? response(200, tagOf(req)) : req.method === 'PING' ? response(200, tagOf(req)) : undefined);
      const done = await sent;
      ctx.must(done?.event === 'ok', 'MSG-1', `send failed: ${JSON.stringify(done)}`);
      const m = conn.received.find((x) => x.msg.kind === 'request' && x.msg.method === 'MSG');
      ctx.must(m && m.sealed && m.msg.body.toString('utf8') === text, 'MSG-1', 'the MSG must arrive sealed with the text');
      ctx.must(header(m.msg, 'From') === a.name && header(m.msg, 'To') === p.name, 'MSG-1', 'MSG must carry From and To');
    },
  },
  {
    id: 'client/p2p/8',
    section: 'p2p',
    title: 'an INIT addressed to another user is refused 403 ERR_FORBIDDEN',
    reqs: ['P2P-4'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'misdirected');
      // Encrypted to the client's key, but To names someone else.
      conn.send(buildInit(buddy.name, buddy.identity, ctx.uniq('other'), a.identity.publicKey).msg);
      await expectRefusal(ctx, conn, 'ERR_FORBIDDEN', 'an INIT addressed to another user');
    },
  },
  {
    id: 'client/p2p/9',
    section: 'p2p',
    title: 'when the MS reports a peer offline, the client ends its session with that peer (BYE, close)',
    reqs: ['P2P-13', 'INV-5'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      ctx.svc.sessions.get(a.name)!.send(request('PRESENCE', [['User', p.name], ['Status', 'offline']]));
      const bye = await conn.waitEvent((m) => m.method === 'BYE', ctx.timeout);
      ctx.should(bye, 'P2P-13', 'the client should say BYE on the session with a peer reported offline');
      ctx.must(await conn.closedWithin(ctx.timeout), 'P2P-13', 'the client must close the session with a peer reported offline');
    },
  },
  {
    id: 'client/p2p/10',
    section: 'p2p',
    title: 'a MSG whose From is not the session\'s peer is refused 403 ERR_FORBIDDEN',
    reqs: ['MSG-2'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      const r = await conn.request(request('MSG', [['From', ctx.uniq('mallory')], ['To', a.name], ['Content-type', 'text/plain; charset=utf-8']], Buffer.from('forged')), ctx.timeout);
      ctx.must(r.status === 403, 'MSG-2', `a MSG with a forged From must be refused 403, got ${r.status} ${header(r, 'Error-code') ?? ''}`);
      ctx.should(header(r, 'Error-code') === 'ERR_FORBIDDEN', 'MSG-2', `expected Error-code ERR_FORBIDDEN, got ${header(r, 'Error-code')}`);
      ctx.must(!(await c.waitFor((e) => e.event === 'message' && e.text === 'forged', 200)), 'MSG-2', 'a refused MSG must not be delivered');
    },
  },
  {
    id: 'client/p2p/11',
    section: 'p2p',
    title: 'a SEALED envelope out of sequence on a peer session is refused 450 ERR_REPLAY and the session closed',
    reqs: ['SEAL-3'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      conn.sealing!.sendSeq = 5;
      conn.send(request('PING', []));
      const r = await conn.nextResponse(ctx.timeout, 'an answer to the out-of-order envelope').catch(() => null);
      if (r) {
        ctx.must(r.status === 450, 'SEAL-3', `an envelope out of sequence must be refused 450, got ${r.status}`);
        ctx.should(header(r, 'Error-code') === 'ERR_REPLAY', 'SEAL-3', `expected ERR_REPLAY, got ${header(r, 'Error-code')}`);
      }
      ctx.must(await conn.closedWithin(ctx.timeout), 'SEAL-3', 'the client must close the session after a bad Seq');
    },
  },
];

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
    const v: { req: string; text: string }[] = [];
    await ctx.client?.stop();
    for (const c of [...ctx.conns, ...ctx.peers.flatMap((p) => p.inbound), ...this.env.svc.sessions.values()]) {
      v.push(...c.violations);
      c.destroy();
    }
    this.env.svc.sessions.clear();
    for (const p of ctx.peers) p.server.close();
    return v;
  }
  async probe(): Promise<string | null> {
    return null; // every case starts a fresh client process; a crash shows in the case itself
  }
}

export const clientRole: RoleModule<ClientContext> = {
  cases: () => clientCases,
  async setup(cfg: KitConfig, run: RunOptions) {
    const svc = new KitServices(cfg.limits);
    await svc.start();
    const env: ClientEnv = { svc, opts: run, template: cfg.clientCmd!, runId: randomBytes(2).toString('hex').replace(/^[0-9]/, 'z'), counter: 0, ...((cfg as KitConfig & { cwd?: string }).cwd ? { cwd: (cfg as KitConfig & { cwd?: string }).cwd! } : {}) };
    return { driver: new ClientDriver(env, clientCases), target: `client command: ${cfg.clientCmd}`, teardown: () => svc.close() };
  },
  caseBudgetMs: (cfg: KitConfig) => 30 * cfg.timeoutMs,
};

/** make conformance: the reference client, started per case through reference/bin/imsp.js. */
export async function selftestClient(o: { root: string }, _w: Workdir, base: KitConfig, out: (l: string) => void): Promise<{ role: 'client'; results: CaseResult[]; status: number }> {
  const { runKit } = await import('../cli.js');
  const cfg = { ...base, clientCmd: `${process.execPath} reference/bin/imsp.js client --control --crs {crs}`, cwd: o.root };
  const { results, status } = await runKit(cfg as KitConfig, out);
  return { role: 'client', results, status };
}

