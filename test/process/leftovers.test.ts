// Tests stop every process they start (issue 14): the leftover check that ends `make test` sees a
// process that carries the run's marker, and the shared PostgreSQL cluster of a test process is
// stopped when that process exits, even when no test stopped it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { leftovers, waitForLeftovers } from '../helpers/leftovers.js';
import { findPgBin } from '../helpers/pg.js';

const root = resolve(new URL('../..', import.meta.url).pathname);

test('the leftover check names a process that carries the run marker, and nothing once it is stopped', async () => {
  const run = `check-${randomBytes(6).toString('hex')}`;
  const child = spawn('sleep', ['60'], { env: { ...process.env, IMSP_TEST_RUN: run }, stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await new Promise((r) => child.once('spawn', r));
    const found = leftovers(run);
    assert.deepEqual(
      found.map((l) => l.pid),
      [child.pid],
    );
    assert.match(found[0].command, /sleep 60/);
    assert.deepEqual(leftovers(`other-${run}`), [], "another run's marker does not match");
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  assert.deepEqual(await waitForLeftovers(run, 2000), []);
});

test('the shared PostgreSQL cluster of a test process is stopped when the process exits', {
  skip: findPgBin() ? false : 'no PostgreSQL binaries',
  timeout: 120_000,
}, async () => {
  const run = `pg-${randomBytes(6).toString('hex')}`;
  // A test process that starts the shared cluster, uses it, and exits without stopping it.
  const script =
    "const { sharedPg } = await import('./test/helpers/pg.ts'); const s = await sharedPg(); if (!s) process.exit(3); console.log(s.url);";
  const env: NodeJS.ProcessEnv = { ...process.env, IMSP_TEST_RUN: run };
  delete env.IMSP_PG_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, out);
  assert.match(out, /postgres:\/\//);
  const left = await waitForLeftovers(run, 5000);
  assert.deepEqual(left, [], `left running: ${left.map((l) => l.command).join('; ')}`);
});
