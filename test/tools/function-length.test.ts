// tools/function-length.ts (issue 16): a function over the limit fails make lint unless it is listed
// with its reason, and a stale entry is reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, longFunctions, MAX_LINES } from '../../tools/function-length.js';

const fn = (name: string, n: number): string =>
  `function ${name}() {\n${Array.from({ length: n - 2 }, (_, i) => `  const x${i} = ${i};\n  // a comment\n\n`).join('')}}\n`;

test('a function of MAX_LINES lines of code passes, one more fails; blank and comment lines do not count', () => {
  assert.deepEqual(longFunctions('a.ts', fn('ok', MAX_LINES)), []);
  assert.deepEqual(longFunctions('a.ts', fn('long', MAX_LINES + 1)), [{ fn: 'a.ts#long', lines: MAX_LINES + 1 }]);
  const cls = `class K {\n  m() {\n${'    f();\n'.repeat(MAX_LINES)}  }\n}\nconst g = () => {\n${'  f();\n'.repeat(MAX_LINES)}};\n`;
  assert.deepEqual(
    longFunctions('b.ts', cls).map((f) => f.fn),
    ['b.ts#K.m', 'b.ts#g'],
  );
});

test('check: unlisted functions and stale entries are problems; a listed one is not, whatever its length', () => {
  const found = [
    { fn: 'a.ts#new', lines: 90 },
    { fn: 'a.ts#grew', lines: 120 },
    { fn: 'a.ts#shrank', lines: 85 },
  ];
  const allowed = [
    { fn: 'a.ts#grew', lines: 100, reason: 'r' },
    { fn: 'a.ts#shrank', lines: 95, reason: 'r' },
    { fn: 'a.ts#gone', lines: 99, reason: 'r' },
  ];
  assert.deepEqual(
    check(found, allowed).map((p) => p.split(':')[0]),
    ['a.ts#new', 'a.ts#gone'],
  );
});

test('a long anonymous function is named by the function around it, so an edit above it keeps its name', () => {
  const body = Array.from({ length: MAX_LINES + 1 }, (_, i) => `    x += ${i};`).join('\n');
  const src = (pre: string) =>
    `${pre}export function drive(): void {\n  const a = () => {\n    let x = 0;\n${body}\n  };\n  const b = () => {\n    let x = 0;\n${body}\n  };\n}\n`;
  const before = longFunctions('f.ts', src('')).map((f) => f.fn);
  const after = longFunctions('f.ts', src('const helper = 1;\nconst other = 2;\n')).map((f) => f.fn);
  assert.deepEqual(before, ['f.ts#drive', 'f.ts#a', 'f.ts#b']);
  assert.deepEqual(after, before);
  const anon = longFunctions(
    'g.ts',
    `export function run(): void {\n  [1].map(() => {\n    let x = 0;\n${body}\n  });\n}\n`,
  );
  assert.deepEqual(
    anon.map((f) => f.fn),
    ['g.ts#run', 'g.ts#run/<anonymous>'],
  );
});
