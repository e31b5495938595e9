// Running Spin on the generated model (issue 18): spin -a, gcc, pan, and reading pan's report and
// trails. Used by check.ts (make model-check) and mutants.ts (make model-mutants).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_CONFIGS } from '../../grammar/codegen/model/configs.js';

export interface SpinRun {
  /** Short id, used in file names and on the site. */
  id: string;
  /** What the run checks, e.g. ['INV-1', 'INV-8']. */
  properties: string[];
  cfg: number;
  /** -D flags for spin -a (and the C compiler). */
  defines: string[];
  mode: 'safety' | 'ltl' | 'bitstate';
  /** For mode ltl: the ltl formula name (-N). */
  ltl?: string;
  /** Extra pan flags. */
  pan?: string[];
  /** pan's -Q time limit, in minutes. */
  minutes?: number;
}

export interface SpinResult {
  id: string;
  properties: string[];
  cfg: number;
  cfgName: string;
  mode: SpinRun['mode'];
  ltl: string | null;
  defines: string[];
  errors: number;
  /** The error pan reported (assertion text or acceptance cycle), when errors > 0. */
  error: string | null;
  complete: boolean;
  states: number;
  transitions: number;
  depth: number;
  memoryMB: number;
  /** pan's elapsed seconds and the CPU seconds of the whole run (spin -a, gcc and pan). */
  panSeconds: number;
  cpuSeconds: number;
  stateVector: number;
  hashFactor: number | null;
  /** The counterexample as message lines ("from to text"), when errors > 0. */
  trail: string[] | null;
}

const TIME = existsSync('/usr/bin/time');

/** Runs a command; its CPU time comes from /usr/bin/time (Debian package time), else its wall time. */
function sh(cmd: string, args: string[], cwd: string): { out: string; cpu: number; code: number } {
  if (!TIME) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    return {
      out: `${r.stdout ?? ''}${r.stderr ?? ''}`,
      cpu: Number(process.hrtime.bigint() - t0) / 1e9,
      code: r.status ?? 1,
    };
  }
  const r = spawnSync('/usr/bin/time', ['-f', '@@cpu %U %S', cmd, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const err = r.stderr ?? '';
  const m = /@@cpu ([0-9.]+) ([0-9.]+)/.exec(err);
  const cpu = m ? Number(m[1]) + Number(m[2]) : 0;
  return { out: `${r.stdout ?? ''}${err.replace(/@@cpu .*\n?/, '')}`, cpu, code: r.status ?? 1 };
}

/** Installs spin with apt when it is missing (the make target and CI need it). */
export function ensureSpin(log: (s: string) => void): void {
  if (spawnSync('spin', ['-V'], { encoding: 'utf8' }).status === 0) return;
  log('spin is missing: installing the Debian package spin');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args: string[]): void => {
    const r = spawnSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed`);
  };
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', 'spin']);
}

function num(re: RegExp, text: string): number {
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Runs one verification of the model text; the work directory is removed afterwards. */
export function runSpin(model: string, run: SpinRun): SpinResult {
  const dir = mkdtempSync(join(tmpdir(), `imsp-model-${run.id}-`));
  try {
    writeFileSync(join(dir, 'imsp.pml'), model);
    const defs = [`-DCFG=${run.cfg}`, ...run.defines];
    let cpu = 0;
    const a = sh('spin', ['-a', ...defs, 'imsp.pml'], dir);
    cpu += a.cpu;
    if (a.code !== 0 || !existsSync(join(dir, 'pan.c'))) throw new Error(`spin -a failed for ${run.id}:\n${a.out}`);
    const cc = ['-O0', '-w', '-DVECTORSZ=4096', '-DMEMLIM=3072'];
    if (run.mode !== 'bitstate') cc.push('-DCOLLAPSE');
    if (run.mode !== 'ltl') cc.push('-DNOCLAIM');
    if (run.mode === 'bitstate') cc.push('-DBITSTATE');
    if (run.mode === 'ltl') cc.push('-DNFAIR=3');
    const g = sh('gcc', [...cc, '-o', 'pan', 'pan.c'], dir);
    cpu += g.cpu;
    if (g.code !== 0) throw new Error(`gcc failed for ${run.id}:\n${g.out.slice(0, 4000)}`);
    const pan = ['-m1000000'];
    if (run.mode === 'ltl') pan.push('-a', '-f', '-N', run.ltl ?? '');
    else pan.push('-E');
    if (run.mode === 'bitstate') pan.push('-w29', '-k3');
    if (run.minutes) pan.push(`-Q${run.minutes}`);
    pan.push(...(run.pan ?? []));
    const p = sh('./pan', pan, dir);
    cpu += p.cpu;
    const out = p.out;
    const errors = num(/errors: (\d+)/, out);
    const errLine = /^pan:\d*:?\s*(.*(?:violated|acceptance cycle|invalid end state).*)$/m.exec(out);
    let trail: string[] | null = null;
    if (errors > 0 && existsSync(join(dir, 'imsp.pml.trail'))) {
      const r = sh('./pan', ['-r', '-S', ...(run.mode === 'ltl' ? ['-N', run.ltl ?? ''] : []), 'imsp.pml.trail'], dir);
      trail = r.out
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.startsWith('@ '))
        .map((l) => l.slice(2));
    }
    const cfg = MODEL_CONFIGS.find((c) => c.id === run.cfg);
    return {
      id: run.id,
      properties: run.properties,
      cfg: run.cfg,
      cfgName: cfg?.name ?? String(run.cfg),
      mode: run.mode,
      ltl: run.ltl ?? null,
      defines: run.defines,
      errors,
      error: errors > 0 ? (errLine?.[1]?.trim() ?? 'error') : null,
      complete: !/Search not completed|time limit/i.test(out),
      states: num(/([0-9.e+]+) states, stored/, out),
      transitions: num(/([0-9.e+]+) transitions \(= stored\+matched\)/, out),
      depth: num(/depth reached (\d+)/, out),
      memoryMB: num(/([0-9.]+)\s+total actual memory usage/, out),
      panSeconds: num(/pan: elapsed time ([0-9.e+]+) seconds/, out),
      cpuSeconds: Math.round(cpu * 10) / 10,
      stateVector: num(/State-vector (\d+) byte/, out),
      hashFactor: run.mode === 'bitstate' ? num(/hash factor: ([0-9.e+]+)/, out) : null,
      trail,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads the generated model. */
export function generatedModel(root: string): string {
  return readFileSync(join(root, 'generated/model/imsp.pml'), 'utf8');
}
