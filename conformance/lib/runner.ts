// Runs selected cases one after another against one target: a fresh context per case, a per-case
// time budget, the target's wire violations collected from every connection, and a health probe after
// each case (a crash or a hang of the target fails the case that caused it).
import { Failure, Skip, type CaseDef, type CaseResult, type Finding, type Verdict } from './case.js';
import { Transcript, TimeoutError, ClosedError } from './conn.js';
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
  cleanup(ctx: C): Promise<{ req: string; text: string }[]>;
  /** null when healthy, else what is wrong. */
  probe(tr: Transcript): Promise<string | null>;
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
    const tr = new Transcript();
    const findings: Finding[] = [];
    const t0 = Date.now();
    let verdict: Verdict = 'PASS';
    let skipReason: string | undefined;
    const result: CaseResult = {
      id: c.id,
      section: c.section,
      title: c.title,
      reqs: c.reqs,
      verdict,
      findings,
      durationMs: 0,
      transcript: tr,
    };
    if (dead) {
      result.verdict = 'SKIP';
      result.skipReason = `the target is not answering (${dead})`;
      results.push(result);
      o.progress(`[${i + 1}/${selected.length}] SKIP ${c.id} ${c.title}: ${result.skipReason}`);
      continue;
    }
    const ctx = driver.context(tr, findings, c);
    if (ctx instanceof Checker) ctx.declared = new Set(c.reqs);
    try {
      await withBudget(c.run(ctx), caseBudgetMs);
    } catch (e) {
      if (e instanceof Skip) {
        verdict = 'SKIP';
        skipReason = e.message;
      } else if (e instanceof Failure) {
        findings.push({ verdict: 'FAIL', req: e.req, text: e.message });
      } else if (e instanceof TimeoutError || e instanceof ClosedError) {
        findings.push({
          verdict: 'FAIL',
          req: c.reqs[0] ?? '',
          text: `the target did not answer as required: ${e.message}`,
        });
      } else {
        findings.push({
          verdict: 'FAIL',
          req: c.reqs[0] ?? '',
          text: `unexpected: ${(e as Error).stack ?? String(e)}`,
        });
      }
    }
    const meta = (ctx as unknown as { meta?: CaseMeta }).meta;
    if (meta?.seed !== undefined) result.seed = meta.seed;
    if (meta?.path !== undefined) result.path = meta.path;
    if (meta?.replayPath !== undefined) result.replayPath = meta.replayPath;
    if (meta?.replayRuns !== undefined) result.replayRuns = meta.replayRuns;
    if (meta?.replay !== undefined) result.replay = meta.replay;
    if (ctx instanceof Checker && ctx.undeclared.size) result.undeclared = [...ctx.undeclared].sort();
    const violations = await driver
      .cleanup(ctx)
      .catch((e: Error) => [{ req: '', text: `cleanup failed: ${e.message}` }]);
    for (const v of violations)
      findings.push({ verdict: 'FAIL', req: v.req, text: `target broke the wire rules: ${v.text}` });
    if (!c.noProbe) {
      const bad = await driver.probe(tr).catch((e: Error) => e.message);
      if (bad) {
        findings.push({
          verdict: 'FAIL',
          req: c.reqs[0] ?? 'CONN-8',
          text: `health probe after the case failed: ${bad}`,
        });
        const again = await driver.probe(new Transcript()).catch((e: Error) => e.message);
        if (again) dead = `${again}; since case ${c.id}`;
      }
    }
    const fails = findings.filter((f) => f.verdict === 'FAIL');
    const warns = findings.filter((f) => f.verdict === 'WARN');
    if (verdict !== 'SKIP') {
      if (fails.length > 0) verdict = c.level === 'SHOULD' ? 'WARN' : 'FAIL';
      else if (warns.length > 0) verdict = 'WARN';
      else if (c.level === 'INFO' || findings.some((f) => f.verdict === 'INFO'))
        verdict = c.level === 'INFO' ? 'INFO' : 'PASS';
      if (verdict === 'WARN' && o.strict) verdict = 'FAIL';
    }
    result.verdict = verdict;
    if (skipReason) result.skipReason = skipReason;
    result.durationMs = Date.now() - t0;
    results.push(result);
    const first = fails[0] ?? warns[0];
    o.progress(
      `[${i + 1}/${selected.length}] ${verdict.padEnd(4)} ${c.id} ${c.title}` +
        (skipReason ? `: ${skipReason}` : first ? `\n        [${first.req}] ${first.text.split('\n')[0]}` : '') +
        (result.replay && verdict === 'FAIL' ? `\n        replay: ${result.replay}` : ''),
    );
    if (o.failFast && verdict === 'FAIL') break;
  }
  return results;
}

export function summaryLine(results: CaseResult[]): string {
  const n = (v: Verdict[]): number => results.filter((r) => v.includes(r.verdict)).length;
  return `${n(['PASS', 'INFO'])} passed, ${n(['FAIL'])} failed, ${n(['WARN'])} warned, ${n(['SKIP'])} skipped`;
}
