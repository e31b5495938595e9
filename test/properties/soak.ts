// `make soak ARGS="--seconds 600 --store both"`: the model-based properties of invariants.test.ts,
// run in batches with fresh seeds until the time is up. Prints runs, commands and, on a failure,
// the seed, path and command that replay it (exit 1).
import { parseArgs } from 'node:util';
import { runModel } from './run.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    store: { type: 'string', default: 'sqlite' },
    users: { type: 'string', default: '4' },
    ms: { type: 'string', default: '2' },
    'max-commands': { type: 'string', default: '60' },
  },
});
const seconds = Number(values.seconds);
const stores =
  values.store === 'both' ? (['sqlite', 'postgres'] as const) : ([values.store] as Array<'sqlite' | 'postgres'>);
if (!Number.isFinite(seconds) || seconds <= 0 || stores.some((s) => s !== 'sqlite' && s !== 'postgres')) {
  process.stderr.write(
    'usage: soak.ts [--seconds N] [--store sqlite|postgres|both] [--users N] [--ms N] [--max-commands N]\n',
  );
  process.exit(2);
}
const deadline = Date.now() + seconds * 1000;
const totals = { runs: 0, commands: 0, batches: 0 };
let failed = false;
outer: while (Date.now() < deadline) {
  for (const store of stores) {
    if (Date.now() >= deadline) break outer;
    const seed = (Math.random() * 2 ** 31) | 0;
    try {
      const s = await runModel({
        users: Number(values.users),
        ms: Number(values.ms),
        store,
        runs: 5,
        maxCommands: Number(values['max-commands']),
        seed,
        replay: 'node --import tsx --test test/properties/invariants.test.ts',
      });
      totals.runs += s.runs;
      totals.commands += s.commands;
      totals.batches++;
      process.stdout.write(
        `\r${store}: ${totals.runs} runs, ${totals.commands} commands, ${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s left   `,
      );
    } catch (e) {
      process.stdout.write(`\n${store}: FAILED with seed ${seed}\n${e instanceof Error ? e.message : String(e)}\n`);
      failed = true;
      break outer;
    }
  }
}
process.stdout.write(
  `\nsoak: ${totals.runs} runs, ${totals.commands} commands in ${totals.batches} batches on ${stores.join(' and ')}${failed ? ', FAILED' : ''}\n`,
);
process.exit(failed ? 1 : 0);
