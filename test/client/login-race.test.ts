// Issue 14's login race: two buddies who log in at the same moment must see each other, every time,
// on one MS and across two. Each round logs both in together (one Promise.all, no gap), waits,
// event-driven and bounded, until each client shows the other online, and logs both out. Before the
// fix a client dropped the PRESENCE that arrived while it opened its key blob [PRESENCE-9]; this
// failed most rounds. No sleep: every wait ends on an event or fails at its bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImspClient } from '../../reference/client/client.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';

const ROUNDS = Number(process.env.IMSP_RACE_ROUNDS ?? 100);
/** A round whose two clients do not see each other within this bound fails. */
const BOUND_MS = 5000;

function client(cluster: Cluster, user: string, ms: number): ImspClient {
  return new ImspClient({ user, password: `pw-${user}`, ms: cluster.ms[ms].address, reconnect: false });
}

/** Resolves when `c` shows `other` online; rejects after BOUND_MS. */
function seesOnline(c: ImspClient, other: string, round: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (c.contacts.get(other)?.status !== 'online') return false;
      clearTimeout(timer);
      c.off('presence', onPresence);
      resolve();
      return true;
    };
    const onPresence = (): void => void check();
    const timer = setTimeout(() => {
      c.off('presence', onPresence);
      reject(
        new Error(
          `[INV-3] round ${round}: ${c.user} still sees ${other} as ${c.contacts.get(other)?.status ?? 'absent'} ${BOUND_MS} ms after both logged in`,
        ),
      );
    }, BOUND_MS);
    c.on('presence', onPresence);
    check();
  });
}

async function befriend(cluster: Cluster): Promise<void> {
  const a = client(cluster, 'alice', 0);
  const b = client(cluster, 'bob', 0);
  await a.login();
  await b.login();
  const asked = new Promise<void>((resolve) => b.once('request', () => resolve()));
  await a.add('bob');
  await asked;
  await b.answer('alice', 'grant');
  await a.logout();
  await b.logout();
}

async function rounds(cluster: Cluster, msA: number, msB: number): Promise<number> {
  let seen = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const a = client(cluster, 'alice', msA);
    const b = client(cluster, 'bob', msB);
    try {
      // Both at the same moment: each login's ONLINE and PRESENCE race the other's bundle.
      await Promise.all([a.login(), b.login()]);
      await Promise.all([seesOnline(a, 'bob', round), seesOnline(b, 'alice', round)]);
      seen++;
    } finally {
      await Promise.all([a.logout().catch(() => undefined), b.logout().catch(() => undefined)]);
      await Promise.all([a.close(), b.close()]);
    }
  }
  return seen;
}

test('[INV-3][PRESENCE-8][PRESENCE-9] two buddies logging in at the same moment see each other 100 times out of 100, on one MS and across two', {
  timeout: 300_000,
}, async (t) => {
  const cluster = await startCluster({ ms: 2, users: ['alice', 'bob'] });
  t.after(() => cluster.dispose());
  await befriend(cluster);
  assert.equal(await rounds(cluster, 0, 0), ROUNDS, 'one MS');
  assert.equal(await rounds(cluster, 0, 1), ROUNDS, 'across two MSs');
});
