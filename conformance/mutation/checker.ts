// make kit-mutation: a Stryker checker plugin that keeps the seeded sample. Stryker mutates whole
// nodes in the `mutate` ranges, so a range also yields the mutants nested inside the sampled node;
// this checker passes exactly the sampled mutants (by file, location, mutator and replacement) and
// marks every other one "outside the sample", a check failure that Stryker leaves out of the score.
// The set it passes is this run's share of the sample (run.ts: the sampled mutants with no kept
// outcome yet, or the survivors being re-run); it records each passed mutant's Stryker id against
// its key, so run-mutant.ts can log the outcome under the key that stays the same between runs.
import { appendFileSync, readFileSync } from 'node:fs';
import { declareClassPlugin, PluginKind } from '@stryker-mutator/api/plugin';
import { CheckStatus, type Checker, type CheckResult } from '@stryker-mutator/api/check';
import type { Mutant } from '@stryker-mutator/api/core';
import { keyOfStrykerMutant } from './sample.js';

export const SAMPLE_ENV = 'IMSP_KIT_MUTATION_SAMPLE';
export const ROOT_ENV = 'IMSP_KIT_MUTATION_ROOT';
/** File of JSON lines {id, key}: the Stryker id of every mutant this run lets through. */
export const IDS_ENV = 'IMSP_KIT_MUTATION_IDS';

class SampleChecker implements Checker {
  private keys = new Set<string>();
  private root = '';
  private ids = '';

  async init(): Promise<void> {
    const file = process.env[SAMPLE_ENV];
    const root = process.env[ROOT_ENV];
    if (!file || !root)
      throw new Error(`kit-sample checker: ${SAMPLE_ENV} and ${ROOT_ENV} must be set (make kit-mutation sets them)`);
    this.keys = new Set((JSON.parse(readFileSync(file, 'utf8')) as { keys: string[] }).keys);
    this.root = root;
    this.ids = process.env[IDS_ENV] ?? '';
  }

  async check(mutants: Mutant[]): Promise<Record<string, CheckResult>> {
    const out: Record<string, CheckResult> = {};
    for (const m of mutants) {
      const key = keyOfStrykerMutant(m, this.root);
      const run = this.keys.has(key);
      out[m.id] = run
        ? { status: CheckStatus.Passed }
        : { status: CheckStatus.CompileError, reason: 'outside the seeded sample (not run)' };
      if (run && this.ids) appendFileSync(this.ids, `${JSON.stringify({ id: m.id, key })}\n`);
    }
    return out;
  }

  async group(mutants: Mutant[]): Promise<string[][]> {
    return [mutants.map((m) => m.id)];
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Checker, 'kit-sample', SampleChecker)];
