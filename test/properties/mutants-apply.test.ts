// Both mutant sets (the property tests' `make prop-mutants` and the kit's `make mutants`) patch the
// reference by text. Neither runs in `make test`, so a change that moves a patched line would leave a
// mutant that no longer applies, unnoticed until someone runs them (it happened twice when the MS's
// push filter and the Link's envelope head were rewritten for speed). This checks every patch still
// finds its text in the tree as it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MUTANTS as PROP_MUTANTS } from './mutant-list.js';
import { MUTANTS as KIT_MUTANTS } from '../../conformance/mutants/run.js';

const root = resolve(new URL('../..', import.meta.url).pathname);
const source = (file: string): string => readFileSync(resolve(root, file), 'utf8');

test('every prop-mutants patch applies to the current tree (one per invariant INV-1..INV-9)', () => {
  const missing = PROP_MUTANTS.filter((m) => !source(m.file).includes(m.find)).map((m) => `${m.inv} ${m.file}`);
  assert.deepEqual(missing, []);
  assert.deepEqual([...new Set(PROP_MUTANTS.map((m) => m.inv))].sort(), [
    'INV-1',
    'INV-2',
    'INV-3',
    'INV-4',
    'INV-5',
    'INV-6',
    'INV-7',
    'INV-8',
    'INV-9',
  ]);
});

test("every patch of the conformance kit's mutants applies to the current tree", () => {
  const missing: string[] = [];
  for (const m of KIT_MUTANTS) {
    for (const p of m.patches) {
      const src = source(p.file);
      if (!(typeof p.find === 'string' ? src.includes(p.find) : p.find.test(src))) missing.push(`${m.name} ${p.file}`);
    }
  }
  assert.deepEqual(missing, []);
  assert.ok(KIT_MUTANTS.length >= 20);
});
