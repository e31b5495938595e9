// Issue 16: the registries reach the running code through generated/ only. Nothing outside grammar/
// (the generator) and spec/site (the site builder) opens spec/registry/*.json at run time, so the
// compiled servers need no copy of spec/ beside them. A test, not a convention: a new reader fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Readers still to be moved to generated tables, each with its owner's reason. Keep it empty. */
const KNOWN: Record<string, string> = {};

const DIRS = ['reference', 'conformance', 'codec', 'generated', 'bench'];
const SKIP = /^conformance\/(package|mutants|mutation)\//; // build and mutation tooling, not run-time code

function walk(d: string): string[] {
  return readdirSync(d).flatMap((n) => {
    const p = `${d}/${n}`;
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('nothing outside grammar/ and spec/site reads spec/registry at run time', () => {
  const readers: string[] = [];
  for (const f of DIRS.flatMap(walk)) {
    if (SKIP.test(f)) continue;
    readFileSync(join(f), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.trimStart();
        if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return;
        if (/spec\/registry/.test(line) && /new URL\(|readFileSync|readFile\(|join\(|import\(|createRequire/.test(line))
          readers.push(`${f}:${i + 1}`);
      });
  }
  const unexpected = readers.filter((r) => !(r.split(':')[0]! in KNOWN));
  assert.deepEqual(
    unexpected,
    [],
    `spec/registry read at run time (use the generated tables of codec/index.ts): ${unexpected.join(', ')}`,
  );
});
