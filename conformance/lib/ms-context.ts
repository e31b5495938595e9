// The context of the MS-role cases: the kit listens as the CRS (--listen, with the MS key) and acts
// as clients on the address the MS enrolled with. Also the driver and the run set-up.
import { randomBytes } from 'node:crypto';
import { header, type Header, type RequestMessage } from '../../codec/index.js';
import { SetupError, type KitConfig, type RoleSetup } from './config.js';
import { loginOn, type LoginOutcome } from './as-client.js';
import { KitCrs, type KitUser } from './as-crs.js';
import type { CaseDef, Finding } from './case.js';
import { Conn, type Transcript, parseHostPort, fmtHostPort, type HostPort } from './conn.js';
import { b64 } from './crypto.js';
import type { Driver, ProbeFailure, RunOptions } from './runner.js';
import { closeConns, runStopCmd, ServerRoleContext, userMaterial } from './role-context.js';
import { msWireTarget } from './wire-target.js';

export interface MsEnv {
  crs: KitCrs;
  opts: RunOptions;
  runId: string;
  counter: number;
  /** Stops the MS under test on purpose (SIGTERM, or --ms-stop-cmd); absent: the shutdown cases skip. */
  stopMs?: () => Promise<void>;
}

export class MsContext extends ServerRoleContext<MsEnv> {
  /** The outcome of the last login() of this case: the 200 to PROOF carries Session, Heartbeat, Session-timeout. */
  lastLogin: LoginOutcome | null = null;
  constructor(
    env: MsEnv,
    tr: Transcript,
    findings: Finding[],
    readonly caseDef: CaseDef<MsContext>,
  ) {
    super(env, tr, findings);
  }
  get crs(): KitCrs {
    return this.env.crs;
  }
  target(): HostPort {
    if (!this.crs.listenAddr) this.skip('the MS under test has not enrolled with the kit');
    return parseHostPort(this.crs.listenAddr);
  }
  /** A connection from the source address `localAddress` (see freshSource), closed by the cleanup. */
  async connectFrom(name: string, localAddress: string | undefined): Promise<Conn> {
    if (localAddress === undefined) return this.connect(name);
    const c = await Conn.connect(this.target(), `${name}${this.conns.length}`, this.tr, this.timeout, localAddress);
    this.conns.push(c);
    return c;
  }
  /**
   * A source address no earlier connection of this run used, for the per-address login limit
   * [RATE-5]: a random 127.a.b.c when the MS under test listens on IPv4 loopback (Linux routes all of
   * 127/8 to lo), else undefined (the kit's own address).
   */
  freshSource(): string | undefined {
    if (!/^127\./.test(this.target().host)) return undefined;
    const b = randomBytes(3);
    return `127.${1 + (b[0]! % 254)}.${b[1]!}.${1 + (b[2]! % 254)}`;
  }
  /** A user known to the kit CRS, with the given contact records in its bundle. */
  user(bundle: Header[][] = []): KitUser {
    const name = this.uniq('m');
    const password = b64(randomBytes(9));
    const { identity: _, ...material } = userMaterial(name, password);
    const u: KitUser = { name, password, ...material, bundle };
    this.crs.users.set(name, u);
    return u;
  }
  /** Two users of the kit CRS (`a` with the given bundle, `b` with none), both logged in: `ca` and `cb`. */
  async loginPair(bundle: Header[][] = []): Promise<{ a: KitUser; b: KitUser; ca: Conn; cb: Conn }> {
    const a = this.user(bundle);
    const b = this.user([]);
    const ca = await this.login(a);
    return { a, b, ca, cb: await this.login(b) };
  }
  async login(u: KitUser, localAddress?: string): Promise<Conn> {
    const c = await this.connectFrom('cl', localAddress);
    const out = await loginOn(c, u.name, u.password, `127.0.0.1:${41000 + (this.env.counter++ % 9000)}`, this.timeout);
    this.lastLogin = out;
    this.pre(
      out.challenge?.status === 300,
      'LOGIN-4',
      `LOGIN must be answered 300 Challenge, got ${out.challenge?.status ?? 'close'}`,
    );
    this.pre(out.salt === u.salt, 'LOGIN-4', "the challenge must carry the verifier's Salt");
    this.pre(
      out.result?.status === 200,
      'LOGIN-7',
      `a correct PROOF must be answered 200, got ${out.result?.status ?? 'close'} ${out.result ? (header(out.result, 'Error-code') ?? '') : ''}`,
    );
    this.pre(c.received.at(-1)?.sealed, 'LOGIN-7', 'the 200 to PROOF must be the first SEALED envelope');
    this.pre(out.serverProofOk, 'LOGIN-7', 'Server-proof must be HMAC(ServerKey, auth)');
    // [HB-11] the MS announces its sessionTimeout, so that the client ends a silent session in step with it [HB-6].
    const st = header(out.result, 'Session-timeout');
    this.pre(
      st !== undefined && Number(st) > 0,
      'HB-11',
      `the 200 to PROOF must carry Session-timeout (the MS's sessionTimeout), got ${st ?? 'none'}`,
    );
    c.auto = (req) =>
      req.method === 'PING'
        ? { kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) }
        : undefined;
    return c;
  }
}

export class MsDriver implements Driver<MsContext> {
  constructor(
    readonly env: MsEnv,
    readonly cases: CaseDef<MsContext>[],
  ) {}
  context(tr: Transcript, findings: Finding[], c: CaseDef<MsContext>): MsContext {
    return new MsContext(this.env, tr, findings, c);
  }
  async cleanup(ctx: MsContext): Promise<{ req: string; text: string }[]> {
    const v = closeConns(ctx.conns);
    if (this.env.crs.link) v.push(...this.env.crs.link.violations.splice(0));
    v.push(...this.env.crs.refused.splice(0));
    this.env.crs.reset();
    // A case that took the CRS link away, or made the MS close it, leaves it to the MS to enroll again
    // before the next case [ENROLL-12]; one the kit does not probe after may have stopped the MS.
    if (this.linkLost() && !ctx.caseDef.noProbe) await this.env.crs.until(() => !this.linkLost(), 20000);
    return v;
  }
  /** The MS under test has no open CRS link: none yet, taken away by a case, or closed by the MS. */
  private linkLost(): boolean {
    return !this.env.crs.link || this.env.crs.link.closed;
  }

  async probe(tr: Transcript): Promise<ProbeFailure | string | null> {
    if (!this.env.crs.listenAddr) return 'the MS is not enrolled';
    let c: Conn;
    try {
      c = await Conn.connect(parseHostPort(this.env.crs.listenAddr), 'probe', tr, this.env.opts.timeoutMs);
    } catch (e) {
      return (e as Error).message;
    }
    try {
      const r = await c.request(msWireTarget().first() as never, this.env.opts.timeoutMs);
      if (r.status === 300) return null;
      // It answers, but the cleanup's wait for it to enroll again ran out: an MS that lost its CRS
      // link MUST enroll again [ENROLL-12]. Named here, not by the case: ms/format/2 cites [REG-10] first.
      if (this.linkLost())
        return {
          req: 'ENROLL-12',
          text: `LOGIN answered ${r.status}, and the MS has not enrolled again since it lost its CRS link`,
        };
      return `LOGIN answered ${r.status}`;
    } catch (e) {
      return (e as Error).message;
    } finally {
      c.destroy();
    }
  }
}

/** Set up a run against an MS: the kit CRS listens and waits for the MS under test to enroll. */
export async function setupMs(
  cfg: KitConfig,
  run: RunOptions,
  cases: CaseDef<MsContext>[],
): Promise<RoleSetup<MsContext>> {
  const crs = new KitCrs(cfg.msKey!, cfg.limits);
  const addr = await crs.listen(parseHostPort(cfg.listen ?? '127.0.0.1:7000'));
  run.progress(
    `kit CRS listening on ${fmtHostPort(addr)}: start the MS under test with --crs ${fmtHostPort(addr)} and the same MS key`,
  );
  const hooks = cfg as KitConfig & { stopMs?: () => Promise<void> };
  const env: MsEnv = {
    ...(hooks.stopMs ? { stopMs: hooks.stopMs } : cfg.msStopCmd ? { stopMs: () => runStopCmd(cfg.msStopCmd!) } : {}),
    crs,
    opts: run,
    runId: randomBytes(2)
      .toString('hex')
      .replace(/^[0-9]/, 'q'),
    counter: 0,
  };
  (cfg as KitConfig & { onListen?: (a: string) => Promise<void> }).onListen &&
    (await (cfg as KitConfig & { onListen: (a: string) => Promise<void> }).onListen(fmtHostPort(addr)));
  // [CONF-14] The first enrollment decides whether the run can start: a PROOF that does not verify
  // with the kit's MS key, or no MS at all, stops the run before any case (exit status 2).
  const ok = await crs.until(() => crs.enrollments > 0 || crs.lastEnrollError !== null, Math.max(60000, run.timeoutMs));
  if (crs.enrollments === 0) {
    await crs.close();
    const why =
      crs.lastEnrollError === 'the MS proof did not verify'
        ? 'its PROOF does not verify with --ms-key-file: the MS must use the same MS key as the kit'
        : (crs.lastEnrollError ?? 'no connection');
    throw new SetupError(
      ok
        ? `the MS under test could not enroll with the kit's CRS at ${fmtHostPort(addr)}: ${why}`
        : `no MS enrolled with the kit's CRS at ${fmtHostPort(addr)} within ${Math.max(60000, run.timeoutMs) / 1000} s (${why})`,
    );
  }
  return {
    driver: new MsDriver(env, cases),
    target: crs.listenAddr ?? 'not enrolled',
    teardown: () => crs.close(),
  };
}

export const msCaseBudgetMs = (cfg: KitConfig): number =>
  20 * cfg.timeoutMs + 4 * cfg.limits.get('sessionTimeout') + cfg.runs * 200;

/** The value of a limit the MS announced in the 200 to PROOF (Heartbeat, Session-timeout), else the kit's. */
export function announced(ctx: MsContext, name: 'Heartbeat' | 'Session-timeout'): number {
  const v = ctx.lastLogin?.result ? Number(header(ctx.lastLogin.result, name)) : Number.NaN;
  if (Number.isFinite(v) && v > 0) return v;
  return ctx.limits.get(name === 'Heartbeat' ? 'clientHeartbeatInterval' : 'sessionTimeout');
}

/** How many requests the kit CRS has received so far (a mark for sentSince). */
export const since = (ctx: MsContext): number => ctx.crs.requests.length;
/** The first request with this method (and User or From) the MS sent to the kit CRS after mark n. */
export const sentSince = (ctx: MsContext, n: number, method: string, user?: string): RequestMessage | undefined =>
  ctx.crs.requests
    .slice(n)
    .find(
      (m) => m.method === method && (user === undefined || header(m, 'User') === user || header(m, 'From') === user),
    );
