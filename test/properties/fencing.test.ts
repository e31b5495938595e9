// [INV-8] [LOCK-6] [LOCK-7] [INV-1] A stale holder can never act. One MS reaches the CRS through a proxy that
// can freeze the link, as a paused process or a partition would: the MS outlives its lease, the CRS
// frees its user, the user logs in elsewhere, and then the frozen MS wakes up and tries to act for
// the old session. Whatever it sends with the old epoch must change nothing anyone can see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { ImspClient } from '../../reference/client/client.js';
import { parseHostPort } from '../../reference/net/address.js';
import { startCluster } from '../helpers/cluster.js';
import { FAST_LIMITS } from './world.js';
import { seedFromEnv } from './run.js';

/** A TCP proxy on 127.0.0.1:0 to `target`; while frozen it holds every octet in both directions. */
class FreezableProxy {
  private frozen = false;
  private readonly held: Array<() => void> = [];
  private readonly sockets = new Set<net.Socket>();
  private constructor(readonly server: net.Server) {}

  static async start(target: string): Promise<FreezableProxy> {
    const { host, port } = parseHostPort(target);
    const server = net.createServer();
    const proxy = new FreezableProxy(server);
    server.on('connection', (down) => {
      const up = net.connect({ host, port });
      for (const s of [down, up]) {
        proxy.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          proxy.sockets.delete(s);
          down.destroy();
          up.destroy();
        });
      }
      const pipe = (from: net.Socket, to: net.Socket): void => {
        from.on('data', (chunk) => {
          const send = (): void => void (to.destroyed || to.write(chunk));
          if (proxy.frozen) proxy.held.push(send);
          else send();
        });
      };
      pipe(down, up);
      pipe(up, down);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }
  get address(): string {
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }
  freeze(): void {
    this.frozen = true;
  }
  thaw(): void {
    this.frozen = false;
    for (const send of this.held.splice(0)) send();
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function until(what: string, pred: () => boolean | Promise<boolean>, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const stores = (process.env.IMSP_SKIP_PG === '1' ? ['sqlite'] : ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>;

for (const store of stores) {
  test(`[INV-8][LOCK-6][LOCK-7][INV-1] a frozen MS that outlived its lease cannot act for the old session (${store})`, {
    timeout: 120_000,
  }, async (t) => {
    let explored = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<'status' | 'logout' | 'nothing'>('status', 'logout', 'nothing'),
        fc.boolean(),
        async (staleAction, actBeforeRelogin) => {
          explored++;
          const cluster = await startCluster({ ms: 1, store, limits: FAST_LIMITS, users: ['alice', 'bob'] });
          const proxy = await FreezableProxy.start(cluster.crsAddress);
          const clients: ImspClient[] = [];
          try {
            const stale = await cluster.startMs({ crs: proxy.address });
            const fresh = cluster.ms[0];
            // alice and bob are buddies; alice logs in at the MS behind the proxy, bob at the other.
            await cluster.store.addRequest({ user: 'alice', admin: true }, 'bob', Date.now());
            await cluster.store.answer({ user: 'bob', admin: true }, 'alice', 'grant', Date.now());
            const bob = new ImspClient({ user: 'bob', password: 'pw-bob', ms: fresh.address, limits: FAST_LIMITS });
            const alice1 = new ImspClient({
              user: 'alice',
              password: 'pw-alice',
              ms: stale.address,
              limits: FAST_LIMITS,
            });
            clients.push(bob, alice1);
            await bob.login();
            await alice1.login();
            await until('bob sees alice online', () => bob.contacts.get('alice')?.status === 'online');
            const firstEpoch = (await cluster.store.getUser('alice'))!.state;
            assert.equal(firstEpoch.kind, 'online');

            proxy.freeze();
            // The CRS stops hearing from the stale MS: after its lease alice is offline for everyone.
            await until(
              'alice offline at the CRS',
              async () => (await cluster.store.getUser('alice'))?.state.kind === 'offline',
            );
            await until('bob sees alice offline', () => bob.contacts.get('alice')?.status === 'offline');

            const staleAct = async (): Promise<void> => {
              // The stale session tries to act; its requests wait in the frozen link.
              if (staleAction === 'status') void alice1.setStatus('busy').catch(() => undefined);
              if (staleAction === 'logout') void alice1.logout().catch(() => undefined);
            };
            if (actBeforeRelogin) await staleAct();
            const alice2 = new ImspClient({
              user: 'alice',
              password: 'pw-alice',
              ms: fresh.address,
              limits: FAST_LIMITS,
            });
            clients.push(alice2);
            await alice2.login();
            if (!actBeforeRelogin) await staleAct();
            const current = (await cluster.store.getUser('alice'))!.state;
            assert.equal(current.kind, 'online');
            assert.ok(
              current.kind === 'online' && firstEpoch.kind === 'online' && current.epoch > firstEpoch.epoch,
              'a new login raises the epoch',
            );

            await until('bob sees alice online again', () => bob.contacts.get('alice')?.status === 'online');
            // From here on bob must see nothing of the stale session: no busy, no offline.
            const seenByBob: string[] = [];
            bob.on('presence', (p) => p.user === 'alice' && seenByBob.push(p.status));
            bob.on('contact', (c) => c.user === 'alice' && seenByBob.push(`${c.relation}:${c.status}`));
            proxy.thaw();
            // Whatever the stale MS delivers now carries the old epoch and must be refused [LOCK-6];
            // the stale MS must end the old session [LOCK-7] [ENROLL-12].
            await until('the stale session is ended', () => !alice1.loggedIn);
            // A round trip through the CRS after the stale traffic: the new session's own status change.
            await alice2.setStatus('away');
            await until('bob sees the new session status', () => bob.contacts.get('alice')?.status === 'away');
            const after = (await cluster.store.getUser('alice'))!.state;
            assert.equal(after.kind, 'online', `alice must stay online after the stale ${staleAction}`);
            assert.ok(
              after.kind === 'online' &&
                current.kind === 'online' &&
                after.epoch === current.epoch &&
                after.msId === current.msId,
              'the session is the new one',
            );
            assert.equal(after.kind === 'online' ? after.status : '', 'away');
            assert.deepEqual(
              seenByBob.filter((x) => x !== 'away' && x !== 'online'),
              [],
              `bob saw the stale session act: ${seenByBob.join(',')}`,
            );
            assert.equal(bob.contacts.get('alice')?.status, 'away', 'no stale status reached bob');
          } finally {
            await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
            await proxy.close();
            await cluster.dispose();
          }
        },
      ),
      { numRuns: 6, ...seedFromEnv() },
    );
    t.diagnostic(`${explored} stale-holder scenarios explored`);
  });
}

/**
 * [INV-8] [LOCK-6] [LOCK-11] The stale holder keeps a live link: an MS whose lock lease ran out keeps
 * answering the CRS and then tries every epoch-bound write with its old epoch while another MS holds
 * the user's new session. Each try must be refused 410, and the new session must not change.
 */
for (const store of stores) {
  test(`[INV-8][LOCK-6][LOCK-11] an MS holding an expired epoch is refused on a live link, whatever it tries (${store})`, {
    timeout: 120_000,
  }, async (t) => {
    const { RawMs } = await import('../helpers/raw-ms.js');
    const cluster = await startCluster({ ms: 0, store, limits: { ...FAST_LIMITS, lockLease: 300 }, users: ['dora'] });
    t.after(() => cluster.dispose());
    let explored = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('ONLINE', 'STATUS', 'OFFLINE', 'UNLOCK', 'LIST', 'PROFILE'), {
          minLength: 1,
          maxLength: 4,
        }),
        async (tries) => {
          explored++;
          const stale = await RawMs.connect(cluster.crsAddress);
          const fresh = await RawMs.connect(cluster.crsAddress);
          try {
            assert.ok((await stale.enroll(cluster.msKey, { msId: `stale-${explored}` })).ok);
            assert.ok((await fresh.enroll(cluster.msKey, { msId: `fresh-${explored}` })).ok);
            const lock = await stale.request('LOCK', { User: 'dora' });
            assert.equal(lock.status, 200);
            const old = Number(lock.headers.find(([n]) => n === 'Epoch')![1]);
            // The stale MS lets its lock lease run out (it stays enrolled: it answers the CRS's PINGs).
            await until(
              'the lock lease expired',
              async () => (await fresh.request('LOCK', { User: 'dora' })).status === 200,
            );
            const rec = (await cluster.store.getUser('dora'))!.state;
            assert.ok(rec.kind === 'locked' && rec.epoch > old, 'the fresh MS holds a newer epoch');
            const epoch = rec.kind === 'locked' ? rec.epoch : 0;
            assert.equal(
              (await fresh.request('ONLINE', { User: 'dora', Epoch: epoch, Address: '127.0.0.1:9', Status: 'online' }))
                .status,
              200,
            );
            for (const method of tries) {
              const fields: Record<string, string | number> =
                method === 'ONLINE'
                  ? { User: 'dora', Epoch: old, Address: '127.0.0.1:8', Status: 'busy' }
                  : method === 'STATUS'
                    ? { User: 'dora', Epoch: old, Status: 'busy' }
                    : method === 'PROFILE'
                      ? { From: 'dora', Epoch: old, 'Full-name': 'Mallory' }
                      : { User: 'dora', Epoch: old };
              const r = await stale.request(method, fields);
              assert.equal(r.status, 410, `${method} with the stale epoch ${old} got ${r.status}`);
            }
            const after = (await cluster.store.getUser('dora'))!;
            assert.ok(
              after.state.kind === 'online' &&
                after.state.epoch === epoch &&
                after.state.status === 'online' &&
                after.state.address === '127.0.0.1:9',
              `the new session changed: ${JSON.stringify(after.state)}`,
            );
            assert.notEqual(after.profile.fullName, 'Mallory');
            assert.equal((await fresh.request('OFFLINE', { User: 'dora', Epoch: epoch })).status, 200);
          } finally {
            stale.destroy();
            fresh.destroy();
          }
        },
      ),
      // The report names the assertion that failed (fast-check 4 otherwise keeps it in `cause` only).
      { numRuns: Number(process.env.IMSP_PROP_RUNS_FENCING ?? 5), includeErrorInReport: true, ...seedFromEnv() },
    );
    t.diagnostic(`${explored} stale-epoch sequences explored`);
  });
}
