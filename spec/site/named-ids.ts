// Static check of `make requirements-check` (issue 12): the requirement IDs a kit case's checks can
// name in a finding, through the helpers it calls, must all be in the case's `reqs` ([CONF-6]).
// The last two final CIs failed on cases whose helper (checkError in conformance/lib/wire-target.ts)
// named WIRE-22 while the case did not declare it; the scan of the case's own text cannot see that.
//
// It uses the TypeScript compiler's type checker (the project's own compiler, rather than hand-written
// name matching) to resolve every call in a case's `run` to the function or method it calls, and
// follows those calls through conformance/ (transitively, each function once). What a function can
// name:
//   - an ID literal passed to must / should / info, or thrown as `new Failure('ID', ...)`;
//   - any other ID literal in its text (a `const req = 'X-1'` later passed on), except the ID of a
//     precondition (`pre`, `preStatus`: a skip for a case that does not declare it) and of a
//     connection's wire violation (`violate`: reported by the runner for any case; so is a base64url
//     value a target spells other than canonically, thrown by the kit's strict decoding as
//     NotCanonical, conformance/lib/canonical.ts [CRYPTO-4]);
//   - checkError(ctx, r, 'CODE', what, offsetOrReq): the registry's requirement for CODE (unless a
//     requirement overrides it: a literal is named, one taken from data is the case's to declare),
//     ERR-1, and WIRE-22 when an offset is given (by type: not a string) or CODE is a validation
//     error, exactly as checkError names them.
//   - A case a factory builds (no literal id) is found through the literal `origin` of its site
//     (factorySites; test/conformance/named-ids.test.ts holds those cases to the same rules).
// A case's own `run` counts every ID literal in it, as the older text scan did.

import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { listFiles } from './scan.js';

const ID = /^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+$/;
const CASE_ID = /^[a-z]+\/[a-z0-9-]+\/\d+$/;
/** Calls whose ID argument is not a finding of the calling case. */
const NOT_NAMED = new Set(['pre', 'preStatus', 'violate']);

type FnNode = ts.FunctionLikeDeclaration;

export interface ErrorRegistry {
  /** The requirement a checkError for this code names, and whether it is a validation error. */
  lookup(code: string): { req: string; validation: boolean } | undefined;
}

export interface CaseNames {
  id: string;
  file: string;
  /** Every ID the case's checks can name (its own text and the helpers it calls). */
  named: string[];
}

function calleeName(call: ts.CallExpression | ts.NewExpression): string | undefined {
  const e = call.expression;
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return undefined;
}

/** The `id`, `run` (its body) and `origin` of an object literal that may be a case. */
function caseParts(n: ts.ObjectLiteralExpression): { id?: ts.Node; run?: ts.Node; origin?: ts.Node } {
  const out: { id?: ts.Node; run?: ts.Node; origin?: ts.Node } = {};
  for (const p of n.properties) {
    const key = p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : '';
    if (key === 'id') out.id = ts.isPropertyAssignment(p) ? p.initializer : p;
    if (key === 'origin' && ts.isPropertyAssignment(p)) out.origin = p.initializer;
    if (key === 'run')
      out.run = ts.isMethodDeclaration(p) ? p.body : ts.isPropertyAssignment(p) ? p.initializer : undefined;
  }
  return out;
}

function literal(n: ts.Node | undefined): string | undefined {
  return n && (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) ? n.text : undefined;
}

export class NamedIds {
  private readonly checker: ts.TypeChecker;
  private readonly memo = new Map<FnNode, Set<string>>();

  constructor(
    readonly root: string,
    readonly program: ts.Program,
    private readonly errors: ErrorRegistry,
  ) {
    this.checker = program.getTypeChecker();
  }

  /** A program over the case modules (and what they import), with the repository's compiler options. */
  static create(root: string, errors: ErrorRegistry): NamedIds {
    const cfgPath = join(root, 'tsconfig.json');
    const cfg = ts.readConfigFile(cfgPath, ts.sys.readFile);
    const opts = ts.parseJsonConfigFileContent(cfg.config, ts.sys, dirname(cfgPath)).options;
    const files = listFiles(root, 'conformance/cases', ['.ts']).map((f) => join(root, f));
    return new NamedIds(root, ts.createProgram(files, { ...opts, noEmit: true }), errors);
  }

  private inKit(node: ts.Node): boolean {
    const f = relative(this.root, node.getSourceFile().fileName);
    return f.startsWith('conformance/') && !node.getSourceFile().isDeclarationFile;
  }

  /** The function or method a call resolves to, when it is one written in conformance/. */
  private target(call: ts.CallExpression | ts.NewExpression): FnNode | undefined {
    let sym = this.checker.getSymbolAtLocation(
      ts.isPropertyAccessExpression(call.expression) ? call.expression.name : call.expression,
    );
    if (sym && sym.flags & ts.SymbolFlags.Alias) sym = this.checker.getAliasedSymbol(sym);
    for (const d of sym?.declarations ?? []) {
      if (!this.inKit(d)) continue;
      if (ts.isFunctionDeclaration(d) || ts.isMethodDeclaration(d)) return d.body ? d : undefined;
      if (ts.isVariableDeclaration(d) && d.initializer)
        if (ts.isArrowFunction(d.initializer) || ts.isFunctionExpression(d.initializer)) return d.initializer;
    }
    return undefined;
  }

  /**
   * What checkError's last argument is, by its type: an offset (a number), a literal requirement, or a
   * requirement the case takes from data (a string that is no literal, such as a target's
   * firstMessageDecides): the case declares the latter from the same data, and the literals inside
   * the expression are counted as any literal is.
   */
  private offsetOrReq(n: ts.Expression): 'offset' | 'literal' | 'data' {
    if (literal(n) !== undefined) return 'literal';
    const t = this.checker.getTypeAtLocation(n);
    const parts = t.isUnion() ? t.types : [t];
    return parts.some((p) => (p.flags & ts.TypeFlags.StringLike) === 0 && (p.flags & ts.TypeFlags.Undefined) === 0)
      ? 'offset'
      : 'data';
  }

  /** What checkError names for this call (see the file comment). */
  private checkErrorNames(call: ts.CallExpression, into: Set<string>): void {
    const code = literal(call.arguments[2]);
    const last = call.arguments[4];
    into.add('ERR-1');
    const kind = last ? this.offsetOrReq(last) : undefined;
    const e = code !== undefined ? this.errors.lookup(code) : undefined;
    if (kind === 'literal') into.add(literal(last)!);
    else if (kind !== 'data' && e) into.add(e.req);
    if (kind === 'offset' || e?.validation) into.add('WIRE-22');
  }

  /** IDs named by the text of `body` and by the kit functions it calls; `all` counts every literal. */
  private scan(body: ts.Node, all: boolean, into: Set<string>, stack: Set<FnNode>): void {
    const skipped = new Set<ts.Node>();
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
        const name = calleeName(n);
        if (!all && name && NOT_NAMED.has(name)) for (const a of n.arguments ?? []) skipped.add(a);
        const fn = ts.isCallExpression(n) ? this.target(n) : undefined;
        if (ts.isCallExpression(n) && name === 'checkError' && fn) {
          this.checkErrorNames(n, into);
        } else if (fn && !stack.has(fn)) {
          for (const id of this.namesOf(fn, stack)) into.add(id);
        }
      }
      const s = literal(n);
      if (s !== undefined && ID.test(s) && !skipped.has(n)) into.add(s);
      ts.forEachChild(n, visit);
    };
    visit(body);
  }

  /** Every ID a kit function can name in a finding (memoised; a recursive call adds nothing new). */
  namesOf(fn: FnNode, stack: Set<FnNode> = new Set()): Set<string> {
    const done = this.memo.get(fn);
    if (done) return done;
    const out = new Set<string>();
    stack.add(fn);
    if (fn.body) this.scan(fn.body, false, out, stack);
    stack.delete(fn);
    this.memo.set(fn, out);
    return out;
  }

  /** Every object literal of the case modules with an `id` and a `run`, with its file and line. */
  caseObjects(): { file: string; line: number; id: ts.Node; run: ts.Node; origin?: ts.Node }[] {
    const out: { file: string; line: number; id: ts.Node; run: ts.Node; origin?: ts.Node }[] = [];
    for (const sf of this.program.getSourceFiles()) {
      const file = relative(this.root, sf.fileName);
      if (!file.startsWith('conformance/cases/')) continue;
      const visit = (n: ts.Node): void => {
        if (ts.isObjectLiteralExpression(n)) {
          const { id, run, origin } = caseParts(n);
          const line = sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
          if (id && run) out.push({ file, line, id, run, ...(origin ? { origin } : {}) });
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    return out;
  }

  private caseNames: CaseNames[] | undefined;

  /** Each case object (literal `id` of the role/section/n form, with a `run`) in the case modules (scanned once). */
  cases(): CaseNames[] {
    this.caseNames ??= this.caseObjects().flatMap((o) => {
      const id = literal(o.id);
      return id && CASE_ID.test(id) ? [{ id, file: o.file, named: this.namedBy(o.run) }] : [];
    });
    return this.caseNames;
  }

  /** Every ID a case's `run` can name: each ID literal in it, and what the kit functions it calls name. */
  private namedBy(run: ts.Node): string[] {
    const named = new Set<string>();
    this.scan(run, true, named, new Set());
    return [...named].sort();
  }

  /**
   * Each factory site of the case modules (a case object whose `id` is not a literal): the code behind
   * the cases made in loops and helpers.
   */
  factorySites(): FactorySite[] {
    return this.caseObjects()
      .filter((o) => literal(o.id) === undefined)
      .map((o) => ({ origin: literal(o.origin), file: o.file, line: o.line, named: this.namedBy(o.run) }));
  }
}

/** An object literal in the case modules with a `run` whose `id` is not a literal: a case a factory builds. */
export interface FactorySite {
  /** Its literal `origin`, or undefined when it records none. */
  origin: string | undefined;
  file: string;
  line: number;
  /** Every ID its `run` can name (its own text and the helpers it calls). */
  named: string[];
}

/** The registry's checkError table, from the kit's own registry module. */
export async function kitErrorRegistry(root: string): Promise<ErrorRegistry> {
  const reg = (await import(pathToFileURL(join(root, 'conformance/lib/registry.ts')).href)) as {
    errorSpec(code: string): { req: string };
  };
  const codec = (await import(pathToFileURL(join(root, 'codec/index.ts')).href)) as {
    ERROR_HANDLING: Record<string, { class: string }>;
  };
  return {
    lookup(code) {
      try {
        return { req: reg.errorSpec(code).req, validation: codec.ERROR_HANDLING[code]?.class === 'validation' };
      } catch {
        return undefined;
      }
    },
  };
}
