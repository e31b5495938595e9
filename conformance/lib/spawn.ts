// Start implementations as child processes through their command line (never by importing them):
// the reference servers print `listening HOST:PORT` on stdout once they accept connections.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every child spawnListening started that has not exited yet, and every temp directory workdir()
 * made that is not disposed yet. A kit that dies (an EPIPE on its stdout when piped into `head`, an
 * uncaught error, SIGINT/SIGTERM/SIGHUP) must not leave a reference server listening or a temp
 * directory behind: the process 'exit' hook stops them, and stopSpawnedOnSignals() makes the
 * signals and a stdout EPIPE go through that hook (SIGKILL of the kit cannot be caught).
 */
const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;

function cleanUpNow(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  liveDirs.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', cleanUpNow);
}

/** The pids of the servers spawned and still running (for tests). */
export function spawnedPids(): number[] {
  return [...live].map((c) => c.pid!).filter((p) => p !== undefined);
}

/**
 * For command-line entries (selftest, kit-mutation): on SIGINT, SIGTERM or SIGHUP stop every spawned
 * server and remove the temp directories, then die of the same signal; on an EPIPE of stdout (the
 * reader went away) do the same and exit 141, as a shell reports a death by SIGPIPE.
 */
export function stopSpawnedOnSignals(): void {
  hookExit();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.once(sig, () => {
      cleanUpNow();
      process.kill(process.pid, sig);
    });
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    cleanUpNow();
    process.exit(141);
  });
}

export interface Spawned {
  child: ChildProcess;
  address: string;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Spawn `node <bin> args...` in `cwd` and wait for its `listening HOST:PORT` line. */
export function spawnListening(
  cwd: string,
  bin: string,
  args: string[],
  // make kit-mutation scales it on a loaded machine (run-mutant.ts) before it calls a set-up a kill.
  timeoutMs = Number(process.env.IMSP_KIT_SPAWN_TIMEOUT_MS ?? 20000),
  env: NodeJS.ProcessEnv = {},
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    live.add(child);
    hookExit();
    child.once('exit', () => live.delete(child));
    let out = '';
    let err = '';
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${bin} ${args.join(' ')} did not print 'listening' within ${timeoutMs} ms\n${err.slice(-2000)}`),
      );
    }, timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-20000);
    });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({
          child,
          address: m[1]!,
          stderr: () => err,
          stop: () =>
            new Promise<void>((res) => {
              if (child.exitCode !== null || child.signalCode !== null) return res();
              const k = setTimeout(() => child.kill('SIGKILL'), 3000);
              child.once('exit', () => {
                clearTimeout(k);
                res();
              });
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      reject(new Error(`${bin} exited (${code ?? sig}) before listening\n${err.slice(-2000)}`));
    });
  });
}

export interface Workdir {
  dir: string;
  keyFile: string;
  msKey: Buffer;
  dispose(): void;
}

/** A temp directory with a fresh MS key file (b64url, 32 octets). */
export function workdir(prefix = 'imsp-conf-'): Workdir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  liveDirs.add(dir);
  hookExit();
  const msKey = randomBytes(32);
  const keyFile = join(dir, 'ms.key');
  writeFileSync(keyFile, msKey.toString('base64url') + '\n');
  return {
    dir,
    keyFile,
    msKey,
    dispose: () => {
      liveDirs.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Short leases and timeouts so that the slow cases run in seconds; the kit is told the same values. */
export const FAST_LIMITS: Record<string, number> = {
  msLease: 1500,
  msHeartbeatInterval: 300,
  lockLease: 800,
  handshakeTimeout: 1000,
  sessionTimeout: 1200,
  clientHeartbeatInterval: 300,
};

/**
 * The reference client of the self-test: FAST_LIMITS, but a handshakeTimeout of 3 s, given to the
 * client as `--limit handshakeTimeout=3000` and to the kit as `--set` (client/arch/3 [CONN-4] waits
 * for it). The client applies it to its own login too, where the 1 s of FAST_LIMITS is short on a
 * loaded machine.
 */
export const CLIENT_LIMITS: Record<string, number> = { ...FAST_LIMITS, handshakeTimeout: 3000 };

/**
 * The reference CRS of the self-test: FAST_LIMITS and the smallest maxContacts and maxBlocked the
 * registry allows, and 3 stored ADDs per target, so that crs/add/6, crs/block/5 and crs/add/8 reach
 * their limits [ADD-LIMIT-1] [BLOCK-LIMIT-1] [ADD-LIMIT-2] in a handful of requests. No other case
 * gives one user more than a few contacts, blocks or stored ADDs. requestTimeout 5 s and the smallest
 * maxOutboundQueue let crs/conn/2 and crs/conn/3 reach them [CONN-5] [CONN-6] without --slow.
 */
export const CRS_LIMITS: Record<string, number> = {
  ...FAST_LIMITS,
  requestTimeout: 5000,
  maxOutboundQueue: 65536,
  maxContacts: 10,
  maxBlocked: 10,
  maxPendingAdds: 3,
};

/**
 * The reference MS of the self-test: FAST_LIMITS, requestTimeout 5 s and the smallest maxOutboundQueue,
 * so that ms/conn/1 and ms/conn/2 reach them [CONN-5] [CONN-6] without --slow.
 */
export const MS_LIMITS: Record<string, number> = {
  ...FAST_LIMITS,
  requestTimeout: 5000,
  maxOutboundQueue: 65536,
};

/** Start the reference CRS of the repository at `root` (a checkout or a mutant copy). */
export function startReferenceCrs(root: string, w: Workdir, limits = FAST_LIMITS): Promise<Spawned> {
  return spawnListening(root, 'reference/bin/imsp.js', [
    'crs',
    '--port',
    '0',
    '--store',
    join(w.dir, `crs-${Date.now()}.db`),
    '--ms-key-file',
    w.keyFile,
    '--log-level',
    'silent',
    ...Object.entries(limits).flatMap(([k, v]) => ['--limit', `${k}=${v}`]),
  ]);
}

/** Start the reference MS of the repository at `root`, enrolling with the CRS at `crs`. */
export function startReferenceMs(
  root: string,
  w: Workdir,
  crs: string,
  limits = FAST_LIMITS,
  msId = `ref-ms-${randomBytes(3).toString('hex')}`,
): Promise<Spawned> {
  return spawnListening(root, 'reference/bin/imsp.js', [
    'ms',
    '--port',
    '0',
    '--crs',
    crs,
    '--ms-key-file',
    w.keyFile,
    '--ms-id',
    msId,
    '--log-level',
    'silent',
    ...Object.entries(limits).flatMap(([k, v]) => ['--limit', `${k}=${v}`]),
  ]);
}
