// Drives a client under test through the control interface (spec/text/90-conformance.md):
// commands on stdin, one JSON event per line on stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Transcript } from './conn.js';
import { checkControlLine } from './control-schema.js';

export interface ControlEvent {
  event: string;
  n?: number;
  [k: string]: unknown;
}

export class ControlledClient {
  readonly events: ControlEvent[] = [];
  /** Output lines that break the control schema [CTL-7]; the driver fails the case with them [CONF-12]. */
  readonly violations: { req: string; text: string }[] = [];
  private n = 0;
  private wakers = new Set<() => void>();
  exited: number | null = null;
  stderr = '';

  private constructor(
    readonly child: ChildProcess,
    private readonly tr: Transcript,
  ) {
    // A client that exits early must not crash the kit with EPIPE on its stdin.
    child.stdin!.on('error', () => undefined);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      let ev: ControlEvent;
      try {
        ev = JSON.parse(line) as ControlEvent;
      } catch {
        ev = { event: 'unparsed', line };
      }
      this.tr.add('client', 'in', `control: ${line}`);
      // [CONF-12] every line the client writes must validate against spec/registry/control.schema.json [CTL-7]
      const bad = checkControlLine(line);
      if (bad !== null && this.violations.length < 5)
        this.violations.push({
          req: 'CTL-7',
          text: `the control line ${line.slice(0, 200)} breaks spec/registry/control.schema.json: ${bad}`,
        });
      this.events.push(ev);
      this.wake();
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    child.once('exit', (code) => {
      this.exited = code ?? -1;
      this.tr.note(`client process exited (${code})`);
      this.wake();
    });
  }

  /** Start the client: `template` with {crs} {user} {password} {ms} substituted, run by /bin/sh. */
  static start(template: string, vars: Record<string, string>, tr: Transcript, cwd?: string): ControlledClient {
    const cmd = template.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m);
    tr.note(`starting client: ${cmd}`);
    const child = spawn('/bin/sh', ['-c', `exec ${cmd}`], { stdio: ['pipe', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
    return new ControlledClient(child, tr);
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  async waitFor(pred: (e: ControlEvent) => boolean, timeoutMs: number, from = 0): Promise<ControlEvent | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find(pred);
      if (hit) return hit;
      if (this.exited !== null) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((res) => {
        const done = (): void => {
          clearTimeout(t);
          this.wakers.delete(done);
          res();
        };
        const t = setTimeout(done, left);
        this.wakers.add(done);
      });
    }
  }

  /** Send a command line; resolve with its result event (ok or error), null on timeout or exit. */
  async command(line: string, timeoutMs: number): Promise<ControlEvent | null> {
    const n = ++this.n;
    this.tr.add('client', 'out', `control: ${line}`);
    this.child.stdin!.write(line + '\n');
    return this.waitFor((e) => e.n === n && (e.event === 'ok' || e.event === 'error'), timeoutMs);
  }

  async ready(timeoutMs: number): Promise<boolean> {
    return !!(await this.waitFor((e) => e.event === 'ready', timeoutMs));
  }

  async stop(): Promise<void> {
    if (this.exited !== null) return;
    this.child.stdin!.end('quit\n');
    await new Promise<void>((res) => {
      const t = setTimeout(() => {
        this.child.kill('SIGKILL');
        res();
      }, 2000);
      this.child.once('exit', () => {
        clearTimeout(t);
        res();
      });
    });
  }
}
