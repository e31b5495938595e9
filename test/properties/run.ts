// Running the model-based properties: seeded, bounded, and replayable. A failure prints the seed,
// the path and one command line that replays exactly that counterexample.
import fc from 'fast-check';
import { commandArbitraries } from './commands.js';
import { World, type WorldOptions } from './world.js';

export interface RunOptions extends WorldOptions {
  runs: number;
  maxCommands: number;
  seed?: number;
  path?: string;
  /** The test file and name, for the replay command. */
  replay: string;
  /** Stop starting new runs after this many ms (the runs done count; shrinking is not cut short). */
  timeLimitMs?: number;
}

/** Commands executed and distinct command sequences (interleavings of actions) explored. */
export interface RunStats {
  runs: number;
  commands: number;
  /** The commands each run executed (the last run of each shrink step included). */
  traces: string[];
}

export function seedFromEnv(): { seed?: number; path?: string } {
  const seed = process.env.IMSP_PROP_SEED;
  const path = process.env.IMSP_PROP_PATH;
  return { ...(seed ? { seed: Number(seed) } : {}), ...(path ? { path } : {}) };
}

export async function runModel(opts: RunOptions): Promise<RunStats> {
  const stats: RunStats = { runs: 0, commands: 0, traces: [] };
  const cmds = commandArbitraries(
    Array.from({ length: opts.users }, (_, i) => `u${i}`),
    opts.ms + 2,
  );
  const replayPath = process.env.IMSP_PROP_REPLAY;
  const property = fc.asyncProperty(
    fc.commands(cmds, { maxCommands: opts.maxCommands, size: 'max', ...(replayPath ? { replayPath } : {}) }),
    async (commands) => {
      const world = await World.create({ ...opts, loginAll: true });
      stats.runs++;
      try {
        // The commands iterable itself, not a copy: fast-check records which ran, for shrinking.
        try {
          await fc.asyncModelRun(() => ({ model: world.model, real: world }), commands);
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          throw new Error(`${msg}\n  after: ${world.trace.join(' ; ')}\n  model: ${world.model}`);
        }
        stats.commands += world.steps;
        stats.traces.push(world.trace.join(' ; '));
        if (world.violations.length) throw new Error(world.violations.join('\n'));
      } finally {
        await world.dispose();
      }
    },
  );
  const details = await fc.check(property, {
    numRuns: opts.runs,
    seed: opts.seed,
    path: opts.path,
    endOnFailure: opts.path !== undefined,
    ...(opts.timeLimitMs ? { interruptAfterTimeLimit: opts.timeLimitMs } : {}),
  });
  if (details.failed) {
    // fc.commands needs its own replay hint besides seed and path to rebuild the exact sequence.
    const shown = details.counterexample ? String(details.counterexample[0]) : '';
    const hint = /replayPath="([^"]*)"/.exec(shown)?.[1];
    const cmd = `IMSP_PROP_SEED=${details.seed} IMSP_PROP_PATH=${details.counterexamplePath}${hint ? ` IMSP_PROP_REPLAY='${hint}'` : ''} ${opts.replay}`;
    const err =
      details.errorInstance instanceof Error
        ? `${details.errorInstance.message}\n${details.errorInstance.stack ?? ''}`
        : String(details.errorInstance);
    throw new Error(
      `property failed after ${details.numRuns} runs; shrunk ${details.numShrinks} times${details.interrupted ? ' (interrupted)' : ''}${details.numSkips ? `, ${details.numSkips} skipped` : ''}\n` +
        `counterexample: ${details.counterexample ? String(details.counterexample[0]) : '?'}\n` +
        `error: ${err}\nreplay: ${cmd}`,
    );
  }
  return stats;
}
