// The kit as a tool (issue 12, "The kit as a tool"): replay commands reproduce their failure, the
// HTML matrix blames the requirement a finding names, set-up failures stop the run with exit 2, the
// users the kit creates carry a recognisable prefix, and the HTML report is self-contained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Failure, type CaseResult } from '../../conformance/lib/case.js';
import { Transcript } from '../../conformance/lib/conn.js';
import { KIT_NAME_PREFIX } from '../../conformance/lib/config.js';
import { fuzzCommands, replayBase } from '../../conformance/lib/model-fuzz.js';
import { makeCopy } from '../../conformance/mutants/run.js';
import { selftestRole } from '../../conformance/selftest.js';
import { Limits } from '../../conformance/lib/registry.js';
import { requirementMatrix, toHtml, type RunInfo } from '../../conformance/lib/report.js';
import { Checker, type RunOptions } from '../../conformance/lib/runner.js';
import { FAST_LIMITS, spawnListening, startReferenceCrs, workdir } from '../../conformance/lib/spawn.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kit = join(root, 'conformance/bin/imsp-conformance.js');

/** Run the kit's command; its exit status and output. */
function runBin(
  args: string[],
  timeoutMs = 120_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [kit, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

// A toy state machine with a planted fault (the third increment counts twice), fuzzed by the kit's
// own fuzzCommands exactly as the state-machine cases are: fc.commands with the run's replay path.
interface Counter {
  n: number;
}
class Inc implements fc.AsyncCommand<Counter, Counter> {
  check = (): boolean => true;
  async run(m: Counter, r: Counter): Promise<void> {
    m.n++;
    r.n += r.n >= 2 ? 2 : 1;
    if (m.n !== r.n) throw Object.assign(new Error(`model ${m.n}, real ${r.n}`), { req: 'STATE-1' });
  }
  toString = (): string => 'inc';
}
class Noop implements fc.AsyncCommand<Counter, Counter> {
  check = (): boolean => true;
  async run(): Promise<void> {}
  toString = (): string => 'noop';
}

/** The run options of a toy fuzz run: seed 42, 30 runs, unless `opts` says otherwise. */
const toyRun = (commandLine: string, opts: Partial<RunOptions>): RunOptions => ({
  seed: 42,
  runs: 30,
  timeoutMs: 1000,
  strict: false,
  limits: new Limits(),
  slow: false,
  progress: () => undefined,
  commandLine,
  ...opts,
});

async function fuzzToy(
  opts: Partial<RunOptions>,
): Promise<{ failure: Failure | null; ctx: Checker & { opts: RunOptions } }> {
  const run = toyRun('imsp-conformance --role crs --target 127.0.0.1:7000 --seed 42 --runs 30', opts);
  const ctx = Object.assign(new Checker([], new Transcript()), { opts: run });
  const commands = [fc.constant(new Inc()), fc.constant(new Noop())];
  const runOnce = async (cmds: Iterable<fc.AsyncCommand<Counter, Counter>>): Promise<void> =>
    fc.asyncModelRun(() => ({ model: { n: 0 }, real: { n: 0 } }), cmds);
  try {
    await fuzzCommands(ctx, { id: 'crs/fuzz/2', maxRuns: 30, req: 'STATE-1', commands, runOnce, log: () => [] });
    return { failure: null, ctx };
  } catch (e) {
    if (e instanceof Failure) return { failure: e, ctx };
    throw e;
  }
}

/** The value of a flag in a printed command line (quoted or not). */
const flag = (line: string, name: string): string | undefined =>
  new RegExp(` --${name} (?:'([^']*)'|(\\S+))`)
    .exec(line)
    ?.slice(1)
    .find((x) => x !== undefined);

test('[CONF-15] the replay command printed for a state-machine fuzz failure reproduces that failure', async () => {
  const first = await fuzzToy({});
  assert.ok(first.failure, 'the planted fault is found');
  const replay = first.ctx.meta.replay!;
  assert.match(replay, / --only crs\/fuzz\/2 --seed 42 --path '[0-9:]+' --replay-path '[^']+'$/);
  assert.equal(replayBase("x --runs 3 --path '1:2' --set a=1 --replay-path 'AB:C' --fail-fast"), 'x --set a=1');
  // Replay exactly what the line says: the same failure, at once, with the same minimal sequence.
  const again = await fuzzToy({
    seed: Number(flag(replay, 'seed')),
    path: flag(replay, 'path')!,
    replayPath: flag(replay, 'replay-path')!,
    runs: 50,
  });
  assert.ok(again.failure, `the replay fails again: ${replay}`);
  assert.equal(again.failure.req, first.failure.req);
  const minimal = (f: Failure): string => /minimal sequence: (.*)/.exec(f.message)![1]!;
  assert.equal(minimal(again.failure), minimal(first.failure));
  // And the kit's command line accepts the option it prints.
  const listed = await runBin([
    '--role',
    'crs',
    '--list',
    '--only',
    'crs/fuzz/2',
    '--seed',
    '42',
    '--path',
    '4:1:2',
    '--replay-path',
    'AB:C',
  ]);
  assert.equal(listed.status, 0, listed.stderr);
});

test('[CONF-15] client role: the replay line client/fuzz/2 prints, run as printed, reproduces its failure', {
  timeout: 300_000,
}, async (t) => {
  // A client that skips the Server-proof check [AUTH-11]: a fault client/fuzz/2 draws within a few sequences.
  const dir = makeCopy(root, {
    name: 'replay-client',
    fault: 'the client uses a login response whose Server-proof does not verify',
    role: 'client',
    only: ['client/fuzz/2'],
    patches: [
      { file: 'reference/client/authenticate.ts', find: '  checkServerProof(ok, scram.serverKey, auth);', replace: '' },
    ],
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const found = await selftestRole('client', {
    root: dir,
    roles: ['client'],
    runs: 30,
    seed: 5,
    timeoutMs: 3000,
    only: ['client/fuzz/2'],
    quiet: true,
    out: () => undefined,
  });
  const r = found.results[0]!;
  assert.equal(r.verdict, 'FAIL', JSON.stringify(r.findings));
  assert.equal(r.findings[0]!.req, 'AUTH-11');
  const line = r.replay!;
  assert.match(
    line,
    /^npx imsp conformance --role client --client-cmd '[^']+' .* --only client\/fuzz\/2 --seed 5 --path /,
  );
  // Run the line through the shell as printed (`npx imsp conformance` is the kit's own bin), from the
  // directory of the client it names, with a JSON report to compare the minimal sequence.
  const json = join(dir, 'replay.json');
  const again = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
    const p = spawn(
      '/bin/sh',
      ['-c', `${line.replace(/^npx imsp conformance/, `exec "${process.execPath}" "${kit}"`)} --json ${json}`],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
    p.once('exit', (status) => resolve({ status, stdout }));
  });
  assert.equal(again.status, 1, again.stdout);
  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    cases: { id: string; verdict: string; findings: { req: string; text: string }[]; wire: { text: string }[] }[];
  };
  const replayed = report.cases.find((c) => c.id === 'client/fuzz/2')!;
  assert.equal(replayed.verdict, 'FAIL', again.stdout);
  assert.equal(replayed.findings[0]!.req, 'AUTH-11');
  // At once: the replay ran the one failing sequence, not a new search that happened to find it.
  const runs = replayed.wire.map((e) => /^fast-check: (\d+) command sequences/.exec(e.text)?.[1]).find((x) => x);
  assert.equal(runs, '1', 'the replay runs the failing sequence only');
  const minimal = (text: string): string => /minimal sequence: (.*)/.exec(text)![1]!.replace(/replayPath="[^"]*"/, '');
  assert.equal(minimal(replayed.findings[0]!.text), minimal(r.findings[0]!.text));
});

// A target that leaks state from one sequence into the next (each step is remembered for good) and
// fails once it has seen more than 8 steps: no sequence fails on a fresh target, so the shrunk one
// alone cannot reproduce the failure, and the replay line must run the sequences before it.
async function fuzzLeaky(
  opts: Partial<RunOptions>,
): Promise<{ failure: Failure | null; ctx: Checker & { opts: RunOptions }; notes: string[] }> {
  const run = toyRun('imsp-conformance --role client --client-cmd x --seed 42 --runs 30', opts);
  const tr = new Transcript();
  const ctx = Object.assign(new Checker([], tr), { opts: run });
  const target = { seen: 0 };
  class Step implements fc.AsyncCommand<Counter, Counter> {
    check = (): boolean => true;
    async run(): Promise<void> {
      if (++target.seen > 8) throw Object.assign(new Error(`step ${target.seen}`), { req: 'STATE-1' });
    }
    toString = (): string => 'step';
  }
  const runOnce = async (cmds: Iterable<fc.AsyncCommand<Counter, Counter>>): Promise<void> =>
    fc.asyncModelRun(() => ({ model: { n: 0 }, real: { n: 0 } }), cmds);
  try {
    await fuzzCommands(ctx, {
      id: 'client/fuzz/2',
      maxRuns: 30,
      req: 'STATE-1',
      commands: [fc.constant(new Step())],
      maxCommands: 3,
      runOnce,
      log: () => [],
      fresh: async () => {
        target.seen = 0;
      },
    });
    return { failure: null, ctx, notes: tr.entries.map((e) => JSON.stringify(e)) };
  } catch (e) {
    if (e instanceof Failure) return { failure: e, ctx, notes: tr.entries.map((x) => JSON.stringify(x)) };
    throw e;
  }
}

test('[CONF-15] a failure that needs the sequences before it: the replay line runs them all from the seed, and reproduces it', async () => {
  const first = await fuzzLeaky({});
  assert.ok(first.failure, 'the leak is found');
  const replay = first.ctx.meta.replay!;
  // The shrunk sequence alone passed on a fresh target: no --path, the sequences up to the failing one.
  assert.match(replay, / --only client\/fuzz\/2 --seed 42 --runs [0-9]+$/);
  const runs = Number(flag(replay, 'runs'));
  assert.ok(runs > 1 && runs === first.ctx.meta.replayRuns, replay);
  assert.ok(
    first.notes.some((n) => n.includes('passed when run again on its own (on a fresh target)')),
    'the report says why',
  );
  const again = await fuzzLeaky({ seed: Number(flag(replay, 'seed')), runs });
  assert.ok(again.failure, `the replay fails again: ${replay}`);
  assert.equal(again.failure.req, first.failure.req);
  // Fewer sequences than that do not fail: the line runs exactly what the failure needs.
  assert.equal((await fuzzLeaky({ runs: runs - 1 })).failure, null);
});

function result(
  id: string,
  reqs: string[],
  verdict: CaseResult['verdict'],
  findings: CaseResult['findings'] = [],
): CaseResult {
  return { id, section: 's', title: id, reqs, verdict, findings, durationMs: 1, transcript: new Transcript() };
}
const info: RunInfo = {
  role: 'crs',
  target: '127.0.0.1:7000',
  seed: 1,
  runs: 1,
  startedAt: '2026-01-01T00:00:00Z',
  durationMs: 1,
  commandLine: 'imsp-conformance --role crs',
};

test('[CONF-4] the HTML matrix attributes a failure to the requirement its finding names, not to every requirement the case cites', () => {
  const results = [
    result('crs/x/1', ['LOCK-1', 'LOCK-2', 'LOCK-4', 'LOCK-5', 'LOCK-6', 'LOCK-8', 'LOGIN-10', 'INV-1'], 'FAIL', [
      { verdict: 'FAIL', req: 'LOCK-6', text: 'stale epoch accepted' },
    ]),
    result('crs/x/2', ['LOCK-1'], 'PASS'),
  ];
  const m = requirementMatrix(results);
  const v = (req: string): string[] => m.get(req)!.map((p) => `${p.r.id}=${p.v}`);
  assert.deepEqual(v('LOCK-6'), ['crs/x/1=FAIL']);
  assert.deepEqual(v('LOCK-1'), ['crs/x/1=NOT REACHED', 'crs/x/2=PASS']);
  assert.deepEqual(v('INV-1'), ['crs/x/1=NOT REACHED']);
  const html = toHtml(info, results, '');
  const row = (req: string): string => new RegExp(`<tr id="req-${req}"[^]*?</tr>`).exec(html)![0];
  assert.match(row('LOCK-6'), /badge v-fail">FAIL/);
  assert.match(row('LOCK-1'), /badge v-pass">PASS/);
  assert.match(row('INV-1'), /badge v-not-reached">NOT REACHED/);
  assert.equal(
    (html.match(/<tr id="req-[^"]*" class="row-fail"/g) ?? []).length,
    1,
    'one fault, one failed requirement',
  );
});

test('[CONF-4] the HTML report names a server by its address and a client by the command that starts it', () => {
  assert.match(toHtml(info, [], ''), /Role under test: <b>crs<\/b> at <code>127\.0\.0\.1:7000<\/code>/);
  const client = { ...info, role: 'client', target: './my-client --control --crs {crs}' };
  assert.match(
    toHtml(client, [], ''),
    /Role under test: <b>client<\/b> started as <code>\.\/my-client --control --crs \{crs\}<\/code>/,
  );
});

test('[CONF-4] the HTML report is styled and self-contained: in-report or --spec-base links, never file:// paths', () => {
  const results = [result('crs/x/1', ['LOCK-6'], 'FAIL', [{ verdict: 'FAIL', req: 'LOCK-6', text: 'x' }])];
  const own = toHtml(
    info,
    results,
    '',
    new Map([['LOCK-6', 'MUST']]),
    new Map([['LOCK-6', 'An MS MUST present the current epoch.']]),
  );
  assert.match(own, /<style>[^]*\.badge[^]*<\/style>/);
  assert.match(own, /<meta name="viewport"/);
  assert.match(own, /href="#req-LOCK-6"/);
  assert.match(own, /<div class="req-text">An MS MUST present the current epoch\.<\/div>/);
  assert.doesNotMatch(own, /file:\/\//);
  const linked = toHtml(info, results, '../spec/requirements.html');
  assert.match(linked, /href="\.\.\/spec\/requirements\.html#req-LOCK-6"/);
  assert.doesNotMatch(linked, /file:\/\//);
});

test('[CONF-14] set-up failures stop the run before any case with one message and exit status 2', {
  timeout: 200_000,
}, async (t) => {
  const w = workdir();
  t.after(() => w.dispose());
  // 1. Nothing listens on the target.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const down = await runBin([
    '--role',
    'crs',
    '--target',
    `127.0.0.1:${port}`,
    '--ms-key-file',
    w.keyFile,
    '--seed',
    '1',
  ]);
  assert.equal(down.status, 2, down.stdout + down.stderr);
  assert.match(down.stderr, /^imsp-conformance: cannot reach the CRS at 127\.0\.0\.1:\d+: .+\n$/);
  assert.doesNotMatch(down.stdout, /\[1\//, 'no case ran');
  // 2. and 3.: a reference CRS with short timers.
  const crs = await startReferenceCrs(root, w);
  t.after(() => crs.stop());
  const sets = Object.entries(FAST_LIMITS).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const otherKey = join(w.dir, 'other.key');
  writeFileSync(otherKey, `${Buffer.alloc(32, 7).toString('base64url')}\n`);
  const wrongKey = await runBin([
    '--role',
    'crs',
    '--target',
    crs.address,
    '--ms-key-file',
    otherKey,
    '--seed',
    '1',
    ...sets,
  ]);
  assert.equal(wrongKey.status, 2, wrongKey.stdout + wrongKey.stderr);
  assert.match(wrongKey.stderr, /refused the kit's MS key \(PROOF answered 401 ERR_AUTH_FAILED\)/);
  assert.equal(wrongKey.stderr.trim().split('\n').length, 1, 'one message');
  assert.doesNotMatch(wrongKey.stdout, /\[1\//);
  const lease = await runBin([
    '--role',
    'crs',
    '--target',
    crs.address,
    '--ms-key-file',
    w.keyFile,
    '--seed',
    '1',
    ...Object.entries(FAST_LIMITS)
      .filter(([k]) => k !== 'msLease')
      .flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    '--set',
    'msLease=30000',
  ]);
  assert.equal(lease.status, 2, lease.stdout + lease.stderr);
  assert.match(
    lease.stderr,
    /announces Lease 1500 ms, which contradicts --set msLease=30000: run the kit with --set msLease=1500/,
  );
  assert.doesNotMatch(lease.stdout, /\[1\//);
});

test('[CONF-14] [CTL-1] a client command that does not start stops the run before any case with one message and exit status 2', {
  timeout: 120_000,
}, async () => {
  // an implementer's typo: before, every case failed or skipped on the missing ready line
  const r = await runBin(['--role', 'client', '--client-cmd', '/nonexistent/imsp-client --control --crs {crs}']);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /^imsp-conformance: the client command did not start: it printed no \{"event":"ready"\} and exited with status \d+ \[CTL-1\]; its stderr: .*nonexistent.*\n$/,
  );
  assert.doesNotMatch(r.stdout, /\[1\//, 'no case ran');
});

test('[CONF-13] the users the kit creates on a CRS carry the kit. prefix, the report says so, and the clean-up it prints removes them', {
  timeout: 200_000,
}, async (t) => {
  const w = workdir();
  t.after(() => w.dispose());
  const store = join(w.dir, 'crs.db');
  const crs = await spawnListening(root, 'reference/bin/imsp.js', [
    'crs',
    '--port',
    '0',
    '--store',
    store,
    '--ms-key-file',
    w.keyFile,
    '--log-level',
    'silent',
    ...Object.entries(FAST_LIMITS).flatMap(([k, v]) => ['--limit', `${k}=${v}`]),
  ]);
  t.after(() => crs.stop());
  const out = mkdtempSync(join(tmpdir(), 'imsp-kit-report-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const sets = Object.entries(FAST_LIMITS).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const r = await runBin([
    '--role',
    'crs',
    '--target',
    crs.address,
    '--ms-key-file',
    w.keyFile,
    '--seed',
    '3',
    '--runs',
    '2',
    '--only',
    'REGISTER-1,LOCK-1,ADD-4',
    '--json',
    join(out, 'r.json'),
    '--html',
    join(out, 'html'),
    ...sets,
  ]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const said = /users created on the target: at most (\d+) \([^)]*\), all named (kit\.[a-z0-9]+\.)\*/.exec(r.stdout);
  assert.ok(said, r.stdout);
  assert.ok(Number(said[1]) > 0);
  const json = JSON.parse(readFileSync(join(out, 'r.json'), 'utf8')) as {
    createdUsers?: { prefix: string; count: number };
  };
  assert.equal(json.createdUsers?.prefix, said[2]);
  const html = readFileSync(join(out, 'html/index.html'), 'utf8');
  assert.ok(html.includes(`<code>${said[2]}*</code>`), 'the HTML report names the prefix');
  assert.doesNotMatch(html, /file:\/\//);
  await crs.stop();
  // Every user in the CRS's store is one the kit named with its prefix.
  const imspUser = (...args: string[]) =>
    new Promise<string>((resolve) => {
      const p = spawn(process.execPath, [join(root, 'reference/bin/imsp.js'), 'user', ...args, '--store', store], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let s = '';
      p.stdout.on('data', (d: Buffer) => (s += d.toString()));
      p.once('exit', () => resolve(s));
    });
  const list = await imspUser('list');
  const users = list
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter(Boolean);
  // The count includes the registrations the target refused (the REGISTER bound cases), so it is an upper bound.
  assert.ok(users.length <= Number(said[1]) && users.length > 0, list);
  for (const u of users)
    assert.ok(u.startsWith(said[2]!) && u.startsWith(KIT_NAME_PREFIX), `user ${u} lacks the prefix`);
  // [CONF-13] the clean-up the report prints removes them all.
  assert.match(r.stdout, new RegExp(`imsp user del --prefix ${said[2]!.replaceAll('.', '\\.')}`));
  assert.match(await imspUser('del', '--prefix', said[2]!), new RegExp(`^${users.length} users start with`));
  assert.equal(await imspUser('list'), '');
});
