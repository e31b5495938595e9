// The context of the CRS-role cases, its driver and the run set-up for a CRS under test: the kit plays Messaging Servers (with the MS key the user gives) and
// clients (LOCATE). Test users are provisioned with REGISTER over an enrolled MS link.
import { randomBytes } from 'node:crypto';
import { header, parseRecords, request, type Header, type ResponseMessage } from '../../codec/index.js';
import { enrollOn, MsLink, type EnrollParams } from './as-ms.js';
import type { CaseDef, Finding } from './case.js';
import { Conn, Transcript, type HostPort } from './conn.js';
import { b64 } from './crypto.js';
import { errorSpec } from './registry.js';
import type { Driver, RunOptions } from './runner.js';
import { closeConns, runStopCmd, ServerRoleContext, userMaterial, type UserMaterial } from './role-context.js';
import { parseHostPort } from './conn.js';
import { KIT_NAME_PREFIX, SetupError, type KitConfig, type RoleSetup } from './config.js';
import { connectMs } from './as-ms.js';

export interface CrsEnv {
  target: HostPort;
  msKey: Buffer;
  opts: RunOptions;
  /** Unique per kit run: keeps names apart from earlier runs against the same CRS. */
  runId: string;
  counter: number;
  provisioning: MsLink | null;
  /** The user names the kit sent REGISTER for (they stay in the target's store: IMSP cannot delete a user). */
  created: Set<string>;
  /** Stops the CRS under test on purpose (--crs-stop-cmd, or the self-test's SIGTERM); absent: the shutdown case skips. */
  stopCrs?: () => Promise<void>;
}

/** A user the kit registered: its name and password with the registration material. */
export interface TestUser extends UserMaterial {
  name: string;
  password: string;
}

export interface Session {
  user: TestUser;
  ms: MsLink;
  epoch: string;
  address: string;
  bundle: ResponseMessage;
  records: Header[][];
}

export class CrsContext extends ServerRoleContext<CrsEnv> {
  readonly links: MsLink[] = [];
  constructor(
    env: CrsEnv,
    tr: Transcript,
    findings: Finding[],
    readonly caseDef: CaseDef<CrsContext>,
  ) {
    super(env, tr, findings);
  }

  target(): HostPort {
    return this.env.target;
  }

  /** A fresh name, `kit.<run id>.<prefix><n>` ([CONF-13]): recognisable in the target's store. */
  override uniq(prefix: string): string {
    return `${KIT_NAME_PREFIX}${this.env.runId}.${prefix}${(this.env.counter++).toString(36)}`;
  }

  msParams(p: Partial<EnrollParams> = {}): EnrollParams {
    return {
      msId: p.msId ?? this.uniq('kit-ms-'),
      incarnation: p.incarnation ?? Date.now() * 10 + (this.env.counter++ % 10),
      listen: p.listen ?? `127.0.0.1:${20000 + (this.env.counter++ % 20000)}`,
      capacity: p.capacity ?? 100,
    };
  }

  /** Enroll a fresh MS; any refusal is a failure of the enrollment requirements. */
  async enroll(p: Partial<EnrollParams> = {}, heartbeat = true): Promise<MsLink> {
    const params = this.msParams(p);
    const conn = await this.connect('ms');
    const out = await enrollOn(conn, this.env.msKey, params, this.timeout);
    this.pre(
      out.challenge?.status === 300,
      'ENROLL-2',
      `ENROLL must be answered 300 Challenge, got ${out.challenge?.status ?? 'close'}`,
    );
    this.pre(
      out.result?.status === 200,
      'ENROLL-4',
      `a correct PROOF must be answered 200, got ${out.result?.status ?? 'close'} ${out.result ? (header(out.result, 'Error-code') ?? '') : ''}`,
    );
    this.pre(out.serverProofOk, 'ENROLL-4', 'the Server-proof must be HMAC(MSkey, "crs," + auth)');
    const link = new MsLink(conn, params, this.timeout);
    link.lease = Number(header(out.result, 'Lease') ?? 0);
    link.heartbeat = Number(header(out.result, 'Heartbeat') ?? 0);
    if (heartbeat) link.startHeartbeat();
    this.links.push(link);
    return link;
  }

  /** The provisioning link (one per run, re-made when it died). */
  async provisioner(): Promise<MsLink> {
    const p = this.env.provisioning;
    if (p && !p.conn.closed) return p;
    const params = this.msParams({ msId: `${KIT_NAME_PREFIX}${this.env.runId}.prov` });
    const conn = await Conn.connect(this.env.target, 'prov', this.tr, this.timeout);
    const out = await enrollOn(conn, this.env.msKey, params, this.timeout);
    this.pre(
      out.result?.status === 200 && out.serverProofOk,
      'ENROLL-4',
      `the kit cannot enroll to provision users: ${out.result?.status ?? 'closed'}`,
    );
    const link = new MsLink(conn, params, this.timeout);
    link.heartbeat = Number(header(out.result, 'Heartbeat') ?? 0);
    link.startHeartbeat();
    this.env.provisioning = link;
    return link;
  }

  /** Make a user's registration material (not yet registered). */
  makeUser(name = this.uniq('u')): TestUser {
    const password = b64(randomBytes(12));
    return { name, password, ...userMaterial(name, password) };
  }

  registerHeaders(u: TestUser): Header[] {
    this.env.created.add(u.name);
    return [
      ['User', u.name],
      ['Salt', u.salt],
      ['Iterations', String(u.iterations)],
      ['Stored-key', u.storedKey],
      ['Server-key', u.serverKey],
      ['Key-blob', u.keyBlob],
      ['Public-key', u.publicKey],
    ];
  }

  /** A registered user, via REGISTER on the provisioning link. */
  async user(): Promise<TestUser> {
    const u = this.makeUser();
    const ms = await this.provisioner();
    const r = await ms.req('REGISTER', this.registerHeaders(u));
    this.pre(
      r.status === 201,
      'REGISTER-1',
      `REGISTER of a new user must be answered 201, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
    );
    return u;
  }

  async users(n: number): Promise<TestUser[]> {
    const out: TestUser[] = [];
    for (let i = 0; i < n; i++) out.push(await this.user());
    return out;
  }

  /** Assert an error response is the registry's answer for `code`. */
  expectError(r: ResponseMessage | null, code: string, what: string, req = errorSpec(code).req): void {
    const e = errorSpec(code);
    this.must(r, req, `${what}: expected ${e.status} ${code}, the connection closed`);
    this.must(
      r.status === e.status,
      req,
      `${what}: expected ${e.status} ${code}, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
    );
    this.should(
      header(r, 'Error-code') === code,
      req,
      `${what}: expected Error-code ${code}, got ${header(r, 'Error-code') ?? 'none'}`,
    );
  }

  expectStatus(r: ResponseMessage | null, status: number, req: string, what: string): asserts r is ResponseMessage {
    this.must(r, req, `${what}: expected ${status}, the connection closed`);
    this.must(
      r.status === status,
      req,
      `${what}: expected ${status}, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
    );
  }

  /** expectStatus inside a helper: a precondition for cases that do not declare `req` (see Checker.pre). */
  preStatus(r: ResponseMessage | null, status: number, req: string, what: string): asserts r is ResponseMessage {
    this.pre(r, req, `${what}: expected ${status}, the connection closed`);
    this.pre(r.status === status, req, `${what}: expected ${status}, got ${r.status} ${header(r, 'Error-code') ?? ''}`);
  }

  /** LOCK + ONLINE through an MS link: the user is online with a fresh address. */
  async login(ms: MsLink, u: TestUser, status = 'online'): Promise<Session> {
    const lock = await ms.req('LOCK', [['User', u.name]]);
    this.preStatus(lock, 200, 'LOCK-1', `LOCK of offline user ${u.name}`);
    const epoch = header(lock, 'Epoch') ?? '';
    const address = `127.0.0.1:${30000 + (this.env.counter++ % 30000)}`;
    const online = await ms.req('ONLINE', [
      ['User', u.name],
      ['Epoch', epoch],
      ['Address', address],
      ['Status', status],
    ]);
    this.preStatus(online, 200, 'LOGIN-10', `ONLINE with the current epoch`);
    let records: Header[][] = [];
    try {
      records = online.body.length ? parseRecords(online.body) : [];
    } catch (e) {
      this.pre(false, 'REC-2', `the login bundle does not parse as records: ${(e as Error).message}`);
    }
    return { user: u, ms, epoch, address, bundle: online, records };
  }

  async logout(s: Session): Promise<void> {
    const r = await s.ms.req('OFFLINE', [
      ['User', s.user.name],
      ['Epoch', s.epoch],
    ]);
    this.preStatus(r, 200, 'LOGOUT-5', `OFFLINE of ${s.user.name}`);
  }

  /** Two fresh users, each online through an MS of its own: `a` on `m1` as `sa`, `b` on `m2` as `sb`. */
  async onlinePair(): Promise<{ a: TestUser; b: TestUser; m1: MsLink; m2: MsLink; sa: Session; sb: Session }> {
    const a = await this.user();
    const b = await this.user();
    const m1 = await this.enroll();
    const m2 = await this.enroll();
    const sa = await this.login(m1, a);
    const sb = await this.login(m2, b);
    return { a, b, m1, m2, sa, sb };
  }

  /** Make two users buddies: ADD one way, GRANT the other (both online on the given links). */
  async befriend(a: Session, b: Session): Promise<void> {
    const add = await a.ms.req('ADD', [
      ['From', a.user.name],
      ['To', b.user.name],
      ['Epoch', a.epoch],
    ]);
    this.pre(
      add.status === 200 || add.status === 202,
      'ADD-2',
      `ADD between strangers must be 200 or 202, got ${add.status} ${header(add, 'Error-code') ?? ''}`,
    );
    const ans = await b.ms.req('ANSWER', [
      ['From', b.user.name],
      ['To', a.user.name],
      ['Decision', 'grant'],
      ['Epoch', b.epoch],
    ]);
    this.preStatus(ans, 200, 'ANSWER-2', `ANSWER grant of a pending ADD`);
  }

  async list(s: Session): Promise<Header[][]> {
    const r = await s.ms.req('LIST', [
      ['User', s.user.name],
      ['Epoch', s.epoch],
    ]);
    this.preStatus(r, 200, 'ADD-3', 'LIST');
    return r.body.length ? parseRecords(r.body) : [];
  }
}

export const rec = (r: Header[], name: string): string | undefined =>
  r.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];

export class CrsDriver implements Driver<CrsContext> {
  constructor(
    readonly env: CrsEnv,
    readonly cases: CaseDef<CrsContext>[],
  ) {}
  context(tr: Transcript, findings: Finding[], c: CaseDef<CrsContext>): CrsContext {
    return new CrsContext(this.env, tr, findings, c);
  }
  async cleanup(ctx: CrsContext): Promise<{ req: string; text: string }[]> {
    // Leave politely so the next case starts from a clean CRS.
    await Promise.all(
      ctx.links.map(async (l) => {
        if (l.conn.closed) return;
        l.stopHeartbeat();
        await l.conn.request(request('LEAVE', []), ctx.timeout).catch(() => undefined);
      }),
    );
    return closeConns(ctx.conns);
  }
  async probe(tr: Transcript): Promise<string | null> {
    let c: Conn;
    try {
      c = await Conn.connect(this.env.target, 'probe', tr, this.env.opts.timeoutMs);
    } catch (e) {
      return (e as Error).message;
    }
    try {
      const r = await c.request(request('LOCATE', [['Imsp-version', '1']]), this.env.opts.timeoutMs);
      if (r.status !== 200 && r.status !== 503) return `LOCATE answered ${r.status}`;
      return null;
    } catch (e) {
      return (e as Error).message;
    } finally {
      c.destroy();
    }
  }
}

/**
 * Before any case [CONF-14]: the CRS must be reachable, accept one enrollment with the kit's MS key,
 * and announce the Lease and Heartbeat the kit was told to expect (the registry's, or --set's).
 * Anything else is a set-up error, not a finding: one message, exit status 2.
 */
async function preflightCrs(cfg: KitConfig, run: RunOptions, runId: string): Promise<void> {
  const tr = new Transcript();
  let conn: Conn;
  try {
    conn = await connectMs(parseHostPort(cfg.target!), 'preflight', tr, run.timeoutMs);
  } catch (e) {
    throw new SetupError(`cannot reach the CRS at ${cfg.target}: ${(e as Error).message}`);
  }
  try {
    // A CRS that answers the handshake wrongly is judged by the enrollment cases [ENROLL-2] [ENROLL-4];
    // only a refused key or a contradicted limit makes every case meaningless.
    const out = await enrollOn(
      conn,
      cfg.msKey!,
      {
        msId: `${KIT_NAME_PREFIX}${runId}.preflight`,
        incarnation: Date.now() * 10,
        listen: '127.0.0.1:9',
        capacity: 1,
      },
      run.timeoutMs,
    ).catch(() => null);
    if (!out || out.challenge?.status !== 300) return;
    const code = (m: ResponseMessage | null): string =>
      m ? `${m.status} ${header(m, 'Error-code') ?? ''}`.trim() : 'no answer (connection closed)';
    if (out.result?.status === 401 || (out.result?.status === 200 && !out.serverProofOk))
      throw new SetupError(
        `the CRS at ${cfg.target} refused the kit's MS key (PROOF answered ${code(out.result)}${out.result?.status === 200 ? ', Server-proof does not verify' : ''}): --ms-key-file must hold the key the CRS was started with`,
      );
    if (out.result?.status !== 200) return;
    for (const [hdr, limit] of [
      ['Lease', 'msLease'],
      ['Heartbeat', 'msHeartbeatInterval'],
    ] as const) {
      const announced = header(out.result, hdr);
      const expected = cfg.limits.get(limit);
      if (announced !== undefined && Number(announced) !== expected) {
        const from =
          cfg.sets?.[limit] !== undefined ? `--set ${limit}=${expected}` : `the registry default ${limit}=${expected}`;
        throw new SetupError(
          `the CRS at ${cfg.target} announces ${hdr} ${announced} ms, which contradicts ${from}: run the kit with --set ${limit}=${announced}`,
        );
      }
    }
    conn.send(request('LEAVE', []));
  } finally {
    conn.destroy();
  }
}

/** Set up a run against a CRS: the kit enrolls as MSs with the given MS key. */
export async function setupCrs(
  cfg: KitConfig,
  run: RunOptions,
  cases: CaseDef<CrsContext>[],
): Promise<RoleSetup<CrsContext>> {
  const env: CrsEnv = {
    target: parseHostPort(cfg.target!),
    msKey: cfg.msKey!,
    opts: run,
    runId: randomBytes(3)
      .toString('hex')
      .replace(/^[0-9]/, 'k'),
    counter: 0,
    provisioning: null,
    created: new Set(),
  };
  const hooks = cfg as KitConfig & { stopCrs?: () => Promise<void> };
  if (hooks.stopCrs) env.stopCrs = hooks.stopCrs;
  else if (cfg.crsStopCmd) env.stopCrs = () => runStopCmd(cfg.crsStopCmd!);
  await preflightCrs(cfg, run, env.runId);
  const driver = new CrsDriver(env, cases);
  return {
    driver,
    target: cfg.target!,
    createdUsers: () => ({
      prefix: `${KIT_NAME_PREFIX}${env.runId}.`,
      count: env.created.size,
      note: `IMSP has no method to delete a user, so they stay in the CRS store: remove them with its own tools (the reference: imsp user del --prefix ${KIT_NAME_PREFIX}${env.runId}.).`,
    }),
    async teardown() {
      const p = env.provisioning;
      if (p && !p.conn.closed) {
        p.stopHeartbeat();
        await p.conn.request(request('LEAVE', []), run.timeoutMs).catch(() => undefined);
        p.conn.destroy();
      }
    },
  };
}

export function crsCaseBudgetMs(cfg: KitConfig): number {
  const l = cfg.limits;
  return (
    20 * cfg.timeoutMs + 3 * Math.max(l.get('msLease'), l.get('lockLease'), l.get('handshakeTimeout')) + cfg.runs * 200
  );
}
