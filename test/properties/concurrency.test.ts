// Interleavings of concurrent requests, explored with fast-check's scheduler: the scheduler decides
// the order in which concurrent operations are started and their results observed, and shrinks a
// failing order to a minimal one. The operations are real logins and ADDs over loopback sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientError, ImspClient } from '../../reference/client/client.js';
import { startCluster } from '../helpers/cluster.js';
import { FAST_LIMITS } from './world.js';
import { seedFromEnv } from './run.js';

const runs = Number(process.env.IMSP_PROP_RUNS ?? 10);
const stores = (process.env.IMSP_SKIP_PG === '1' ? ['sqlite'] : ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>;

async function attempt(p: Promise<void>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof ClientError) return e.code;
    throw e;
  }
}

for (const store of stores) {
  test(`[INV-1][LOCK-1][LOCK-2] concurrent logins of one user through several MSs: exactly one wins, in any order (${store})`, {
    timeout: 180_000,
  }, async (t) => {
    const cluster = await startCluster({ ms: 3, store, limits: FAST_LIMITS, users: ['alice'] });
    t.after(() => cluster.dispose());
    let interleavings = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 5 }),
        async (s, msOrder) => {
          interleavings++;
          const clients = msOrder.map(
            (i) =>
              new ImspClient({ user: 'alice', password: 'pw-alice', ms: cluster.ms[i].address, limits: FAST_LIMITS }),
          );
          try {
            // The scheduler starts the logins in an order of its choosing, and releases their results in another.
            const results = clients.map((c) =>
              s
                .schedule(Promise.resolve())
                .then(() => attempt(c.login()))
                .then((r) => s.schedule(Promise.resolve(r))),
            );
            await s.waitFor(Promise.all(results));
            const outcomes = await Promise.all(results);
            assert.equal(
              outcomes.filter((o) => o === 'ok').length,
              1,
              `outcomes ${outcomes.join(',')} for MSs ${msOrder.join(',')}`,
            );
            for (const o of outcomes)
              assert.ok(['ok', 'ERR_LOCKED', 'ERR_ALREADY_ONLINE'].includes(o), `unexpected refusal ${o}`);
            const rec = await cluster.store.getUser('alice');
            assert.equal(rec?.state.kind, 'online');
            // [LOCK-2] and once the winner is online, a later login anywhere is refused as already online.
            const late = new ImspClient({
              user: 'alice',
              password: 'pw-alice',
              ms: cluster.ms[msOrder[0]].address,
              limits: FAST_LIMITS,
            });
            clients.push(late);
            assert.equal(await attempt(late.login()), 'ERR_ALREADY_ONLINE', 'a login while online must be refused');
          } finally {
            const winner = clients.find((c) => c.loggedIn);
            await winner?.logout();
            await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
            // Wait for the record to be offline before the next run.
            const deadline = Date.now() + 3000;
            while ((await cluster.store.getUser('alice'))?.state.kind !== 'offline') {
              if (Date.now() > deadline)
                assert.fail('alice still online or locked 3 s after every client closed [INV-2]');
              await new Promise((r) => setTimeout(r, 10));
            }
          }
        },
      ),
      // The report names the assertion that failed (fast-check 4 otherwise keeps it in `cause` only).
      { numRuns: runs, includeErrorInReport: true, ...seedFromEnv() },
    );
    t.diagnostic(`${interleavings} interleavings explored`);
  });

  test(`[ADD-8][INV-3] crossing ADDs between two online users always end with buddies on both sides (${store})`, {
    timeout: 180_000,
  }, async (t) => {
    let interleavings = 0;
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), async (s) => {
        interleavings++;
        const cluster = await startCluster({ ms: 2, store, limits: FAST_LIMITS, users: ['ann', 'bob'] });
        const ann = new ImspClient({ user: 'ann', password: 'pw-ann', ms: cluster.ms[0].address, limits: FAST_LIMITS });
        const bob = new ImspClient({ user: 'bob', password: 'pw-bob', ms: cluster.ms[1].address, limits: FAST_LIMITS });
        try {
          await ann.login();
          await bob.login();
          const adds = [
            s.schedule(Promise.resolve()).then(() => ann.add('bob')),
            s.schedule(Promise.resolve()).then(() => bob.add('ann')),
          ];
          await s.waitFor(Promise.all(adds));
          await Promise.all(adds);
          // Both must converge to buddies seeing each other online, whatever the order.
          const settled = (c: ImspClient, other: string): boolean =>
            c.contacts.get(other)?.relation === 'buddy' && c.contacts.get(other)?.status === 'online';
          const deadline = Date.now() + 4000;
          while (!(settled(ann, 'bob') && settled(bob, 'ann'))) {
            if (Date.now() > deadline)
              assert.fail(
                `not buddies: ann sees ${JSON.stringify(ann.contacts.get('bob'))}, bob sees ${JSON.stringify(bob.contacts.get('ann'))}`,
              );
            await new Promise<void>((r) => {
              const wake = (): void => {
                clearTimeout(timer);
                ann.off('contact', wake).off('presence', wake).off('answer', wake);
                bob.off('contact', wake).off('presence', wake).off('answer', wake);
                r();
              };
              const timer = setTimeout(wake, 50);
              ann.on('contact', wake).on('presence', wake).on('answer', wake);
              bob.on('contact', wake).on('presence', wake).on('answer', wake);
            });
          }
          const pending = await cluster.store.pendingFor('ann');
          assert.deepEqual(pending, [], 'no ADD left pending');
        } finally {
          await Promise.all([ann.close(), bob.close()].map((p) => p.catch(() => undefined)));
          await cluster.dispose();
        }
      }),
      { numRuns: Math.max(3, Math.floor(runs / 2)), ...seedFromEnv() },
    );
    t.diagnostic(`${interleavings} interleavings explored`);
  });
}
