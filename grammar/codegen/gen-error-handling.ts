// Generator plugin: error handling as data (spec 14.1 and 14.3, ERR-8).
//   generated/error-handling.ts  ERROR_HANDLING: for every error code what the receiver of the offending
//                                message does (answer, answer-close, close, notice-close, never), how the
//                                answer travels (link, clear, none), the requirement that says so, and the
//                                exceptions by situation; errorRule(code, situation) picks the rule.
// The reference's Link and servers and the conformance kit take their actions from this table; a test
// (test/spec/errors.test.ts) checks Section 14 and the state tables of Section 12 against it.
import type { GeneratedFile, Generator, GeneratorContext } from './plugin.js';

const SRC = 'spec/registry/errors.json';
const ACTIONS = ['answer', 'answer-close', 'close', 'notice-close', 'never'] as const;
const ANSWERS = ['link', 'clear', 'none'] as const;
const CLASSES = ['framing', 'validation', 'state', 'auth', 'seal', 'application', 'server'] as const;
/** Situations a case may name besides a method name (the request the error answers). */
export const CONDITIONS = [
  'handshake',
  'response',
  'closed',
  'clear-on-sealed',
  'final',
  'no-request',
  'unsolicited',
] as const;

interface RuleJson {
  action: string;
  answer: string;
  req: string;
}
interface ErrorJson {
  code: string;
  status: number;
  class: string;
  action: string;
  answer: string;
  actionReq: string;
  cases?: (RuleJson & { when: string })[];
}

function requirementIds(ctx: GeneratorContext): Set<string> {
  const ids = new Set<string>();
  for (const f of ctx.list('spec/text', '.md'))
    for (const m of ctx.readText(f).matchAll(/\[([A-Z][A-Z0-9]*(?:-[A-Z][A-Z0-9]*)*-\d+)\]/g)) ids.add(m[1]!);
  return ids;
}

function checkRule(where: string, r: RuleJson, ids: Set<string>): void {
  if (!(ACTIONS as readonly string[]).includes(r.action))
    throw new Error(`${SRC}: ${where}: unknown action ${r.action}`);
  if (!(ANSWERS as readonly string[]).includes(r.answer))
    throw new Error(`${SRC}: ${where}: unknown answer ${r.answer}`);
  const answers = r.action === 'answer' || r.action === 'answer-close' || r.action === 'notice-close';
  if (answers === (r.answer === 'none'))
    throw new Error(`${SRC}: ${where}: action ${r.action} with answer ${r.answer}`);
  if (!ids.has(r.req)) throw new Error(`${SRC}: ${where}: requirement ${r.req} is not defined in spec/text`);
}

export function errorHandlingModule(
  errors: readonly ErrorJson[],
  methods: ReadonlySet<string>,
  ids: Set<string>,
): string {
  const rows: string[] = [];
  for (const e of errors) {
    if (!(CLASSES as readonly string[]).includes(e.class))
      throw new Error(`${SRC}: ${e.code}: unknown class ${e.class}`);
    checkRule(e.code, { action: e.action, answer: e.answer, req: e.actionReq }, ids);
    const cases = (e.cases ?? []).map((c, i) => {
      checkRule(`${e.code} case ${i + 1}`, c, ids);
      if (!(CONDITIONS as readonly string[]).includes(c.when) && !methods.has(c.when))
        throw new Error(`${SRC}: ${e.code}: case 'when' ${c.when} is neither a situation nor a method`);
      return `{ when: ${JSON.stringify(c.when)}, action: ${JSON.stringify(c.action)}, answer: ${JSON.stringify(c.answer)}, req: ${JSON.stringify(c.req)} }`;
    });
    rows.push(
      `  ${e.code}: { class: ${JSON.stringify(e.class)}, action: ${JSON.stringify(e.action)}, answer: ${JSON.stringify(e.answer)}, req: ${JSON.stringify(e.actionReq)}, cases: [${cases.length ? `\n    ${cases.join(',\n    ')},\n  ` : ''}] },`,
    );
  }
  const u = (xs: readonly string[]): string => xs.map((x) => JSON.stringify(x)).join(' | ');
  return `// Error handling as data: for every error code, what the receiver of the offending message does.
// Source of truth: the action, answer, actionReq and cases fields of spec/registry/errors.json (spec 14.1, ERR-8).
// The functions that read the table (errorRule, closesConnection, answerSealed) are hand-written: codec/error-rules.ts.
import type { ErrorCode, MethodName } from './registry.js';

/**
 * What the receiver of an offending message does: answer and go on; answer, then close and read nothing
 * more (ERR-5); close without an answer; send NOTICE with the code, then close (no response); or never
 * send the code on the wire.
 */
export type ErrorAction = ${u(ACTIONS)};
/** How the answer travels: inside SEALED when the link is sealed (\`link\`), always in clear, or no answer. */
export type ErrorAnswer = ${u(ANSWERS)};
/** The family of an error: where it is found. */
export type ErrorClass = ${u(CLASSES)};
/** A situation an exception names, besides a method name (the request the error answers). */
export type ErrorCondition = ${u(CONDITIONS)};

export interface ErrorRule {
  readonly action: ErrorAction;
  readonly answer: ErrorAnswer;
  /** The requirement that sets this action. */
  readonly req: string;
}
export interface ErrorCase extends ErrorRule {
  readonly when: ErrorCondition | MethodName;
}
export interface ErrorHandling extends ErrorRule {
  readonly class: ErrorClass;
  /** Exceptions to the default rule, in order; the first whose situation holds wins. */
  readonly cases: readonly ErrorCase[];
}

export const ERROR_HANDLING: { readonly [C in ErrorCode]: ErrorHandling } = {
${rows.join('\n')}
};
`;
}

const generate: Generator = (ctx) => {
  const errors = ctx.readJson<{ errors: ErrorJson[] }>(SRC).errors;
  const methods = new Set(
    ctx.readJson<{ methods: { name: string }[] }>('spec/registry/methods.json').methods.map((m) => m.name),
  );
  const ids = requirementIds(ctx);
  const file: GeneratedFile = {
    path: 'error-handling.ts',
    content: errorHandlingModule(errors, methods, ids),
    sources: [SRC, 'spec/registry/methods.json', ...ctx.list('spec/text', '.md')],
  };
  return [file];
};
export default generate;
