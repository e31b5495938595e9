// Directed properties: the model-based run of invariants.test.ts reaches these situations only by
// chance, so each one here sets up the relation it needs (buddies, a peer session, a pending ADD)
// and then lets fast-check choose what happens next. Same World, same model, same settle checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Befriend, Logout, Relate, RestartCrs, Send, SetStatus, Vanish, Login, LoginTogether } from './commands.js';
import type { Status } from './model.js';
import { ClientError } from '../../reference/client/client.js';
import { World } from './world.js';
import { seedFromEnv } from './run.js';

const runs = Number(process.env.IMSP_PROP_RUNS_SCENARIO ?? 4);
/** The users u0 may not watch in the [INV-6] property: u1 (pending), u3 (blocked by u0), u4 (blocks u0). */
const WATCHED = ['u1', 'u3', 'u4'] as const;

/** fc.assert, but the failure names the assertion that failed, the counterexample, seed and path. */
async function check<T>(property: fc.IAsyncPropertyWithHooks<T>): Promise<void> {
  const d = await fc.check(property, { numRuns: runs, ...seedFromEnv() });
  if (!d.failed) return;
  const why = d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance);
  throw new Error(
    `${why}\ncounterexample: ${fc.stringify(d.counterexample)}\nreplay: IMSP_PROP_SEED=${d.seed} IMSP_PROP_PATH=${d.counterexamplePath} node --import tsx --test test/properties/scenarios.test.ts`,
  );
}

async function inWorld(body: (w: World) => Promise<void>, users = 3): Promise<void> {
  const w = await World.create({ users, ms: 2, store: 'sqlite', loginAll: true });
  try {
    await body(w);
    if (w.violations.length) throw new Error(w.violations.join('\n'));
  } finally {
    await w.dispose();
  }
}

test('[INV-3][PRESENCE-2] buddies see every presence state the other sets, in any order', {
  timeout: 120_000,
}, async () => {
  await check(
    fc.asyncProperty(
      fc.array(fc.constantFrom<Status>('online', 'busy', 'away'), { minLength: 1, maxLength: 5 }),
      async (states) => {
        await inWorld(async (w) => {
          await new Befriend('u0', 'u1').run(w.model, w);
          for (const s of states) await new SetStatus('u0', s).run(w.model, w);
        });
      },
    ),
  );
});

test('[INV-3][PRESENCE-8][PRESENCE-9] buddies who log in at the same moment see each other, whatever the delays between bundle and pushes', {
  timeout: 120_000,
}, async () => {
  await check(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 1 }),
      fc.integer({ min: 0, max: 1 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 1, max: 150 }),
      async (msA, msB, gap, burst) => {
        await inWorld(async (w) => {
          await new Befriend('u0', 'u1').run(w.model, w);
          // Both log out, then in again together over bursty links; settle() checks each sees the other [INV-3].
          await new LoginTogether('u0', 'u1', msA, msB, gap, burst).run(w.model, w);
        });
      },
    ),
  );
});

test("[INV-4][ADD-2][ADD-3] an unanswered ADD is in its target's login bundle at every login until answered, whatever happens between", {
  timeout: 120_000,
}, async () => {
  await check(
    fc.asyncProperty(
      fc.boolean(),
      fc.array(fc.constantFrom('restartCrs', 'senderLeaves', 'targetRelogin'), { maxLength: 3 }),
      async (targetOnline, between) => {
        await inWorld(async (w) => {
          // Pushed at once (u1 online, 200) or stored (u1 offline, 202) [ADD-2]: either way it waits for an answer.
          if (!targetOnline) await new Logout('u1').run(w.model, w);
          await new Relate('add', 'u0', 'u1').run(w.model, w);
          for (const b of between) {
            if (b === 'restartCrs') await new RestartCrs().run(w.model, w);
            else if (b === 'senderLeaves') {
              if (w.model.isOnline('u0')) await new Logout('u0').run(w.model, w);
            } else {
              if (w.model.isOnline('u1')) await new Logout('u1').run(w.model, w);
              await new Login('u1', 0).run(w.model, w);
            }
          }
          // Login checks that the bundle carries exactly the model's deliverable ADDs: here u0's [INV-4].
          if (w.model.isOnline('u1')) await new Logout('u1').run(w.model, w);
          await new Login('u1', 1).run(w.model, w);
        });
      },
    ),
  );
});

test('[INV-5][P2P-12][P2P-13][P2P-14][SEAL-2] no peer session outlives either side, however the session ends', {
  timeout: 120_000,
}, async () => {
  await check(
    fc.asyncProperty(fc.constantFrom('logout', 'vanish'), fc.boolean(), async (how, initiatorLeaves) => {
      await inWorld(async (w) => {
        await new Befriend('u0', 'u1').run(w.model, w);
        await new Send('u0', 'u1').run(w.model, w);
        const leaver = initiatorLeaves ? 'u0' : 'u1';
        const stayer = initiatorLeaves ? 'u1' : 'u0';
        const gone = w.clients.get(leaver)!;
        const stays = w.clients.get(stayer)!;
        // The key buffers themselves (not copies): forgetting a key means erasing its octets [SEAL-2].
        const keys = [...gone.sessionKeys(), ...stays.sessionKeys()];
        assert.equal(keys.length, 4, 'before the end both sides hold the session keys (send and receive)');
        assert.ok(
          keys.every((k) => k.some((b) => b !== 0)),
          'before the end the session keys are not zero',
        );
        await (how === 'logout' ? new Logout(leaver) : new Vanish(leaver)).run(w.model, w);
        // The World does not wait for a vanished client's teardown; its end is part of the session's end.
        if (how === 'vanish') await gone.close();
        // [INV-5] the session has ended on both sides (settled): not one octet of its keys is left,
        // on the side that left [P2P-14] nor on the side that stayed [P2P-12] [P2P-13].
        const kept = keys.filter((k) => k.some((b) => b !== 0)).length;
        assert.equal(
          kept,
          0,
          `[INV-5] ${kept} of the 4 session keys of ${leaver} and ${stayer} not erased after ${leaver}'s session ended (${how})`,
        );
        // [INV-5] neither side can still use the session: no TYPING, no MSG either way.
        assert.equal(
          await stays.typing(leaver, 'typing'),
          false,
          `[INV-5] ${stayer} sent TYPING to ${leaver} after ${leaver}'s session ended`,
        );
        const late = `after ${how}`;
        await assert.rejects(
          stays.send(leaver, late),
          ClientError,
          `[INV-5] ${stayer} sent a MSG to ${leaver} after ${leaver}'s session ended`,
        );
        await assert.rejects(
          gone.send(stayer, late),
          ClientError,
          `[INV-5] ${leaver} sent a MSG to ${stayer} after its session ended`,
        );
        assert.deepEqual(
          w.received.filter((r) => r.endsWith(`:${late}`)),
          [],
          `[INV-5] a MSG was delivered after ${leaver}'s session ended`,
        );
      });
    }),
  );
});

test("[INV-6][PRESENCE-1][PRESENCE-4][LOGIN-12] a pending, blocked or blocking contact learns nothing of the other's presence, address or key", {
  timeout: 120_000,
}, async () => {
  await check(
    fc.asyncProperty(
      fc.array(fc.constantFrom('busy', 'away', 'relogin'), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 0, max: 1 }),
      async (changes, askerMs) => {
        await inWorld(async (w) => {
          const watcher = 'u0';
          // u2 shares u0's MS and is a buddy of every watched user, so their presence does reach that
          // MS (whatever a CRS's fan-out): the MS itself must keep it from u0 [PRESENCE-4].
          for (const u of WATCHED) await new Befriend('u2', u).run(w.model, w);
          // u0 asked u1 (unanswered) and logged in again: the pending entry is now in u0's login
          // bundle, so u0's MS holds u1 in u0's contact list and must still not forward u1's presence.
          await new Relate('add', watcher, 'u1').run(w.model, w);
          await new Logout(watcher).run(w.model, w);
          await new Login(watcher, askerMs).run(w.model, w);
          // [INV-6] is about what u0 receives: its client drops a PRESENCE about a non-buddy by itself
          // [PRESENCE-11], so the check reads the pushes as they arrive from the MS, before that filter.
          const leaks: string[] = [];
          w.clients.get(watcher)!.on('ms-push', (p) => {
            if (
              p.method === 'PRESENCE' &&
              p.status !== 'offline' &&
              (WATCHED as readonly string[]).includes(p.user ?? '')
            )
              leaks.push(`[INV-6] ${watcher} learned ${p.user} is ${p.status} (pushed by its MS)`);
          });
          // u0 blocks u3 (u3 is in u0's list as blocked); u4 blocks u0 (u0's list does not name u4).
          await new Relate('block', watcher, 'u3').run(w.model, w);
          await new Relate('block', 'u4', watcher).run(w.model, w);
          for (const c of changes) {
            for (const u of WATCHED) {
              if (c === 'relogin') {
                const ms = w.model.online.get(u)!.ms;
                await new Logout(u).run(w.model, w);
                await new Login(u, ms).run(w.model, w);
              } else await new SetStatus(u, c as Status).run(w.model, w);
            }
            assert.deepEqual(leaks, [], leaks.join('; '));
            // [INV-6] not only the status: neither the address nor the key of a non-buddy is held.
            const book = w.clients.get(watcher)!.contacts;
            for (const u of WATCHED) {
              const e = book.get(u);
              assert.ok(
                e?.address === undefined && e?.publicKey === undefined,
                `[INV-6] ${watcher} holds the address or key of ${u} (${e?.relation ?? 'no contact'})`,
              );
            }
          }
        }, 5);
      },
    ),
  );
});
