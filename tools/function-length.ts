// Function length check (issue 16), run by `make lint`: outside the tests, a function may have at most
// MAX_LINES lines of code, blank and comment-only lines not counted (the issue's guide: "functions under about 80 lines outside tests").
// The functions that are longer today are listed in tools/long-functions.json, each with the reason it
// stays long and its length when listed (for information: a listed function may change, so that other
// work on it is not blocked); any other function over the limit fails the check, and so does an entry
// whose function is gone or no longer over the limit. A nested function counts on its own and inside its parent (as Biome's
// noExcessiveLinesPerFunction counts).
//
//   node --import tsx tools/function-length.ts           check: exit 1 on a function over the limit
//   node --import tsx tools/function-length.ts --list    every function over the limit, longest first
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { tsFiles } from './ts-files.js';

export const MAX_LINES = 80;
const DIRS = ['reference', 'codec', 'conformance', 'grammar', 'tools', 'bench'];
const ALLOW = 'tools/long-functions.json';

export interface LongFunction {
  /** `file#name`: the function's, method's (`Class.method`) or variable's name; `<anonymous>@line` else. */
  fn: string;
  lines: number;
}

interface Allowed {
  fn: string;
  lines: number;
  reason: string;
}

function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = (n: ts.Node | undefined): string | undefined =>
    n && (ts.isIdentifier(n) || ts.isStringLiteral(n) || ts.isPrivateIdentifier(n)) ? n.text : undefined;
  const owner = (n: ts.Node): string | undefined => {
    const c = n.parent;
    return c && (ts.isClassDeclaration(c) || ts.isClassExpression(c)) ? named(c.name) : undefined;
  };
  if (ts.isFunctionDeclaration(node)) return named(node.name) ?? 'default';
  if (ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) {
    const o = owner(node);
    return `${o ? `${o}.` : ''}${named(node.name) ?? '?'}`;
  }
  if (ts.isConstructorDeclaration(node)) return `${owner(node) ?? '?'}.constructor`;
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p)) return named(p.name) ?? '?';
  if (p && ts.isPropertyAssignment(p)) return named(p.name) ?? '?';
  if (p && ts.isPropertyDeclaration(p)) return `${owner(p) ?? '?'}.${named(p.name) ?? '?'}`;
  // Named by the nearest named function around it, not by its line: an edit above it must not rename it.
  for (let a = node.parent; a; a = a.parent) {
    if (ts.isFunctionLike(a) || ts.isClassDeclaration(a)) {
      const n = ts.isClassDeclaration(a) ? named(a.name) : nameOf(a, sf);
      if (n && !n.endsWith('<anonymous>')) return `${n}/<anonymous>`;
    }
  }
  return '<anonymous>';
}

/** Every function of one source text longer than `max` lines of code (blank and comment-only lines not counted). */
export function longFunctions(file: string, src: string, max = MAX_LINES): LongFunction[] {
  const sf = ts.createSourceFile(file, src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const lines = node
        .getText(sf)
        .split('\n')
        .filter((l) => !/^\s*(?:$|\/\/|\/\*|\*)/.test(l)).length;
      if (lines > max) out.push({ fn: `${file}#${nameOf(node, sf)}`, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  // Several long anonymous functions inside one function are told apart by their order: name, name#2, ...
  const seen = new Map<string, number>();
  return out.map((f) => {
    const n = (seen.get(f.fn) ?? 0) + 1;
    seen.set(f.fn, n);
    return n === 1 ? f : { ...f, fn: `${f.fn}#${n}` };
  });
}

function files(root: string): string[] {
  return tsFiles(root, DIRS, (n) => !n.endsWith('.d.ts') && !n.endsWith('.test.ts'));
}

/** The findings: functions over the limit not listed, and list entries whose function is gone or short now. */
export function check(found: LongFunction[], allowed: Allowed[]): string[] {
  const byFn = new Map(allowed.map((a) => [a.fn, a]));
  const out: string[] = [];
  for (const f of found) {
    if (!byFn.has(f.fn))
      out.push(
        `${f.fn}: ${f.lines} lines of code, over the limit of ${MAX_LINES}: split it (or list it in ${ALLOW} with the reason)`,
      );
  }
  const seen = new Set(found.map((f) => f.fn));
  for (const a of allowed)
    if (!seen.has(a.fn))
      out.push(`${a.fn}: listed in ${ALLOW} but no longer over ${MAX_LINES} lines: remove the entry`);
  return out;
}

export function main(argv: string[], root = process.cwd()): number {
  const found = files(root).flatMap((f) => longFunctions(f, readFileSync(join(root, f), 'utf8')));
  if (argv.includes('--list')) {
    for (const f of found.sort((a, b) => b.lines - a.lines)) console.log(`${f.lines}\t${f.fn}`);
    return 0;
  }
  const allowed = (JSON.parse(readFileSync(join(root, ALLOW), 'utf8')) as { functions: Allowed[] }).functions;
  const problems = check(found, allowed);
  for (const p of problems) console.error(p);
  console.log(
    `function-length: ${found.length} functions over ${MAX_LINES} lines, ${allowed.length} listed; ${problems.length} problems`,
  );
  return problems.length ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
