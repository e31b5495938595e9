// Set-up on a fresh Debian machine (issue 17): `make test` and `.ci/run` share one step,
// .ci/system-deps, that installs the Debian packages the tests need (chromium, postgresql, tmux,
// spin) only when one is missing, running apt-get update only then; `make demo`'s npm ci prints
// progress. apt-get and npm are stubs here that record how they were called.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function stubDir(present: string[], pg: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-setup-'));
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const log = join(dir, 'calls');
  const stub = async (name: string, body: string) => {
    await writeFile(join(bin, name), `#!/bin/bash\n${body}\n`);
    await chmod(join(bin, name), 0o755);
  };
  for (const p of present) await stub(p, 'exit 0');
  await stub('apt-get', `echo "apt-get $*" >> '${log}'`);
  await stub('sudo', '"$@"');
  const pgRoot = join(dir, 'pg');
  if (pg) {
    await mkdir(join(pgRoot, '15', 'bin'), { recursive: true });
    await writeFile(join(pgRoot, '15', 'bin', 'initdb'), '');
  }
  const env = { PATH: bin, IMSP_PG_ROOT: pgRoot, IMSP_CHROMIUM: join(dir, 'no-chromium'), HOME: dir };
  const calls = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  return { dir, env, calls };
}

const deps = (env: Record<string, string>) => run('/bin/bash', [join(ROOT, '.ci/system-deps')], { env });

test('system-deps does nothing (no apt-get update) when every package is present', async (t) => {
  const s = await stubDir(['chromium', 'tmux', 'spin'], true);
  t.after(() => rm(s.dir, { recursive: true, force: true }));
  const r = await deps(s.env);
  assert.equal(r.stdout, '');
  assert.deepEqual(await s.calls(), []);
});

test('system-deps runs apt-get update once, then installs only what is missing, with progress lines', async (t) => {
  const s = await stubDir(['chromium'], false);
  t.after(() => rm(s.dir, { recursive: true, force: true }));
  const r = await deps(s.env);
  const calls = await s.calls();
  assert.equal(calls.length, 2);
  assert.equal(calls[0], 'apt-get update');
  assert.match(calls[1], /^apt-get install -y .* postgresql tmux spin$/);
  assert.match(r.stdout, /missing Debian packages: postgresql tmux spin/);
  assert.match(r.stdout, /\[1\/2\] apt-get update/);
  assert.match(r.stdout, /\[2\/2\] apt-get install/);
});

test('system-deps with IMSP_NO_APT=1 only says what to install, and fails', async (t) => {
  const s = await stubDir(['chromium', 'spin'], true);
  t.after(() => rm(s.dir, { recursive: true, force: true }));
  await assert.rejects(
    deps({ ...s.env, IMSP_NO_APT: '1' }),
    (e: { code: number; stderr: string }) => e.code === 1 && /apt-get install -y tmux/.test(e.stderr),
  );
  assert.deepEqual(await s.calls(), []);
});

test('make test and .ci/run both call the same system-deps step', async () => {
  const { stdout } = await run('make', ['-n', '-C', ROOT, 'test'], { env: { ...process.env, MAKEFLAGS: '' } });
  assert.match(stdout, /\.ci\/system-deps/);
  assert.match(await readFile(join(ROOT, '.ci/run'), 'utf8'), /^\.ci\/system-deps$/m);
  assert.match(await readFile(join(ROOT, 'Makefile'), 'utf8'), /\.ci\/npm-install/);
});

test("npm-install prints a progress line per 50 packages and passes npm's exit status on", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-npm-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const npm = join(dir, 'npm');
  await writeFile(
    npm,
    '#!/bin/bash\nfor i in $(seq 1 120); do echo "npm http fetch GET 200 https://registry.npmjs.org/p$i 5ms" >&2; done\necho "> better-sqlite3 install"\nexit ${STUB_EXIT:-0}\n',
  );
  await chmod(npm, 0o755);
  const ok = await run('/bin/bash', [join(ROOT, '.ci/npm-install')], { env: { ...process.env, IMSP_NPM: npm } });
  assert.match(ok.stdout, /npm ci: 50 packages fetched/);
  assert.match(ok.stdout, /npm ci: 100 packages fetched/);
  assert.match(ok.stdout, /better-sqlite3 install/);
  assert.match(ok.stdout, /npm ci: done in \d+ s/);
  await assert.rejects(
    run('/bin/bash', [join(ROOT, '.ci/npm-install')], { env: { ...process.env, IMSP_NPM: npm, STUB_EXIT: '3' } }),
    (e: { code: number }) => e.code === 3,
  );
});
