// `make prop-mutants`: proof that each invariant's property can fail. For every invariant, one
// deliberate fault is applied by textual patch to a throwaway git worktree of HEAD (the shipped
// code has no fault switches), the property that cites the invariant is run there, and the fault
// must be caught. Prints caught/total; exit 1 when a mutant survives or a patch no longer applies.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MUTANTS, type Mutant } from './mutant-list.js';

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
  if (count('pass') < 0 || count('fail') < 0 || count('pass') + count('fail') === 0)
    return { failed: false, crashed: true, stdout: out };
  return { failed: r.status !== 0 && count('fail') > 0, crashed: false, stdout: out };
}

try {
  // A mutant only counts as caught if the same property passes on the unmutated code.
  const baselines = new Map<string, Mutant>();
  for (const m of MUTANTS)
    if (!only || m.inv === only) baselines.set(`${m.test}|${m.pattern}|${JSON.stringify(m.env ?? {})}`, m);
  for (const m of baselines.values()) {
    const b = runTest(m);
    if (b.failed || b.crashed) {
      process.stdout.write(
        `baseline FAILS without any mutation: ${m.test} (${m.pattern}); fix that first\n${b.stdout
          .split('\n')
          .filter((l) => !/^\s+(at |async |process\.)/.test(l))
          .join('\n')
          .slice(0, 4000)}\n`,
      );
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
    process.stdout.write(
      `${m.inv}  ${killed ? 'caught  ' : r.crashed ? 'TEST RUN CRASHED' : r.failed ? 'FAILED FOR ANOTHER REASON' : 'SURVIVED'}  ${m.what}  (${Math.round((Date.now() - started) / 1000)} s)${detail ? `\n        ${detail.slice(0, 300)}` : ''}\n`,
    );
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
