// Starts a CRS (SQLite store) and MS processes for a load run, reads their listening addresses from
// stdout, samples their memory (/proc and the Prometheus endpoint) and stops them with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One server process. */
export interface ServerProcess {
  role: 'crs' | 'ms';
  name: string;
  child: ChildProcess;
  /** host:port it listens on. */
  address: string;
  /** host:port of its /metrics endpoint. */
  metrics: string;
}

/** Options of spawnServers. */
export interface SpawnOptions {
  /** Number of MS processes. */
  ms: number;
  /** Capacity of each MS. */
  capacity: number;
  /** Extra `--limit name=value` for every server. */
  limits?: string[];
  /** Extra node flags of the server processes (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Working directory for the profile files when profiling. */
  cwd?: string;
  /** Log level of the servers (default warn). */
  logLevel?: string;
  /** The CRS's `--durability` (default: the CRS's own default, full). */
  durability?: 'full' | 'normal';
  /** Each server writes its stage trace to DIR/<name>.stages.json when it stops (issue 15). */
  stageTraceDir?: string;
}

/** The spawned cluster. */
export interface SpawnedCluster {
  dir: string;
  storePath: string;
  crs: ServerProcess;
  ms: ServerProcess[];
  /** SIGTERM to all, then waits for them to exit (SIGKILL after 10 s). Removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * node flags for a child running one of this directory's modules: the parent's (without profiling
 * flags), plus tsx's loader when the modules are TypeScript sources and the parent registered tsx
 * through its API (reference/bin/imsp.js) rather than a flag.
 */
/**
 * V8 flags of every load generator process: the IMSP load workers and the XMPP anchors' generator
 * alike (bench/xmpp.ts runs itself with them), never the servers. A young generation fixed at
 * 256 MiB per semi-space, so that the simulated clients' many short-lived buffers cost few
 * scavenges, and, after the full collection before the probes (Appendix A.8), none during them: a
 * generator holding 12,000 clients paused 16-50 ms per scavenge, and its receipts waited for it. The
 * flag was `--max-semi-space-size=64` until session 10, with which V8 starts at 1 MiB and grows, and a
 * worker still ran 1-2 scavenges in the 5 s of probes at 10,000 users in each of 12 runs (none in 3
 * runs with these flags; 2026-12-07).
 * The servers keep V8's defaults: a larger young generation saved ~15% of the storm's CPU (10,000
 * users x 50 buddies, 2 MSs: 40.0 / 45.3 s -> 35.8 / 36.4 s) but raised RSS per held session from ~12
 * to ~19 kB (30,000 sessions on 2 MSs), so whether to use it is an operator's choice
 * (NODE_OPTIONS=--max-semi-space-size=64 for `imsp crs|ms`).
 */
export const WORKER_GC_FLAGS: readonly string[] = ['--min-semi-space-size=256', '--max-semi-space-size=256'];

/** The flags of {@link WORKER_GC_FLAGS} that `execArgv` lacks (a generator started without them re-runs itself with them). */
export function missingGcFlags(execArgv: readonly string[]): string[] {
  return WORKER_GC_FLAGS.filter((f) => !execArgv.includes(f));
}

/** A V8 flag that sizes the young generation (a load generator's, never passed on to the servers). */
const isYoungGenFlag = (a: string): boolean => /^--(?:min|max)[-_]semi[-_]space[-_]size\b/.test(a);

/**
 * The node flags of a child (server or load worker) taken from this process's own `execArgv`: not a
 * profiler's, and not the young generation's size. A load generator runs with {@link WORKER_GC_FLAGS}
 * (bench-xmpp's own process too, as the XMPP anchors' generator), and the servers it starts keep V8's
 * defaults: until this was filtered, bench-xmpp's MSs and CRS inherited the 256 MiB young generation,
 * and its memory phase read 33.6 kB RSS per MS session where the same phase started from a process
 * without the flags read 9.4 kB (2026-12-07). A worker gets WORKER_GC_FLAGS from its spawner.
 */
export function childExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const own = execArgv.filter((a) => !a.startsWith('--cpu-prof') && !a.startsWith('--prof') && !isYoungGenFlag(a));
  const ts = fileURLToPath(import.meta.url).endsWith('.ts');
  const hasTsx = own.some(
    (a, i) => a === 'tsx' || a.startsWith('--import=tsx') || (a === '--import' && own[i + 1] === 'tsx'),
  );
  return ts && !hasTsx ? [...own, '--import', import.meta.resolve('tsx')] : own;
}

/** Path of a sibling module (.ts under tsx, .js in dist/). */
export function entryPath(name: string): string {
  const self = fileURLToPath(import.meta.url);
  return join(self, '..', `${name}${self.endsWith('.ts') ? '.ts' : '.js'}`);
}

/** A free loopback port (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function startServer(
  role: 'crs' | 'ms',
  name: string,
  args: string[],
  dir: string,
  opts: SpawnOptions,
): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...childExecArgv(), ...(opts.nodeFlags ?? []), entryPath('server-entry'), role, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: opts.cwd ?? process.cwd(),
        ...(opts.stageTraceDir
          ? { env: { ...process.env, IMSP_STAGE_TRACE: join(opts.stageTraceDir, `${name}.stages.json`) } }
          : {}),
      },
    );
    const log = createWriteStream(join(dir, `${name}.log`));
    child.stderr!.pipe(log);
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within 30 s (log: ${join(dir, `${name}.log`)})`));
    }, 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
        const metricsPort = args[args.indexOf('--metrics-port') + 1];
        resolve({ role, name, child, address: m[1]!, metrics: `127.0.0.1:${metricsPort}` });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening (log: ${join(dir, `${name}.log`)})`));
    });
  });
}

/**
 * Removes `dir` if this process exits before its owner did (a signal handler's process.exit, as
 * bench-xmpp's cleanUpOnSignal does), unless `keep()` says to keep it; returns the function that
 * cancels this (the owner's normal cleanup calls it).
 */
export function removeOnExit(dir: string, keep: () => boolean = () => false): () => void {
  const hook = (): void => {
    if (!keep()) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', hook);
  return () => void process.off('exit', hook);
}

/** Starts one CRS on a fresh SQLite file in a temp dir and `opts.ms` MSs enrolled with it. */
export async function spawnServers(
  opts: SpawnOptions,
  beforeCrs?: (storePath: string) => Promise<void>,
): Promise<SpawnedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-load-'));
  const storePath = join(dir, 'crs.db');
  const keyFile = join(dir, 'ms.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64url'), { mode: 0o600 });
  if (beforeCrs) await beforeCrs(storePath);
  const common = [
    '--ms-key-file',
    keyFile,
    '--log-level',
    opts.logLevel ?? 'warn',
    ...(opts.limits ?? []).flatMap((l) => ['--limit', l]),
  ];
  const all: ServerProcess[] = [];
  let keepDir = false;
  const forget = removeOnExit(dir, () => keepDir);
  const stop = async (): Promise<void> => {
    // MSs first (they tell the CRS), then the CRS.
    for (const group of [all.filter((s) => s.role === 'ms'), all.filter((s) => s.role === 'crs')]) {
      await Promise.all(
        group.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
              const kill = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
              s.child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              s.child.kill('SIGTERM');
            }),
        ),
      );
    }
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
    forget();
  };
  try {
    const crs = await startServer(
      'crs',
      'crs',
      [
        '--port',
        '0',
        '--store',
        storePath,
        ...(opts.durability ? ['--durability', opts.durability] : []),
        '--metrics-port',
        String(await freePort()),
        ...common,
      ],
      dir,
      opts,
    );
    all.push(crs);
    const ms: ServerProcess[] = [];
    for (let i = 0; i < opts.ms; i++) {
      const s = await startServer(
        'ms',
        `ms${i + 1}`,
        [
          '--port',
          '0',
          '--crs',
          crs.address,
          '--ms-id',
          `load-ms-${i + 1}`,
          '--capacity',
          String(opts.capacity),
          '--metrics-port',
          String(await freePort()),
          ...common,
        ],
        dir,
        opts,
      );
      all.push(s);
      ms.push(s);
    }
    return { dir, storePath, crs, ms, stop };
  } catch (e) {
    keepDir = true; // the servers' logs tell why
    await stop();
    throw e;
  }
}

/** Resident set size of a process in octets (Linux /proc), or null. */
export function rssOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Reads a Prometheus text endpoint into sample name (with labels) -> value. */
export async function scrapeMetrics(address: string, timeoutMs = 5000): Promise<Map<string, number>> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    const v = Number(line.slice(i + 1));
    if (Number.isFinite(v)) out.set(line.slice(0, i), v);
  }
  return out;
}

/** The value of a metric without looking at labels other than `role` (the first sample whose name matches). */
export function metric(samples: Map<string, number>, name: string): number | undefined {
  for (const [k, v] of samples) if (k === name || k.startsWith(`${name}{`)) return v;
  return undefined;
}
