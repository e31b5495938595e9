// `make prop-mutants`: proof that each invariant's property can fail. For every invariant, one
// deliberate fault is applied by textual patch to a throwaway git worktree of HEAD (the shipped
// code has no fault switches), the property that cites the invariant is run there, and the fault
// must be caught. Prints caught/total; exit 1 when a mutant survives or a patch no longer applies.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

interface Mutant {
  inv: string;
  what: string;
  file: string;
  find: string;
  replace: string;
  test: string;
  pattern: string;
  /** The failure must say this (not some unrelated error such as a timeout). */
  expect: RegExp;
  env?: Record<string, string>;
}

const MODEL = 'test/properties/invariants.test.ts';
const MUTANTS: Mutant[] = [
  {
    inv: 'INV-1',
    // Not the test's name ("exactly one wins"): the failed assertion, [INV-1] or its [LOCK-2] follow-up.
    expect: /Got AssertionError.*: (outcomes [\w,]+ for MSs|a login while online must be refused)/,
    what: 'the CRS grants the lock to a user who is online (double login)',
    file: 'reference/store/sqlite.ts',
    find: "if (r.state === 'online') return { ok: false, error: 'online' };\n      // [LOCK-1]",
    replace: '// [LOCK-1]',
    test: 'test/properties/concurrency.test.ts',
    pattern: 'concurrent logins',
    // A run catches it only when the winner and the late login are at different MSs: 4 runs missed
    // 1 time in 10; a run takes about 0.1 s.
    env: { IMSP_PROP_RUNS: '20' },
  },
  {
    inv: 'INV-2',
    expect: /store: u\d is locked, model says offline/,
    what: 'expired lock leases are never swept (a lock outlives its lease)',
    file: 'reference/store/sqlite.ts',
    find: 'const users = this.q.expiredLocks.all(now) as string[];',
    replace: 'const users: string[] = [];',
    test: MODEL,
    pattern: 'SQLite',
    env: { IMSP_PROP_RUNS: '15' },
  },
  {
    inv: 'INV-3',
    expect: /sees u\d as .*\"status\":\"(online|busy)\".*model says .*away/,
    what: "the MS drops PRESENCE pushes whose status is 'away' (presence never converges)",
    file: 'reference/ms/ms.ts',
    find: "if (s.contacts.get(must(m, 'User')) !== 'buddy') return false;",
    replace: "if (s.contacts.get(must(m, 'User')) !== 'buddy') return false;\n        if (must(m, 'Status') === 'away') return false;",
    test: 'test/properties/scenarios.test.ts',
    pattern: 'presence state',
    // Only a run that sets 'away' can catch it: 10 runs, not 6, so that all missing it is negligible.
    env: { IMSP_PROP_RUNS_SCENARIO: '10' },
  },
  {
    inv: 'INV-4',
    // The directed property: in the model run (15 runs) an ADD followed by its target's login came
    // by chance, and the mutant survived one full run of 2.
    expect: /\[INV-4\] requests delivered to u1 at login/,
    what: 'the login bundle leaves out the pending ADD requests',
    file: 'reference/store/sqlite.ts',
    find: 'pending: this.pendingOf(r.username) };',
    replace: 'pending: [] };',
    test: 'test/properties/scenarios.test.ts',
    pattern: 'unanswered ADD',
    env: { IMSP_PROP_RUNS_SCENARIO: '6' },
  },
  {
    inv: 'INV-5',
    // Every way a session ends, on either side (logout, closed MS link, BYE, closed connection,
    // PRESENCE offline), goes through PeerSession.end: the one place where the keys are erased.
    expect: /\[INV-5\] \d of the 4 session keys of u\d and u\d not erased/,
    what: 'an ended peer session drops its keys without erasing them (either side, however it ends)',
    file: 'reference/client/peer.ts',
    find: 'this.keys.send.fill(0);\n      this.keys.receive.fill(0);\n      this.keys = undefined;',
    replace: 'this.keys = undefined;',
    test: 'test/properties/scenarios.test.ts',
    pattern: 'peer session outlives',
    env: { IMSP_PROP_RUNS_SCENARIO: '6' },
  },
  {
    inv: 'INV-6',
    // Reachable since the property has u0 log in again after its ADD: the pending entry is then in
    // the MS's copy of u0's list, and the MS's relation check is all that keeps u1's presence out.
    expect: /\[INV-6\] u0 (learned u1 is (online|busy|away)|holds the address or key of u1)/,
    what: 'the MS forwards presence to pending contacts too (a leak to a non-buddy)',
    file: 'reference/ms/ms.ts',
    find: "if (s.contacts.get(must(m, 'User')) !== 'buddy') return false;",
    replace: "if (s.contacts.get(must(m, 'User')) === 'blocked') return false;",
    test: 'test/properties/scenarios.test.ts',
    pattern: 'learns nothing',
    env: { IMSP_PROP_RUNS_SCENARIO: '6' },
  },
  {
    inv: 'INV-7',
    expect: /\[INV-7\]|\[INV-9\]|sees u\d as/,
    what: 'a CRS restart forgets the buddy relations',
    file: 'reference/store/sqlite.ts',
    find: 'this.q.resetUsers.run();',
    replace: "this.q.resetUsers.run();\n      this.db.exec('DELETE FROM buddies');",
    test: MODEL,
    pattern: 'SQLite',
    env: { IMSP_PROP_RUNS: '20' },
  },
  {
    inv: 'INV-8',
    expect: /Got AssertionError.*: (STATUS with the stale epoch \d+ got 200|the new session changed)/,
    what: 'the CRS accepts STATUS without checking the epoch (a stale holder acts)',
    file: 'reference/store/sqlite.ts',
    find: "const bad = sessionStale(r, epoch, ms, 'online'); // [LOCK-6]\n      if (bad) return bad;",
    replace: "const bad = r.state === 'online' ? null : sessionStale(r, epoch, ms, 'online');\n      if (bad) return bad;",
    test: 'test/properties/fencing.test.ts',
    pattern: 'expired epoch',
    // Only a run that tries STATUS can catch it (1 to 4 of 6 methods): 5 runs would miss about 1 time in 10.
    env: { IMSP_PROP_RUNS_FENCING: '20' },
  },
  {
    inv: 'INV-9',
    expect: /\[INV-9\]/,
    what: 'a granted ADD makes only one side a buddy',
    file: 'reference/store/sqlite.ts',
    find: 'this.q.addBuddy.run(b, a, now);',
    replace: '',
    test: MODEL,
    pattern: 'SQLite',
    env: { IMSP_PROP_RUNS: '15' },
  },
];

const root = resolve(new URL('../..', import.meta.url).pathname);
const only = process.argv[2];
const work = mkdtempSync(join(tmpdir(), 'imsp-prop-mutants-'));
const tree = join(work, 'tree');
execFileSync('git', ['-C', root, 'worktree', 'add', '--detach', tree, 'HEAD'], { stdio: 'ignore' });
symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
let caught = 0;
let total = 0;
let broken = 0;

function runTest(m: Mutant): { failed: boolean; crashed: boolean; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-name-pattern=${m.pattern}`, m.test], {
    cwd: tree,
    env: { ...process.env, IMSP_SKIP_PG: '1', IMSP_PROP_SECONDS: '400', ...m.env },
    encoding: 'utf8',
    timeout: 600_000,
  });
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const count = (what: string): number => Number(new RegExp(`^# ${what} (\\d+)`, 'm').exec(out)?.[1] ?? -1);
  // A run that did not report its tests (crashed, timed out) is neither a pass nor a catch.
  if (count('pass') < 0 || count('fail') < 0 || count('pass') + count('fail') === 0) return { failed: false, crashed: true, stdout: out };
  return { failed: r.status !== 0 && count('fail') > 0, crashed: false, stdout: out };
}

try {
  // A mutant only counts as caught if the same property passes on the unmutated code.
  const baselines = new Map<string, Mutant>();
  for (const m of MUTANTS) if (!only || m.inv === only) baselines.set(`${m.test}|${m.pattern}|${JSON.stringify(m.env ?? {})}`, m);
  for (const m of baselines.values()) {
    const b = runTest(m);
    if (b.failed || b.crashed) {
      process.stdout.write(`baseline FAILS without any mutation: ${m.test} (${m.pattern}); fix that first\n${b.stdout.split('\n').filter((l) => !/^\s+(at |async |process\.)/.test(l)).join('\n').slice(0, 4000)}\n`);
      process.exitCode = 1;
      throw new Error('baseline fails');
    }
  }
  for (const m of MUTANTS) {
    if (only && m.inv !== only) continue;
    total++;
    const path = join(tree, m.file);
    const original = readFileSync(path, 'utf8');
    if (!original.includes(m.find)) {
      broken++;
      process.stdout.write(`${m.inv}  PATCH DOES NOT APPLY (the code moved): ${m.what}\n`);
      continue;
    }
    writeFileSync(path, original.replace(m.find, m.replace));
    const started = Date.now();
    const r = runTest(m);
    writeFileSync(path, original);
    const killed = r.failed && m.expect.test(r.stdout);
    if (r.crashed) broken++;
    if (killed) caught++;
    const why = /error: \|-?\n\s+(.*)\n(?:\s+counterexample: (.*)\n)?(?:\s+error: (.*))?/.exec(r.stdout);
    // fast-check's includeErrorInReport puts the failed assertion on a 'Got ...' line.
    const got = /^\s+Got (?:AssertionError \[ERR_ASSERTION\]: )?(.*)$/m.exec(r.stdout)?.[1];
    const detail = got ?? (why ? [why[3] ?? why[1], why[2]].filter(Boolean).join(' | ') : '');
    process.stdout.write(`${m.inv}  ${killed ? 'caught  ' : r.crashed ? 'TEST RUN CRASHED' : r.failed ? 'FAILED FOR ANOTHER REASON' : 'SURVIVED'}  ${m.what}  (${Math.round((Date.now() - started) / 1000)} s)${detail ? `\n        ${detail.slice(0, 300)}` : ''}\n`);
  }
} catch (e) {
  if (!(e instanceof Error && e.message === 'baseline fails')) throw e;
} finally {
  execFileSync('git', ['-C', root, 'worktree', 'remove', '--force', tree], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
if (process.exitCode !== 1) {
  process.stdout.write(`${caught}/${total} mutants caught${broken ? `, ${broken} patches no longer apply` : ''}\n`);
  process.exit(caught === total && broken === 0 ? 0 : 1);
}
