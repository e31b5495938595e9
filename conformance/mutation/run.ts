// `make kit-mutation [ARGS="--sample 150 --seed 12 --concurrency 2"]`: the kit judged on faults nobody
// chose (issue 12). StrykerJS 9 mutates reference/ (crs, ms, client, net, store, crypto; see
// sample.ts for what is left out), its command runner runs the kit against each mutated reference
// (run-mutant.ts: only the role(s) the mutant's code serves, short timers, first FAIL decides), and a
// seeded random sample of the mutants keeps the run bounded (checker.ts lets only the sample through).
// Prints killed, survived, timed out, no coverage and the score; writes reports/kit-mutation/
// (Stryker's JSON and HTML reports, results.json with each sampled mutant's outcome and killing case).
//
// Coverage (coverage.ts), as Stryker's coverageAnalysis does for the runners that support it: before
// the mutants run, a dry run of each role on an instrumented, unmutated copy records which sampled
// mutants each role (and each client case) executes. A mutant runs only in those roles and, in the
// client role, only those cases; a mutant no case executes is "no coverage" (not run, undetected, and
// triaged like a survivor). Kept in reports/kit-mutation/coverage.json while the reference and kit
// sources are unchanged; --no-coverage runs every mutant in all its roles with all their cases.
//
// Resumable, in chunks: every outcome is appended to reports/kit-mutation/runs.jsonl under the
// mutant's key (file, location, mutator, replacement) and the hash of its unmutated source file, and
// is kept between runs while that file is unchanged. A run hands Stryker only the sampled mutants
// with no kept outcome (at most --chunk of them); --rerun-survivors [REGEX] also re-runs the kept
// survivors (whose key matches REGEX), e.g. after a case was added. Kept kills are not re-run: a
// case added to the kit does not un-kill a mutant, but a changed case could; --fresh starts over.
// The score is over every sampled mutant with an outcome, and says how many are still pending.
//
// A Stryker time-out is not a kill here. The kit has its own per-answer and per-case budgets and a
// health probe, so a reference that hangs is failed by a case; a time-out only says the kit did not
// finish within the limit (on a loaded machine, a survivor of the client role runs longest). A
// mutant that timed out is pending again: the next run re-runs it with twice the limit it timed out
// at (or --mutant-timeout if larger), and only a second time-out at twice the limit is kept as
// "timed out" and counted as detected (Stryker's convention). An unconfirmed time-out is not in the score.
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stryker } from '@stryker-mutator/core';
import type { PartialStrykerOptions } from '@stryker-mutator/api/core';
import {
  keyOf,
  keyOfStrykerMutant,
  listMutants,
  MUTATE_DIRS,
  mutateRange,
  NOT_MUTATED,
  type SampledMutant,
  sampleMutants,
} from './sample.js';
import { IDS_ENV, ROOT_ENV, SAMPLE_ENV } from './checker.js';
import { LOG_ENV, type RunEntry } from './run-mutant.js';
import { COVERAGE_ENV, coverageFor } from './coverage.js';

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
  /** Run at most this many pending mutants now (0: all of them). */
  chunk: number;
  /** Re-run kept survivors too (those whose key matches, when a RegExp). */
  rerunSurvivors: boolean | RegExp;
  /** Forget every kept outcome. */
  fresh: boolean;
  /** Run only the pending mutants whose key matches. */
  only?: RegExp;
  /** Re-run the kept kills that came at set-up (not by a case), e.g. after a load spike. */
  rerunSetup: boolean;
  /** Only report the kept outcomes; run nothing. */
  reportOnly: boolean;
  /** No coverage dry run: every mutant runs in all the roles its file serves, with all their cases. */
  noCoverage?: boolean;
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .map((f) => `${dir}/${f.replaceAll('\\', '/')}`)
    .filter((f) => f.endsWith('.ts') && !NOT_MUTATED.some((re) => re.test(f)))
    .sort();
}

export interface Outcome {
  key: string;
  file: string;
  /** 1-based line of the mutated node in the unmutated source. */
  line: number;
  mutator: string;
  replacement: string;
  /** Timeout: timed out again with at least twice the limit of its first time-out (see above). */
  /** NoCoverage: no case of its roles executes the mutant (coverage.ts), so it was not run; undetected. */
  status: 'Killed' | 'Survived' | 'Timeout' | 'NoCoverage' | 'Pending';
  /** Killed: the case that failed (confirmed alone) and the requirement its finding named. */
  killedBy?: string;
  req?: string;
  /** Pending: it timed out once at this limit (ms) and waits for a re-run at twice the limit. */
  timedOutOnce?: number;
  /** Killed at set-up rather than by a case (printed apart, checked by hand). */
  setup?: boolean;
  notes?: string[];
  /** When the kept outcome was produced. */
  at?: string;
}

interface Triage {
  survivors: { key?: string; verdict: string; why?: string; case?: string }[];
}

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

/** The kept outcome of each key: the last line of runs.jsonl for it whose file hash still matches. */
export function keptOutcomes(log: string, hashes: Map<string, string>): Map<string, RunEntry> {
  const kept = new Map<string, RunEntry>();
  if (!existsSync(log)) return kept;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as RunEntry;
    if (!e.key || !e.file || e.fileHash !== hashes.get(e.file)) continue;
    kept.set(e.key, e);
  }
  return kept;
}

/** A kept time-out not yet confirmed by a second one at twice the limit: pending, not in the score. */
export const unconfirmedTimeout = (e: RunEntry | undefined): boolean => e?.verdict === 'timeout' && !e.confirmed;
const timeoutLimit = (e: RunEntry): number => e.limitMs ?? e.ms;
/** A time-out at `limitMs` is confirmed when the kept outcome was a time-out at no more than half of it. */
export const confirmsTimeout = (prev: RunEntry | undefined, limitMs: number): boolean =>
  prev?.verdict === 'timeout' && limitMs >= 2 * timeoutLimit(prev);
/** The status a kept outcome gives its mutant in the score (an unconfirmed time-out is still pending). */
export function statusOf(e: RunEntry | undefined): Outcome['status'] {
  if (!e || unconfirmedTimeout(e)) return 'Pending';
  return ({ killed: 'Killed', survived: 'Survived', timeout: 'Timeout', nocoverage: 'NoCoverage' } as const)[e.verdict];
}

/** One Stryker run over `todo` with a per-mutant limit; returns the mutants that ran past it. */
async function runStryker(
  o: KitMutationOptions,
  todo: SampledMutant[],
  limitMs: number,
): Promise<{ id: string; key: string; file: string }[]> {
  const options: PartialStrykerOptions = {
    testRunner: 'command',
    commandRunner: { command: `${process.execPath} --import tsx conformance/mutation/run-mutant.ts` },
    coverageAnalysis: 'off',
    mutate: [...new Set(todo.map(mutateRange))],
    checkers: ['kit-sample'],
    checkerNodeArgs: ['--import', 'tsx'],
    plugins: [join(root, 'conformance/mutation/checker.ts')],
    concurrency: o.concurrency,
    timeoutMS: limitMs,
    timeoutFactor: 1,
    dryRunTimeoutMinutes: 10,
    reporters: ['progress', 'json', 'html'],
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
  // Stryker's own timeouts never reach run-mutant.ts (it kills the command): run.ts logs them.
  const inRun = new Set(todo.map(keyOf));
  return results
    .filter((m) => m.status === 'Timeout')
    .map((m) => ({ id: m.id, key: keyOfStrykerMutant(m, root) }))
    .filter((m) => inRun.has(m.key))
    .map((m) => ({ ...m, file: m.key.slice(0, m.key.indexOf(':')) }));
}

export async function kitMutation(o: KitMutationOptions): Promise<{ outcomes: Outcome[]; score: number }> {
  const t0 = Date.now();
  const files = MUTATE_DIRS.flatMap(filesUnder);
  const hashes = new Map(files.map((f) => [f, sha1(readFileSync(join(root, f), 'utf8'))]));
  const all = await listMutants(root, files);
  const sample = sampleMutants(all, o.sample, o.seed);
  const log = join(o.out, 'runs.jsonl');
  if (o.fresh) rmSync(o.out, { recursive: true, force: true });
  mkdirSync(o.out, { recursive: true });
  const kept = keptOutcomes(log, hashes);
  const rerun = (e: RunEntry | undefined): boolean =>
    e === undefined ||
    unconfirmedTimeout(e) ||
    (o.rerunSetup && e.verdict === 'killed' && e.kind === 'setup') ||
    ((e.verdict === 'survived' || e.verdict === 'nocoverage') &&
      (o.rerunSurvivors === true || (o.rerunSurvivors instanceof RegExp && o.rerunSurvivors.test(e.key ?? ''))));
  // Pending mutants in an order that mixes files and roles (a chunk is a fair slice of the sample).
  let todo = sample.filter((m) => rerun(kept.get(keyOf(m)))).sort((a, b) => (sha1(keyOf(a)) < sha1(keyOf(b)) ? -1 : 1));
  if (o.only) todo = todo.filter((m) => o.only!.test(keyOf(m)));
  if (o.chunk > 0) todo = todo.slice(0, o.chunk);
  if (o.reportOnly) todo = [];
  const sampleFile = join(o.out, 'sample.json');
  // The share of the sample one Stryker run lets through (checker.ts) and each key's file hash.
  const writeSample = (group: SampledMutant[]): void =>
    writeFileSync(
      sampleFile,
      JSON.stringify(
        {
          seed: o.seed,
          size: sample.length,
          of: all.length,
          keys: group.map(keyOf),
          meta: Object.fromEntries(group.map((m) => [keyOf(m), { file: m.file, fileHash: hashes.get(m.file) }])),
          mutants: sample,
        },
        null,
        1,
      ),
    );
  writeSample(todo);
  const idsFile = join(o.out, 'ids.jsonl');
  // One run at a time per --out: sample.json and ids.jsonl belong to the run in progress.
  writeFileSync(idsFile, '');
  const reruns = todo.filter((m) => kept.has(keyOf(m))).length;
  process.stdout.write(
    `kit-mutation: ${all.length} mutants in ${files.length} files; seeded sample of ${sample.length} (seed ${o.seed}); ` +
      `${sample.filter((m) => kept.has(keyOf(m))).length} with an outcome kept from earlier runs (${log}), running ${todo.length} now` +
      `${reruns ? ` (${reruns} of them with a kept outcome, re-run)` : ''}\n`,
  );
  if (todo.length) {
    process.env[SAMPLE_ENV] = sampleFile;
    process.env[ROOT_ENV] = root;
    process.env[LOG_ENV] = log;
    process.env[IDS_ENV] = idsFile;
    process.env.IMSP_KIT_MUTATION_RUNS = String(o.runs);
    process.env.IMSP_KIT_MUTATION_TIMEOUT = String(o.timeoutMs);
    process.env.IMSP_KIT_MUTATION_KIT_SEED = String(o.kitSeed);
    if (!o.noCoverage) {
      const k = { runs: o.runs, seed: o.kitSeed, timeoutMs: o.timeoutMs };
      const { file } = await coverageFor(root, o.out, sample, k, (l) => process.stdout.write(`kit-mutation ${l}\n`));
      process.env[COVERAGE_ENV] = file;
    }
    // Time-outs being confirmed run apart, with twice the limit they ran past (Stryker's limit is per run).
    const again = todo.filter((m) => unconfirmedTimeout(kept.get(keyOf(m))));
    const fresh = todo.filter((m) => !again.includes(m));
    const retryLimit = Math.max(o.mutantTimeoutMs, ...again.map((m) => 2 * timeoutLimit(kept.get(keyOf(m))!)));
    for (const [group, limitMs] of [
      [fresh, o.mutantTimeoutMs],
      [again, retryLimit],
    ] as const) {
      if (!group.length) continue;
      if (group === again)
        process.stdout.write(`kit-mutation: re-running ${group.length} time-out(s) with a limit of ${limitMs} ms\n`);
      writeSample(group);
      writeFileSync(idsFile, '');
      for (const e of await runStryker(o, group, limitMs)) {
        const prev = kept.get(e.key);
        const confirmed = confirmsTimeout(prev, limitMs);
        const entry: RunEntry = {
          id: e.id,
          key: e.key,
          file: e.file,
          fileHash: hashes.get(e.file)!,
          roles: [],
          verdict: 'timeout',
          detail: `no verdict within ${limitMs} ms (Stryker timeout${confirmed ? ', the second, at twice the first limit' : '; re-run with twice the limit before it counts'})`,
          ms: limitMs,
          limitMs,
          confirmed,
          at: new Date().toISOString(),
        };
        appendFileSync(log, `${JSON.stringify(entry)}\n`);
      }
    }
  }
  return report(o, sample, all.length, keptOutcomes(log, hashes), t0);
}

/**
 * The triage by mutant key: conformance/mutation/triage.json (seed 12) and one triage-seedN-sampleM-COMMIT.json
 * per later campaign (its results file has the same name after "results-"). Keys name the file, place and
 * replacement, so campaigns on other reference commits or seeds do not collide; a key triaged twice
 * keeps the later file's entry (names sort by seed).
 */
export function readTriage(dir = join(root, 'conformance/mutation')): Map<string, Triage['survivors'][number]> {
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f === 'triage.json' || /^triage-.*\.json$/.test(f))
        .sort((a, b) =>
          a === 'triage.json' ? -1 : b === 'triage.json' ? 1 : a.localeCompare(b, 'en', { numeric: true }),
        )
    : [];
  const entries = files.flatMap((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as Triage).survivors);
  return new Map(entries.filter((t) => t.key).map((t) => [t.key!, t]));
}

function report(
  o: KitMutationOptions,
  sample: SampledMutant[],
  of: number,
  kept: Map<string, RunEntry>,
  t0: number,
): { outcomes: Outcome[]; score: number } {
  const outcomes: Outcome[] = sample.map((m) => {
    const e = kept.get(keyOf(m));
    return {
      key: keyOf(m),
      file: m.file,
      line: m.line + 1,
      mutator: m.mutator,
      replacement: m.replacement,
      status: statusOf(e),
      ...(e && unconfirmedTimeout(e) ? { timedOutOnce: timeoutLimit(e) } : {}),
      ...(e?.verdict === 'killed'
        ? e.kind === 'setup'
          ? { setup: true, killedBy: e.detail }
          : { killedBy: e.case, req: e.req }
        : {}),
      ...(e?.notes ? { notes: e.notes } : {}),
      ...(e ? { at: e.at } : {}),
    };
  });
  const triaged = readTriage();
  const count = (s: Outcome['status']): number => outcomes.filter((x) => x.status === s).length;
  const killed = count('Killed');
  const survived = count('Survived');
  const timedOut = count('Timeout');
  const pending = count('Pending');
  const timedOutOnce = outcomes.filter((x) => x.timedOutOnce !== undefined).length;
  const setupKills = outcomes.filter((x) => x.setup);
  const noCoverage = count('NoCoverage');
  // Undetected: survived or not covered (Stryker's mutation score counts both as not detected).
  const undetected = (x: Outcome): boolean => x.status === 'Survived' || x.status === 'NoCoverage';
  const done = killed + survived + timedOut + noCoverage;
  const equivalent = outcomes.filter((x) => undetected(x) && triaged.get(x.key)?.verdict === 'equivalent').length;
  const score = done ? ((killed + timedOut) / done) * 100 : 0;
  const scoreNonEq = done - equivalent ? ((killed + timedOut) / (done - equivalent)) * 100 : 0;
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const summary = {
    seed: o.seed,
    sample: sample.length,
    of,
    killed,
    killedAtSetup: setupKills.length,
    survived,
    timedOut,
    noCoverage,
    pending,
    timedOutOnce,
    equivalent,
    score: Number(score.toFixed(1)),
    scoreNonEquivalent: Number(scoreNonEq.toFixed(1)),
    minutes: Number(minutes),
    concurrency: o.concurrency,
    kit: { runs: o.runs, timeoutMs: o.timeoutMs, seed: o.kitSeed },
  };
  writeFileSync(join(o.out, 'results.json'), JSON.stringify({ summary, outcomes }, null, 1));
  const line = (x: Outcome): string =>
    `  ${x.file}:${x.line} ${x.mutator} -> ${x.replacement.split('\n')[0]!.slice(0, 70)}`;
  const untriaged = outcomes.filter((x) => undetected(x) && !triaged.has(x.key));
  process.stdout.write(
    `\nkit-mutation (seed ${o.seed}, ${sample.length} of ${of} mutants; this run ${minutes} min): ` +
      `killed ${killed}${setupKills.length ? ` (${setupKills.length} at set-up)` : ''}, survived ${survived}, timed out ${timedOut}, ` +
      `no coverage ${noCoverage}${pending ? `, not yet decided ${pending}` : ''}` +
      `${timedOutOnce ? ` (${timedOutOnce} of them timed out once, to be re-run with twice the limit)` : ''}; ` +
      `mutation score ${score.toFixed(1)}%; over the ${done - equivalent} not triaged equivalent: ${scoreNonEq.toFixed(1)}%\n` +
      (pending ? `  (partial: ${pending} sampled mutants have no outcome yet; run again to resume)\n` : '') +
      (setupKills.length
        ? `killed at set-up, not by a case (check each by hand):\n${setupKills.map((x) => `${line(x)}\n      ${x.killedBy}`).join('\n')}\n`
        : '') +
      (untriaged.length
        ? `survivors (and mutants no case covers) not yet triaged in conformance/mutation/triage*.json:\n${untriaged.map((x) => `${line(x)}${x.status === 'NoCoverage' ? ' (no coverage)' : ''}\n      key ${x.key}`).join('\n')}\n`
        : 'every survivor is triaged in conformance/mutation/triage*.json\n'),
  );
  return { outcomes, score };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const num = (flag: string, dflt: number): number => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const i = args.indexOf('--out');
  const r = args.indexOf('--rerun-survivors');
  const rerunArg = r >= 0 ? args[r + 1] : undefined;
  const out = i >= 0 ? args[i + 1]! : join(root, 'reports/kit-mutation');
  await kitMutation({
    sample: num('--sample', 150),
    seed: num('--seed', 12),
    concurrency: num('--concurrency', 2),
    runs: num('--runs', 3),
    timeoutMs: num('--timeout', 4000),
    kitSeed: num('--kit-seed', 1),
    mutantTimeoutMs: num('--mutant-timeout', 420_000),
    out,
    chunk: num('--chunk', 0),
    rerunSurvivors: r < 0 ? false : rerunArg && !rerunArg.startsWith('--') ? new RegExp(rerunArg) : true,
    fresh: args.includes('--fresh'),
    rerunSetup: args.includes('--rerun-setup'),
    ...(args.includes('--only') ? { only: new RegExp(args[args.indexOf('--only') + 1]!) } : {}),
    reportOnly: args.includes('--report') || args.includes('--summarize'),
    noCoverage: args.includes('--no-coverage'),
  });
  if (existsSync(join(out, '.stryker-tmp'))) rmSync(join(out, '.stryker-tmp'), { recursive: true, force: true });
}
