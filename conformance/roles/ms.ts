// The MS role: the kit listens as the CRS (--listen, with the MS key) and acts as clients on the
// address the MS enrolled with. Sections: enrollment (MS side), login, presence filtering, From
// stamping, heartbeats, and the wire/registry/fuzz cases on the client port.
import { randomBytes } from 'node:crypto';
import { header, request, type Header } from '../../generated/index.js';
import type { KitConfig, RoleModule } from '../cli.js';
import { wireCases } from '../cases/wire.js';
import { wireFuzzCase } from '../cases/fuzz-wire.js';
import { msStateCases } from '../cases/ms/state.js';
import { loginOn } from '../lib/as-client.js';
import { KitCrs, type KitUser } from '../lib/as-crs.js';
import type { CaseDef, Finding } from '../lib/case.js';
import { Conn, Transcript, parseHostPort, fmtHostPort, type HostPort } from '../lib/conn.js';
import { b64, makeVerifier, newIdentity, sealKeyBlob } from '../lib/crypto.js';
import type { Limits } from '../lib/registry.js';
import { Checker, type Driver, type RunOptions } from '../lib/runner.js';
import { startReferenceMs, type Workdir } from '../lib/spawn.js';
import { msWireTarget } from '../cases/ms/helpers.js';
import { msEnrollCases } from '../cases/ms/enroll.js';
import { msLoginCases } from '../cases/ms/login.js';
import { msPresenceCases } from '../cases/ms/presence.js';
import { msAddCases } from '../cases/ms/add.js';
import { msHeartbeatCases } from '../cases/ms/heartbeat.js';
import { msSealCases } from '../cases/ms/seal.js';


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

export const msCases = (limits: Limits): CaseDef<MsContext>[] => [
  ...wireCases<MsContext>(msWireTarget(), limits, 'ms'),
  ...msEnrollCases,
  ...msLoginCases,
  ...msPresenceCases,
  ...msAddCases,
  ...msHeartbeatCases,
  ...msSealCases,
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
