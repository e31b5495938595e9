// The MS role: the kit listens as the CRS (--listen, with the MS key) and acts as clients on the
// address the MS enrolled with. Sections: enrollment (MS side), login, presence filtering, From
// stamping, heartbeats, and the wire/registry/fuzz cases on the client port.
import { randomBytes } from 'node:crypto';
import { header, request, type Header, type ResponseMessage } from '../../generated/index.js';
import type { KitConfig, RoleModule } from '../cli.js';
import { wireCases } from '../cases/wire.js';
import { wireFuzzCase } from '../cases/fuzz-wire.js';
import { msStateCases } from '../cases/ms/state.js';
import type { WireTarget } from '../cases/wire.js';
import { checkError } from '../cases/wire.js';
import { loginOn } from '../lib/as-client.js';
import { KitCrs, type KitUser } from '../lib/as-crs.js';
import type { CaseDef, Finding } from '../lib/case.js';
import { Conn, Transcript, parseHostPort, fmtHostPort, type HostPort } from '../lib/conn.js';
import { b64, makeVerifier, newIdentity, sealKeyBlob } from '../lib/crypto.js';
import type { Limits } from '../lib/registry.js';
import { Checker, type Driver, type RunOptions } from '../lib/runner.js';
import { startReferenceMs, type Workdir } from '../lib/spawn.js';

export interface MsEnv {
  crs: KitCrs;
  opts: RunOptions;
  runId: string;
  counter: number;
}

export class MsContext extends Checker {
  readonly conns: Conn[] = [];
  constructor(
    readonly env: MsEnv,
    tr: Transcript,
    findings: Finding[],
    readonly caseDef: CaseDef<MsContext>,
  ) {
    super(findings, tr);
  }
  get timeout(): number {
    return this.env.opts.timeoutMs;
  }
  get limits(): Limits {
    return this.env.opts.limits;
  }
  get opts(): RunOptions {
    return this.env.opts;
  }
  get crs(): KitCrs {
    return this.env.crs;
  }
  target(): HostPort {
    this.must(this.crs.listenAddr, 'ENROLL-2', 'the MS under test has not enrolled with the kit');
    return parseHostPort(this.crs.listenAddr);
  }
  async connectWith(tr: Transcript, name: string): Promise<Conn> {
    return Conn.connect(this.target(), name, tr, this.timeout);
  }
  async connect(name = 'c'): Promise<Conn> {
    const c = await Conn.connect(this.target(), `${name}${this.conns.length}`, this.tr, this.timeout);
    this.conns.push(c);
    return c;
  }
  uniq(p: string): string {
    return `${p}${this.env.runId}${(this.env.counter++).toString(36)}`;
  }
  /** A user known to the kit CRS, with the given contact records in its bundle. */
  user(bundle: Header[][] = []): KitUser {
    const name = this.uniq('m');
    const password = b64(randomBytes(9));
    const id = newIdentity();
    const v = makeVerifier(password, 4096);
    const u: KitUser = { name, password, salt: b64(v.salt), iterations: 4096, storedKey: b64(v.storedKey), serverKey: b64(v.serverKey), keyBlob: sealKeyBlob(password, name, id, 10), publicKey: id.publicKey, bundle };
    this.crs.users.set(name, u);
    return u;
  }
  async login(u: KitUser): Promise<Conn> {
    const c = await this.connect('cl');
    const out = await loginOn(c, u.name, u.password, `127.0.0.1:${41000 + (this.env.counter++ % 9000)}`, this.timeout);
    this.must(out.challenge?.status === 300, 'LOGIN-4', `LOGIN must be answered 300 Challenge, got ${out.challenge?.status ?? 'close'}`);
    this.must(out.salt === u.salt, 'LOGIN-4', 'the challenge must carry the verifier\'s Salt');
    this.must(out.result?.status === 200, 'LOGIN-7', `a correct PROOF must be answered 200, got ${out.result?.status ?? 'close'} ${out.result ? header(out.result, 'Error-code') ?? '' : ''}`);
    this.must(c.received.at(-1)?.sealed, 'LOGIN-7', 'the 200 to PROOF must be the first SEALED envelope');
    this.must(out.serverProofOk, 'LOGIN-7', 'Server-proof must be HMAC(ServerKey, auth)');
    c.auto = (req) => (req.method === 'PING' ? { kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) } : undefined);
    return c;
  }
}

const msWireTarget = (ctx: { uniq?: (p: string) => string } = {}): WireTarget => ({
  role: 'ms',
  from: 'client',
  start: 'LOGIN',
  first: () =>
    request('LOGIN', [['Imsp-version', '1'], ['User', (ctx.uniq ?? ((p: string) => p + randomBytes(3).toString('hex')))('ghost')], ['Nonce', b64(randomBytes(18))], ['Key-share', b64(randomBytes(32))], ['Address', '127.0.0.1:9']]),
  firstOk: (r: ResponseMessage) => r.status === 300,
});

const since = (ctx: MsContext): number => ctx.crs.requests.length;
const sentSince = (ctx: MsContext, n: number, method: string, user?: string) => ctx.crs.requests.slice(n).find((m) => m.method === method && (user === undefined || header(m, 'User') === user || header(m, 'From') === user));

export const msCases = (limits: Limits): CaseDef<MsContext>[] => [
  ...wireCases<MsContext>(msWireTarget(), limits, 'ms'),
  {
    id: 'ms/enroll/1',
    section: 'enroll',
    title: 'the MS enrolled with the kit CRS with a valid proof over a fresh handshake',
    reqs: ['ENROLL-2', 'ENROLL-13'],
    async run(ctx: MsContext) {
      ctx.must(ctx.crs.enrollments > 0, 'ENROLL-3', `the MS did not enroll (${ctx.crs.lastEnrollError ?? 'no connection'})`);
      ctx.must(ctx.crs.listenAddr && /:\d+$/.test(ctx.crs.listenAddr), 'ENROLL-2', 'ENROLL must carry the Listen address');
    },
  },
  {
    id: 'ms/login/1',
    section: 'login',
    title: 'a correct login: challenge with the verifier salt, 200 sealed with a valid Server-proof, Key-blob and bundle; LOCK and ONLINE sent to the CRS',
    reqs: ['LOGIN-2', 'LOGIN-4', 'LOGIN-7', 'AUTH-7', 'AUTH-13'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const n = since(ctx);
      const c = await ctx.login(u);
      ctx.must(sentSince(ctx, n, 'LOCK', u.name), 'LOGIN-2', 'the MS must send LOCK to the CRS');
      ctx.must(sentSince(ctx, n, 'ONLINE', u.name), 'AUTH-7', 'the MS must send ONLINE after a good proof');
      const pong = await c.request(request('PING', [['Tag', 't']]), ctx.timeout);
      ctx.must(pong.status === 200, 'HB-1', 'PING on the session must be answered 200');
    },
  },
  {
    id: 'ms/login/2',
    section: 'login',
    title: 'a wrong password is answered 401 ERR_AUTH_FAILED, the connection closed and the lock released (UNLOCK)',
    reqs: ['AUTH-8'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const n = since(ctx);
      const c = await ctx.connect('cl');
      const out = await loginOn(c, u.name, u.password + 'x', '127.0.0.1:9', ctx.timeout);
      ctx.must(out.challenge?.status === 300, 'LOGIN-4', `LOGIN must be challenged, got ${out.challenge?.status ?? 'close'}`);
      checkError(ctx, out.result, 'ERR_AUTH_FAILED', 'PROOF with a wrong password');
      ctx.must(await c.closedWithin(ctx.timeout), 'AUTH-8', 'the MS must close the connection after a failed proof');
      ctx.must(!sentSince(ctx, n, 'ONLINE', u.name), 'AUTH-8', 'a failed proof must never bring the user online');
      ctx.must(await ctx.crs.until(() => !!sentSince(ctx, n, 'UNLOCK', u.name), ctx.timeout), 'AUTH-8', 'the MS must UNLOCK the user after a failed proof');
    },
  },
  {
    id: 'ms/login/3',
    section: 'login',
    title: 'an unknown user is not revealed: a challenge with a decoy salt (the same each time), then 401 ERR_AUTH_FAILED',
    reqs: ['AUTH-9', 'AUTH-8'],
    async run(ctx: MsContext) {
      const ghost = ctx.uniq('ghost');
      const c1 = await ctx.connect('cl');
      const o1 = await loginOn(c1, ghost, 'whatever', '127.0.0.1:9', ctx.timeout);
      ctx.must(o1.challenge?.status === 300, 'AUTH-9', `an unknown user must be challenged like a known one, got ${o1.challenge?.status ?? 'close'}`);
      checkError(ctx, o1.result, 'ERR_AUTH_FAILED', 'PROOF for an unknown user');
      const c2 = await ctx.connect('cl');
      const o2 = await loginOn(c2, ghost, 'whatever', '127.0.0.1:9', ctx.timeout);
      ctx.should(o2.salt === o1.salt, 'AUTH-9', 'the decoy salt should be the same for the same name (HMAC(ms-secret, user))');
    },
  },
  {
    id: 'ms/login/4',
    section: 'login',
    title: 'a user already online (CRS answers 409) gets 409 ERR_ALREADY_ONLINE and the connection stays open',
    reqs: ['LOGIN-5', 'LOCK-2'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      ctx.crs.lockOverride.set(u.name, 409);
      const c = await ctx.connect('cl');
      const out = await loginOn(c, u.name, u.password, '127.0.0.1:9', ctx.timeout);
      checkError(ctx, out.challenge, 'ERR_ALREADY_ONLINE', 'LOGIN of a user online elsewhere');
      ctx.must(!(await c.closedWithin(200)), 'LOGIN-5', 'the connection must stay open after 409');
    },
  },
  {
    id: 'ms/presence/1',
    section: 'presence',
    title: 'a PRESENCE push reaches only local clients that have the user as a buddy',
    reqs: ['PRESENCE-4', 'INV-6'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const alice = ctx.user([[['User', bob], ['Relation', 'buddy'], ['Status', 'offline']]]);
      const carol = ctx.user([]);
      const ca = await ctx.login(alice);
      const cc = await ctx.login(carol);
      ctx.crs.push('PRESENCE', [['User', bob], ['Status', 'online'], ['Address', '127.0.0.1:4242'], ['Public-key', newIdentity().publicKey]]);
      const got = await ca.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, ctx.timeout);
      ctx.must(got, 'PRESENCE-4', 'a buddy\'s PRESENCE must be forwarded to the client');
      const leaked = await cc.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, 300);
      ctx.must(!leaked, 'INV-6', 'PRESENCE of a user must not reach a client that does not have him as a buddy');
    },
  },
  {
    id: 'ms/add/1',
    section: 'add',
    title: 'the MS stamps From from the session on requests it forwards, and refuses a client-supplied From',
    reqs: ['AUTH-10', 'REG-4'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const n = since(ctx);
      const r = await c.request(request('ADD', [['To', 'someone']]), ctx.timeout);
      ctx.must(r.status < 400, 'ADD-2', `ADD must be forwarded, got ${r.status}`);
      const fwd = sentSince(ctx, n, 'ADD');
      ctx.must(fwd && header(fwd, 'From') === u.name, 'AUTH-10', `the forwarded ADD must carry From: ${u.name}, carried ${fwd ? header(fwd, 'From') : 'nothing'}`);
      const forged = await c.request(request('ADD', [['To', 'someone'], ['From', 'mallory']]), ctx.timeout);
      checkError(ctx, forged, 'ERR_HEADER_NOT_ALLOWED', 'ADD with a client-supplied From');
    },
  },
  {
    id: 'ms/heartbeat/1',
    section: 'heartbeat',
    title: 'a client silent for sessionTimeout is logged out: OFFLINE to the CRS, and the connection closed',
    reqs: ['HB-2'],
    async run(ctx: MsContext) {
      const limit = ctx.limits.get('sessionTimeout');
      if (limit > 5000 && !ctx.opts.slow) ctx.skip(`sessionTimeout is ${limit} ms; pass --slow or --set sessionTimeout=N matching the MS`);
      const u = ctx.user();
      const c = await ctx.login(u);
      c.auto = () => undefined; // silent: not even PING answers
      const n = since(ctx);
      ctx.must(await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), limit * 3 + ctx.timeout), 'HB-2', `the MS must end a session silent for sessionTimeout (${limit} ms) with OFFLINE`);
      ctx.must(await c.closedWithin(ctx.timeout), 'HB-2', 'the MS must close the silent client\'s connection');
    },
  },
  {
    id: 'ms/seal/1',
    section: 'seal',
    title: 'a client envelope with a replayed sequence number is refused 450 ERR_REPLAY and the session closed',
    reqs: ['SEAL-3'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      c.send(request('PING', []));
      await c.nextResponse(ctx.timeout);
      c.sealing!.sendSeq -= 1;
      c.send(request('PING', []));
      const r = await c.nextResponse(ctx.timeout, 'an answer to the replayed envelope');
      if (r) checkError(ctx, r, 'ERR_REPLAY', 'a replayed Seq');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-3', 'the MS must close after a bad Seq');
    },
  },
  wireFuzzCase<MsContext>(msWireTarget(), limits, 'ms/fuzz/1'),
  ...msStateCases,
];

export class MsDriver implements Driver<MsContext> {
  constructor(
    readonly env: MsEnv,
    readonly cases: CaseDef<MsContext>[],
  ) {}
  context(tr: Transcript, findings: Finding[], c: CaseDef<MsContext>): MsContext {
    return new MsContext(this.env, tr, findings, c);
  }
  async cleanup(ctx: MsContext): Promise<{ req: string; text: string }[]> {
    const v: { req: string; text: string }[] = [];
    for (const c of ctx.conns) {
      v.push(...c.violations);
      c.destroy();
    }
    if (this.env.crs.link) v.push(...this.env.crs.link.violations.splice(0));
    return v;
  }
  async probe(tr: Transcript): Promise<string | null> {
    if (!this.env.crs.listenAddr) return 'the MS is not enrolled';
    let c: Conn;
    try {
      c = await Conn.connect(parseHostPort(this.env.crs.listenAddr), 'probe', tr, this.env.opts.timeoutMs);
    } catch (e) {
      return (e as Error).message;
    }
    try {
      const r = await c.request(msWireTarget().first() as never, this.env.opts.timeoutMs);
      return r.status === 300 ? null : `LOGIN answered ${r.status}`;
    } catch (e) {
      return (e as Error).message;
    } finally {
      c.destroy();
    }
  }
}

export const msRole: RoleModule<MsContext> = {
  cases: msCases,
  async setup(cfg: KitConfig, run: RunOptions) {
    const crs = new KitCrs(cfg.msKey!, cfg.limits);
    const addr = await crs.listen(parseHostPort(cfg.listen ?? '127.0.0.1:7000'));
    run.progress(`kit CRS listening on ${fmtHostPort(addr)}: start the MS under test with --crs ${fmtHostPort(addr)} and the same MS key`);
    const env: MsEnv = { crs, opts: run, runId: randomBytes(2).toString('hex').replace(/^[0-9]/, 'q'), counter: 0 };
    (cfg as KitConfig & { onListen?: (a: string) => Promise<void> }).onListen && (await (cfg as KitConfig & { onListen: (a: string) => Promise<void> }).onListen(fmtHostPort(addr)));
    const ok = await crs.until(() => crs.enrollments > 0, Math.max(60000, run.timeoutMs));
    if (!ok) run.progress(`the MS did not enroll within the wait (${crs.lastEnrollError ?? 'no connection'})`);
    return {
      driver: new MsDriver(env, msCases(cfg.limits)),
      target: crs.listenAddr ?? 'not enrolled',
      teardown: () => crs.close(),
    };
  },
  caseBudgetMs(cfg: KitConfig) {
    return 20 * cfg.timeoutMs + 4 * cfg.limits.get('sessionTimeout') + cfg.runs * 200;
  },
};

/** make conformance: the kit CRS on port 0, the reference MS spawned against it. */
export async function selftestMs(
  o: { root: string },
  w: Workdir,
  base: KitConfig,
  out: (l: string) => void,
): Promise<{ role: 'ms'; results: import('../lib/case.js').CaseResult[]; status: number }> {
  const { runKit } = await import('../cli.js');
  let ms: { stop(): Promise<void> } | null = null;
  const cfg = { ...base, listen: '127.0.0.1:0', msKey: w.msKey, onListen: async (addr: string) => {
    ms = await startReferenceMs(o.root, w, addr);
  } };
  try {
    const { results, status } = await runKit(cfg, out);
    return { role: 'ms', results, status };
  } finally {
    await (ms as { stop(): Promise<void> } | null)?.stop();
  }
}
