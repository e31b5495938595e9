// The kit's selftest (`make conformance`) starts the reference CRS as a child process. When the kit
// dies before it is done (its stdout piped into `head` that exits, Ctrl-C, a SIGTERM from a CI
// runner) the CRS it started must not stay listening, and its temp directory must go (issue 12;
// issue 14: every process a run starts is stopped). Each run gets its own IMSP_TEST_RUN marker, so
// test/helpers/leftovers.ts finds exactly the processes this kit run started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leftovers, waitForLeftovers } from '../helpers/leftovers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Starts the CRS selftest, waits for its first case line, then ends it the way `how` says. */
async function killKit(how: 'SIGTERM' | 'SIGINT' | 'EPIPE'): Promise<{
  code: number | null;
  signal: NodeJS.Signals | null;
  servers: string[];
  left: string[];
  storeDirs: string[];
}> {
  const run = `kit-cleanup-${randomBytes(6).toString('hex')}`;
  const kit = spawn(
    process.execPath,
    ['--import', 'tsx', 'conformance/selftest.ts', '--role', 'crs', '--runs', '2', '--seed', '7'],
    { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, IMSP_TEST_RUN: run } },
  );
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((res) =>
    kit.once('exit', (code, signal) => res([code, signal])),
  );
  // The first output is a case result: the CRS is listening by then.
  await new Promise<void>((res, rej) => {
    kit.stdout!.once('data', () => res());
    kit.once('exit', () => rej(new Error('the selftest ended before printing a case')));
  });
  const servers = leftovers(run)
    .filter((l) => l.pid !== kit.pid && / crs /.test(l.command))
    .map((l) => l.command);
  const storeDirs = servers.map((c) => dirname(/--store (\S+)/.exec(c)?.[1] ?? '/nonexistent/x'));
  if (how === 'EPIPE') kit.stdout!.destroy();
  else kit.kill(how);
  const [code, signal] = await exited;
  const stragglers = await waitForLeftovers(run, 5000);
  // A failing run must not leak either: stop what the kit left, then report it.
  for (const l of stragglers) process.kill(l.pid, 'SIGKILL');
  for (const d of storeDirs) if (stragglers.length) rmSync(d, { recursive: true, force: true });
  const left = stragglers.map((l) => `${l.pid} ${l.command.slice(0, 120)}`);
  return { code, signal, servers, left, storeDirs };
}

// SIGINT and SIGHUP take the same path as SIGTERM (stopSpawnedOnSignals).
for (const how of ['SIGTERM', 'EPIPE'] as const) {
  test(`the selftest killed by ${how} stops the reference CRS it started and removes its temp directory`, async () => {
    const r = await killKit(how);
    assert.equal(r.servers.length, 1, 'the reference CRS was running when the kit was ended');
    assert.deepEqual(r.left, [], 'processes of the killed kit still running');
    for (const d of r.storeDirs) assert.equal(existsSync(d), false, `temp directory ${d} left behind`);
    if (how === 'EPIPE') assert.equal(r.code, 141, 'a kit whose reader went away exits 141 (as a SIGPIPE death)');
    else assert.equal(r.signal, how, 'the kit dies of the signal it was sent');
  });
}
