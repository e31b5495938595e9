// Issue 16 (Build) and issue 12 (Packaging): the shipped code compiles to dist/; the `imsp` and
// `imsp-conformance` bins run that compiled JavaScript with no tsx at run time, answer --help without
// loading the subcommands and --version, and pass SIGTERM straight to the server (no wrapper process); the kit's own package
// (`make pack-kit`) installs with `npm install -g` into a fresh prefix without the network and tests
// a reference CRS. Everything is built into one temporary directory, removed at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist } from '../../conformance/package/build.js';
import { KIT_RUNTIME_DEPENDENCIES, packKit } from '../../conformance/package/pack.js';
import { FAST_LIMITS, spawnListening, startReferenceCrs, workdir, type Workdir } from '../../conformance/lib/spawn.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
let tmp = '';
/** The root package's layout as `npm install` leaves it: dist/, the two launchers, package.json, and node_modules without tsx. */
let installed = '';
let w: Workdir;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'imsp-build-'));
  w = workdir();
  installed = join(tmp, 'imsp');
  buildDist(join(installed, 'dist'));
  for (const bin of ['reference/bin/imsp.js', 'conformance/bin/imsp-conformance.js'])
    cpSync(join(root, bin), join(installed, bin));
  cpSync(join(root, 'package.json'), join(installed, 'package.json'));
  mkdirSync(join(installed, 'node_modules'));
  // The run-time dependencies, and nothing of tsx: a compiled bin that still needed it would fail here.
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name === 'tsx' || name === '.bin' || name.startsWith('.')) continue;
    symlinkSync(join(root, 'node_modules', name), join(installed, 'node_modules', name));
  }
});

after(() => {
  w?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const imsp = (): string => join(installed, 'reference/bin/imsp.js');
const kitBin = (): string => join(installed, 'conformance/bin/imsp-conformance.js');

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run an installed bin with this Node, from the temporary directory. */
function run(args: string[]): Ran {
  return spawnSync(process.execPath, args, { cwd: tmp, encoding: 'utf8' });
}

test('the compiled tree holds no TypeScript and the launchers run it: --version of both bins', () => {
  assert.ok(existsSync(join(installed, 'dist/reference/cli/main.js')));
  assert.ok(existsSync(join(installed, 'dist/conformance/cli.js')));
  assert.ok(!existsSync(join(installed, 'dist/conformance/selftest.js')), 'dev-only tools stay out of the build');
  const v = run([imsp(), '--version']);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), `imsp ${version}`);
  const k = run([kitBin(), '--version']);
  assert.equal(k.status, 0, k.stderr);
  assert.equal(k.stdout.trim(), `imsp-conformance ${version}`);
  const viaImsp = run([imsp(), 'conformance', '--version']);
  assert.equal(viaImsp.stdout.trim(), `imsp-conformance ${version}`);
});

/** The project modules a compiled command loads, from Node's own ESM loader trace (NODE_DEBUG=esm). */
function loadedModules(args: string[]): string[] {
  const r = spawnSync(process.execPath, args, {
    cwd: tmp,
    encoding: 'utf8',
    env: { ...process.env, NODE_DEBUG: 'esm' },
  });
  assert.equal(r.status, 0, r.stderr);
  const urls = new Set<string>();
  for (const m of r.stderr.matchAll(/Storing (file:\/\/\S+)/g)) urls.add(m[1]!.slice(`file://${installed}/`.length));
  return [...urls].sort();
}

// The start-up time itself is a benchmark (bench/startup.ts in `make bench`, goal < 300 ms): a test
// checks what makes it short, that --help loads the launcher and the command table only, and no
// server, store, codec or kit module (issue 16: `npx imsp --help` took 1.5 to 3.6 s).
test('imsp --help loads only the launcher and the command table, not the subcommands', () => {
  const h = run([imsp(), '--help']);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /Usage: imsp <command>/);
  const help = loadedModules([imsp(), '--help']);
  assert.ok(help.includes('reference/bin/imsp.js'), `the ESM trace names the launcher: ${help.join(', ')}`);
  const beyond = help.filter(
    (m) => !/^(reference\/bin\/imsp\.js|dist\/reference\/cli\/(main|version|epipe)\.js)$/.test(m),
  );
  assert.deepEqual(beyond, [], 'imsp --help loaded modules beyond the command table');
  // The trace is not blind: a subcommand's --help loads its server.
  const ms = loadedModules([imsp(), 'ms', '--help']);
  assert.ok(
    ms.some((m) => m.startsWith('dist/reference/ms/')),
    `imsp ms --help loads the MS: ${ms.length} modules`,
  );
  const kit = run([kitBin(), '--help']);
  assert.equal(kit.status, 0, kit.stderr);
  assert.match(kit.stdout, /--role <role>/);
});

/** Spawn the installed bin directly (as an operator's service manager does), SIGTERM it, collect its exit. */
async function sigterm(
  args: string[],
  readyLog?: RegExp,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; address: string }> {
  const s = await spawnListening(installed, imsp(), args, 20000);
  if (readyLog && !readyLog.test(s.stderr())) {
    // An MS prints `listening` before it has enrolled; signal it once it has (a log line, not a sleep).
    await new Promise<void>((res) => {
      const t = setTimeout(res, 30000);
      const on = (): void => {
        if (readyLog.test(s.stderr())) {
          clearTimeout(t);
          s.child.stderr!.off('data', on);
          res();
        }
      };
      s.child.stderr!.on('data', on);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    s.child.once('exit', (code, signal) => res({ code, signal })),
  );
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 15000);
  const r = await exited;
  clearTimeout(timer);
  return { ...r, stderr: s.stderr(), address: s.address };
}

test('SIGTERM reaches the compiled CRS and MS: each logs its graceful stop and exits 0', async () => {
  const limits = Object.entries(FAST_LIMITS).flatMap(([k, v]) => ['--limit', `${k}=${v}`]);
  const crs = await spawnListening(
    installed,
    imsp(),
    [
      'crs',
      '--port',
      '0',
      '--store',
      join(w.dir, 'crs.db'),
      '--ms-key-file',
      w.keyFile,
      '--log-level',
      'info',
      ...limits,
    ],
    20000,
  );
  try {
    const ms = await sigterm(
      [
        'ms',
        '--port',
        '0',
        '--crs',
        crs.address,
        '--ms-key-file',
        w.keyFile,
        '--ms-id',
        'bin-test',
        '--log-level',
        'info',
        ...limits,
      ],
      /"event":"enrolled"/,
    );
    assert.equal(ms.signal, null, `the MS exits by itself, not killed by the signal\n${ms.stderr.slice(-3000)}`);
    assert.equal(ms.code, 0, ms.stderr);
    assert.match(ms.stderr, /"msg":"shutting down"/);
    assert.match(ms.stderr, /"msg":"stopped"/);
  } finally {
    await crs.stop();
  }
  const c = await sigterm([
    'crs',
    '--port',
    '0',
    '--store',
    join(w.dir, 'crs2.db'),
    '--ms-key-file',
    w.keyFile,
    '--log-level',
    'info',
  ]);
  assert.equal(c.signal, null);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /"msg":"stopped"/);
});

test('the kit package installs offline into a fresh prefix, carries every package it imports, and tests a reference CRS and client as compiled JavaScript', {
  timeout: 240_000,
}, async () => {
  const { tarball } = packKit({ dist: join(installed, 'dist'), out: join(tmp, 'pack') });
  assert.match(tarball, /imsp-conformance-[0-9.]+\.tgz$/);
  const prefix = join(tmp, 'prefix');
  execFileSync(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--cache',
      join(tmp, 'npm-cache'),
      tarball,
    ],
    {
      cwd: tmp,
      stdio: 'pipe',
      env: { ...process.env, npm_config_update_notifier: 'false' },
    },
  );
  const pkgDir = join(prefix, 'lib/node_modules/imsp-conformance');
  const files = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' });
  assert.deepEqual(
    files(pkgDir).filter((f) => /\.(m|c)?ts$/.test(f) && !f.endsWith('.d.ts') && !f.includes('node_modules')),
    [],
    'no TypeScript is installed',
  );
  assert.ok(!existsSync(join(pkgDir, 'node_modules/tsx')), 'tsx is not installed');
  // Every package the installed kit's code imports is bundled with it or is part of Node: the kit's
  // client role once imported ajv, which the package did not carry, so it failed outside this repository.
  const imported = new Set<string>();
  for (const f of files(join(pkgDir, 'dist')).filter((p) => p.endsWith('.js'))) {
    const js = readFileSync(join(pkgDir, 'dist', f), 'utf8');
    for (const m of js.matchAll(
      /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]((?:@[\w.-]+\/)?[\w-][\w./-]*)['"]/gm,
    )) {
      const spec = m[1]!;
      if (spec.startsWith('node:') || isBuiltin(spec)) continue;
      imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  assert.ok(imported.size > 0, 'the scan finds the kit imports');
  assert.deepEqual([...imported].sort(), [...KIT_RUNTIME_DEPENDENCIES].sort(), 'packages the kit imports');
  for (const dep of KIT_RUNTIME_DEPENDENCIES)
    assert.ok(existsSync(join(pkgDir, 'node_modules', dep, 'package.json')), `${dep} is bundled`);
  const bin = join(prefix, 'bin/imsp-conformance');
  const v = spawnSync(bin, ['--version'], { cwd: tmp, encoding: 'utf8' });
  assert.equal(v.stdout.trim(), `imsp-conformance ${version}`, v.stderr);
  const sets = Object.entries(FAST_LIMITS).flatMap(([k, val]) => ['--set', `${k}=${val}`]);
  /** Run the installed kit to its end; its exit status and everything it printed. */
  const kit = async (args: string[]): Promise<{ status: number | null; out: string }> => {
    const run = spawn(bin, [...args, '--seed', '1', '--runs', '3', '--quiet'], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    run.stdout.on('data', (d: Buffer) => (out += d.toString()));
    run.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const status = await new Promise<number | null>((res) => run.once('exit', (code) => res(code)));
    return { status, out };
  };
  const crs = await startReferenceCrs(root, w);
  try {
    const r = await kit([
      ...['--role', 'crs', '--target', crs.address, '--ms-key-file', w.keyFile],
      ...['--only', 'ENROLL-2,REGISTER-1,LOCK-1,WIRE-3', '--json', 'report.json', ...sets],
    ]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /[1-9]\d* passed, 0 failed/);
    // The command line the report gives (and replays build on) is one this machine can run again: it
    // starts with the installed bin, not with `npx imsp conformance`, which needs this repository.
    const report = JSON.parse(readFileSync(join(tmp, 'report.json'), 'utf8')) as { commandLine: string };
    assert.match(report.commandLine, /^imsp-conformance --role crs --target /);
  } finally {
    await crs.stop();
  }
  // The client role plays CRS and MS itself and holds every line the client writes to the control
  // schema [CTL-7]: the compiled reference client (no tsx) under the installed kit.
  const client = `'${process.execPath}' '${imsp()}' client --control --crs {crs} --downloads '${join(tmp, 'downloads')}'`;
  const c = await kit(['--role', 'client', '--client-cmd', client, '--only', 'client/wire/1']);
  assert.equal(c.status, 0, c.out);
  assert.match(c.out, /1 passed, 0 failed/);
});
