// The real system the property tests drive: one CRS and several MSs in process (test/helpers/
// cluster.ts), reference clients (ImspClient) for the users who are online, and observers that
// record every safety violation the moment it happens (two sessions for one user, presence or a
// message from someone the model says may not be watched). `settle()` waits, event-driven and
// bounded, until the real system matches the model's quiet state, and names the first mismatch.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster, type ClusterOptions } from '../helpers/cluster.js';
import { ImspClient } from '../../reference/client/client.js';
import type { MsServer } from '../../reference/ms/ms.js';
import { CrsServer } from '../../reference/crs/crs.js';
import { SqliteStore } from '../../reference/store/sqlite.js';
import type { Store } from '../../reference/store/store.js';
import { Model } from './model.js';
import { BurstProxy } from '../helpers/burst-proxy.js';

/** Short leases and heartbeats so crashes and timeouts resolve in well under a second. */
export const FAST_LIMITS = {
  // Tolerant of a loaded 2-core machine (event-loop stalls of a few hundred ms), still sub-second-ish.
  msLease: 1500,
  msHeartbeatInterval: 200,
  lockLease: 2000,
  sessionTimeout: 1500,
  clientHeartbeatInterval: 300,
  // Handshake and request timeouts stay at their defaults: a loaded machine must not fail a run.
  // Property runs send bursts; rate limits have their own tests.
  rateLimitPerSecond: 100000,
  rateLimitBurst: 100000,
  userRateLimitPerSecond: 100000,
  maxAddsPerMinute: 10000,
  maxFailedLoginsPerUser: 1000,
  maxFailedLoginsPerAddress: 100000,
};

export interface WorldOptions {
  users: number;
  ms: number;
  store: 'sqlite' | 'postgres';
  /** Log every user in at the start (spread over the MSs). */
  loginAll?: boolean;
}

export class World {
  readonly clients = new Map<string, ImspClient>();
  /** Safety violations seen so far; any entry fails the run. */
  readonly violations: string[] = [];
  /** Sessions per MS as the MSs report them (login/logout events). */
  private readonly msSessions = new Map<MsServer, Set<string>>();
  /** Who may watch whom, before and after the step in progress [INV-6]. */
  private allowedBefore = new Set<string>();
  private allowedAfter = new Set<string>();
  private wakers = new Set<() => void>();
  private readonly downloadDir = mkdtempSync(join(tmpdir(), 'imsp-prop-'));
  private unsubscribeStore: (() => void) | undefined;
  /** Commands executed on this world. */
  steps = 0;
  /** Messages received, as `from>to:text`. */
  readonly received: string[] = [];

  /** The CRS and store now serving (a restart replaces both). */
  crs: CrsServer;
  store: Store;

  private constructor(
    readonly cluster: Cluster,
    readonly model: Model,
    /** The SQLite file, when this world owns it (so that a restart can reopen it). */
    private readonly sqlitePath: string | undefined,
  ) {
    this.crs = cluster.crs;
    this.store = cluster.store;
    this.unsubscribeStore = cluster.store.onChange(() => this.wake());
    for (const ms of cluster.ms) this.watchMs(ms);
  }

  static async create(opts: WorldOptions, extra: Partial<ClusterOptions> = {}): Promise<World> {
    const names = Array.from({ length: opts.users }, (_, i) => `u${i}`);
    // On SQLite the world opens the file itself, so that a CRS restart can close and reopen it.
    const sqlitePath =
      opts.store === 'sqlite' ? join(mkdtempSync(join(tmpdir(), 'imsp-prop-db-')), 'imsp.db') : undefined;
    const store = sqlitePath ? await SqliteStore.open(sqlitePath) : opts.store;
    const cluster = await startCluster({ ms: opts.ms, store, limits: FAST_LIMITS, users: names, ...extra });
    const world = new World(cluster, new Model(names, opts.ms), sqlitePath);
    if (opts.loginAll) {
      try {
        // Everyone starts online, spread over the MSs, so that every command has something to act on.
        await Promise.all(
          names.map(async (u, i) => {
            const c = world.newClient(u, i % opts.ms);
            await c.login();
            world.clients.set(u, c);
            world.model.online.set(u, { ms: i % opts.ms, status: 'online' });
          }),
        );
        await world.settle();
      } catch (e) {
        await world.dispose();
        throw e;
      }
    }
    return world;
  }

  private watchMs(ms: MsServer): void {
    const set = new Set<string>();
    this.msSessions.set(ms, set);
    ms.on('login', (user) => {
      set.add(user);
      // [INV-1] at most one session per user, checked the moment any MS admits one.
      const holders = [...this.msSessions.values()].filter((s) => s.has(user)).length;
      if (holders > 1) this.violations.push(`[INV-1] ${user} has sessions at ${holders} MSs at once`);
      this.wake();
    });
    ms.on('logout', (user) => {
      set.delete(user);
      this.wake();
    });
  }

  /** Starts one more MS (a restart after a crash is a new MS with a new id). */
  async startMs(): Promise<number> {
    const ms = await this.cluster.startMs();
    this.watchMs(ms);
    this.model.msUp.push(true);
    return this.cluster.ms.length - 1;
  }

  /**
   * [INV-7] [PERSIST-1] Stops the CRS (and, on SQLite, closes the store file), then starts a new CRS
   * on the same port over the reopened store. Sessions end [PERSIST-2]; the MSs enroll again.
   */
  async restartCrs(): Promise<void> {
    const port = this.crs.port;
    const up = this.cluster.ms.filter((_, i) => this.model.msUp[i]);
    const reEnrolled = Promise.all(
      up.map((ms) => new Promise<void>((resolve) => ms.once('enrolled', () => resolve()))),
    );
    await this.crs.close();
    this.unsubscribeStore?.();
    if (this.sqlitePath) {
      await this.store.close();
      this.store = await SqliteStore.open(this.sqlitePath);
    }
    this.unsubscribeStore = this.store.onChange(() => this.wake());
    this.crs = await CrsServer.start({
      store: this.store,
      msKey: this.cluster.msKey,
      host: '127.0.0.1',
      port,
      limits: FAST_LIMITS,
    });
    // Every MS loses its CRS link and ends its sessions [ENROLL-12].
    for (const u of [...this.model.online.keys()]) {
      this.model.online.delete(u);
      this.dropClient(u);
    }
    await reEnrolled;
  }

  killMs(i: number): void {
    const ms = this.cluster.ms[i];
    ms.kill();
    this.msSessions.get(ms)?.clear();
    for (const u of this.model.crashMs(i)) this.dropClient(u);
  }

  /** Marks the start of a step: presence seen during it is allowed if allowed before or after. */
  /** Descriptions of the commands executed, in order (printed with IMSP_PROP_TRACE=1). */
  readonly trace: string[] = [];
  beginStep(label = ''): void {
    this.steps++;
    if (label) this.trace.push(label);
    this.allowedBefore = this.model.watchSnapshot();
    this.allowedAfter = this.allowedBefore;
  }
  /** Marks the model change of a step. */
  modelChanged(): void {
    this.allowedAfter = this.model.watchSnapshot();
  }
  private allowed(viewer: string, other: string): boolean {
    const k = `${viewer}>${other}`;
    return this.allowedBefore.has(k) || this.allowedAfter.has(k);
  }

  private readonly proxies: BurstProxy[] = [];

  /**
   * A client whose MS link delivers in bursts of `burstMs` (test/helpers/burst-proxy.ts): the login
   * bundle and the pushes that follow it reach the client together, as on a slow link [PRESENCE-9].
   */
  async newBurstClient(user: string, ms: number, burstMs: number): Promise<ImspClient> {
    const proxy = await BurstProxy.start(this.cluster.ms[ms].address, burstMs);
    this.proxies.push(proxy);
    return this.newClient(user, ms, this.model.passwords.get(user)!, proxy.address);
  }

  newClient(
    user: string,
    ms: number,
    password = this.model.passwords.get(user)!,
    msAddress = this.cluster.ms[ms].address,
  ): ImspClient {
    const c = new ImspClient({
      user,
      password,
      ms: msAddress,
      downloadDir: join(this.downloadDir, user),
      limits: { clientHeartbeatInterval: FAST_LIMITS.clientHeartbeatInterval },
      // The model has no reconnect: a session that ends stays ended (reconnect has its own tests).
      reconnect: false,
    });
    c.on('presence', (p) => {
      // [INV-6] no client learns the presence of a non-buddy or of someone who blocks it.
      if (p.status !== 'offline' && !this.allowed(user, p.user))
        this.violations.push(`[INV-6] ${user} learned ${p.user} is ${p.status}`);
      this.wake();
    });
    c.on('contact', (e) => {
      if (e.status !== 'offline' && !this.allowed(user, e.user))
        this.violations.push(`[INV-6] ${user} learned ${e.user} is ${e.status} by CONTACT`);
      this.wake();
    });
    c.on('message', (m) => {
      if (!this.allowed(user, m.from)) this.violations.push(`[INV-6] ${user} got a message from non-buddy ${m.from}`);
      this.received.push(`${m.from}>${m.to}:${m.text}`);
      this.wake();
    });
    for (const ev of ['request', 'answer', 'session', 'session-end', 'logout', 'notice'] as const)
      c.on(ev, () => this.wake());
    c.on('warning', () => undefined);
    return c;
  }

  dropClient(user: string): void {
    const c = this.clients.get(user);
    this.clients.delete(user);
    if (c) void c.close().catch(() => undefined);
  }

  wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Resolves when `check` returns null; re-checked on every event and every 25 ms; fails after `ms`. */
  async until(check: () => Promise<string | null>, ms = 8000): Promise<void> {
    const deadline = Date.now() + ms;
    let last: string | null = await check();
    while (last !== null) {
      // A safety violation is never undone: fail at once instead of waiting out the bound.
      if (this.violations.length) throw new Error(this.violations.join('\n'));
      if (Date.now() > deadline) throw new Error(`not settled after ${ms} ms: ${last}\nmodel: ${this.model}`);
      // Woken by any client or store event, or after 25 ms for changes no event announces (lease expiry).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.wakers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, 25);
        this.wakers.add(done);
      });
      last = await check();
    }
  }

  /** [INV-1] [INV-2] [INV-3] [INV-5] The real system equals the model's quiet state. */
  async mismatch(): Promise<string | null> {
    if (this.violations.length) return this.violations[0];
    const m = this.model;
    for (const u of m.users) {
      const rec = await this.store.getUser(u);
      const kind = rec?.state.kind;
      const want = m.isOnline(u) ? 'online' : 'offline';
      // [INV-2] no lock outlives its login: a quiet system has no locked record.
      if (kind !== want) return `store: ${u} is ${kind}, model says ${want}`;
    }
    // [INV-9] buddy relations are mutual at the CRS.
    const buddyOf = new Map<string, Set<string>>();
    for (const u of m.users)
      buddyOf.set(
        u,
        new Set((await this.store.listContacts(u)).filter((c) => c.relation === 'buddy').map((c) => c.user)),
      );
    for (const [u, set] of buddyOf)
      for (const v of set)
        if (!buddyOf.get(v)?.has(u)) return `[INV-9] ${v} is a buddy of ${u} but not the other way round`;
    for (const u of m.users) {
      const want = m.users.filter((v) => v !== u && m.areBuddies(u, v)).sort();
      const got = [...buddyOf.get(u)!].sort();
      if (want.join() !== got.join()) return `[INV-7] the CRS holds buddies of ${u} as ${got}, model says ${want}`;
    }
    for (const [viewer, client] of this.clients) {
      if (!client.loggedIn) return `client ${viewer} is not logged in`;
      for (const other of m.users) {
        if (other === viewer) continue;
        const want = m.expectedView(viewer, other);
        const c = client.contacts.get(other);
        const got = { relation: c?.relation, status: c?.status ?? 'offline' };
        if (got.relation !== want.relation || got.status !== want.status) {
          return `${viewer} sees ${other} as ${JSON.stringify(got)}, model says ${JSON.stringify(want)}`;
        }
      }
      // [INV-5] no session with someone who is offline or no longer a buddy.
      for (const peer of client.sessionUsers()) {
        if (!m.isOnline(peer) || !m.mayWatch(viewer, peer)) return `${viewer} still has a peer session with ${peer}`;
      }
    }
    return null;
  }

  async settle(ms = 8000): Promise<void> {
    await this.until(() => this.mismatch(), ms);
  }

  async dispose(): Promise<void> {
    this.unsubscribeStore?.();
    await Promise.all([...this.clients.values()].map((c) => c.close().catch(() => undefined)));
    this.clients.clear();
    await Promise.all(this.proxies.map((p) => p.close()));
    if (this.crs !== this.cluster.crs) await this.crs.close();
    await this.cluster.dispose();
    if (this.sqlitePath) {
      await this.store.close();
      rmSync(join(this.sqlitePath, '..'), { recursive: true, force: true });
    }
    rmSync(this.downloadDir, { recursive: true, force: true });
  }
}
