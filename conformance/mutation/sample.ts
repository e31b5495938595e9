// make kit-mutation, step 1: every mutant StrykerJS would make in the reference code the kit judges,
// and a seeded random sample of them. The instrumenter is Stryker's own (@stryker-mutator/instrumenter,
// with Stryker's default mutators), run here only to list mutants; the sample is written as Stryker
// `mutate` ranges plus the exact mutant keys the sample checker (checker.ts) lets through.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Instrumenter } from '@stryker-mutator/instrumenter';
import type { Logger } from '@stryker-mutator/api/logging';
import type { Mutant } from '@stryker-mutator/api/core';

/**
 * The reference code under mutation (issue 12: crs, ms, client, net, store, crypto), less what no wire
 * peer of the kit can reach: the terminal UI (the kit drives a client through its control interface)
 * and the PostgreSQL store (the kit's runs start the reference CRS on SQLite).
 */
export const MUTATE_DIRS = [
  'reference/crs',
  'reference/ms',
  'reference/client',
  'reference/net',
  'reference/store',
  'reference/crypto',
];
export const NOT_MUTATED = [/^reference\/client\/tui[^/]*\.ts$/, /^reference\/store\/postgres\.ts$/, /\.d\.ts$/];

/** A mutant as the sample names it: file, 0-based location, mutator, replacement. */
export interface SampledMutant {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  mutator: string;
  replacement: string;
}

export const keyOf = (m: SampledMutant): string =>
  `${m.file}:${m.line}:${m.column}-${m.endLine}:${m.endColumn}:${m.mutator}:${m.replacement}`;

/** The same key from a mutant as Stryker hands it to a checker (fileName absolute or relative). */
export function keyOfStrykerMutant(
  m: Pick<Mutant, 'fileName' | 'location' | 'mutatorName' | 'replacement'>,
  root: string,
): string {
  const rel = relative(root, m.fileName).replaceAll('\\', '/');
  const file = rel.startsWith('..') ? m.fileName.slice(m.fileName.lastIndexOf('reference/')) : rel;
  return keyOf({
    file,
    line: m.location.start.line,
    column: m.location.start.column,
    endLine: m.location.end.line,
    endColumn: m.location.end.column,
    mutator: m.mutatorName,
    replacement: m.replacement,
  });
}

/** A Logger that says nothing (Stryker's instrumenter wants one). */
export const quiet: Logger = {
  isTraceEnabled: () => false,
  isDebugEnabled: () => false,
  isInfoEnabled: () => false,
  isWarnEnabled: () => false,
  isErrorEnabled: () => false,
  isFatalEnabled: () => false,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined,
};

/** Every mutant of the files (paths relative to root), in file order. */
export async function listMutants(root: string, files: string[]): Promise<SampledMutant[]> {
  const instrumenter = new Instrumenter(quiet);
  const result = await instrumenter.instrument(
    files.map((f) => ({ name: `${root}/${f}`, content: readFileSync(`${root}/${f}`, 'utf8'), mutate: true })),
    { plugins: null, excludedMutations: [], ignorers: [] },
  );
  return result.mutants
    .filter((m) => m.status === undefined)
    .map((m) => ({
      file: relative(root, m.fileName).replaceAll('\\', '/'),
      line: m.location.start.line,
      column: m.location.start.column,
      endLine: m.location.end.line,
      endColumn: m.location.end.column,
      mutator: m.mutatorName,
      replacement: m.replacement,
    }));
}

/** mulberry32: a small seeded PRNG, so a sample is reproducible from its seed alone. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded random sample of `size` mutants (Fisher-Yates on a copy), returned in file order. */
export function sampleMutants(all: SampledMutant[], size: number, seed: number): SampledMutant[] {
  const next = rng(seed);
  const idx = all.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx
    .slice(0, Math.min(size, all.length))
    .sort((a, b) => a - b)
    .map((i) => all[i]!);
}

/** Stryker `mutate` patterns selecting exactly the sampled mutants' nodes (lines 1-based, columns 0-based). */
export const mutateRange = (m: SampledMutant): string =>
  `${m.file}:${m.line + 1}:${m.column}-${m.endLine + 1}:${m.endColumn}`;
