// make kit-mutation's bookkeeping (issue 12): a Stryker time-out is not a kill until a re-run with
// twice the limit times out again (the kit has its own budgets, so a time-out on a loaded machine
// says "not finished", not "caught"), the cases that killed mutants before run first, and with
// coverage a mutant runs only where the kit executes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { confirmsTimeout, keptOutcomes, readTriage, statusOf } from '../../conformance/mutation/run.js';
import { likelyKillers, scopeOf, type RunEntry } from '../../conformance/mutation/run-mutant.js';
import type { MutantCoverage } from '../../conformance/mutation/coverage.js';

const entry = (e: Partial<RunEntry>): RunEntry => ({
  id: '1',
  key: 'reference/ms/ms.ts:1:0-1:4:BooleanLiteral:false',
  file: 'reference/ms/ms.ts',
  fileHash: 'h',
  roles: ['ms'],
  verdict: 'survived',
  detail: '',
  ms: 1000,
  at: '2026-12-07T00:00:00Z',
  ...e,
});

test('a first Stryker time-out leaves the mutant pending; only a second one at twice the limit counts', () => {
  const first = entry({
    verdict: 'timeout',
    ms: 420_000,
    limitMs: 420_000,
    confirmed: confirmsTimeout(undefined, 420_000),
  });
  assert.equal(first.confirmed, false);
  assert.equal(statusOf(first), 'Pending');
  // A re-run at less than twice the limit does not confirm it.
  assert.equal(confirmsTimeout(first, 600_000), false);
  const second = entry({
    verdict: 'timeout',
    ms: 840_000,
    limitMs: 840_000,
    confirmed: confirmsTimeout(first, 840_000),
  });
  assert.equal(second.confirmed, true);
  assert.equal(statusOf(second), 'Timeout');
  // A time-out logged before this rule (no `confirmed` field) is pending too.
  assert.equal(statusOf(entry({ verdict: 'timeout' })), 'Pending');
  assert.equal(statusOf(entry({ verdict: 'killed', kind: 'case', case: 'ms/login/1' })), 'Killed');
  assert.equal(statusOf(undefined), 'Pending');
});

test('the last logged outcome of a key is kept while its file is unchanged; likely killers come from kills', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kit-mutation-'));
  try {
    const log = join(dir, 'runs.jsonl');
    const lines = [
      entry({ verdict: 'timeout', limitMs: 1000 }),
      entry({ verdict: 'killed', kind: 'case', case: 'ms/login/2' }),
      entry({
        key: 'reference/ms/a.ts:k',
        file: 'reference/ms/a.ts',
        verdict: 'killed',
        kind: 'case',
        case: 'ms/wire/1',
      }),
      entry({
        key: 'reference/ms/a.ts:j',
        file: 'reference/ms/a.ts',
        verdict: 'killed',
        kind: 'case',
        case: 'ms/wire/1',
      }),
      entry({
        key: 'reference/ms/b.ts:k',
        file: 'reference/ms/b.ts',
        verdict: 'killed',
        kind: 'case',
        case: 'ms/rate/1',
      }),
      entry({ key: 'reference/ms/b.ts:s', file: 'reference/ms/b.ts', verdict: 'killed', kind: 'setup' }),
      entry({
        key: 'reference/crs/c.ts:k',
        file: 'reference/crs/c.ts',
        verdict: 'killed',
        kind: 'case',
        case: 'crs/add/1',
      }),
    ];
    writeFileSync(log, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const kept = keptOutcomes(
      log,
      new Map([
        ['reference/ms/ms.ts', 'h'],
        ['reference/ms/a.ts', 'h'],
      ]),
    );
    assert.equal(kept.get('reference/ms/ms.ts:1:0-1:4:BooleanLiteral:false')?.verdict, 'killed');
    assert.equal(kept.has('reference/ms/b.ts:k'), false, 'another file hash: not kept');
    // Same file first, then the role's most frequent killers; set-up kills and other roles never.
    assert.deepEqual(likelyKillers(log, 'reference/ms/b.ts', 'ms'), ['ms/rate/1', 'ms/wire/1', 'ms/login/2']);
    assert.deepEqual(likelyKillers(log, 'reference/ms/b.ts', 'ms', 1), ['ms/rate/1']);
    assert.deepEqual(likelyKillers(join(dir, 'none.jsonl'), 'reference/ms/b.ts', 'ms'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with coverage a mutant runs only in the roles that execute it, in the client role only the cases that do', () => {
  const cov = (c: Partial<MutantCoverage>): MutantCoverage => ({ crs: false, ms: false, client: [], ...c });
  // Without coverage: every role the file serves, all of their cases.
  assert.deepEqual(scopeOf('reference/net/link.ts', undefined), [{ role: 'crs' }, { role: 'ms' }, { role: 'client' }]);
  // A shared layer executed only by the MS and by two client cases.
  assert.deepEqual(scopeOf('reference/net/link.ts', cov({ ms: true, client: ['client/wire/1', 'client/p2p/3'] })), [
    { role: 'ms' },
    { role: 'client', cases: ['client/wire/1', 'client/p2p/3'] },
  ]);
  // Coverage by another role does not add a role the file does not serve.
  assert.deepEqual(scopeOf('reference/crs/crs.ts', cov({ ms: true })), []);
  assert.deepEqual(scopeOf('reference/crs/crs.ts', cov({ crs: true })), [{ role: 'crs' }]);
  // No case executes it: nothing runs, and the outcome is "no coverage", undetected.
  assert.deepEqual(scopeOf('reference/client/client.ts', cov({})), []);
  assert.equal(statusOf(entry({ verdict: 'nocoverage' })), 'NoCoverage');
});

test('the triage of each campaign is read by key from triage.json and the triage-*.json files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kit-mutation-'));
  try {
    const t = (key: string, verdict: string) => ({ key, verdict, why: 'w' });
    writeFileSync(join(dir, 'triage.json'), JSON.stringify({ survivors: [t('a', 'missed'), t('b', 'equivalent')] }));
    writeFileSync(join(dir, 'triage-seed13-sample40-c.json'), JSON.stringify({ survivors: [t('c', 'equivalent')] }));
    writeFileSync(join(dir, 'results-seed13-sample40-c.json'), JSON.stringify({ survivors: [t('d', 'missed')] }));
    const triaged = readTriage(dir);
    assert.deepEqual([...triaged.keys()].sort(), ['a', 'b', 'c']);
    assert.equal(triaged.get('c')?.verdict, 'equivalent');
    assert.equal(readTriage(join(dir, 'none')).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every committed campaign: each survivor and no-coverage mutant of its results file is triaged', () => {
  const dir = fileURLToPath(new URL('../../conformance/mutation/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f === 'triage.json' || /^triage-.*\.json$/.test(f));
  // Seed 12 (triage.json), then the fresh samples: seed 13 (40 of 0c14485) and seed 14 (60 of 88707e8).
  for (const f of ['triage.json', 'triage-seed13-sample40-0c14485.json', 'triage-seed14-sample60-88707e8.json'])
    assert.ok(files.includes(f), `${f} is missing: ${files.join(' ')}`);
  for (const f of files) {
    const tri = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      seed: number;
      sample: number;
      reference: string;
      survivors: { key: string; verdict: string; why?: string; case?: string }[];
    };
    const resultsFile = join(dir, `results-seed${tri.seed}-sample${tri.sample}-${tri.reference}.json`);
    assert.ok(existsSync(resultsFile), `${f}: no ${resultsFile}`);
    const { summary, outcomes } = JSON.parse(readFileSync(resultsFile, 'utf8')) as {
      summary: {
        sample: number;
        equivalent: number;
        pending: number;
        killed: number;
        survived: number;
        timedOut: number;
        noCoverage: number;
        score: number;
        scoreNonEquivalent: number;
      };
      outcomes: { key: string; status: string }[];
    };
    assert.equal(outcomes.length, summary.sample, resultsFile);
    // The summary's counts are those of its outcomes, and its scores follow from them.
    const count = (status: string): number => outcomes.filter((o) => o.status === status).length;
    const counts = {
      killed: 'Killed',
      survived: 'Survived',
      timedOut: 'Timeout',
      noCoverage: 'NoCoverage',
      pending: 'Pending',
    };
    for (const [field, status] of Object.entries(counts))
      assert.equal(summary[field as keyof typeof counts], count(status), `${resultsFile}: summary.${field}`);
    const byKey = new Map(tri.survivors.map((s) => [s.key, s]));
    const undetected = outcomes.filter((o) => o.status === 'Survived' || o.status === 'NoCoverage');
    for (const o of undetected) {
      const e = byKey.get(o.key);
      assert.ok(e, `${f}: ${o.key} (${o.status}) is not triaged`);
      assert.ok(['equivalent', 'missed'].includes(e.verdict), `${f}: ${o.key} is ${o.status} but triaged ${e.verdict}`);
      assert.ok(e.why && e.why.length > 20, `${f}: ${o.key} has no reason`);
    }
    for (const s of tri.survivors.filter((x) => x.verdict === 'killed')) {
      assert.ok(s.case, `${f}: ${s.key} triaged killed names no case`);
      assert.equal(outcomes.find((o) => o.key === s.key)?.status, 'Killed', `${f}: ${s.key}`);
    }
    const equivalent = undetected.filter((o) => byKey.get(o.key)?.verdict === 'equivalent').length;
    assert.equal(summary.equivalent, equivalent, `${resultsFile}: summary.equivalent`);
    const detected = summary.killed + summary.timedOut;
    const done = detected + summary.survived + summary.noCoverage;
    const pct = (n: number, d: number): number => (d ? Math.round((n / d) * 1000) / 10 : 0);
    assert.equal(summary.score, pct(detected, done), `${resultsFile}: summary.score`);
    assert.equal(
      summary.scoreNonEquivalent,
      pct(detected, done - equivalent),
      `${resultsFile}: summary.scoreNonEquivalent`,
    );
  }
});
