// The systemd units in contrib/systemd pass `systemd-analyze verify` with no warning, and every
// option their ExecStart lines give exists in `imsp crs|ms --help`. systemd-analyze checks that
// ExecStart's program is executable, so the test verifies copies that point at this checkout's bin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CRS_OPTIONS, MS_OPTIONS } from '../../reference/cli/servers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNITS = join(ROOT, 'contrib/systemd');

async function analyzer(): Promise<string | false> {
  try {
    await run('systemd-analyze', ['--version']);
    return false;
  } catch {
    return 'systemd-analyze not installed (apt-get install systemd)';
  }
}

test('contrib/systemd units pass systemd-analyze verify without a warning', { skip: await analyzer() }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-units-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(ROOT, 'reference/bin/imsp.js'), join(dir, 'imsp'));
  const units = (await readdir(UNITS)).filter((f) => f.endsWith('.service'));
  assert.deepEqual(units.sort(), ['imsp-crs.service', 'imsp-ms@.service']);
  const toVerify: string[] = [];
  for (const u of units) {
    const text = (await readFile(join(UNITS, u), 'utf8')).replaceAll('/usr/local/bin/imsp', join(dir, 'imsp'));
    // a template is verified through an instance
    const name = u.replace('@.service', '@ms-1.service');
    await writeFile(join(dir, name), text);
    toVerify.push(join(dir, name));
  }
  const r = await run('systemd-analyze', ['verify', ...toVerify]).catch(
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  const out = `${'stdout' in r ? r.stdout : ''}${'stderr' in r ? r.stderr : ''}`;
  assert.ok(!('code' in r) || r.code === 0, out);
  assert.equal(out.trim(), '', `systemd-analyze verify printed:\n${out}`);
  await copyFile(join(UNITS, 'imsp-crs.service'), join(dir, 'broken.service'));
  await writeFile(
    join(dir, 'broken.service'),
    (await readFile(join(dir, 'imsp-crs.service'), 'utf8')).replace('[Service]', '[Service]\nRestartt=always'),
  );
  const bad = await run('systemd-analyze', ['verify', join(dir, 'broken.service')]).catch((e: { stderr: string }) => e);
  assert.match(bad.stderr, /Unknown key/, 'the check can fail');
});

test("every option in the units' ExecStart lines is an option of imsp crs / imsp ms", async () => {
  for (const [file, defs] of [
    ['imsp-crs.service', CRS_OPTIONS],
    ['imsp-ms@.service', MS_OPTIONS],
  ] as const) {
    const text = await readFile(join(UNITS, file), 'utf8');
    const exec = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
    const flags = new Set(defs.map((d) => d.flags.split(/[ ,]/)[0]).concat(['--config', '--limit']));
    for (const f of exec.match(/--[a-z-]+/g) ?? []) assert.ok(flags.has(f), `${file}: ${f} is not an option`);
    assert.match(text, /^UMask=0077$/m);
    assert.match(text, /^LoadCredential=ms\.key:/m);
  }
});
