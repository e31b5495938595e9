// Tests stop every process they start (issue 14). `make test` gives its whole run a marker in the
// environment, IMSP_TEST_RUN=<id>, which every process it starts inherits: node test processes, IMSP
// servers run as children, PostgreSQL clusters (pg_ctl and runuser keep the environment), chromium,
// tmux servers. When the run ends this finds every live process that still carries the marker and
// fails, naming each one (pid and command line). Processes of other runs or other users of the
// machine carry another marker, or none, and are never counted.
//
//   node --import tsx test/helpers/leftovers.ts <id>     # exit 1 and a list when something is left
import { readdirSync, readFileSync } from 'node:fs';

export interface Leftover {
  pid: number;
  command: string;
}

/** Live processes whose environment holds IMSP_TEST_RUN=<run> (this process excluded). */
export function leftovers(run: string): Leftover[] {
  const marker = Buffer.from(`IMSP_TEST_RUN=${run}\0`);
  const out: Leftover[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`);
      // The last variable has no trailing NUL in some kernels' view: match it too.
      if (env.indexOf(marker) < 0 && !env.subarray(env.length - marker.length + 1).equals(marker.subarray(0, -1)))
        continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // A zombie has exited already; its parent just has not reaped it yet.
      if (/\) Z /.test(stat)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      out.push({ pid, command });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** Waits up to `graceMs` for processes that are still stopping (polled every 100 ms), then reports. */
export async function waitForLeftovers(run: string, graceMs = 5000): Promise<Leftover[]> {
  const deadline = Date.now() + graceMs;
  let left = leftovers(run);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = leftovers(run);
  }
  return left;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const run = process.argv[2] ?? process.env.IMSP_TEST_RUN;
  if (!run) {
    process.stderr.write('usage: leftovers.ts <IMSP_TEST_RUN id>\n');
    process.exit(2);
  }
  const left = await waitForLeftovers(run);
  if (left.length > 0) {
    process.stderr.write(
      `processes started by the tests are still running (issue 14: tests stop every server they start):\n`,
    );
    for (const l of left) process.stderr.write(`  ${l.pid}  ${l.command.slice(0, 200)}\n`);
    process.exit(1);
  }
  process.stdout.write('no process started by the tests is left running\n');
}
