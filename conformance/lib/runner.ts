// Runs selected cases one after another against one target: a fresh context per case, a per-case
// time budget, the target's wire violations collected from every connection, and a health probe after
// each case (a crash or a hang of the target fails the case that caused it).
import { Failure, Skip, type CaseDef, type CaseResult, type Finding, type Verdict } from './case.js';
import { Transcript, TimeoutError, ClosedError, type Violation } from './conn.js';
import type { Limits } from './registry.js';

export interface RunOptions {
  seed: number;
  runs: number;
  /** Budget for one request/response exchange, in ms. */
  timeoutMs: number;
  strict: boolean;
  /** fast-check replay path for --only ID --seed S --path P. */
  path?: string;
  /** fc.commands' own replay path (--replay-path): which commands of the shrunk sequence ran. */
  replayPath?: string;
  limits: Limits;
  /** Run cases that wait for a lease, a lock or a session timeout longer than a few seconds. */
  slow: boolean;
  progress: (line: string) => void;
  /** The command line that reproduces this run (for replay lines). */
  commandLine: string;
  /** Stop at the first FAIL (--fail-fast; make kit-mutation, where one FAIL decides). */
  failFast?: boolean;
}

/** What a role driver provides to the runner. */
export interface Driver<C> {
  cases: CaseDef<C>[];
  /** Build the context of one case. */
  context(tr: Transcript, findings: Finding[], c: CaseDef<C>): C;
  /** Close everything the case opened; return the wire violations seen. */
  cleanup(ctx: C): Promise<Violation[]>;
  /**
   * null when healthy, else what is wrong: with the requirement its failure breaks when the probe can
   * tell (an MS that answers but never enrolled again [ENROLL-12]), else a text, which the runner
   * attributes to the case's first requirement (a crash or a hang the case's input caused).
   */
  probe(tr: Transcript): Promise<ProbeFailure | string | null>;
}

/** A failed health probe that knows the requirement the target breaks. */
export interface ProbeFailure {
  req: string;
  text: string;
}

export interface CaseMeta {
  seed?: number;
  path?: string;
  replayPath?: string;
  /** Sequences a replay runs from the seed (no path): set when the shrunk sequence alone passed. */
  replayRuns?: number;
  replay?: string;
}

export class Checker {
  readonly meta: CaseMeta = {};
  /** The case's declared reqs (set by the runner); a check naming another ID is recorded in `undeclared`. */
  declared: ReadonlySet<string> | null = null;
  /** Requirement IDs this case's checks named without declaring them (an error of the kit, see test/conformance). */
  readonly undeclared = new Set<string>();
  constructor(
    readonly findings: Finding[],
    readonly tr: Transcript,
  ) {}
  /** Every check names a requirement; the case must declare it in `reqs`, pass or fail ([CONF-6]). */
  protected named(req: string): void {
    if (this.declared && req && !this.declared.has(req)) this.undeclared.add(req);
  }
  must(cond: unknown, req: string, text: string): asserts cond {
    this.named(req);
    if (!cond) throw new Failure(req, text);
  }
  /**
   * A check made by a context helper (enroll, provision, log in, befriend): a real check of `req` for
   * a case that declares it, and for any other case a precondition whose failure skips the case
   * (naming the requirement), since that case is not about `req`.
   */
  pre(cond: unknown, req: string, text: string): asserts cond {
    if (!this.declared || this.declared.has(req)) return this.must(cond, req, text);
    if (!cond) throw new Skip(`precondition failed [${req}]: ${text}`);
  }
  should(cond: unknown, req: string, text: string): boolean {
    this.named(req);
    if (!cond) {
      this.findings.push({ verdict: 'WARN', req, text });
      this.tr.note(`WARN [${req}] ${text}`);
    }
    return !!cond;
  }
  info(text: string, req = ''): void {
    this.findings.push({ verdict: 'INFO', req, text });
    this.tr.note(`INFO ${text}`);
  }
  skip(reason: string): never {
    throw new Skip(reason);
  }
  note(text: string): void {
    this.tr.note(text);
  }
}

/** Does the case match a --only/--exclude selector (id, id prefix, section, or requirement ID)? */
export function matches(c: CaseDef<unknown>, sel: string): boolean {
  const s = sel.trim();
  if (!s) return false;
  return (
    c.id === s ||
    c.id.startsWith(s.endsWith('/') ? s : `${s}/`) ||
    c.section === s ||
    c.reqs.includes(s) ||
    c.id.split('/').slice(1).join('/') === s
  );
}

export function select<C>(cases: CaseDef<C>[], only: string[], exclude: string[]): CaseDef<C>[] {
  return cases.filter(
    (c) =>
      (only.length === 0 || only.some((s) => matches(c as CaseDef<unknown>, s))) &&
      !exclude.some((s) => matches(c as CaseDef<unknown>, s)),
  );
}

function withBudget<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new TimeoutError('end of the case (the target may hang)', ms)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** What a case's exception means: a skip (its reason), or a finding against the case. */
function outcomeOf(e: unknown, c: CaseDef<unknown>): { skip: string } | { finding: Finding } {
  if (e instanceof Skip) return { skip: e.message };
  if (e instanceof Failure)
    return { finding: { verdict: 'FAIL', req: e.req, text: e.message, ...(e.refusal ? { refusal: e.refusal } : {}) } };
  const text =
    e instanceof TimeoutError || e instanceof ClosedError
      ? `the target did not answer as required: ${e.message}`
      : `unexpected: ${(e as Error).stack ?? String(e)}`;
  return { finding: { verdict: 'FAIL', req: c.reqs[0] ?? '', text } };
}

/** The seed, paths and replay line a fuzzing case left in its context's meta, and undeclared IDs. */
function copyMeta(ctx: unknown, result: CaseResult): void {
  const meta = (ctx as { meta?: CaseMeta }).meta;
  if (meta?.seed !== undefined) result.seed = meta.seed;
  if (meta?.path !== undefined) result.path = meta.path;
  if (meta?.replayPath !== undefined) result.replayPath = meta.replayPath;
  if (meta?.replayRuns !== undefined) result.replayRuns = meta.replayRuns;
  if (meta?.replay !== undefined) result.replay = meta.replay;
  if (ctx instanceof Checker && ctx.undeclared.size) result.undeclared = [...ctx.undeclared].sort();
}

/**
 * After a case: the driver's cleanup (wire-rule violations are findings), then the health probe
 * unless the case opts out. Returns why the target is dead when a second probe fails too (else null),
 * and whether the target broke a wire rule.
 */
async function afterCase<C>(
  driver: Driver<C>,
  ctx: C,
  c: CaseDef<C>,
  tr: Transcript,
  findings: Finding[],
): Promise<{ dead: string | null; violated: boolean }> {
  const violations = await driver
    .cleanup(ctx)
    .catch((e: Error): Violation[] => [{ req: '', text: `cleanup failed: ${e.message}` }]);
  for (const v of violations)
    findings.push({
      verdict: 'FAIL',
      req: v.req,
      text: `target broke the wire rules: ${v.text}`,
      ...(v.refusal ? { refusal: v.refusal } : {}),
    });
  const violated = violations.some((v) => v.req !== '');
  if (c.noProbe) return { dead: null, violated };
  const bad = await driver.probe(tr).catch((e: Error) => e.message);
  if (!bad) return { dead: null, violated };
  const { req, text } = typeof bad === 'string' ? { req: c.reqs[0] ?? 'CONN-8', text: bad } : bad;
  findings.push({ verdict: 'FAIL', req, text: `health probe after the case failed: ${text}` });
  const again = await driver.probe(new Transcript()).catch((e: Error) => e.message);
  const still = again && (typeof again === 'string' ? again : again.text);
  return { dead: still ? `${still}; since case ${c.id}` : null, violated };
}

/** The verdict of a case that ran: from its findings and level (a SHOULD case's failure is a WARN; --strict makes a WARN a FAIL). */
function verdictOf(c: CaseDef<unknown>, findings: Finding[], strict: boolean): Verdict {
  if (findings.some((f) => f.verdict === 'FAIL')) return c.level === 'SHOULD' && !strict ? 'WARN' : 'FAIL';
  if (findings.some((f) => f.verdict === 'WARN')) return strict ? 'FAIL' : 'WARN';
  if (c.level === 'INFO') return 'INFO';
  return 'PASS';
}

/** The progress line of a case: verdict, id, title, and the skip reason or the first finding (and the replay line of a failed fuzz case). */
function progressLine(n: string, c: CaseDef<unknown>, result: CaseResult): string {
  const first = result.findings.find((f) => f.verdict === 'FAIL') ?? result.findings.find((f) => f.verdict === 'WARN');
  return (
    `${n} ${result.verdict.padEnd(4)} ${c.id} ${c.title}` +
    (result.skipReason
      ? `: ${result.skipReason}`
      : first
        ? `\n        [${first.req}] ${first.text.split('\n')[0]}`
        : '') +
    (result.replay && result.verdict === 'FAIL' ? `\n        replay: ${result.replay}` : '')
  );
}

export async function runCases<C>(
  driver: Driver<C>,
  selected: CaseDef<C>[],
  o: RunOptions,
  caseBudgetMs: number,
): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let dead: string | null = null;
  for (let i = 0; i < selected.length; i++) {
    const c = selected[i]!;
    const n = `[${i + 1}/${selected.length}]`;
    const tr = new Transcript();
    const findings: Finding[] = [];
    const t0 = Date.now();
    const result: CaseResult = {
      id: c.id,
      section: c.section,
      title: c.title,
      reqs: c.reqs,
      verdict: 'PASS',
      findings,
      durationMs: 0,
      transcript: tr,
    };
    if (dead) {
      result.verdict = 'SKIP';
      result.skipReason = `the target is not answering (${dead})`;
      results.push(result);
      o.progress(`${n} SKIP ${c.id} ${c.title}: ${result.skipReason}`);
      continue;
    }
    const ctx = driver.context(tr, findings, c);
    if (ctx instanceof Checker) ctx.declared = new Set(c.reqs);
    let skipReason: string | undefined;
    try {
      await withBudget(c.run(ctx), caseBudgetMs);
    } catch (e) {
      const out = outcomeOf(e, c);
      if ('skip' in out) skipReason = out.skip;
      else findings.push(out.finding);
    }
    copyMeta(ctx, result);
    const after = await afterCase(driver, ctx, c, tr, findings);
    dead = after.dead;
    // A case that skipped is still judged when the target stopped answering for good after it: its
    // health-probe failure is a finding like any other, or a target that dies inside a case that
    // then skips (an MS that never enrolls again [ENROLL-12]) would end a run of SKIPs with 0 failed.
    // So is one in which the target broke a wire rule (a violation its connections recorded, such as
    // a non-canonical Key-share [CRYPTO-4] that made the kit refuse the login the case needed).
    const skipped = skipReason !== undefined && dead === null && !after.violated;
    result.verdict = skipped ? 'SKIP' : verdictOf(c, findings, o.strict);
    if (skipped) result.skipReason = skipReason;
    result.durationMs = Date.now() - t0;
    results.push(result);
    o.progress(progressLine(n, c, result));
    if (o.failFast && result.verdict === 'FAIL') break;
  }
  return results;
}

export function summaryLine(results: CaseResult[]): string {
  const n = (v: Verdict[]): number => results.filter((r) => v.includes(r.verdict)).length;
  return `${n(['PASS', 'INFO'])} passed, ${n(['FAIL'])} failed, ${n(['WARN'])} warned, ${n(['SKIP'])} skipped`;
}
