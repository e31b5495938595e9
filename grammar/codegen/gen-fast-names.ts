// Generator plugin: generated/internal/fast-names.ts, the decoder fast path's matchers of the
// registered methods and header names (issue 15).
//
// For each table (methods.json's methods followed by CR, headers.json's names followed by ':'), a
// function switches on the first four octets read as one little-endian 32-bit word and compares
// the rest four octets at a time (the last word masked to the octets that belong to the name). V8
// compiles the switch over integer constants to a binary search, so a name costs a few integer
// comparisons and no per-octet work. A name is included only when the grammar's own classes
// accept every octet of it (method_first/method_char, name_char): a match then means exactly what
// the general path's class scan would have found, spelled as in the registry.
import peggy from 'peggy';
import { classMembers } from './gen-grammar.js';
import type { GeneratedFile, Generator } from './plugin.js';

const GRAMMAR = 'grammar/imsp.peggy';
const METHODS = 'spec/registry/methods.json';
const HEADERS = 'spec/registry/headers.json';

interface ClassNode {
  type: 'class';
  parts: (string | [string, string])[];
  inverted: boolean;
  ignoreCase: boolean;
}

/** 256-entry membership of the grammar rule `name` (a single character class). */
function ruleClass(grammarText: string, name: string): boolean[] {
  const ast = peggy.parser.parse(grammarText, { grammarSource: GRAMMAR, reservedWords: [] }) as unknown as {
    rules: { name: string; expression: { type: string; expression?: unknown } }[];
  };
  const rule = ast.rules.find((r) => r.name === name);
  if (!rule) throw new Error(`${GRAMMAR}: rule ${name} is missing`);
  const e = rule.expression;
  const node = (e.type === 'named' ? e.expression : e) as ClassNode;
  if (node.type !== 'class') throw new Error(`${GRAMMAR}: rule ${name} must be a single character class`);
  return classMembers(node);
}

/** One word compare: the octets [o, o+4) of the name (masked when fewer than four remain). */
interface Word {
  offset: number;
  value: number;
  mask: number;
}

function words(wire: Buffer): Word[] {
  const out: Word[] = [];
  for (let o = 0; o < wire.length; o += 4) {
    const n = Math.min(4, wire.length - o);
    let value = 0;
    for (let k = 0; k < n; k++) value |= wire[o + k]! << (8 * k);
    out.push({ offset: o, value: value | 0, mask: n === 4 ? -1 : (1 << (8 * n)) - 1 });
  }
  return out;
}

const hex = (n: number): string => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);

function wordTest(w: Word): string {
  const read = `v.getInt32(s${w.offset ? ` + ${w.offset}` : ''}, true)`;
  return w.mask === -1 ? `${read} === ${hex(w.value)}` : `(${read} & ${hex(w.mask)}) === ${hex(w.value)}`;
}

/**
 * The source of one matcher: `fn(v, s, e)` is the index in `names` of the name that the octets at
 * s start with, followed by `term`, with the terminator at or before e (exactly at e when `exact`).
 */
export function matcherSource(fn: string, names: readonly string[], term: string, exact: boolean): string {
  const short: { i: number; w: Word[] }[] = [];
  const byFirst = new Map<number, { i: number; w: Word[]; n: number }[]>();
  names.forEach((name, i) => {
    const wire = Buffer.from(`${name}${term}`, 'latin1');
    const w = words(wire);
    if (wire.length < 4) short.push({ i, w });
    else {
      const list = byFirst.get(w[0]!.value) ?? [];
      list.push({ i, w: w.slice(1), n: wire.length });
      byFirst.set(w[0]!.value, list);
    }
  });
  const len = (n: number): string => (exact ? `e - s === ${n - 1}` : `e - s >= ${n}`);
  const lines: string[] = [`export function ${fn}(v: DataView, s: number, e: number): number {`];
  lines.push('  const w = v.getInt32(s, true);');
  for (const { i, w } of short) {
    const n = Buffer.byteLength(`${names[i]}${term}`, 'latin1');
    lines.push(`  if ((w & ${hex(w[0]!.mask)}) === ${hex(w[0]!.value)} && ${len(n)}) return ${i}; // ${names[i]}`);
  }
  lines.push('  switch (w) {');
  for (const [first, list] of [...byFirst].sort((a, b) => a[0] - b[0])) {
    lines.push(`    case ${hex(first)}:`);
    for (const { i, w, n } of list)
      lines.push(`      if (${[len(n), ...w.map(wordTest)].join(' && ')}) return ${i}; // ${names[i]}`);
    lines.push('      return -1;');
  }
  lines.push('    default:', '      return -1;', '  }', '}');
  return lines.join('\n');
}

/** The names of `all` whose octets the grammar's classes accept (first octet in `first`, the rest in `inner`). */
function grammatical(all: readonly string[], first: boolean[], inner: boolean[]): string[] {
  return all.filter((n) => {
    const b = Buffer.from(n, 'latin1');
    return b.length > 0 && first[b[0]!]! && [...b.subarray(1)].every((c) => inner[c]!);
  });
}

export function fastNamesModule(grammarText: string, methods: readonly string[], headers: readonly string[]): string {
  const mFirst = ruleClass(grammarText, 'method_first');
  const mChar = ruleClass(grammarText, 'method_char');
  const nChar = ruleClass(grammarText, 'name_char');
  const m = grammatical(methods, mFirst, mChar);
  const h = grammatical(headers, nChar, nChar);
  const cl = h.findIndex((n) => n.toLowerCase() === 'content-length');
  if (cl < 0) throw new Error(`${HEADERS}: Content-length is missing`);
  return [
    "// The decoder fast path's matchers of the registered methods and header names, spelled as in the",
    '// registry (grammar/codegen/gen-fast-names.ts). The caller guarantees that the four octets at s',
    '// and the octets up to the next multiple of four past the terminator are readable (a complete',
    '// head always has its CRLF CRLF after them).',
    '',
    '/** Registered methods the fast path matches (rule method: every octet in the grammar classes). */',
    `export const FAST_METHODS: readonly string[] = ${JSON.stringify(m)};`,
    '/** Registered header names the fast path matches (rule field_name). */',
    `export const FAST_HEADERS: readonly string[] = ${JSON.stringify(h)};`,
    '/** Index of Content-length in FAST_HEADERS. */',
    `export const FAST_CONTENT_LENGTH = ${cl};`,
    '',
    '/** Index in FAST_METHODS of the method that is exactly the start line [s, e) (e: its CR), or -1. */',
    matcherSource('matchMethod', m, '\r', true),
    '',
    '/** Index in FAST_HEADERS of the name that the header line [s, e) starts with, followed by a colon, or -1. */',
    matcherSource('matchHeader', h, ':', false),
    '',
  ].join('\n');
}

const generate: Generator = (ctx): GeneratedFile[] => {
  const grammar = ctx.readText(GRAMMAR);
  const methods = ctx.readJson<{ methods: { name: string }[] }>(METHODS).methods.map((x) => x.name);
  const headers = ctx.readJson<{ headers: { name: string }[] }>(HEADERS).headers.map((x) => x.name);
  return [
    {
      path: 'internal/fast-names.ts',
      content: fastNamesModule(grammar, methods, headers),
      sources: [GRAMMAR, METHODS, HEADERS, 'grammar/codegen/gen-fast-names.ts'],
    },
  ];
};
export default generate;
