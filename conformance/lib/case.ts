// What a conformance case is, and the verdicts it can reach.
// A case throws Failure for a broken MUST, records warnings for SHOULDs through ctx.should, and
// throws Skip when the configuration cannot test it. Each case cites the requirement IDs it checks.
import type { Role } from '../../codec/index.js';
import type { Transcript } from './conn.js';

export type Verdict = 'PASS' | 'FAIL' | 'WARN' | 'INFO' | 'SKIP';
export type TargetRole = Role;

import type { Refusal } from './failure.js';
export { Failure, Skip, type Refusal } from './failure.js';

export interface Finding {
  verdict: 'FAIL' | 'WARN' | 'INFO';
  req: string;
  text: string;
  /** A value the kit refused, typed (field, where, status, code, reason): in the JSON report too. */
  refusal?: Refusal;
}

export interface CaseDef<C = unknown> {
  /** Stable id: role/section/n, e.g. crs/enroll/2. */
  id: string;
  /**
   * Where a factory built the case (cases made in loops or helpers, whose id is not a literal): a name
   * unique among the factory sites of conformance/cases, written as a literal at the site, so that the
   * static checks find the code behind the case (test/conformance/named-ids.test.ts).
   */
  origin?: string;
  /** Spec section slug (the module the case lives in), e.g. enroll. */
  section: string;
  title: string;
  /** Requirement IDs the case checks (every one must be defined by the spec). */
  reqs: string[];
  /** Cases are MUST checks unless marked SHOULD (failures become warnings) or INFO. */
  level?: 'MUST' | 'SHOULD' | 'INFO';
  /** Fuzz cases use --runs and fast-check; replayable with --seed/--path. */
  fuzz?: boolean;
  /**
   * For a state-machine fuzz case: the timer transitions of spec/machines (those whose event has a
   * `timer`) its commands fire, as 'machine/transition'. test/conformance/fuzz-timers.test.ts checks
   * that every timer transition of a machine binding the role is fired by some fuzz case of the role.
   */
  timers?: string[];
  /** Skip the per-case health probe (the case ends the target on purpose, or probes itself). */
  noProbe?: boolean;
  run(ctx: C): Promise<void>;
}

export interface CaseResult {
  id: string;
  section: string;
  title: string;
  reqs: string[];
  verdict: Verdict;
  /** FAIL/WARN/INFO findings; the first FAIL names the requirement that caught the bug. */
  findings: Finding[];
  skipReason?: string;
  durationMs: number;
  /** For fuzz cases: the seed, and the fast-check path of the shrunk counterexample. */
  seed?: number;
  path?: string;
  replayPath?: string;
  /** Sequences a replay runs from the seed, without a path (the shrunk sequence alone passed). */
  replayRuns?: number;
  replay?: string;
  /** Requirement IDs the case's checks named but its `reqs` does not declare (must be empty). */
  undeclared?: string[];
  transcript: Transcript;
}

/** Shared assertion helpers every role context has. */
export interface Checks {
  must(cond: unknown, req: string, text: string): asserts cond;
  should(cond: unknown, req: string, text: string): boolean;
  info(text: string, req?: string): void;
  skip(reason: string): never;
  note(text: string): void;
}
