// Start-up benchmark (`make bench`, compiled by tsc): how long the bins take to answer --help, the
// first thing an operator or an implementer runs (issue 16: `npx imsp --help` took 1.5 to 3.6 s
// through tsx). The bins run the compiled JavaScript under dist/ (IMSP_COMPILED=1, as an installed
// package does). Goal: a median under 300 ms wall on a quiet machine. The children's CPU time (user +
// system, /proc/self/stat cutime + cstime, 10 ms ticks) is printed beside it, since a start-up that
// waits for a busy core is not slower code. test/build/package.test.ts checks the behaviour (what
// --help loads), never the time.
// Usage: node dist/bench/startup.js [--runs N] [--json]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const GOAL_MS = 300;
const USER_HZ = 100; // Linux reports children's times in clock ticks of 1/100 s

/** CPU ticks of the children this process has reaped (cutime + cstime of /proc/self/stat). */
function childTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after "(comm) ": state is index 0, so cutime (field 16) and cstime (field 17) are 13 and 14.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[13]) + Number(f[14]);
}

interface Sample {
  wallMs: number;
  cpuMs: number;
}

function once(bin: string): Sample {
  const ticks0 = childTicks();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, '--help'], {
    cwd: root,
    env: { ...process.env, IMSP_COMPILED: '1' },
    encoding: 'utf8',
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${bin} --help exited ${String(r.status)}: ${r.stderr}`);
  return { wallMs, cpuMs: ((childTicks() - ticks0) * 1000) / USER_HZ };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

function main(argv: string[]): void {
  const runsAt = argv.indexOf('--runs');
  const runs = runsAt >= 0 ? Math.max(1, Number(argv[runsAt + 1])) : 11;
  const bins = {
    'imsp --help': 'reference/bin/imsp.js',
    'imsp-conformance --help': 'conformance/bin/imsp-conformance.js',
  };
  const rows = Object.entries(bins).map(([name, bin]) => {
    once(bin); // warm the page cache
    const samples = Array.from({ length: runs }, () => once(bin));
    const wall = median(samples.map((s) => s.wallMs));
    return { name, runs, wallMs: wall, cpuMs: median(samples.map((s) => s.cpuMs)), met: wall < GOAL_MS };
  });
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ goalMs: GOAL_MS, rows }, null, 2)}\n`);
    return;
  }
  const [l1, l5] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  process.stdout.write(
    `start-up of the compiled bins, median of ${runs} runs; load average ${l1} (1 min), ${l5} (5 min)\n`,
  );
  for (const r of rows)
    process.stdout.write(
      `  ${r.name.padEnd(24)} ${r.wallMs.toFixed(0).padStart(5)} ms wall  ${r.cpuMs.toFixed(0).padStart(5)} ms CPU  goal < ${GOAL_MS} ms wall: ${r.met ? 'met' : 'NOT met'}\n`,
    );
}

main(process.argv.slice(2));
