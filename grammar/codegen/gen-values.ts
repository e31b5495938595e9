// Generator plugin: the value unions of spec/registry/value-types.json.
//   generated/values.ts  for every value type whose syntax is a closed list of words (presence,
//                        status, relation, decision, typing, search-field, ...): the words
//                        `as const`, a union type named after the value type, and a type guard.
// The reference types presence, relation and the like with these instead of hand-written unions.
import type { GeneratedFile, Generator } from './plugin.js';

const SOURCE = 'spec/registry/value-types.json';

/** The words of an enumeration pattern `^(a|b|c)$`, or undefined for any other syntax. */
export function enumWords(pattern: string): string[] | undefined {
  const m = /^\^\(([a-z0-9-]+(?:\|[a-z0-9-]+)*)\)\$$/.exec(pattern);
  return m ? m[1]!.split('|') : undefined;
}

const pascal = (s: string): string =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
const constName = (s: string): string => `${s.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}_VALUES`;

export function valuesModule(types: Record<string, { pattern: string; text: string }>): string {
  const enums = Object.entries(types)
    .map(([name, t]) => ({ name, text: t.text, words: enumWords(t.pattern) }))
    .filter((e): e is { name: string; text: string; words: string[] } => e.words !== undefined);
  if (enums.length === 0) throw new Error(`${SOURCE}: no enumerated value type`);
  const out: string[] = [
    '// The closed value types of spec/registry/value-types.json: their words and a union type for each.',
    '',
  ];
  for (const e of enums) {
    const c = constName(e.name);
    out.push(
      `/** Value type \`${e.name}\`: ${e.text}. */`,
      `export const ${c} = [${e.words.map((w) => JSON.stringify(w)).join(', ')}] as const;`,
      `export type ${pascal(e.name)} = (typeof ${c})[number];`,
      '',
    );
  }
  out.push(
    '/** Every enumerated value type, by registry name. */',
    'export const VALUE_ENUMS = {',
    ...enums.map((e) => `  ${JSON.stringify(e.name)}: ${constName(e.name)},`),
    '} as const;',
    'export type EnumValueType = keyof typeof VALUE_ENUMS;',
    '/** The union of the words of an enumerated value type. */',
    'export type ValueOf<T extends EnumValueType> = (typeof VALUE_ENUMS)[T][number];',
    '',
    '/** Whether `value` is one of the words of the value type `type` (exact, case-sensitive). */',
    'export function isValueOf<T extends EnumValueType>(type: T, value: string | undefined): value is ValueOf<T> {',
    '  return value !== undefined && (VALUE_ENUMS[type] as readonly string[]).includes(value);',
    '}',
    '',
  );
  return out.join('\n');
}

const generate: Generator = (ctx): GeneratedFile[] => {
  const { types } = ctx.readJson<{ types: Record<string, { pattern: string; text: string }> }>(SOURCE);
  return [{ path: 'values.ts', content: valuesModule(types), sources: [SOURCE] }];
};
export default generate;
