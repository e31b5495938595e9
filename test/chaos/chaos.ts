// The fault campaign of issue 14 (`make chaos`): real server processes, faults injected at random
// from a seed, and the invariants of [§13 Invariants] checked after each fault heals.
//
// Setup, once per store (a phase on SQLite with durability full, then a phase on a throwaway
// PostgreSQL cluster this run creates and stops):
// - the CRS and three MSs as child processes (procs.ts): `imsp crs`, `imsp ms`;
// - between each MS and the CRS a FaultProxy (a partition), and in front of each MS a FaultProxy that
//   the MS advertises to LOCATE (client links cut; an MS restarted on a new port keeps its address);
// - a population of reference clients (ImspClient, reconnect on, LOCATE at the CRS) with churn
//   (logout, then a fresh client logs in with the password) and chat (peer-to-peer MSG between
//   buddies), and a ledger of acknowledged changes: registrations (REGISTER as an operator's tool
//   speaks it, over an MS link), buddy relations made (ADD + ANSWER grant) and removed (REM),
//   pending ADDs and blocks.
//
// Faults (seeded): kill -9 of an MS (restarted with the same --ms-id), kill -9 of the CRS (restarted
// on its port over its store), SIGSTOP of an MS held past msLease then SIGCONT, a partition between an
// MS and the CRS held past msLease, every client link of one MS cut.
//
// Checks: [INV-1] no user has sessions at two healthy MSs, or at a healthy MS other than the store's,
// in two samples in a row; [INV-2] no lock outlives its lease and no session of a dead, stopped or
// cut-off MS outlives msLease; [INV-3] after each fault heals, every logged-in client's view equals
// the store within the bound of [INV-10]; [INV-7] every acknowledged change is in
// the store; [RECONNECT-1] every client whose session a fault ended is logged in again, by itself,
// within the bound of [§8.5 Reconnecting] [RECONNECT-2].
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ImspClient } from '../../reference/client/client.js';
import { openStore } from '../../reference/store/index.js';
import { registerUser } from '../../reference/store/register.js';
import type { Store } from '../../reference/store/store.js';
import { adminRequest } from '../../reference/ops/admin.js';
import { makeVerifier } from '../../reference/crypto/scram.js';
import { generateIdentity } from '../../reference/crypto/keys.js';
import { sealKeyBlob } from '../../reference/crypto/key-blob.js';
import { RawMs } from '../helpers/raw-ms.js';
import { startPg, type PgServer } from '../helpers/pg.js';
import { FaultProxy } from './fault-proxy.js';
import { killAll, signal, startServer, type ServerProc } from './procs.js';

export const FAULT_KINDS = ['ms-kill', 'crs-kill', 'ms-stop', 'partition', 'client-cut'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type StoreKind = 'sqlite' | 'postgres';

/** Server limits of the campaign: short leases so that a fault resolves in seconds. */
export const CHAOS_LIMITS = {
  msLease: 3000,
  msHeartbeatInterval: 500,
  lockLease: 4000,
  sessionTimeout: 3000,
  clientHeartbeatInterval: 600,
  requestTimeout: 5000,
  handshakeTimeout: 5000,
  rateLimitPerSecond: 100000,
  rateLimitBurst: 100000,
  userRateLimitPerSecond: 100000,
  userRateLimitBurst: 100000,
  maxAddsPerMinute: 10000,
  maxFailedLoginsPerUser: 1000,
  maxFailedLoginsPerAddress: 100000,
};

export const CLIENT_LIMITS = {
  clientHeartbeatInterval: 600,
  sessionTimeout: 3000,
  requestTimeout: 5000,
  handshakeTimeout: 5000,
  clientReconnectDelay: 250,
  clientReconnectMaxDelay: 2000,
};

/**
 * [RECONNECT-2] The reconnect bound of [§8.5 Reconnecting]: clientReconnectMaxDelay, plus one failed attempt
 * (the larger of requestTimeout and handshakeTimeout), plus one login (LOCATE, LOGIN, PROOF: three
 * requests, each answered within requestTimeout).
 */
export const RECONNECT_BOUND =
  CLIENT_LIMITS.clientReconnectMaxDelay +
  Math.max(CLIENT_LIMITS.requestTimeout, CLIENT_LIMITS.handshakeTimeout) +
  3 * CLIENT_LIMITS.requestTimeout;
/** [INV-10] Presence converges within msLease plus the reconnect bound of the moment a fault heals. */
export const CONVERGE_BOUND = CHAOS_LIMITS.msLease + RECONNECT_BOUND;
/** Slack for timers of the CRS and for the sampling period of the checks. */
const SLACK = 2 * CHAOS_LIMITS.msHeartbeatInterval + 1500;

export interface ChaosOptions {
  /** Total length of the campaign, split between the stores (ignored with `short`). */
  minutes: number;
  seed: number;
  /** One fault of each kind on SQLite and a CRS kill on PostgreSQL: the test's mode. */
  short?: boolean;
  /** Run the compiled servers (dist/, `make build`); otherwise the sources through tsx. */
  compiled?: boolean;
  stores?: StoreKind[];
  users?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Set to stop early (SIGINT): the current phase winds down and everything is stopped. */
  signal?: AbortSignal;
}

export interface KindRow {
  kind: FaultKind;
  injected: number;
  recovered: number;
  /** ms from heal to converged (quiet, views equal the store). */
  convergeMs: number[];
  /** ms from the moment a login could succeed again to each affected client's new login. */
  reconnectMs: number[];
  violations: number;
}

export interface ChaosReport {
  seed: number;
  minutes: number;
  short: boolean;
  stores: StoreKind[];
  startedAt: string;
  endedAt: string;
  limits: typeof CHAOS_LIMITS;
  clientLimits: typeof CLIENT_LIMITS;
  bounds: { reconnectMs: number; convergeMs: number };
  rows: KindRow[];
  perStore: Record<string, KindRow[]>;
  violations: string[];
  workload: {
    logins: number;
    logouts: number;
    messagesSent: number;
    messagesReceived: number;
    sendFailures: number;
    registered: number;
    pendingAdds: number;
    blocks: number;
    befriended: number;
    removed: number;
    uncertain: number;
  };
  loadavg: { start: number[]; end: number[] };
}

/** mulberry32: a small seeded generator, so a run is replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pct(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function limitArgs(l: Record<string, number>): string[] {
  return Object.entries(l).flatMap(([k, v]) => ['--limit', `${k}=${v}`]);
}

function emptyRow(kind: FaultKind): KindRow {
  return { kind, injected: 0, recovered: 0, convergeMs: [], reconnectMs: [], violations: 0 };
}

interface Member {
  name: string;
  password: string;
  client: ImspClient | null;
  /** The campaign wants this user online (its client logged in). */
  wantOnline: boolean;
  /** A churn step is changing this member. */
  busy: boolean;
  /** Time of the last `login` event of its current client. */
  lastLogin: number;
  /** Time the member was last touched by churn (a reconnect measurement skips it after that). */
  churnedAt: number;
}

interface MsSlot {
  index: number;
  msId: string;
  proc: ServerProc | null;
  crsProxy: FaultProxy;
  clientProxy: FaultProxy;
  adminPath: string;
  /** Incarnation of the running process, from its admin socket. */
  incarnation: number;
  stopped: boolean;
  /** Until this time the MS is not healthy for the [INV-1] check (after a heal, it may still list stale sessions). */
  unhealthyUntil: number;
}

/** The phases' temporary directories, removed at exit however the process ends. */
const tempDirs = new Set<string>();
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'imsp-chaos-'));
  if (tempDirs.size === 0)
    process.once('exit', () => {
      for (const x of tempDirs) rmSync(x, { recursive: true, force: true });
    });
  tempDirs.add(d);
  return d;
}

/** One phase: one store, its servers, population and ledger. */
class Phase {
  readonly rows = new Map<FaultKind, KindRow>(FAULT_KINDS.map((k) => [k, emptyRow(k)]));
  private readonly dir = tempDir();
  private readonly keyFile = join(this.dir, 'ms.key');
  private readonly msKey = randomBytes(32);
  private store!: Store;
  private storeLocation = '';
  private pg: PgServer | null = null;
  private crs: ServerProc | null = null;
  private crsAddress = '';
  private crsUpSince = 0;
  private readonly ms: MsSlot[] = [];
  private readonly members: Member[] = [];
  private workloadPaused = false;
  private stopping = false;
  private currentKind: FaultKind | null = null;
  private readonly pendingWork = new Set<Promise<unknown>>();
  /** The ledger: what the CRS acknowledged [INV-7]. */
  private readonly registered = new Map<string, string>();
  private readonly freshUnused: string[] = [];
  private readonly pendingAdds: Array<[string, string]> = [];
  private readonly blocks: Array<[string, string]> = [];
  /** Buddy pairs by `a|b` (a < b): true buddies, false not; absent = never touched (not buddies). */
  private readonly pairs = new Map<string, boolean>();
  private readonly uncertain = new Set<string>();
  /** [INV-1] doubles seen in the previous sample. */
  private prevDoubles = new Set<string>();
  /** [INV-2] sessions of these (msId, incarnation) must be gone after `by`. */
  private readonly deadIncarnations: Array<{ msId: string; incarnation: number; by: number; why: string }> = [];
  private regCounter = 0;

  constructor(
    private readonly kind: StoreKind,
    private readonly opts: Required<Pick<ChaosOptions, 'compiled' | 'users'>> & ChaosOptions,
    private readonly random: () => number,
    private readonly report: ChaosReport,
  ) {}

  private log(s: string): void {
    this.opts.log?.(`[${this.kind}] ${s}`);
  }

  violation(s: string): void {
    const where = this.currentKind ?? 'steady';
    const line = `[${this.kind}/${where}] ${s}`;
    this.report.violations.push(line);
    if (this.currentKind) this.rows.get(this.currentKind)!.violations++;
    this.log(`VIOLATION ${line}`);
  }

  private pick<T>(xs: T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[Math.floor(this.random() * xs.length)];
  }

  // ------------------------------------------------------------------ setup

  async setup(): Promise<void> {
    writeFileSync(this.keyFile, `${this.msKey.toString('base64url')}\n`, { mode: 0o600 });
    if (this.kind === 'sqlite') {
      this.storeLocation = join(this.dir, 'imsp.db');
      this.store = await openStore(this.storeLocation, { durability: 'full' });
    } else {
      this.pg = await startPg();
      if (!this.pg) throw new Error('PostgreSQL unavailable');
      this.storeLocation = this.pg.url;
      this.store = await openStore(this.storeLocation, { poolSize: 4 });
    }
    // The population, registered in the store before the CRS starts (cheap key blobs and verifiers).
    for (let i = 0; i < this.opts.users; i++) {
      const name = `p${String(i).padStart(2, '0')}`;
      const password = `pw-${name}-${i}`;
      const r = await registerUser(this.store, name, password, { log2N: 10, iterations: 4096 });
      if (!r.ok) throw new Error(`registering ${name}: ${r.error}`);
      this.members.push({ name, password, client: null, wantOnline: false, busy: false, lastLogin: 0, churnedAt: 0 });
    }
    await this.startCrs(0);
    for (let i = 0; i < 3; i++) {
      const crsProxy = await FaultProxy.start(this.crsAddress);
      const clientProxy = await FaultProxy.start('127.0.0.1:1');
      this.ms.push({
        index: i,
        msId: `chaos-ms-${i}`,
        proc: null,
        crsProxy,
        clientProxy,
        adminPath: join(this.dir, `ms-${i}`, 'admin.sock'),
        incarnation: 0,
        stopped: false,
        unhealthyUntil: 0,
      });
    }
    await Promise.all(this.ms.map((s) => this.startMs(s)));
    // Everyone logs in; then a ring of buddies (i, i+1) and chords (i, i+3), through the protocol.
    await Promise.all(this.members.map((m) => this.login(m)));
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      for (const d of [1, 3]) {
        const a = this.members[i]!;
        const b = this.members[(i + d) % n]!;
        if (a !== b && !this.pairs.get(this.pairKey(a.name, b.name))) await this.befriend(a, b);
      }
    }
    this.log(`setup done: CRS ${this.crsAddress}, ${this.ms.length} MSs, ${n} users online`);
  }

  private async startCrs(port: number): Promise<void> {
    this.crs = await startServer(
      [
        'crs',
        '--port',
        String(port),
        '--store',
        this.storeLocation,
        '--durability',
        'full',
        '--ms-key-file',
        this.keyFile,
        '--log-level',
        process.env.IMSP_CHAOS_DEBUG ? 'info' : 'warn',
        ...limitArgs(CHAOS_LIMITS),
      ],
      { compiled: this.opts.compiled },
    );
    this.crsAddress = this.crs.address;
    this.crsUpSince = Date.now();
  }

  private async startMs(s: MsSlot): Promise<void> {
    s.proc = await startServer(
      [
        'ms',
        '--port',
        '0',
        '--crs',
        s.crsProxy.address,
        '--ms-id',
        s.msId,
        '--advertise',
        s.clientProxy.address,
        '--admin-socket',
        s.adminPath,
        '--capacity',
        '1000',
        '--ms-key-file',
        this.keyFile,
        '--log-level',
        process.env.IMSP_CHAOS_DEBUG ? 'info' : 'warn',
        ...limitArgs(CHAOS_LIMITS),
      ],
      { compiled: this.opts.compiled },
    );
    s.clientProxy.retarget(s.proc.address);
    s.stopped = false;
    await this.waitEnrolled(s, 60_000);
  }

  private async msInfo(s: MsSlot): Promise<{ enrolled: boolean; incarnation: number } | null> {
    if (!s.proc || s.stopped) return null;
    try {
      const r = await adminRequest(s.adminPath, { cmd: 'ms' }, 2000);
      if (!r.ok) return null;
      const row = (r.result as Array<{ enrolled: boolean; incarnation: number }>)[0];
      return row ?? null;
    } catch {
      return null;
    }
  }

  private async waitEnrolled(s: MsSlot, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const info = await this.msInfo(s);
      if (info?.enrolled) {
        s.incarnation = info.incarnation;
        return true;
      }
      await sleep(100);
    }
    return false;
  }

  // ------------------------------------------------------------------ population

  private newClient(m: Member): ImspClient {
    const c = new ImspClient({
      user: m.name,
      password: m.password,
      crs: this.crsAddress,
      downloadDir: join(this.dir, 'dl', m.name),
      limits: CLIENT_LIMITS,
      reconnect: true,
    });
    c.on('login', () => {
      if (m.client === c) m.lastLogin = Date.now();
    });
    c.on('logout', (e) => {
      // [RECONNECT-1] a session that ended by itself is followed by a new login; a client that gives up
      // while the campaign wants it online is stuck.
      if (m.client === c && m.wantOnline && !m.busy && !e.reconnecting && !this.stopping)
        this.violation(`[RECONNECT-1] ${m.name} stopped reconnecting: ${e.reason}`);
    });
    c.on('message', () => {
      this.report.workload.messagesReceived++;
    });
    c.on('warning', () => undefined);
    return c;
  }

  private async login(m: Member): Promise<boolean> {
    const c = this.newClient(m);
    m.client = c;
    try {
      await c.login();
      m.wantOnline = true;
      this.report.workload.logins++;
      return true;
    } catch (e) {
      if (process.env.IMSP_CHAOS_DEBUG)
        this.log(`login of ${m.name} failed: ${e instanceof Error ? e.message : String(e)}`);
      m.client = null;
      m.wantOnline = false;
      await c.close().catch(() => undefined);
      return false;
    }
  }

  private async logout(m: Member): Promise<void> {
    const c = m.client;
    m.wantOnline = false;
    m.client = null;
    if (!c) return;
    await c.logout().catch(() => undefined);
    await c.close().catch(() => undefined);
    this.report.workload.logouts++;
  }

  private online(): Member[] {
    return this.members.filter((m) => m.wantOnline && !m.busy && m.client?.loggedIn);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pendingWork.add(p);
    void p.finally(() => this.pendingWork.delete(p)).catch(() => undefined);
    return p;
  }

  /** Churn: one member logs out, another logs in (with its password, as a fresh client). */
  private async churnStep(): Promise<void> {
    const on = this.online();
    const off = this.members.filter((m) => !m.wantOnline && !m.busy);
    if (on.length > this.members.length * 0.6) {
      const m = this.pick(on)!;
      m.busy = true;
      m.churnedAt = Date.now();
      await this.logout(m);
      m.busy = false;
    }
    const m = this.pick(off);
    if (m) {
      m.busy = true;
      m.churnedAt = Date.now();
      await this.login(m);
      m.busy = false;
    }
  }

  private async chatStep(): Promise<void> {
    const a = this.pick(this.online());
    if (!a?.client) return;
    const buddies = [...a.client.contacts.contacts.entries()].filter(
      ([, c]) => c.relation === 'buddy' && c.status !== 'offline',
    );
    const b = this.pick(buddies);
    if (!b) return;
    try {
      await a.client.send(b[0], `hello ${b[0]} from ${a.name} at ${Date.now()}`);
      this.report.workload.messagesSent++;
    } catch {
      this.report.workload.sendFailures++;
    }
  }

  private pairKey(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private async befriend(a: Member, b: Member): Promise<void> {
    const k = this.pairKey(a.name, b.name);
    if (!a.client || !b.client) return;
    this.uncertain.add(k);
    try {
      await a.client.add(b.name);
      await b.client.answer(a.name, 'grant');
      this.pairs.set(k, true);
      this.uncertain.delete(k);
      this.report.workload.befriended++;
    } catch {
      // the outcome is unknown (a fault cut the request): the pair is left out of the ledger
    }
  }

  private async unfriend(a: Member, b: string): Promise<void> {
    const k = this.pairKey(a.name, b);
    if (!a.client) return;
    this.uncertain.add(k);
    try {
      await a.client.rem(b);
      this.pairs.set(k, false);
      this.uncertain.delete(k);
      this.report.workload.removed++;
    } catch {
      // unknown outcome
    }
  }

  /** REGISTER as an operator's registration tool speaks it: over an MS link of its own [REGISTER-1]. */
  private async registerFresh(): Promise<void> {
    const name = `r${this.kind[0]}${++this.regCounter}`;
    const password = `pw-${name}`;
    const identity = generateIdentity();
    const v = makeVerifier(password, { iterations: 4096 });
    let raw: RawMs | undefined;
    try {
      raw = await RawMs.connect(this.crsAddress);
      raw.socket.setTimeout(CHAOS_LIMITS.requestTimeout, () => raw?.destroy());
      const e = await raw.enroll(this.msKey, { msId: `chaos-reg-${name}`, capacity: 0 });
      if (!e.ok) return;
      const r = await raw.request('REGISTER', {
        User: name,
        Salt: v.salt,
        Iterations: v.iterations,
        'Stored-key': v.storedKey,
        'Server-key': v.serverKey,
        'Public-key': identity.publicKey,
        'Key-blob': sealKeyBlob(password, name, identity, { log2N: 10 }),
      });
      if (r.status === 201) {
        this.registered.set(name, identity.publicKey);
        this.freshUnused.push(name);
        this.report.workload.registered++;
      }
      await raw.request('LEAVE', {}).catch(() => undefined);
    } catch {
      // a fault cut the registration: unknown outcome, not in the ledger
    } finally {
      raw?.destroy();
    }
  }

  private async ledgerStep(): Promise<void> {
    const r = this.random();
    const on = this.online();
    if (r < 0.25 || this.freshUnused.length === 0) return this.registerFresh();
    if (r < 0.45) {
      const a = this.pick(on);
      const target = this.freshUnused.shift();
      if (!a?.client || !target) return;
      try {
        const how = await a.client.add(target);
        if (how === 'stored') {
          this.pendingAdds.push([a.name, target]);
          this.report.workload.pendingAdds++;
        }
      } catch {
        // unknown outcome
      }
      return;
    }
    if (r < 0.6) {
      const a = this.pick(on);
      const target = this.freshUnused.shift();
      if (!a?.client || !target) return;
      try {
        await a.client.block(target);
        this.blocks.push([a.name, target]);
        this.report.workload.blocks++;
      } catch {
        // unknown outcome
      }
      return;
    }
    if (r < 0.85) {
      const a = this.pick(on);
      const candidates = on.filter(
        (b) =>
          b !== a &&
          a &&
          !this.pairs.get(this.pairKey(a.name, b.name)) &&
          !this.uncertain.has(this.pairKey(a.name, b.name)),
      );
      const b = this.pick(candidates);
      if (a && b) await this.befriend(a, b);
      return;
    }
    const a = this.pick(on);
    if (!a) return;
    const buddies = [...this.pairs.entries()]
      .filter(([k, v]) => v && !this.uncertain.has(k) && k.split('|').includes(a.name))
      .map(([k]) => k.split('|').find((x) => x !== a.name)!);
    const b = this.pick(buddies);
    if (b) await this.unfriend(a, b);
  }

  /** The workload loops: churn, chat and ledger changes, each at its own pace, paused while converging. */
  private loops(until: () => boolean): Promise<void>[] {
    const loop = async (base: number, step: () => Promise<void>): Promise<void> => {
      while (!until()) {
        await sleep(base / 2 + this.random() * base);
        if (this.workloadPaused || until()) continue;
        await this.track(step().catch(() => undefined));
      }
    };
    return [loop(2500, () => this.churnStep()), loop(700, () => this.chatStep()), loop(1500, () => this.ledgerStep())];
  }

  // ------------------------------------------------------------------ checks

  /** [INV-1] [INV-2] the safety sample, taken every 500 ms. */
  private async safetySample(): Promise<void> {
    const now = Date.now();
    const holders = new Map<string, string[]>();
    for (const s of this.ms) {
      if (!s.proc || s.stopped || s.crsProxy.isPartitioned || now < s.unhealthyUntil) continue;
      try {
        const r = await adminRequest(s.adminPath, { cmd: 'sessions' }, 1000);
        if (!r.ok) continue;
        for (const row of r.result as Array<{ user: string }>) {
          const l = holders.get(row.user) ?? [];
          l.push(s.msId);
          holders.set(row.user, l);
        }
      } catch {
        // an MS being restarted
      }
    }
    const doubles = new Set<string>();
    for (const [user, at] of holders) if (at.length > 1) doubles.add(`${user}@${at.sort().join(',')}`);
    for (const d of doubles)
      if (this.prevDoubles.has(d))
        this.violation(`[INV-1] ${d.replace('@', ' has sessions at ')} in two samples in a row`);
    this.prevDoubles = doubles;
    // [INV-2] store side: a lock past its lease, a session of an incarnation that is gone.
    if (!this.crs || now - this.crsUpSince < CHAOS_LIMITS.lockLease + SLACK) return;
    for (const m of this.members) {
      const rec = await this.store.getUser(m.name).catch(() => null);
      const st = rec?.state;
      if (!st) continue;
      if (st.kind === 'locked' && st.leaseExpiresAt + SLACK < Date.now())
        this.violation(`[INV-2] ${m.name} is still locked ${Date.now() - st.leaseExpiresAt} ms after its lease`);
      if (st.kind === 'online' || st.kind === 'locked') {
        for (const d of this.deadIncarnations)
          if (d.msId === st.msId && d.incarnation === st.incarnation && Date.now() > d.by)
            this.violation(
              `[INV-2] ${m.name} is still ${st.kind} at ${d.msId} (incarnation ${d.incarnation}) ${Date.now() - d.by + SLACK + CHAOS_LIMITS.msLease} ms after ${d.why}`,
            );
      }
    }
  }

  /** [INV-7] every acknowledged change is in the store (a loss is final: reported at once). */
  private async ledgerCheck(): Promise<void> {
    for (const [name, pk] of this.registered) {
      const rec = await this.store.getUser(name);
      if (!rec || rec.publicKey !== pk) this.violation(`[INV-7] registered user ${name} lost`);
    }
    for (const [from, to] of this.pendingAdds) {
      const p = await this.store.pendingFor(to);
      if (!p.some((x) => x.from === from)) this.violation(`[INV-7] pending ADD ${from} -> ${to} lost`);
    }
    for (const [who, whom] of this.blocks) {
      const c = await this.store.listContacts(who);
      if (!c.some((x) => x.user === whom && x.relation === 'blocked'))
        this.violation(`[INV-7] block ${who} -> ${whom} lost`);
    }
    const contacts = new Map<string, Map<string, string>>();
    for (const m of this.members)
      contacts.set(m.name, new Map((await this.store.listContacts(m.name)).map((c) => [c.user, c.relation])));
    for (const [k, buddies] of this.pairs) {
      if (this.uncertain.has(k)) continue;
      const [a, b] = k.split('|') as [string, string];
      const rel = contacts.get(a)?.get(b);
      if (buddies && rel !== 'buddy') this.violation(`[INV-7] buddy relation ${a} - ${b} lost (now ${rel ?? 'none'})`);
      if (!buddies && rel === 'buddy') this.violation(`[INV-7] REM of ${a} - ${b} lost (still buddies)`);
    }
  }

  /** Null when the service is quiet and every view equals the store; otherwise the first difference. */
  private async mismatch(): Promise<string | null> {
    if (!this.crs) return 'CRS down';
    for (const s of this.ms) {
      const info = await this.msInfo(s);
      if (!info?.enrolled) return `${s.msId} not enrolled`;
      s.incarnation = info.incarnation;
    }
    const byAddress = new Map(this.ms.map((s) => [s.clientProxy.address, s.msId]));
    const sessions = new Map<string, string[]>();
    for (const s of this.ms) {
      const r = await adminRequest(s.adminPath, { cmd: 'sessions' }, 2000).catch(() => null);
      if (!r?.ok) return `${s.msId} does not answer sessions`;
      for (const row of r.result as Array<{ user: string }>)
        sessions.set(row.user, [...(sessions.get(row.user) ?? []), s.msId]);
    }
    for (const m of this.members) {
      const c = m.client;
      const rec = await this.store.getUser(m.name);
      const st = rec?.state;
      const at = sessions.get(m.name) ?? [];
      if (m.wantOnline) {
        if (!c?.loggedIn) return `${m.name} is not logged in`;
        const msId = byAddress.get(c.msAddress);
        if (st?.kind !== 'online') return `store: ${m.name} is ${st?.kind}, its client is logged in`;
        if (st.msId !== msId) return `store: ${m.name} is at ${st.msId}, its client at ${msId}`;
        if (at.length !== 1 || at[0] !== msId) return `MS sessions of ${m.name}: [${at}], its client is at ${msId}`;
      } else {
        if (c?.loggedIn) return `${m.name} is logged in, the campaign logged it out`;
        if (st?.kind !== 'offline') return `store: ${m.name} is ${st?.kind}, should be offline`;
        if (at.length > 0) return `MS sessions of ${m.name}: [${at}], should be none`;
      }
    }
    // [INV-3] every logged-in client's view equals the store.
    for (const m of this.members) {
      const c = m.client;
      if (!m.wantOnline || !c) continue;
      const want = await this.store.listContacts(m.name);
      const seen = new Set<string>();
      for (const e of want) {
        seen.add(e.user);
        const got = c.contacts.get(e.user);
        const gs = got?.status ?? 'offline';
        if (got?.relation !== e.relation || gs !== e.status)
          return `[INV-3] ${m.name} sees ${e.user} as ${got?.relation}/${gs}, the store says ${e.relation}/${e.status}`;
        if (e.status !== 'offline' && got.address !== e.address)
          return `[INV-3] ${m.name} sees ${e.user} at ${got.address}, the store says ${e.address}`;
      }
      for (const [u, got] of c.contacts.contacts.entries())
        if (!seen.has(u) && got.relation !== 'pending')
          return `[INV-3] ${m.name} holds ${u} as ${got.relation}, the store has no such contact`;
    }
    return null;
  }

  /** Waits (workload paused) until quiet and equal to the store; null or the last difference. */
  private async converge(bound: number): Promise<{ ms: number; last: string | null }> {
    this.workloadPaused = true;
    await Promise.all([...this.pendingWork]);
    const start = Date.now();
    let last: string | null = 'not checked';
    while (Date.now() - start < bound) {
      last = await this.mismatch();
      if (last === null) break;
      await sleep(150);
    }
    const ms = Date.now() - start;
    if (last === null) await this.ledgerCheck();
    this.workloadPaused = false;
    return { ms, last };
  }

  // ------------------------------------------------------------------ faults

  private affectedAt(s: MsSlot): Member[] {
    return this.members.filter(
      (m) => m.wantOnline && !m.busy && m.client?.loggedIn && m.client.msAddress === s.clientProxy.address,
    );
  }

  /** [RECONNECT-2] each affected member logs in again within the bound of `t0` (the moment it could). */
  private async reconnects(kind: FaultKind, affected: Member[], since: number, t0: () => number): Promise<void> {
    const row = this.rows.get(kind)!;
    const deadline = (): number => t0() + RECONNECT_BOUND;
    const waiting = new Set(affected);
    while (waiting.size > 0) {
      for (const m of [...waiting]) {
        if (m.churnedAt > since || !m.wantOnline) {
          waiting.delete(m);
          continue;
        }
        // t0 is 0 while the moment a login could succeed is not known yet (a CRS restart): wait for it
        if (m.lastLogin > since && m.client?.loggedIn && t0() > 0) {
          row.reconnectMs.push(Math.max(0, m.lastLogin - t0()));
          waiting.delete(m);
        }
      }
      if (waiting.size === 0) break;
      if ((t0() > 0 && Date.now() > deadline()) || Date.now() - since > 120_000) {
        for (const m of waiting)
          this.violation(
            `[RECONNECT-2] ${m.name} not logged in again ${Date.now() - t0()} ms after a login could succeed (bound ${RECONNECT_BOUND} ms)`,
          );
        break;
      }
      await sleep(50);
    }
  }

  async fault(kind: FaultKind): Promise<void> {
    const row = this.rows.get(kind)!;
    row.injected++;
    this.currentKind = kind;
    const since = Date.now();
    let t0 = 0;
    let affected: Member[] = [];
    // A fault on an MS hits one that holds sessions, when any does (LOCATE tends to herd the clients).
    const busy = this.ms.filter((x) => this.affectedAt(x).length > 0);
    const s = this.pick(busy.length > 0 && (this.opts.short || this.random() < 0.8) ? busy : this.ms)!;
    let heal: () => Promise<void>;
    const hold = CHAOS_LIMITS.msLease + 500 + Math.floor(this.random() * 1000);
    const down = 300 + Math.floor(this.random() * 1700);
    this.log(`fault ${row.injected}: ${kind}${kind === 'crs-kill' ? '' : ` ${s.msId}`}`);
    switch (kind) {
      case 'ms-kill': {
        affected = this.affectedAt(s);
        const inc = s.incarnation;
        await signal(s.proc!, 'SIGKILL');
        s.proc = null;
        // [ENROLL-10] the CRS ends the enrollment as the link closes: logins succeed again at once
        t0 = Date.now();
        this.deadIncarnations.push({ msId: s.msId, incarnation: inc, by: t0 + SLACK, why: 'kill -9' });
        heal = async () => {
          await sleep(down);
          await this.startMs(s);
        };
        break;
      }
      case 'crs-kill': {
        affected = this.members.filter((m) => m.wantOnline && !m.busy && m.client?.loggedIn);
        const port = Number(this.crsAddress.slice(this.crsAddress.lastIndexOf(':') + 1));
        await signal(this.crs!, 'SIGKILL');
        this.crs = null;
        heal = async () => {
          await sleep(down);
          await this.startCrs(port);
          // [PERSIST-2] logins succeed again once an MS has enrolled with the new CRS
          const restarted = Date.now();
          while (t0 === 0 && Date.now() - restarted < 60_000) {
            for (const x of this.ms) {
              const info = await this.msInfo(x);
              if (info?.enrolled && info.incarnation !== x.incarnation) {
                // a login that already succeeded proves logins could succeed from then on: the admin
                // poll sees the enrollment late, a client's login may not
                const logins = this.members.filter((m) => m.lastLogin > since).map((m) => m.lastLogin);
                t0 = Math.min(Date.now(), ...logins);
              }
            }
            if (t0 === 0) await sleep(50);
          }
          for (const x of this.ms) await this.waitEnrolled(x, 30_000);
        };
        break;
      }
      case 'ms-stop': {
        affected = this.affectedAt(s);
        const inc = s.incarnation;
        await signal(s.proc!, 'SIGSTOP');
        s.stopped = true;
        // [HB-4] the CRS frees its users msLease after its last message
        t0 = Date.now() + CHAOS_LIMITS.msLease;
        this.deadIncarnations.push({ msId: s.msId, incarnation: inc, by: t0 + SLACK, why: 'SIGSTOP' });
        heal = async () => {
          await sleep(hold);
          await signal(s.proc!, 'SIGCONT');
          s.stopped = false;
          s.unhealthyUntil = Date.now() + CHAOS_LIMITS.msLease + SLACK;
          await this.waitEnrolled(s, 30_000);
        };
        break;
      }
      case 'partition': {
        affected = this.affectedAt(s);
        const inc = s.incarnation;
        s.crsProxy.partition();
        // [ENROLL-12] [HB-4] both ends give up after msLease of silence
        t0 = Date.now() + CHAOS_LIMITS.msLease;
        this.deadIncarnations.push({ msId: s.msId, incarnation: inc, by: t0 + SLACK, why: 'a partition from the CRS' });
        heal = async () => {
          await sleep(hold);
          s.crsProxy.heal();
          s.unhealthyUntil = Date.now() + CHAOS_LIMITS.msLease + SLACK;
          await this.waitEnrolled(s, 30_000);
        };
        break;
      }
      case 'client-cut': {
        affected = this.affectedAt(s);
        s.clientProxy.cut();
        t0 = Date.now();
        heal = async () => undefined;
        break;
      }
    }
    const measuring = this.reconnects(kind, affected, since, () => t0);
    await heal();
    const healedAt = Date.now();
    await measuring;
    const r = await this.converge(CONVERGE_BOUND);
    // time to converge: from the heal (the end of the fault) to a quiet service whose views equal the store
    const ms = Date.now() - healedAt;
    if (r.last === null) {
      row.recovered++;
      row.convergeMs.push(ms);
      this.log(`  converged ${ms} ms after the heal; ${affected.length} clients reconnected`);
    } else {
      this.violation(`[INV-10] not converged ${ms} ms after ${kind} healed: ${r.last}`);
    }
    this.currentKind = null;
  }

  // ------------------------------------------------------------------ run

  async run(kinds: FaultKind[] | null, deadline: number): Promise<void> {
    let done = false;
    const until = (): boolean => done || this.opts.signal?.aborted === true;
    const workload = this.loops(until);
    const sampler = (async () => {
      while (!until()) {
        await this.safetySample().catch(() => undefined);
        await sleep(500);
      }
    })();
    try {
      const first = await this.converge(CONVERGE_BOUND);
      if (first.last !== null) this.violation(`not converged after setup: ${first.last}`);
      let i = 0;
      while (!until()) {
        if (kinds ? i >= kinds.length : Date.now() >= deadline) break;
        await sleep(kinds ? 300 + this.random() * 500 : 1000 + this.random() * 2000);
        const kind = kinds ? kinds[i]! : FAULT_KINDS[Math.floor(this.random() * FAULT_KINDS.length)]!;
        i++;
        await this.fault(kind);
      }
      // the end: a last quiet check of everything
      const end = await this.converge(CONVERGE_BOUND);
      if (end.last !== null) this.violation(`not converged at the end: ${end.last}`);
    } finally {
      done = true;
      await Promise.all([...workload, sampler]);
    }
  }

  async dispose(): Promise<void> {
    this.stopping = true;
    const debug = process.env.IMSP_CHAOS_DEBUG;
    if (debug) {
      mkdirSync(debug, { recursive: true });
      for (const s of this.ms)
        if (s.proc) writeFileSync(join(debug, `${this.kind}-${s.msId}.log`), s.proc.log.join('\n'));
      if (this.crs) writeFileSync(join(debug, `${this.kind}-crs.log`), this.crs.log.join('\n'));
    }
    await Promise.all(this.members.map((m) => m.client?.close().catch(() => undefined)));
    for (const s of this.ms) {
      if (s.proc) await signal(s.proc, 'SIGKILL');
      await s.crsProxy.close();
      await s.clientProxy.close();
    }
    if (this.crs) await signal(this.crs, 'SIGKILL');
    await this.store?.close().catch(() => undefined);
    await this.pg?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const opts = { ...o, compiled: o.compiled ?? false, users: o.users ?? (o.short ? 12 : 24) };
  const stores = opts.stores ?? ['sqlite', 'postgres'];
  const random = rng(opts.seed);
  const report: ChaosReport = {
    seed: opts.seed,
    minutes: opts.minutes,
    short: opts.short === true,
    stores,
    startedAt: new Date().toISOString(),
    endedAt: '',
    limits: CHAOS_LIMITS,
    clientLimits: CLIENT_LIMITS,
    bounds: { reconnectMs: RECONNECT_BOUND, convergeMs: CONVERGE_BOUND },
    rows: [],
    perStore: {},
    violations: [],
    workload: {
      logins: 0,
      logouts: 0,
      messagesSent: 0,
      messagesReceived: 0,
      sendFailures: 0,
      registered: 0,
      pendingAdds: 0,
      blocks: 0,
      befriended: 0,
      removed: 0,
      uncertain: 0,
    },
    loadavg: { start: loadavg(), end: [] },
  };
  const total = new Map<FaultKind, KindRow>(FAULT_KINDS.map((k) => [k, emptyRow(k)]));
  try {
    for (const [i, kind] of stores.entries()) {
      if (opts.signal?.aborted) break;
      const phase = new Phase(kind, opts, random, report);
      try {
        await phase.setup();
        const only = process.env.IMSP_CHAOS_ONLY?.split(',') as FaultKind[] | undefined;
        const shortKinds: FaultKind[] = only
          ? only
          : kind === 'sqlite'
            ? [...FAULT_KINDS].sort(() => random() - 0.5)
            : ['crs-kill'];
        const share = (opts.minutes * 60_000) / stores.length;
        await phase.run(opts.short ? shortKinds : null, Date.now() + share * (i === 0 ? 1 : 1));
      } catch (e) {
        report.violations.push(`[${kind}] the campaign failed: ${e instanceof Error ? e.stack : String(e)}`);
      } finally {
        report.workload.uncertain += phase['uncertain'].size;
        await phase.dispose();
      }
      report.perStore[kind] = [...phase.rows.values()];
      for (const r of phase.rows.values()) {
        const t = total.get(r.kind)!;
        t.injected += r.injected;
        t.recovered += r.recovered;
        t.convergeMs.push(...r.convergeMs);
        t.reconnectMs.push(...r.reconnectMs);
        t.violations += r.violations;
      }
    }
  } finally {
    killAll();
  }
  report.rows = [...total.values()];
  report.endedAt = new Date().toISOString();
  report.loadavg.end = loadavg();
  return report;
}

/** The table of the report, as Markdown. */
export function table(rows: KindRow[]): string {
  const f = (x: number | null): string => (x === null ? '-' : String(Math.round(x)));
  const lines = [
    '| fault | injected | recovered | converge p50 ms | converge p99 ms | reconnects | reconnect p50 ms | reconnect p99 ms | violations |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.kind} | ${r.injected} | ${r.recovered} | ${f(pct(r.convergeMs, 50))} | ${f(pct(r.convergeMs, 99))} | ${r.reconnectMs.length} | ${f(pct(r.reconnectMs, 50))} | ${f(pct(r.reconnectMs, 99))} | ${r.violations} |`,
    );
  return lines.join('\n');
}
