// Directed properties: the model-based run of invariants.test.ts reaches these situations only by
// chance, so each one here sets up the relation it needs (buddies, a peer session, a pending ADD)
// and then lets fast-check choose what happens next. Same World, same model, same settle checks.
import { test } from 'node:test';
import fc from 'fast-check';
import { Befriend, Logout, Relate, Send, SetStatus, Vanish, Login } from './commands.js';
import type { Status } from './model.js';
import { World } from './world.js';
import { seedFromEnv } from './run.js';

const runs = Number(process.env.IMSP_PROP_RUNS_SCENARIO ?? 4);

/** fc.assert, but the failure names the assertion that failed, the counterexample, seed and path. */
async function check<T>(property: fc.IAsyncPropertyWithHooks<T>): Promise<void> {
  const d = await fc.check(property, { numRuns: runs, ...seedFromEnv() });
  if (!d.failed) return;
  const why = d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance);
  throw new Error(`${why}\ncounterexample: ${fc.stringify(d.counterexample)}\nreplay: IMSP_PROP_SEED=${d.seed} IMSP_PROP_PATH=${d.counterexamplePath} node --import tsx --test test/properties/scenarios.test.ts`);
}

async function inWorld(body: (w: World) => Promise<void>): Promise<void> {
  const w = await World.create({ users: 3, ms: 2, store: 'sqlite', loginAll: true });
  try {
    await body(w);
    if (w.violations.length) throw new Error(w.violations.join('\n'));
  } finally {
    await w.dispose();
  }
}

test('[INV-3][PRESENCE-2] buddies see every presence state the other sets, in any order', { timeout: 120_000 }, async () => {
  await check(
    fc.asyncProperty(fc.array(fc.constantFrom<Status>('online', 'busy', 'away'), { minLength: 1, maxLength: 5 }), async (states) => {
      await inWorld(async (w) => {
        await new Befriend('u0', 'u1').run(w.model, w);
        for (const s of states) await new SetStatus('u0', s).run(w.model, w);
      });
    }),
  );
});

test('[INV-5][P2P-13] no peer session outlives either side, however the session ends', { timeout: 120_000 }, async () => {
  await check(
    fc.asyncProperty(fc.constantFrom('logout', 'vanish'), fc.boolean(), async (how, initiatorLeaves) => {
      await inWorld(async (w) => {
        await new Befriend('u0', 'u1').run(w.model, w);
        await new Send('u0', 'u1').run(w.model, w);
        const leaver = initiatorLeaves ? 'u0' : 'u1';
        await (how === 'logout' ? new Logout(leaver) : new Vanish(leaver)).run(w.model, w);
      });
    }),
  );
});

test('[INV-6][PRESENCE-4] a pending or blocked contact learns nothing of the other\'s presence', { timeout: 120_000 }, async () => {
  await check(
    fc.asyncProperty(
      fc.constantFrom('pending', 'blocked'),
      fc.array(fc.constantFrom('busy', 'away', 'relogin'), { minLength: 1, maxLength: 4 }),
      async (relation, changes) => {
        await inWorld(async (w) => {
          // u2 is u1's buddy on u0's MS, so u1's presence does reach that MS; the MS must keep it from u0.
          await new Befriend('u2', 'u1').run(w.model, w);
          // u0 asked u1 (unanswered), or u1 blocked u0: either way u0 may not watch u1.
          if (relation === 'pending') await new Relate('add', 'u0', 'u1').run(w.model, w);
          else await new Relate('block', 'u1', 'u0').run(w.model, w);
          for (const c of changes) {
            if (c === 'relogin') {
              await new Logout('u1').run(w.model, w);
              await new Login('u1', 1).run(w.model, w);
            } else await new SetStatus('u1', c as Status).run(w.model, w);
          }
        });
      },
    ),
  );
});
