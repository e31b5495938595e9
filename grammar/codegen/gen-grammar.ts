// Generator plugin: the grammar's outputs.
//   generated/internal/peggy-parser.ts  the reference parser, peggy's standalone ES module
//                                       (generated/ never imports peggy at run time);
//   generated/internal/tables.ts        one octet-class bit table for the fast-path decoder,
//                                       computed from the character classes of the grammar.
import peggy from 'peggy';
import type { GeneratedFile, Generator } from './plugin.js';

const GRAMMAR = 'grammar/imsp.peggy';

/** Start rules the runtime may call (see the grammar's prose header). */
export const START_RULES = ['message_head', 'start_line', 'header_line', 'records_body'] as const;

/** The grammar rules that become fast-path octet classes, each a single character class. */
export const TABLE_RULES = [
  'method_first',
  'method_char',
  'digit',
  'reason_char',
  'name_char',
  'field_vchar',
  'WSP',
  'text_octet',
] as const;

interface ClassNode {
  type: 'class';
  parts: (string | [string, string])[];
  inverted: boolean;
  ignoreCase: boolean;
}
interface RuleNode {
  name: string;
  expression: { type: string; expression?: unknown } & Partial<ClassNode>;
}

/** The 256-entry membership of one peggy character class, for octets read as latin1. */
export function classMembers(node: ClassNode): boolean[] {
  const member = new Array<boolean>(256).fill(false);
  for (let b = 0; b < 256; b++) {
    const chars = node.ignoreCase
      ? [String.fromCharCode(b).toLowerCase(), String.fromCharCode(b).toUpperCase()]
      : [String.fromCharCode(b)];
    let hit = false;
    for (const ch of chars) {
      for (const part of node.parts) {
        if (typeof part === 'string' ? ch === part : ch >= part[0] && ch <= part[1]) hit = true;
      }
    }
    member[b] = node.inverted ? !hit : hit;
  }
  return member;
}

/** One character escaped for a RegExp character class. */
function reChar(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x20 || code > 0x7e) return `\\x${code.toString(16).padStart(2, '0')}`;
  return /[\\\][^-]/.test(c) ? `\\${c}` : c;
}

function constName(rule: string): string {
  return `C_${rule.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

export function tablesModule(grammarText: string): string {
  const ast = peggy.parser.parse(grammarText, { grammarSource: GRAMMAR, reservedWords: [] }) as unknown as {
    rules: RuleNode[];
  };
  const bits = new Array<number>(256).fill(0);
  const consts: string[] = [];
  const sources: string[] = [];
  TABLE_RULES.forEach((name, i) => {
    const rule = ast.rules.find((r) => r.name === name);
    if (!rule) throw new Error(`${GRAMMAR}: rule ${name} (a fast-path table) is missing`);
    const e = rule.expression as { type: string; expression?: unknown };
    const expr = (e.type === 'named' ? e.expression : e) as ClassNode;
    if (expr.type !== 'class') throw new Error(`${GRAMMAR}: rule ${name} must be a single character class`);
    if (expr.inverted || expr.ignoreCase)
      throw new Error(`${GRAMMAR}: table rule ${name} must be a plain, case-sensitive class`);
    sources.push(
      `  ${name}: ${JSON.stringify(expr.parts.map((p) => (typeof p === 'string' ? reChar(p) : `${reChar(p[0])}-${reChar(p[1])}`)).join(''))},`,
    );
    classMembers(expr).forEach((m, b) => {
      if (m) bits[b] |= 1 << i;
    });
    consts.push(`/** Grammar rule \`${name}\`. */\nexport const ${constName(name)} = ${1 << i};`);
  });
  const rows: string[] = [];
  for (let r = 0; r < 256; r += 16) rows.push(`  ${bits.slice(r, r + 16).join(', ')},`);
  return [
    '// Octet classes of the fast-path decoder: CLASS[octet] has the bit of every grammar',
    '// character class that contains the octet (octets read as latin1).',
    ...consts,
    'export const CLASS: Uint8Array = new Uint8Array([',
    ...rows,
    ']);',
    '',
    '/** The same classes as RegExp character-class bodies (without the brackets). */',
    'export const CLASS_SOURCE = {',
    ...sources,
    '} as const;',
    '',
  ].join('\n');
}

export function parserModule(grammarText: string): string {
  const source = peggy.generate(grammarText, {
    output: 'source',
    format: 'es',
    allowedStartRules: [...START_RULES],
    grammarSource: GRAMMAR,
  });
  return [
    '// @ts-nocheck',
    '// The reference parser: peggy 5 standalone output of grammar/imsp.peggy. Typed access is',
    '// in generated/reference-decoder.ts.',
    source,
  ].join('\n');
}

const generate: Generator = (ctx): GeneratedFile[] => {
  const text = ctx.readText(GRAMMAR);
  return [
    { path: 'internal/peggy-parser.ts', content: parserModule(text), sources: [GRAMMAR] },
    { path: 'internal/tables.ts', content: tablesModule(text), sources: [GRAMMAR] },
  ];
};
export default generate;
