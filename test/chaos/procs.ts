// The server processes of the fault campaign: `imsp crs` and `imsp ms` as child processes (the
// compiled build with IMSP_COMPILED=1, or the sources through tsx in the same process), so that
// kill -9, SIGSTOP and SIGCONT are real signals. Every child is recorded; killAll() (also run from
// the process's 'exit' handler, synchronously) stops whatever is still alive, so that a run ended by
// an error or SIGINT leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const IMSP_BIN = fileURLToPath(new URL('../../reference/bin/imsp.js', import.meta.url));

const live = new Set<ChildProcess>();
let exitHook = false;

function hookExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => killAll());
}

/** SIGKILL to every child still alive (a stopped one too: SIGKILL ends a stopped process). */
export function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
  live.clear();
}

export interface ServerProc {
  child: ChildProcess;
  /** `host:port` printed on its `listening` line. */
  address: string;
  /** Resolves with the exit code or signal when the process has ended. */
  exited: Promise<string>;
  /** JSON log lines seen on stderr (the last few hundred), for a failure report. */
  log: string[];
}

export interface SpawnOptions {
  compiled: boolean;
  /** Called for each parsed JSON log line on stderr. */
  onLog?: (line: Record<string, unknown>) => void;
  /** How long to wait for `listening`. */
  timeoutMs?: number;
}

/** Starts `imsp <args>` and resolves once it printed `listening HOST:PORT`. */
export async function startServer(args: string[], opts: SpawnOptions): Promise<ServerProc> {
  hookExit();
  const env = { ...process.env, IMSP_COMPILED: opts.compiled ? '1' : '0' };
  const child = spawn(process.execPath, [IMSP_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const log: string[] = [];
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(signal ?? String(code));
    });
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    log.push(line);
    if (log.length > 3000) log.shift();
    if (opts.onLog && line.startsWith('{')) {
      try {
        opts.onLog(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    }
  });
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `imsp ${args[0]} did not print 'listening' in ${opts.timeoutMs ?? 60_000} ms: ${log.slice(-5).join('\n')}`,
        ),
      );
    }, opts.timeoutMs ?? 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening (\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`imsp ${args[0]} exited (${how}) before listening: ${log.slice(-5).join('\n')}`));
    });
  });
  return { child, address, exited, log };
}

/** Sends `signal`; resolves when the process has ended (SIGKILL, SIGTERM) or at once (SIGSTOP, SIGCONT). */
export async function signal(p: ServerProc, sig: NodeJS.Signals): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(sig);
  if (sig === 'SIGKILL' || sig === 'SIGTERM') await p.exited;
}
