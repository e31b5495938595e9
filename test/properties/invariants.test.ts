// [INV-1] [INV-2] [INV-3] [INV-4] [INV-5] [INV-6] [INV-7] [INV-9] Model-based properties against the real reference
// CRS and MSs, on both stores: random sequences of logins, logouts, vanishing clients, silent
// sessions timed out by heartbeat, CRS restarts, MS crashes (also between lock grant and proof) and restarts,
// ADD / grant / deny / REM / BLOCK / UNBLOCK, presence states, messages and password changes.
// After every step the real system must settle to the model's state; safety violations are
// caught the moment they happen. Bounded here; `make soak` runs many more.
import { test } from 'node:test';
import { runModel, seedFromEnv } from './run.js';

const replay = 'node --import tsx --test test/properties/invariants.test.ts';
const pgSkip = process.env.IMSP_SKIP_PG === '1' ? 'IMSP_SKIP_PG=1' : false;

test('[INV-1][INV-2][INV-3][INV-4][INV-5][INV-6][INV-7][INV-9][LOCK-2][LOCK-3][HB-2][ADD-3] the service follows the model (SQLite)', {
  timeout: 300_000,
}, async (t) => {
  const stats = await runModel({
    users: 4,
    ms: 2,
    store: 'sqlite',
    runs: Number(process.env.IMSP_PROP_RUNS ?? 12),
    maxCommands: 30,
    replay,
    timeLimitMs: Number(process.env.IMSP_PROP_SECONDS ?? 75) * 1000,
    ...seedFromEnv(),
  });
  t.diagnostic(`${stats.runs} runs, ${stats.commands} commands executed`);
  if (process.env.IMSP_PROP_TRACE) for (const tr of stats.traces) t.diagnostic(tr);
});

test('[INV-1][INV-2][INV-3][INV-4][INV-5][INV-6] the service follows the model (PostgreSQL) [INV-7][INV-9]', {
  timeout: 300_000,
  skip: pgSkip,
}, async (t) => {
  const stats = await runModel({
    users: 3,
    ms: 2,
    store: 'postgres',
    runs: Number(process.env.IMSP_PROP_RUNS_PG ?? 4),
    maxCommands: 25,
    replay,
    timeLimitMs: Number(process.env.IMSP_PROP_SECONDS ?? 45) * 1000,
    ...seedFromEnv(),
  });
  t.diagnostic(`${stats.runs} runs, ${stats.commands} commands executed`);
  if (process.env.IMSP_PROP_TRACE) for (const tr of stats.traces) t.diagnostic(tr);
});
