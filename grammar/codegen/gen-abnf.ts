// The wire grammar in ABNF (RFC 5234, with RFC 7405's %s for case-sensitive strings), derived from
// grammar/imsp.peggy so that readers see a notation they know and the peggy file stays the one
// source. Output: generated/imsp.abnf (the site shows it on grammar.html).
//
// What the translation keeps and drops, rule by rule:
//   - Productions become ABNF rules (underscores become hyphens); rules equal to RFC 5234's core
//     rules (CRLF, SP, WSP, DIGIT) are referenced, not redefined.
//   - Error rules (a rule whose action calls reject()) only choose an error code for input the
//     productions refuse; they and the alternatives naming them are left out.
//   - Lookahead predicates (&x, !x) and empty helper rules (`here`) have no ABNF form; each
//     drops out, and the rule that used one says so in a comment. They only disambiguate: the
//     test (test/site/abnf.test.ts) turns the ABNF back into a parser and proves it accepts
//     exactly what the peggy grammar accepts.
//   - Actions, labels and plucks are semantics, not syntax: dropped.
import peggy from 'peggy';
import type { GeneratedFile, GeneratorContext } from './plugin.js';

/** The subset of peggy's grammar AST this translation reads. */
type Node =
  | { type: 'named'; name: string; expression: Node }
  | { type: 'choice'; alternatives: Node[] }
  | { type: 'action'; expression: Node; code: string }
  | { type: 'sequence'; elements: Node[] }
  | { type: 'labeled'; expression: Node }
  | { type: 'text' | 'group' | 'optional' | 'zero_or_more' | 'one_or_more'; expression: Node }
  | { type: 'simple_and' | 'simple_not'; expression: Node }
  | {
      type: 'repeated';
      expression: Node;
      min: { type: 'constant'; value: number } | null;
      max: { type: 'constant'; value: number | null };
    }
  | { type: 'semantic_and' | 'semantic_not' }
  | { type: 'rule_ref'; name: string }
  | { type: 'literal'; value: string; ignoreCase: boolean }
  | { type: 'class'; parts: Array<string | [string, string]>; inverted: boolean; ignoreCase: boolean }
  | { type: 'any' };
interface Rule {
  name: string;
  expression: Node;
}

/** The start rules of the wire grammar that ABNF readers need. */
export const ABNF_START = ['message_head', 'records_body'];
/** Peggy rules that are RFC 5234 core rules (Appendix B.1) under another name or the same. */
const CORE: Record<string, string> = { CRLF: 'CRLF', SP: 'SP', WSP: 'WSP', digit: 'DIGIT' };

export function abnfName(peggyName: string): string {
  return CORE[peggyName] ?? peggyName.replace(/_/g, '-');
}

const hex = (c: string): string => c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');

function literal(value: string, ignoreCase: boolean): string {
  if (value.length === 0) return '""';
  const printable = /^[\x20-\x21\x23-\x7E]+$/.test(value);
  if (printable && (ignoreCase || !/[A-Za-z]/.test(value))) return `"${value}"`;
  if (printable) return `%s"${value}"`;
  return `%x${[...value].map(hex).join('.')}`;
}

function charClass(parts: Array<string | [string, string]>): string {
  const alts = parts.map((p) => (typeof p === 'string' ? literal(p, false) : `%x${hex(p[0])}-${hex(p[1])}`));
  return alts.length === 1 ? alts[0] : `( ${alts.join(' / ')} )`;
}

export interface AbnfTranslation {
  text: string;
  /** ABNF names of the rules written, in order. */
  rules: string[];
}

export function peggyToAbnf(source: string): AbnfTranslation {
  const ast = peggy.parser.parse(source) as unknown as { rules: Rule[] };
  const byName = new Map(ast.rules.map((r) => [r.name, r] as const));
  const isErrorRule = (r: Rule): boolean => JSON.stringify(r.expression).includes('reject(');
  const isPredicateOnly = (n: Node): boolean => {
    if (n.type === 'named' || n.type === 'group' || n.type === 'labeled' || n.type === 'text')
      return isPredicateOnly(n.expression);
    if (n.type === 'action') return isPredicateOnly(n.expression);
    if (n.type === 'choice') return n.alternatives.every(isPredicateOnly);
    if (n.type === 'sequence') return n.elements.every(isPredicateOnly);
    return n.type === 'simple_and' || n.type === 'simple_not' || n.type === 'semantic_and' || n.type === 'semantic_not';
  };
  const isEmpty = (n: Node): boolean =>
    n.type === 'action' || n.type === 'named' ? isEmpty(n.expression) : n.type === 'literal' && n.value === '';

  const needed: string[] = [...ABNF_START];
  const done = new Set<string>();
  const out: string[] = [];
  const names: string[] = [];
  while (needed.length > 0) {
    const name = needed.shift() as string;
    if (done.has(name)) continue;
    done.add(name);
    if (CORE[name] !== undefined) continue;
    const rule = byName.get(name);
    if (!rule) throw new Error(`gen-abnf: rule ${name} is not in the grammar`);
    const notes = new Set<string>();
    const expr = (n: Node, parentIsSeq: boolean): string | null => {
      switch (n.type) {
        case 'named':
        case 'labeled':
        case 'text':
        case 'action':
          return expr(n.expression, parentIsSeq);
        case 'group': {
          const inner = expr(n.expression, false);
          return inner;
        }
        case 'choice': {
          const alts = n.alternatives.map((a) => expr(a, false)).filter((a): a is string => a !== null);
          if (alts.length === 0) return null;
          if (alts.length === 1) return alts[0];
          return parentIsSeq ? `( ${alts.join(' / ')} )` : alts.join(' / ');
        }
        case 'sequence': {
          const els = n.elements.map((e) => expr(e, true)).filter((e): e is string => e !== null);
          if (els.length === 0) return null;
          if (els.length === 1) return els[0];
          return parentIsSeq ? `( ${els.join(' ')} )` : els.join(' ');
        }
        case 'optional': {
          const inner = expr(n.expression, false);
          return inner === null ? null : `[ ${inner} ]`;
        }
        case 'zero_or_more':
        case 'one_or_more': {
          const inner = expr(n.expression, true);
          if (inner === null) return null;
          return `${n.type === 'one_or_more' ? '1' : ''}*${wrap(inner)}`;
        }
        case 'repeated': {
          const inner = expr(n.expression, true);
          if (inner === null) return null;
          const min = n.min?.value ?? 0;
          const max = n.max.value;
          return `${min}*${max ?? ''}${wrap(inner)}`;
        }
        case 'simple_and':
        case 'simple_not':
          notes.add(`${n.type === 'simple_and' ? '&' : '!'}${describe(n.expression)}`);
          return null;
        case 'semantic_and':
        case 'semantic_not':
          notes.add('a semantic predicate');
          return null;
        case 'rule_ref': {
          const r = byName.get(n.name);
          if (!r) throw new Error(`gen-abnf: ${name} refers to ${n.name}, which is not in the grammar`);
          if (isErrorRule(r) || isEmpty(r.expression)) return null; // error alternatives, empty helpers such as `here`
          if (isPredicateOnly(r.expression)) {
            notes.add(n.name);
            return null;
          }
          needed.push(n.name);
          return abnfName(n.name);
        }
        case 'literal':
          return literal(n.value, n.ignoreCase);
        case 'class':
          if (n.inverted) throw new Error(`gen-abnf: ${name}: an inverted class has no plain ABNF form`);
          return charClass(n.parts);
        case 'any':
          return '%x00-FF';
      }
    };
    const body = expr(rule.expression, false);
    if (body === null) continue;
    const display = rule.expression.type === 'named' ? rule.expression.name : null;
    const said = [
      display,
      notes.size > 0 ? `lookahead omitted (it only disambiguates): ${[...notes].join(', ')}` : null,
    ].filter(Boolean);
    names.push(abnfName(name));
    out.push(`${said.length > 0 ? `; ${said.join('; ')}\n` : ''}${abnfName(name)} = ${body}`);
  }
  const header = [
    '; IMSP wire grammar in ABNF (RFC 5234; %s"..." is RFC 7405 case-sensitive text).',
    '; Derived from grammar/imsp.peggy, which stays the source of truth. Core rules used:',
    '; CRLF, DIGIT, SP, WSP (RFC 5234 Appendix B.1). Input is one octet per character.',
    "; Limits, octet checks and Content-length are the framer's (spec Section 4), not syntax.",
    '',
  ];
  return { text: `${header.join('\n')}${out.join('\n\n')}\n`, rules: names };
}

/** An ABNF element in parentheses unless it is one already (a name, a terminal, a group or an option). */
function wrap(s: string): string {
  if (!/\s/.test(s)) return s;
  const close = s[0] === '(' ? ')' : s[0] === '[' ? ']' : null;
  if (close !== null) {
    let depth = 0;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === '"') i = s.indexOf('"', i + 1);
      else if (s[i] === '(' || s[i] === '[') depth++;
      else if (s[i] === ')' || s[i] === ']') {
        depth--;
        if (depth === 0) return i === s.length - 1 && s[i] === close ? s : `( ${s} )`;
      }
    }
  }
  return `( ${s} )`;
}

function describe(n: Node): string {
  if (n.type === 'rule_ref') return n.name;
  if (n.type === 'any') return '.';
  if (n.type === 'literal') return JSON.stringify(n.value);
  return n.type;
}

export default function generateAbnf(ctx: GeneratorContext): GeneratedFile[] {
  const { text } = peggyToAbnf(ctx.readText('grammar/imsp.peggy'));
  return [{ path: 'imsp.abnf', content: text, sources: ['grammar/imsp.peggy'] }];
}
