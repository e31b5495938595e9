// `make kit-mutation [ARGS="--sample 150 --seed 12 --concurrency 2"]`: the kit judged on faults nobody
// chose (issue 12). StrykerJS 9 mutates reference/ (crs, ms, client, net, store, crypto; see
// sample.ts for what is left out), its command runner runs the kit against each mutated reference
// (run-mutant.ts: only the role(s) the mutant's code serves, short timers, first FAIL decides), and a
// seeded random sample of the mutants keeps the run bounded (checker.ts lets only the sample through).
// Prints killed, survived, timed out, no coverage and the score; writes reports/kit-mutation/
// (Stryker's JSON and HTML reports, results.json with each sampled mutant's outcome and killing case).
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stryker } from '@stryker-mutator/core';
import type { PartialStrykerOptions } from '@stryker-mutator/api/core';
import { keyOf, listMutants, MUTATE_DIRS, mutateRange, NOT_MUTATED, sampleMutants } from './sample.js';
import { ROOT_ENV, SAMPLE_ENV } from './checker.js';
import { LOG_ENV } from './run-mutant.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface KitMutationOptions {
  sample: number;
  seed: number;
  concurrency: number;
  /** Kit: fuzz runs per case, time per answer (ms), seed of the kit's own random choices. */
  runs: number;
  timeoutMs: number;
  kitSeed: number;
  /** Per-mutant limit (ms) beyond which Stryker calls the mutant "timed out". */
  mutantTimeoutMs: number;
  out: string;
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .map((f) => `${dir}/${f.replaceAll('\\', '/')}`)
    .filter((f) => f.endsWith('.ts') && !NOT_MUTATED.some((re) => re.test(f)))
    .sort();
}

interface Outcome {
  key: string;
  file: string;
  line: number;
  mutator: string;
  replacement: string;
  status: string;
  killedBy?: string;
}

export async function kitMutation(o: KitMutationOptions): Promise<{ outcomes: Outcome[]; score: number }> {
  const t0 = Date.now();
  const files = MUTATE_DIRS.flatMap(filesUnder);
  const all = await listMutants(root, files);
  const sample = sampleMutants(all, o.sample, o.seed);
  rmSync(o.out, { recursive: true, force: true });
  mkdirSync(o.out, { recursive: true });
  const sampleFile = join(o.out, 'sample.json');
  writeFileSync(
    sampleFile,
    JSON.stringify(
      { seed: o.seed, size: sample.length, of: all.length, keys: sample.map(keyOf), mutants: sample },
      null,
      1,
    ),
  );
  const log = join(o.out, 'runs.jsonl');
  writeFileSync(log, '');
  process.stdout.write(
    `kit-mutation: ${all.length} mutants in ${files.length} files; seeded sample of ${sample.length} (seed ${o.seed})\n`,
  );
  process.env[SAMPLE_ENV] = sampleFile;
  process.env[ROOT_ENV] = root;
  process.env[LOG_ENV] = log;
  process.env.IMSP_KIT_MUTATION_RUNS = String(o.runs);
  process.env.IMSP_KIT_MUTATION_TIMEOUT = String(o.timeoutMs);
  process.env.IMSP_KIT_MUTATION_KIT_SEED = String(o.kitSeed);
  const options: PartialStrykerOptions = {
    testRunner: 'command',
    commandRunner: { command: `${process.execPath} --import tsx conformance/mutation/run-mutant.ts` },
    coverageAnalysis: 'off',
    mutate: [...new Set(sample.map(mutateRange))],
    checkers: ['kit-sample'],
    checkerNodeArgs: ['--import', 'tsx'],
    plugins: [join(root, 'conformance/mutation/checker.ts')],
    concurrency: o.concurrency,
    timeoutMS: o.mutantTimeoutMs,
    timeoutFactor: 1,
    dryRunTimeoutMinutes: 10,
    reporters: ['progress', 'clear-text', 'json', 'html'],
    jsonReporter: { fileName: join(o.out, 'stryker.json') },
    htmlReporter: { fileName: join(o.out, 'stryker.html') },
    tempDirName: join(o.out, '.stryker-tmp'),
    ignorePatterns: [
      'dist',
      'site',
      'coverage',
      '.demo',
      'reports',
      'bench/results',
      '*.db',
      '*.db-wal',
      '*.db-shm',
      '.scratch',
      'tmp',
    ],
    disableTypeChecks: 'reference/**/*.ts',
    cleanTempDir: true,
    logLevel: 'warn' as PartialStrykerOptions['logLevel'],
    fileLogLevel: 'off' as PartialStrykerOptions['fileLogLevel'],
  };
  const results = await new Stryker(options).runMutationTest();
  const runs = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; verdict: string; detail: string });
  const byId = new Map(runs.map((r) => [r.id, r]));
  // The sample checker marks every mutant outside the sample as a check failure (Stryker's
  // CompileError; nothing else here compiles): what remains is the sample.
  const outcomes: Outcome[] = results
    .filter((m) => m.status !== 'CompileError')
    .map((m) => ({
      key: `${relative(root, m.fileName)}:${m.location.start.line}:${m.location.start.column}:${m.mutatorName}`,
      file: relative(root, m.fileName),
      line: m.location.start.line + 1,
      mutator: m.mutatorName,
      replacement: m.replacement,
      status: m.status,
      ...(m.status === 'Killed' && byId.get(m.id)?.detail ? { killedBy: byId.get(m.id)!.detail } : {}),
    }));
  const count = (s: string): number => outcomes.filter((x) => x.status === s).length;
  const killed = count('Killed');
  const survived = count('Survived');
  const timedOut = count('Timeout');
  const noCoverage = count('NoCoverage');
  const errors = outcomes.length - killed - survived - timedOut - noCoverage;
  const valid = killed + survived + timedOut + noCoverage;
  const score = valid ? ((killed + timedOut) / valid) * 100 : 0;
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const summary = {
    seed: o.seed,
    sample: sample.length,
    of: all.length,
    killed,
    survived,
    timedOut,
    noCoverage,
    errors,
    score: Number(score.toFixed(1)),
    minutes: Number(minutes),
    concurrency: o.concurrency,
    kit: { runs: o.runs, timeoutMs: o.timeoutMs, seed: o.kitSeed },
  };
  writeFileSync(join(o.out, 'results.json'), JSON.stringify({ summary, outcomes }, null, 1));
  process.stdout.write(
    `\nkit-mutation (seed ${o.seed}, ${sample.length} of ${all.length} mutants, ${minutes} min): killed ${killed}, survived ${survived}, timed out ${timedOut}, no coverage ${noCoverage}` +
      `${errors ? `, errors ${errors}` : ''}; mutation score ${score.toFixed(1)}%\n` +
      `survivors (triage them in conformance/mutation/triage.json):\n${outcomes
        .filter((x) => x.status === 'Survived' || x.status === 'NoCoverage')
        .map((x) => `  ${x.file}:${x.line} ${x.mutator} -> ${x.replacement.split('\n')[0]!.slice(0, 80)}`)
        .join('\n')}\n`,
  );
  return { outcomes, score };
}

/**
 * The outcome so far of a run that was stopped (or is still going): every mutant run-mutant.ts has
 * finished, from runs.jsonl. Stryker's own timeouts are not in it (it kills the command).
 */
export function summarizePartial(out: string): string {
  const sample = JSON.parse(readFileSync(join(out, 'sample.json'), 'utf8')) as {
    seed: number;
    size: number;
    of: number;
  };
  const runs = readFileSync(join(out, 'runs.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; file?: string; verdict: string; detail: string; ms: number })
    .filter((r) => r.id !== 'dry-run');
  const done = [...new Map(runs.map((r) => [r.id, r])).values()];
  const killed = done.filter((r) => r.verdict === 'killed');
  const survived = done.filter((r) => r.verdict === 'survived');
  const minutes = done.reduce((a, r) => a + r.ms, 0) / 60000;
  return (
    `kit-mutation (partial; seed ${sample.seed}, sample ${sample.size} of ${sample.of}): ${done.length} mutants finished, killed ${killed.length}, survived ${survived.length}` +
    ` (score so far ${done.length ? ((killed.length / done.length) * 100).toFixed(1) : '0'}%; ${minutes.toFixed(0)} mutant-minutes of kit runs)\n` +
    survived.map((r) => `  survived: mutant ${r.id} in ${r.file}\n`).join('')
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--summarize')) {
  const i = process.argv.indexOf('--out');
  process.stdout.write(summarizePartial(i >= 0 ? process.argv[i + 1]! : join(root, 'reports/kit-mutation')));
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const num = (flag: string, dflt: number): number => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const i = args.indexOf('--out');
  await kitMutation({
    sample: num('--sample', 150),
    seed: num('--seed', 12),
    concurrency: num('--concurrency', 2),
    runs: num('--runs', 3),
    timeoutMs: num('--timeout', 4000),
    kitSeed: num('--kit-seed', 1),
    mutantTimeoutMs: num('--mutant-timeout', 420_000),
    out: i >= 0 ? args[i + 1]! : join(root, 'reports/kit-mutation'),
  });
  if (existsSync(join(root, 'reports/kit-mutation/.stryker-tmp')))
    rmSync(join(root, 'reports/kit-mutation/.stryker-tmp'), { recursive: true, force: true });
}
