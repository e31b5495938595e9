// One load worker: holds simulated clients for a slice of the users and runs the coordinator's
// commands on them. It runs in its own process (fork, IPC messages) or in the coordinator's process
// (tests, --processes 0); the commands and replies are the same plain JSON either way.
import { SimClient, nowMs, type LoginResult } from './sim-client.js';
import { runInitiator, startResponder, type ChatOptions, type ChatResponder, type ChatResult } from './chat.js';
import type { SharedCredentials } from './population.js';
import { writeFileSync } from 'node:fs';
import { enableLoopTrace, loopTraceSnapshot } from '../ops/loop-trace.js';
import { collectGarbage } from './cpu.js';

/** Setup of a worker. */
export interface WorkerInit {
  index: number;
  credentials: SharedCredentials;
  /** MS addresses; user i (global index) logs in at ms[i mod n]. */
  ms: string[];
  /** Loopback source addresses to spread connections over ('' = the system's choice). */
  sources: string[];
  /** Global indexes and names of this worker's users. */
  users: Array<[index: number, name: string]>;
  /** Request timeout of the simulated clients, ms. */
  timeoutMs: number;
  /** Send heartbeats (PING) at the interval the MS announced. */
  heartbeats: boolean;
  /**
   * With a stage trace (issue 15): record this process's event-loop delay and GC pauses
   * (reference/ops/loop-trace.ts) and write them to this file at shutdown, beside the servers'.
   */
  loopTraceFile?: string;
}

/** A login as reported to the coordinator (no message bodies). */
export type LoginRecord = Omit<LoginResult, 'response'>;

/** Commands from the coordinator. */
export type WorkerCommand =
  | { op: 'init'; init: WorkerInit }
  | {
      op: 'login';
      concurrency: number;
      names?: string[];
      maxMs: number;
      /** Times a failed login is tried again, after the names not yet tried (default 0). */
      retries?: number;
    }
  | { op: 'relogin'; name: string }
  | { op: 'logout'; name: string }
  /** LOGOUT of each of `names` that is online, `concurrency` at a time (the end of a warm-up). */
  | { op: 'logout-all'; names: string[]; concurrency: number }
  | { op: 'record'; on: boolean }
  | { op: 'presence'; names: string[] }
  | { op: 'chat-responder'; name: string; ms: string }
  | { op: 'chat-initiator'; name: string; peer: string; ms: string; opts: ChatOptions }
  | { op: 'chat-stop' }
  | { op: 'stats' }
  | { op: 'shutdown' };

/** Receipts of PRESENCE online pushes about one user while recording: count and last time. */
export interface PresenceReceipt {
  count: number;
  first: number;
  /** The latest receipt: when its octets arrived. */
  last: number;
  /** The latest push decoded and opened (nowMs then): the receive path's share beside `last`. */
  lastOpened: number;
}

export type WorkerReply =
  | {
      ok: true;
      logins?: LoginRecord[];
      login?: LoginRecord;
      presence?: Record<string, PresenceReceipt>;
      address?: string;
      chat?: ChatResult;
      online?: number;
      rss?: number;
      heap?: number;
    }
  | { ok: false; error: string };

/** Progress a worker reports about twice a second. */
export interface WorkerProgress {
  index: number;
  online: number;
  logins: number;
  failures: number;
}

/** The heartbeat check's ticks per second: each client is checked in one of them. */
export const HEARTBEAT_SLOTS = 20;

export class WorkerCore {
  private init: WorkerInit | null = null;
  private readonly clients = new Map<string, SimClient>();
  private readonly indexOf = new Map<string, number>();
  private recording = false;
  private receipts = new Map<string, PresenceReceipt>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private responder: ChatResponder | null = null;
  private logins = 0;
  private failures = 0;
  private connCounter = 0;

  constructor(private readonly progress?: (p: WorkerProgress) => void) {}

  private onPresence = (user: string, status: string, t: number, _to: SimClient, opened: number): void => {
    if (!this.recording || status === 'offline') return;
    const r = this.receipts.get(user);
    if (r) {
      r.count++;
      if (t > r.last) r.last = t;
      if (opened > r.lastOpened) r.lastOpened = opened;
    } else this.receipts.set(user, { count: 1, first: t, last: t, lastOpened: opened });
  };

  private online(): number {
    let n = 0;
    for (const c of this.clients.values()) if (c.online) n++;
    return n;
  }

  private report(): void {
    if (this.init)
      this.progress?.({ index: this.init.index, online: this.online(), logins: this.logins, failures: this.failures });
  }

  private async loginOne(name: string): Promise<LoginRecord> {
    const init = this.init!;
    const i = this.indexOf.get(name) ?? 0;
    const old = this.clients.get(name);
    if (old?.online)
      return { user: name, ok: false, code: 'LOCAL_ALREADY_ONLINE', tStart: nowMs(), tProof: nowMs(), tDone: nowMs() };
    const c = new SimClient(name, init.credentials, this.onPresence);
    this.clients.set(name, c);
    const source = init.sources.length > 0 ? init.sources[this.connCounter++ % init.sources.length] : undefined;
    const r = await c.login(init.ms[i % init.ms.length]!, { ...(source ? { source } : {}), timeoutMs: init.timeoutMs });
    if (r.ok) this.logins++;
    else this.failures++;
    const { response: _dropped, ...rec } = r;
    return rec;
  }

  /** The login command: `concurrency` lanes through the names, failed ones tried again at the end. */
  private async loginAll(cmd: Extract<WorkerCommand, { op: 'login' }>): Promise<LoginRecord[]> {
    const names = cmd.names ?? this.init!.users.map(([, n]) => n);
    const out: LoginRecord[] = [];
    const deadline = Date.now() + cmd.maxMs;
    let next = 0;
    const retries = cmd.retries ?? 0;
    const again: string[] = [];
    const tries = new Map<string, number>();
    const lane = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const name = next < names.length ? names[next++]! : again.shift();
        if (name === undefined) return;
        const r = await this.loginOne(name);
        out.push(r);
        const t = tries.get(name) ?? 0;
        if (!r.ok && t < retries) {
          tries.set(name, t + 1);
          again.push(name);
        }
      }
    };
    const tick = setInterval(() => this.report(), 500);
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(cmd.concurrency, names.length)) }, lane));
    } finally {
      clearInterval(tick);
      this.report();
    }
    return out;
  }

  /** Logs out each of `names` (those online), `concurrency` lanes at a time, and forgets them. */
  private async logoutAll(names: string[], concurrency: number): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < names.length) {
        const name = names[next++]!;
        await this.clients.get(name)?.logout();
        this.clients.delete(name);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, names.length)) }, lane));
  }

  async handle(cmd: WorkerCommand): Promise<WorkerReply> {
    try {
      return await this.dispatch(cmd);
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private async dispatch(cmd: WorkerCommand): Promise<WorkerReply> {
    switch (cmd.op) {
      case 'init': {
        this.init = cmd.init;
        if (cmd.init.loopTraceFile) enableLoopTrace();
        for (const [i, name] of cmd.init.users) this.indexOf.set(name, i);
        if (cmd.init.heartbeats) {
          // One timer for all clients: PING when a client sent nothing for most of its interval. Each
          // client is checked once a second, but the clients are spread over HEARTBEAT_SLOTS ticks of
          // that second (by user index), as independent clients' own timers would be: checking them all
          // in one tick sent every due PING in one burst, and an MS then read a probe's PRESENCE push
          // behind hundreds of PINGs (issue 15, fan-out p99).
          const slots: string[][] = Array.from({ length: HEARTBEAT_SLOTS }, () => []);
          for (const [i, name] of cmd.init.users) slots[i % HEARTBEAT_SLOTS]!.push(name);
          let tick = 0;
          this.heartbeatTimer = setInterval(() => {
            const now = Date.now();
            for (const name of slots[tick++ % HEARTBEAT_SLOTS]!) this.clients.get(name)?.heartbeatTick(now);
          }, 1000 / HEARTBEAT_SLOTS);
          this.heartbeatTimer.unref();
        }
        return { ok: true };
      }
      case 'login':
        return { ok: true, logins: await this.loginAll(cmd) };
      case 'relogin': {
        const c = this.clients.get(cmd.name);
        if (c) await c.logout();
        return { ok: true, login: await this.loginOne(cmd.name) };
      }
      case 'logout': {
        await this.clients.get(cmd.name)?.logout();
        return { ok: true };
      }
      case 'logout-all': {
        await this.logoutAll(cmd.names, cmd.concurrency);
        return { ok: true };
      }
      case 'record':
        if (cmd.on) {
          // The generator's own garbage is collected before the probes, not during them (issue 15,
          // Appendix A.8): one worker's heap holds thousands of simulated clients.
          collectGarbage();
          this.receipts = new Map();
        }
        this.recording = cmd.on;
        return { ok: true };
      case 'presence': {
        const out: Record<string, PresenceReceipt> = {};
        for (const n of cmd.names) {
          const r = this.receipts.get(n);
          if (r) out[n] = r;
        }
        return { ok: true, presence: out };
      }
      case 'chat-responder': {
        this.responder = await startResponder(cmd.name, this.init!.credentials, cmd.ms);
        return { ok: true, address: this.responder.address };
      }
      case 'chat-initiator':
        return { ok: true, chat: await runInitiator(cmd.name, cmd.peer, this.init!.credentials, cmd.ms, cmd.opts) };
      case 'chat-stop':
        await this.responder?.stop();
        this.responder = null;
        return { ok: true };
      case 'stats': {
        const m = process.memoryUsage();
        return { ok: true, online: this.online(), rss: m.rss, heap: m.heapUsed };
      }
      case 'shutdown': {
        if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
        await this.responder?.stop();
        const all = [...this.clients.values()];
        for (const c of all) c.close();
        await Promise.all(all.map((c) => c.closed()));
        this.clients.clear();
        if (this.init?.loopTraceFile) writeFileSync(this.init.loopTraceFile, JSON.stringify(loopTraceSnapshot()));
        return { ok: true };
      }
    }
  }
}

// Child-process entry: `fork(worker.js)`; commands arrive as { id, cmd }, replies go back as { id, reply }.
if (process.send && process.argv.includes('--imsp-load-worker')) {
  const send = (m: unknown): void => {
    if (process.connected) process.send!(m);
  };
  const core = new WorkerCore((p) => send({ progress: p }));
  // Profiling a worker (node refuses --cpu-prof in NODE_OPTIONS, and the coordinator's own profiling
  // flags are not passed on): IMSP_LOAD_WORKER_CPU_PROF=DIR writes DIR/worker-<pid>.cpuprofile at shutdown.
  const profDir = process.env['IMSP_LOAD_WORKER_CPU_PROF'];
  const profiler = profDir ? startProfiler(profDir).catch(() => null) : Promise.resolve(null);
  process.on('message', (m: { id: number; cmd: WorkerCommand }) => {
    void core.handle(m.cmd).then(async (reply) => {
      const stop = m.cmd.op === 'shutdown' ? await profiler : null;
      if (stop) await stop().catch(() => undefined);
      send({ id: m.id, reply });
      if (m.cmd.op === 'shutdown') setImmediate(() => process.disconnect());
    });
  });
  process.on('disconnect', () => process.exit(0));
}

/** Starts the V8 CPU profiler in this process; the returned function stops it and writes the profile into `dir`. */
async function startProfiler(dir: string): Promise<() => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile, mkdir } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}/worker-${process.pid}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  };
}
