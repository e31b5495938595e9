// The common end of the kit's state-machine fuzzing cases (crs/fuzz/2, 3 and 4, ms/fuzz/2, client/fuzz/1
// and 2, each through fuzzCommands): run
// the model-based property with the run's seed, run count and replay path, and on failure replay the
// shrunk sequence once (so the transcript shows it), record seed, path and a replay command line, and
// fail with the requirement the model named.
import fc from 'fast-check';
import { MACHINES, type MachineName } from '../../codec/index.js';
import type { Checks } from './case.js';
import type { CaseMeta, RunOptions } from './runner.js';

/**
 * The requirements a machine's transitions name (the first of each transition's reqs is the one a
 * mismatch cites): a fuzzing case over the machine declares them all, with `extra` (its own checks),
 * less `unfired`: those of transitions the case cannot fire, so that it claims no check it lacks.
 */
export function machineReqs(name: MachineName, extra: string[] = [], unfired: string[] = []): string[] {
  const out = new Set(extra);
  for (const t of MACHINES[name].transitions as readonly { reqs: readonly string[] }[])
    if (t.reqs[0]) out.add(t.reqs[0]);
  for (const q of unfired) out.delete(q);
  return [...out];
}

/** What a fuzzing case needs of its role context. */
export interface FuzzContext extends Checks {
  readonly meta: CaseMeta;
  readonly opts: RunOptions;
}

export interface ModelCheck<T> {
  /** The case id, for the replay command. */
  id: string;
  /** Most runs, whatever --runs asks. */
  maxRuns: number;
  /** Requirement failed when the model's error names none. */
  req: string;
  prop: fc.IAsyncPropertyWithHooks<[T]>;
  /** Runs the shrunk counterexample once more, for the transcript. */
  replay: (counterexample: T) => Promise<unknown>;
  /**
   * Puts the target back in its first state before that replay (a new client process), as a replay
   * line run later finds it: when the shrunk sequence then passes, the failure needed the sequences
   * before it, and the replay line runs them all (`--runs`) instead of the one path.
   */
  fresh?: () => Promise<void>;
  /** The wire log of the last run. */
  log: () => string[];
  /** Report only the first line of the model's error message. */
  firstLine?: boolean;
  /**
   * Draw every command and variant with equal weight: fast-check otherwise favours the first values of
   * each choice, and a case that can afford few sequences (a client process per case) would rarely
   * reach the last ones.
   */
  unbiased?: boolean;
  /**
   * The first failure fast-check met, before shrinking: against a stateful target the shrunk
   * sequence can fail for another reason (what the failed run left behind), so the finding shows both.
   */
  first?: () => string | undefined;
}

/** The run's command line without the options a replay line sets itself. */
export const replayBase = (commandLine: string): string =>
  commandLine.replace(
    / --(only|seed|path|replay-path|runs|replay|json|junit|html|fail-fast)(?: (?:'[^']*'|[^\s-]\S*))?(?= |$)/g,
    '',
  );

export async function checkModel<T>(ctx: FuzzContext, o: ModelCheck<T>): Promise<void> {
  const details = await fc.check(o.prop, {
    seed: ctx.opts.seed,
    numRuns: Math.max(1, Math.min(ctx.opts.runs, o.maxRuns)),
    ...(o.unbiased ? { unbiased: true } : {}),
    ...(ctx.opts.path ? { path: ctx.opts.path, endOnFailure: true } : {}),
  });
  ctx.meta.seed = details.seed;
  ctx.note(`fast-check: ${details.numRuns} command sequences, seed ${details.seed}`);
  if (!details.failed) return;
  const shrunk = details.counterexample ? String(details.counterexample[0]) : '?';
  let failsAlone = true;
  if (details.counterexample) {
    ctx.note(`shrunk sequence: ${shrunk}`);
    await o.fresh?.().catch(() => undefined);
    failsAlone = await o.replay(details.counterexample[0]).then(
      () => false,
      () => true,
    );
  }
  ctx.meta.path = details.counterexamplePath ?? undefined;
  // fc.commands shrinks only the commands that ran, so a replay needs their record too (its
  // `replayPath`, printed inside the counterexample): without it fast-check answers "Unable to
  // replay, got wrong path". Cases pass ctx.opts.replayPath to fc.commands.
  const replayPath = /replayPath="([^"]*)"/.exec(shrunk)?.[1];
  if (replayPath !== undefined) ctx.meta.replayPath = replayPath;
  ctx.meta.replay = `${replayBase(ctx.opts.commandLine)} --only ${o.id} --seed ${details.seed} --path '${details.counterexamplePath}'${replayPath !== undefined ? ` --replay-path '${replayPath}'` : ''}`;
  // The shrunk sequence, run once more on its own, passed: against a stateful target the failure
  // needed what the sequences before it left behind (or their timing). A path replay runs that
  // sequence alone, so the replay line runs every sequence up to the first failing one instead.
  const firstFailing = Number(details.counterexamplePath?.split(':')[0]);
  if (!failsAlone && !ctx.opts.path && Number.isInteger(firstFailing)) {
    ctx.meta.replayRuns = firstFailing + 1;
    ctx.meta.replay = `${replayBase(ctx.opts.commandLine)} --only ${o.id} --seed ${details.seed} --runs ${firstFailing + 1}`;
    ctx.note(
      `the shrunk sequence passed when run again on its own${o.fresh ? ' (on a fresh target)' : ''}: the failure needs what the ${firstFailing} sequence(s) before it left in the target, or their timing; the replay line runs them all`,
    );
  }
  const err = details.errorInstance as { req?: string; message?: string } | null;
  const message = o.firstLine ? err?.message?.split('\n')[0] : err?.message;
  const first = o.first?.();
  ctx.must(
    false,
    err?.req ?? o.req,
    `${message ?? 'model mismatch'}\n  minimal sequence: ${shrunk}\n  ${o.log().join('\n  ')}${first ? `\n  first failure, before shrinking: ${first}` : ''}`,
  );
}

/** A state-machine fuzz case's run over fast-check commands: what differs from case to case. */
export interface CommandFuzz<M extends object, R>
  extends Pick<ModelCheck<unknown>, 'id' | 'req' | 'maxRuns' | 'unbiased' | 'firstLine' | 'log'> {
  commands: fc.Arbitrary<fc.AsyncCommand<M, R>>[];
  /** Most commands in one sequence (12 unless given). */
  maxCommands?: number;
  /** fast-check's size for the sequence length (its default unless given). */
  size?: fc.SizeForArbitrary;
  /** One sequence against the target, from a fresh start. */
  runOnce: (cmds: Iterable<fc.AsyncCommand<M, R>>) => Promise<void>;
  /** How often each step ran, noted in the report even when the case fails. */
  counts?: Map<string, number>;
  /** See ModelCheck.fresh. */
  fresh?: () => Promise<void>;
}

/**
 * The common tail of every state-machine fuzz case: sequences of commands (at most `maxCommands`)
 * drawn with the run's replay path, checked, shrunk and replayed by checkModel, and the step counts
 * noted whatever the outcome.
 */
export async function fuzzCommands<M extends object, R>(ctx: FuzzContext, o: CommandFuzz<M, R>): Promise<void> {
  let first: string | undefined;
  const runOnce = async (cmds: Iterable<fc.AsyncCommand<M, R>>): Promise<void> => {
    try {
      await o.runOnce(cmds);
    } catch (e) {
      first ??= `${(e as Error).message?.split('\n')[0]}\n    ${o.log().join('\n    ')}`;
      throw e;
    }
  };
  const prop = fc.asyncProperty(
    fc.commands(o.commands, {
      maxCommands: o.maxCommands ?? 12,
      ...(o.size ? { size: o.size } : {}),
      replayPath: ctx.opts.replayPath,
    }),
    runOnce,
  );
  try {
    await checkModel(ctx, {
      id: o.id,
      maxRuns: o.maxRuns,
      ...(o.unbiased ? { unbiased: true } : {}),
      ...(o.firstLine ? { firstLine: true } : {}),
      req: o.req,
      prop,
      replay: o.runOnce,
      log: o.log,
      first: () => first,
      ...(o.fresh ? { fresh: o.fresh } : {}),
    });
  } finally {
    if (o.counts) ctx.note(`steps run: ${[...o.counts].map(([k, n]) => `${k} ${n}`).join('; ')}`);
  }
}
