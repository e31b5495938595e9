// The one test suite every Store implementation passes (SQLite and PostgreSQL call it with their
// own harness). Requirement IDs in test names are those of spec/registry and spec/text.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import type { Actor, MsRef, OpenStoreOptions, Store, StoreEvent } from '../../reference/store/store.js';
import { newUser, nextEvent, recorder, verifier } from './fixtures.js';

/** A fresh data set; `open` opens one more store instance on it (another process, for PostgreSQL). */
export interface DataSet {
  open(opts?: OpenStoreOptions): Promise<Store>;
  destroy(): Promise<void>;
}
export interface StoreHarness {
  name: string;
  create(): Promise<DataSet>;
  /** Whether store instances on one data set are separate connections that may race for real. */
  separateConnections: boolean;
}

const T0 = 1_700_000_000_000;
const LEASE = 15_000;
const MS_LEASE = 30_000;
const MS1: MsRef = { msId: 'ms1', incarnation: 1 };
const MS2: MsRef = { msId: 'ms2', incarnation: 1 };

async function setup(
  t: TestContext,
  h: StoreHarness,
  opts?: OpenStoreOptions,
): Promise<{ store: Store; data: DataSet; open: () => Promise<Store> }> {
  const data = await h.create();
  const opened: Store[] = [];
  const open = async (): Promise<Store> => {
    const s = await data.open(opts);
    opened.push(s);
    return s;
  };
  t.after(async () => {
    for (const s of opened) await s.close();
    await data.destroy();
  });
  const store = await open();
  return { store, data, open };
}

async function enroll(store: Store, ms: MsRef = MS1, capacity = 100, now = T0): Promise<void> {
  const r = await store.enrollMs({ ...ms, listen: `127.0.0.1:${7100 + ms.incarnation}`, capacity }, now, MS_LEASE);
  assert.equal(r.ok, true, JSON.stringify(r));
}

async function users(store: Store, ...names: string[]): Promise<void> {
  for (const n of names) assert.deepEqual(await store.registerUser(newUser(n), T0), { ok: true });
}

/** Lock and log in; returns the epoch (the actor of session-bound operations). */
async function login(
  store: Store,
  user: string,
  ms: MsRef = MS1,
  now = T0,
  status: 'online' | 'busy' | 'away' = 'online',
): Promise<Actor & { epoch: number }> {
  const l = await store.tryLock(user, ms, now, LEASE);
  assert.equal(l.ok, true, JSON.stringify(l));
  if (!l.ok) throw new Error('unreachable');
  const o = await store.goOnline(user, l.epoch, ms, `127.0.0.1:${20000 + user.length}`, status, now);
  assert.equal(o.ok, true, JSON.stringify(o));
  return { user, epoch: l.epoch };
}

async function buddies(store: Store, a: string, b: string): Promise<void> {
  assert.equal((await store.addRequest({ user: a, admin: true }, b, T0)).ok, true);
  assert.deepEqual(await store.answer({ user: b, admin: true }, a, 'grant', T0), { ok: true, outcome: 'granted' });
}

export function storeSuite(h: StoreHarness): void {
  describe(`Store (${h.name})`, { concurrency: false }, () => {
    describe('users', () => {
      test('[REGISTER-2] register, read back, refuse a second user of that name', async (t) => {
        const { store } = await setup(t, h);
        const u = newUser('alice', { fullName: 'Alice Liddell', location: 'Oxford' });
        assert.deepEqual(await store.registerUser(u, T0), { ok: true });
        assert.deepEqual(await store.registerUser(newUser('alice'), T0), { ok: false, error: 'exists' });
        const rec = await store.getUser('alice');
        assert.ok(rec);
        assert.deepEqual(rec.verifier, u.verifier);
        assert.equal(rec.publicKey, u.publicKey);
        assert.equal(rec.keyBlob, u.keyBlob);
        assert.deepEqual(rec.profile, { fullName: 'Alice Liddell', location: 'Oxford', about: '' });
        assert.deepEqual(rec.state, { kind: 'offline' });
        assert.equal(rec.epoch, 0);
        assert.equal(rec.createdAt, T0);
        assert.equal(await store.getUser('bob'), null);
        assert.equal(await store.countUsers(), 1);
      });

      test('[USER-1][AUTH-5] invalid usernames, verifiers, keys and profile texts are refused', async (t) => {
        const { store } = await setup(t, h);
        const bad = [
          { ...newUser('x'), username: 'Alice' },
          { ...newUser('x'), username: 'a'.repeat(33) },
          { ...newUser('x'), username: '' },
          { ...newUser('x'), username: "a'; DROP TABLE users; --" },
          { ...newUser('x'), verifier: { ...verifier(), iterations: 1000 } },
          { ...newUser('x'), verifier: { ...verifier(), storedKey: 'short' } },
          { ...newUser('x'), publicKey: 'nope' },
          { ...newUser('x'), keyBlob: 'v2.x' },
          newUser('x', { fullName: 'a'.repeat(257) }),
          newUser('x', { about: 'line\r\nbreak' }),
        ];
        for (const u of bad) {
          const r = await store.registerUser(u, T0);
          assert.equal(r.ok, false, u.username);
          assert.equal(!r.ok && r.error, 'invalid');
        }
        assert.equal(await store.countUsers(), 0);
      });

      test('list users by cursor, delete a user with every relation naming it', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'carol', 'alice', 'bob', 'dave');
        assert.deepEqual(await store.listUsers(null, 2), ['alice', 'bob']);
        assert.deepEqual(await store.listUsers('bob', 10), ['carol', 'dave']);
        await buddies(store, 'alice', 'bob');
        await store.addRequest({ user: 'carol', admin: true }, 'alice', T0);
        await store.block({ user: 'dave', admin: true }, 'alice');
        await enroll(store);
        const a = await login(store, 'alice');
        assert.deepEqual(await store.deleteUser('alice'), { ok: false, error: 'online' });
        await store.goOffline('alice', a.epoch);
        assert.deepEqual(await store.deleteUser('alice'), { ok: true });
        assert.deepEqual(await store.deleteUser('alice'), { ok: false, error: 'unknown' });
        assert.deepEqual(await store.listContacts('bob'), []);
        assert.deepEqual(await store.listContacts('carol'), []);
        assert.deepEqual(await store.listContacts('dave'), []);
        // the name is free again and its new owner inherits nothing
        await users(store, 'alice');
        assert.deepEqual(await store.listContacts('alice'), []);
        assert.deepEqual(await store.pendingFor('alice'), []);
      });
    });

    describe('the lock (spec section 8.3)', () => {
      test('[LOCK-1] a live lock refuses every other lock; each grant raises the epoch', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store, MS1);
        await enroll(store, MS2);
        const a = await store.tryLock('alice', MS1, T0, LEASE);
        assert.ok(a.ok);
        assert.equal(a.epoch, 1);
        assert.equal(a.leaseExpiresAt, T0 + LEASE);
        assert.deepEqual(a.verifier, (await store.getUser('alice'))?.verifier);
        assert.deepEqual(await store.tryLock('alice', MS2, T0 + 1, LEASE), { ok: false, error: 'locked' });
        assert.deepEqual(await store.tryLock('alice', MS1, T0 + 1, LEASE), { ok: false, error: 'locked' });
        const rec = await store.getUser('alice');
        assert.deepEqual(rec?.state, {
          kind: 'locked',
          msId: 'ms1',
          incarnation: 1,
          epoch: 1,
          leaseExpiresAt: T0 + LEASE,
        });
        assert.deepEqual(await store.unlock('alice', 1), { ok: true });
        const b = await store.tryLock('alice', MS2, T0 + 2, LEASE);
        assert.ok(b.ok);
        assert.equal(b.epoch, 2);
      });

      test('[LOCK-2] a user online is refused a lock (no takeover)', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store, MS1);
        await enroll(store, MS2);
        await login(store, 'alice', MS1);
        // long after the lock's lease: a session is not a lock and does not expire with it
        await store.renewMs(MS2, T0 + 20_000, MS_LEASE);
        assert.deepEqual(await store.tryLock('alice', MS2, T0 + 20_000, LEASE), { ok: false, error: 'online' });
        assert.deepEqual(await store.expireLocks(T0 + 20_000), []);
      });

      test('[USER-2] an unknown user; an MS not enrolled with that incarnation', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        assert.deepEqual(await store.tryLock('nobody', MS1, T0, LEASE), { ok: false, error: 'unknown' });
        assert.deepEqual(await store.tryLock('alice', MS1, T0, LEASE), { ok: false, error: 'ms-unknown' });
        await enroll(store, MS1);
        assert.deepEqual(await store.tryLock('alice', { msId: 'ms1', incarnation: 0 }, T0, LEASE), {
          ok: false,
          error: 'ms-unknown',
        });
        // an MS whose lease ended cannot take locks
        assert.deepEqual(await store.tryLock('alice', MS1, T0 + MS_LEASE, LEASE), { ok: false, error: 'ms-unknown' });
      });

      test('[LOCK-3] an expired lock is taken over with a new epoch; the old epoch cannot go online', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store, MS1);
        await enroll(store, MS2);
        const a = await store.tryLock('alice', MS1, T0, LEASE);
        assert.ok(a.ok);
        assert.deepEqual(await store.tryLock('alice', MS2, T0 + LEASE - 1, LEASE), { ok: false, error: 'locked' });
        const b = await store.tryLock('alice', MS2, T0 + LEASE, LEASE);
        assert.ok(b.ok);
        assert.equal(b.epoch, a.epoch + 1);
        // [LOCK-6] the first MS's epoch is stale now
        assert.deepEqual(await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:1', 'online', T0 + LEASE), {
          ok: false,
          error: 'stale',
          detail: 'epoch',
        });
        assert.deepEqual(await store.unlock('alice', a.epoch), { ok: false, error: 'stale', detail: 'epoch' });
        const o = await store.goOnline('alice', b.epoch, MS2, '127.0.0.1:2', 'away', T0 + LEASE + 1);
        assert.ok(o.ok);
      });

      test('[LOCK-3] goOnline after the lease ended is refused; expireLocks frees exactly the expired locks', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol');
        await enroll(store, MS1);
        const a = await store.tryLock('alice', MS1, T0, LEASE);
        const b = await store.tryLock('bob', MS1, T0 + 5000, LEASE);
        assert.ok(a.ok && b.ok);
        await login(store, 'carol');
        assert.deepEqual(await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:1', 'online', T0 + LEASE), {
          ok: false,
          error: 'stale',
          detail: 'expired',
        });
        assert.deepEqual(await store.expireLocks(T0 + LEASE), ['alice']);
        assert.deepEqual((await store.getUser('alice'))?.state, { kind: 'offline' });
        assert.equal((await store.getUser('bob'))?.state.kind, 'locked');
        assert.equal((await store.getUser('carol'))?.state.kind, 'online');
        assert.deepEqual(await store.expireLocks(T0 + LEASE), []);
        // the epoch survives the expiry: the next grant is higher still
        const a2 = await store.tryLock('alice', MS1, T0 + LEASE + 1, LEASE);
        assert.ok(a2.ok);
        assert.equal(a2.epoch, a.epoch + 1);
      });

      test('[LOCK-6] goOnline requires the lock, held by the same MS enrollment', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store, MS1);
        await enroll(store, MS2);
        assert.deepEqual(await store.goOnline('alice', 0, MS1, '127.0.0.1:1', 'online', T0), {
          ok: false,
          error: 'stale',
          detail: 'state',
        });
        assert.deepEqual(await store.goOnline('nobody', 1, MS1, '127.0.0.1:1', 'online', T0), {
          ok: false,
          error: 'unknown',
        });
        const a = await store.tryLock('alice', MS1, T0, LEASE);
        assert.ok(a.ok);
        assert.deepEqual(await store.goOnline('alice', a.epoch, MS2, '127.0.0.1:1', 'online', T0), {
          ok: false,
          error: 'stale',
          detail: 'wrong-ms',
        });
        assert.deepEqual(await store.goOnline('alice', a.epoch + 1, MS1, '127.0.0.1:1', 'online', T0), {
          ok: false,
          error: 'stale',
          detail: 'epoch',
        });
        const o = await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:4000', 'busy', T0 + 1);
        assert.ok(o.ok);
        assert.equal(o.status, 'busy');
        const rec = await store.getUser('alice');
        assert.equal(o.keyBlob, rec?.keyBlob);
        assert.equal(o.publicKey, rec?.publicKey);
        assert.deepEqual(rec?.state, {
          kind: 'online',
          msId: 'ms1',
          incarnation: 1,
          epoch: a.epoch,
          address: '127.0.0.1:4000',
          status: 'busy',
        });
        // a second ONLINE of that epoch finds no lock
        assert.deepEqual(await store.goOnline('alice', a.epoch, MS1, '127.0.0.1:1', 'online', T0 + 2), {
          ok: false,
          error: 'stale',
          detail: 'state',
        });
        // UNLOCK cannot end a session
        assert.deepEqual(await store.unlock('alice', a.epoch), { ok: false, error: 'stale', detail: 'state' });
      });

      test('[LOCK-6] status, offline and session checks refuse a stale epoch', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store, MS1);
        const a = await login(store, 'alice');
        assert.deepEqual(await store.checkSession('alice', a.epoch), { ok: true });
        assert.deepEqual(await store.checkSession('alice', a.epoch - 1), {
          ok: false,
          error: 'stale',
          detail: 'epoch',
        });
        assert.deepEqual(await store.checkSession('nobody', 1), { ok: false, error: 'unknown' });
        assert.deepEqual(await store.setStatus('alice', a.epoch - 1, 'away'), {
          ok: false,
          error: 'stale',
          detail: 'epoch',
        });
        assert.deepEqual(await store.setStatus('alice', a.epoch, 'away'), { ok: true });
        const rec = await store.getUser('alice');
        assert.equal(rec?.state.kind === 'online' && rec.state.status, 'away');
        assert.deepEqual(await store.goOffline('alice', a.epoch + 1), { ok: false, error: 'stale', detail: 'epoch' });
        assert.deepEqual(await store.goOffline('alice', a.epoch), { ok: true, wasOnline: true });
        assert.deepEqual(await store.goOffline('alice', a.epoch), { ok: true, wasOnline: false });
        assert.deepEqual(await store.setStatus('alice', a.epoch, 'online'), {
          ok: false,
          error: 'stale',
          detail: 'state',
        });
        assert.deepEqual(await store.checkSession('alice', a.epoch), { ok: false, error: 'stale', detail: 'state' });
      });

      test('[LOCK-6][LOCK-8] requests naming another MS incarnation than the holder are refused', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob');
        await enroll(store, MS1);
        await enroll(store, MS2);
        const a = await login(store, 'alice', MS1);
        const wrong = { ok: false, error: 'stale', detail: 'wrong-ms' };
        assert.deepEqual(await store.setStatus('alice', a.epoch, 'away', MS2), wrong);
        assert.deepEqual(await store.checkSession('alice', a.epoch, MS2), wrong);
        assert.deepEqual(await store.addRequest({ ...a, ms: MS2 }, 'bob', T0), wrong);
        assert.deepEqual(await store.goOffline('alice', a.epoch, MS2), wrong);
        assert.deepEqual(await store.checkSession('alice', a.epoch, MS1), { ok: true });
        assert.deepEqual(await store.addRequest({ ...a, ms: MS1 }, 'bob', T0), {
          ok: true,
          outcome: 'stored',
          time: T0,
        });
        assert.deepEqual(await store.goOffline('alice', a.epoch, MS1), { ok: true, wasOnline: true });
        const l = await store.tryLock('bob', MS1, T0, LEASE);
        assert.ok(l.ok);
        assert.deepEqual(await store.unlock('bob', l.epoch, MS2), wrong);
        assert.deepEqual(await store.unlock('bob', l.epoch, MS1), { ok: true });
        // [LOCK-8] repeated: answered ok, nothing changes
        assert.deepEqual(await store.unlock('bob', l.epoch, MS1), { ok: true });
        assert.deepEqual((await store.getUser('bob'))?.epoch, l.epoch);
      });

      test('[PERSIST-2] a CRS start: no MS enrolled, every record offline, epochs kept', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol');
        await enroll(store, MS1);
        const a = await login(store, 'alice');
        const b = await store.tryLock('bob', MS1, T0, LEASE);
        assert.ok(b.ok);
        assert.deepEqual(await store.resetSessions(), { offline: ['alice'], unlocked: ['bob'] });
        assert.deepEqual(await store.listMs(), []);
        for (const u of ['alice', 'bob', 'carol'])
          assert.deepEqual((await store.getUser(u))?.state, { kind: 'offline' });
        await enroll(store, { msId: 'ms1', incarnation: 2 });
        const a2 = await store.tryLock('alice', { msId: 'ms1', incarnation: 2 }, T0, LEASE);
        assert.ok(a2.ok);
        assert.equal(a2.epoch, a.epoch + 1);
      });

      test('[LOCK-1] many concurrent locks of one user on one store: exactly one wins', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store, MS1);
        await enroll(store, MS2);
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => store.tryLock('alice', i % 2 ? MS1 : MS2, T0, LEASE)),
        );
        const won = results.filter((r) => r.ok);
        assert.equal(won.length, 1);
        assert.ok(results.every((r) => r.ok || r.error === 'locked'));
        assert.equal((await store.getUser('alice'))?.epoch, 1);
      });

      test('[LOCK-1] concurrent locks from two store instances (two CRS processes): exactly one wins', async (t) => {
        const { store, open } = await setup(t, h);
        const other = await open();
        await users(store, ...Array.from({ length: 20 }, (_, i) => `u${i}`));
        await enroll(store, MS1);
        await enroll(store, MS2);
        for (let i = 0; i < 20; i++) {
          const rs = await Promise.all([
            store.tryLock(`u${i}`, MS1, T0, LEASE),
            other.tryLock(`u${i}`, MS2, T0, LEASE),
            store.tryLock(`u${i}`, MS1, T0, LEASE),
            other.tryLock(`u${i}`, MS2, T0, LEASE),
          ]);
          assert.equal(rs.filter((r) => r.ok).length, 1, `u${i}: ${JSON.stringify(rs)}`);
        }
      });
    });

    describe('Messaging Servers', () => {
      test('[ENROLL-6] an equal or lower incarnation is refused; a higher one replaces the old and frees its users', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol');
        await enroll(store, { msId: 'ms1', incarnation: 5 });
        await enroll(store, MS2);
        assert.deepEqual(
          await store.enrollMs({ msId: 'ms1', incarnation: 5, listen: '127.0.0.1:1', capacity: 1 }, T0, MS_LEASE),
          {
            ok: false,
            error: 'conflict',
            incarnation: 5,
          },
        );
        assert.deepEqual(
          await store.enrollMs({ msId: 'ms1', incarnation: 4, listen: '127.0.0.1:1', capacity: 1 }, T0, MS_LEASE),
          {
            ok: false,
            error: 'conflict',
            incarnation: 5,
          },
        );
        const old = { msId: 'ms1', incarnation: 5 };
        await login(store, 'alice', old);
        const lb = await store.tryLock('bob', old, T0, LEASE);
        assert.ok(lb.ok);
        await login(store, 'carol', MS2);
        const gone = nextEvent(store, (e) => e.type === 'ms-gone');
        const r = await store.enrollMs(
          { msId: 'ms1', incarnation: 6, listen: '127.0.0.1:7106', capacity: 10 },
          T0 + 1,
          MS_LEASE,
        );
        assert.deepEqual(r, {
          ok: true,
          leaseExpiresAt: T0 + 1 + MS_LEASE,
          replaced: { incarnation: 5, freed: { offline: ['alice'], unlocked: ['bob'] } },
        });
        assert.deepEqual(await gone, {
          type: 'ms-gone',
          origin: store.id,
          msId: 'ms1',
          incarnation: 5,
          reason: 'replaced',
        });
        assert.deepEqual((await store.getUser('alice'))?.state, { kind: 'offline' });
        assert.deepEqual((await store.getUser('bob'))?.state, { kind: 'offline' });
        assert.equal((await store.getUser('carol'))?.state.kind, 'online');
        // the old incarnation can neither take locks nor renew
        assert.deepEqual(await store.tryLock('alice', old, T0 + 2, LEASE), { ok: false, error: 'ms-unknown' });
        assert.deepEqual(await store.renewMs(old, T0 + 2, MS_LEASE), { ok: false, error: 'ms-unknown' });
        assert.deepEqual(await store.goOnline('bob', lb.epoch, old, '127.0.0.1:1', 'online', T0 + 2), {
          ok: false,
          error: 'stale',
          detail: 'state',
        });
        assert.equal((await store.getMs('ms1'))?.incarnation, 6);
      });

      test('[HB-4] renew keeps an MS alive; an expired MS is removed and its users freed', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob');
        await enroll(store, MS1);
        await enroll(store, MS2);
        await login(store, 'alice', MS1);
        await login(store, 'bob', MS2);
        assert.deepEqual(await store.renewMs(MS1, T0 + 20_000, MS_LEASE, 7), { ok: true, leaseExpiresAt: T0 + 50_000 });
        const m = await store.getMs('ms1');
        assert.equal(m?.load, 7);
        assert.equal(m?.lastSeen, T0 + 20_000);
        assert.deepEqual(await store.expireMs(T0 + MS_LEASE - 1), []);
        assert.deepEqual(await store.expireMs(T0 + MS_LEASE), [
          { msId: 'ms2', incarnation: 1, freed: { offline: ['bob'], unlocked: [] } },
        ]);
        assert.deepEqual((await store.getUser('bob'))?.state, { kind: 'offline' });
        assert.equal((await store.getUser('alice'))?.state.kind, 'online');
        assert.deepEqual(
          (await store.listMs()).map((x) => x.msId),
          ['ms1'],
        );
        // a renew after the lease ended is refused: the MS must enroll again
        assert.deepEqual(await store.renewMs(MS1, T0 + 50_000, MS_LEASE), { ok: false, error: 'ms-unknown' });
        // and an MS whose lease ended may enroll again with the same incarnation
        const again = await store.enrollMs({ ...MS1, listen: '127.0.0.1:7101', capacity: 5 }, T0 + 50_000, MS_LEASE);
        assert.ok(again.ok);
        assert.deepEqual(again.replaced, { incarnation: 1, freed: { offline: ['alice'], unlocked: [] } });
      });

      test('LEAVE frees the users of that MS only', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob');
        await enroll(store, MS1);
        await enroll(store, MS2);
        await login(store, 'alice', MS1);
        await login(store, 'bob', MS2);
        assert.deepEqual(await store.leaveMs({ msId: 'ms1', incarnation: 9 }), { ok: false, error: 'ms-unknown' });
        assert.deepEqual(await store.leaveMs(MS1), { ok: true, freed: { offline: ['alice'], unlocked: [] } });
        assert.equal(await store.getMs('ms1'), null);
        assert.equal((await store.getUser('bob'))?.state.kind, 'online');
        assert.deepEqual(await store.offlineAllOfMs('ms2', 1), { offline: [], unlocked: [] });
        assert.deepEqual(await store.offlineAllOfMs('ms2', 2), { offline: ['bob'], unlocked: [] });
      });

      test('[LOCATE-1] at most three live, not full MSs: by load/capacity, then load, then Ms-id', async (t) => {
        const { store } = await setup(t, h);
        assert.deepEqual(await store.locateMs(T0), []);
        for (const [id, cap, load] of [
          ['m-b', 10, 5],
          ['m-a', 20, 10],
          ['m-c', 4, 1],
          ['m-d', 100, 100],
          ['m-e', 8, 2],
          ['m_f', 2, 1],
          ['m-g', 4, 1],
        ] as const) {
          await enroll(store, { msId: id, incarnation: 1 }, cap);
          await store.renewMs({ msId: id, incarnation: 1 }, T0, MS_LEASE, load);
        }
        // ratios: m-c .25 (load 1), m-g .25 (1), m-e .25 (2), m_f .5 (1), m-b .5 (5), m-a .5 (10), m-d full
        assert.deepEqual(
          (await store.locateMs(T0)).map((m) => m.msId),
          ['m-c', 'm-g', 'm-e'],
        );
        assert.deepEqual(
          (await store.locateMs(T0, 10)).map((m) => m.msId),
          ['m-c', 'm-g', 'm-e', 'm_f', 'm-b', 'm-a'],
        );
        assert.equal((await store.pickMs(T0))?.msId, 'm-c');
      });

      test('[LOCATE-1] the load counts the users an MS holds locked or online when that is above its PING Load', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'u1', 'u2', 'u3', 'u4');
        await enroll(store, MS1, 4);
        await enroll(store, MS2, 4);
        await store.renewMs(MS1, T0, MS_LEASE, 0);
        await store.renewMs(MS2, T0, MS_LEASE, 1);
        // No user held: ms1 (PING Load 0) before ms2 (1).
        assert.deepEqual(
          (await store.locateMs(T0)).map((m) => m.msId),
          ['ms1', 'ms2'],
        );
        // Two sessions and one lock at ms1 make its load 3, above its PING Load: ms2 comes first.
        await login(store, 'u1', MS1);
        await login(store, 'u2', MS1);
        assert.equal((await store.tryLock('u3', MS1, T0, LEASE)).ok, true);
        assert.deepEqual(
          (await store.locateMs(T0)).map((m) => m.msId),
          ['ms2', 'ms1'],
        );
        // A fourth held user fills ms1 (Capacity 4): it is no longer offered.
        await login(store, 'u4', MS1);
        assert.deepEqual(
          (await store.locateMs(T0)).map((m) => m.msId),
          ['ms2'],
        );
        // A PING Load above the held count still wins.
        await store.renewMs(MS2, T0, MS_LEASE, 4);
        assert.deepEqual(await store.locateMs(T0), []);
      });

      test('LOCATE picks the live MS with the lowest load/capacity and never a full one', async (t) => {
        const { store } = await setup(t, h);
        assert.equal(await store.pickMs(T0), null);
        await enroll(store, { msId: 'a', incarnation: 1 }, 10);
        await enroll(store, { msId: 'b', incarnation: 1 }, 100);
        await enroll(store, { msId: 'c', incarnation: 1 }, 0);
        await store.renewMs({ msId: 'a', incarnation: 1 }, T0, MS_LEASE, 5);
        await store.renewMs({ msId: 'b', incarnation: 1 }, T0, MS_LEASE, 20);
        assert.equal((await store.pickMs(T0))?.msId, 'b');
        await store.renewMs({ msId: 'b', incarnation: 1 }, T0, MS_LEASE, 100);
        assert.equal((await store.pickMs(T0))?.msId, 'a');
        await store.renewMs({ msId: 'a', incarnation: 1 }, T0, MS_LEASE, 10);
        assert.equal(await store.pickMs(T0), null);
        await store.renewMs({ msId: 'a', incarnation: 1 }, T0 + 10_000, MS_LEASE, 1);
        assert.equal((await store.pickMs(T0 + MS_LEASE + 1))?.msId, 'a');
        assert.equal(await store.pickMs(T0 + 10_000 + MS_LEASE), null);
      });

      test('enrollments with a bad id, listen address or capacity are refused', async (t) => {
        const { store } = await setup(t, h);
        for (const e of [
          { msId: 'bad id', incarnation: 1, listen: '127.0.0.1:1', capacity: 1 },
          { msId: 'ok', incarnation: -1, listen: '127.0.0.1:1', capacity: 1 },
          { msId: 'ok', incarnation: 1, listen: 'nope', capacity: 1 },
          { msId: 'ok', incarnation: 1, listen: '127.0.0.1:1', capacity: 1.5 },
        ]) {
          const r = await store.enrollMs(e, T0, MS_LEASE);
          assert.equal(!r.ok && r.error, 'invalid');
        }
        assert.deepEqual(await store.listMs(), []);
      });
    });

    describe('contacts (spec section 9)', () => {
      test('an ADD is stored while the target is offline, delivered when online, refused twice or between buddies [ADD-4]', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol');
        await enroll(store);
        const a = await login(store, 'alice');
        const r1 = await store.addRequest(a, 'bob', T0 + 5);
        assert.deepEqual(r1, { ok: true, outcome: 'stored', time: T0 + 5 });
        assert.deepEqual(await store.addRequest(a, 'bob', T0 + 6), { ok: false, error: 'duplicate' });
        assert.deepEqual(await store.addRequest(a, 'alice', T0), { ok: false, error: 'self' }); // [ADD-6]
        assert.deepEqual(await store.addRequest(a, 'nobody', T0), { ok: false, error: 'unknown' }); // [ADD-5]
        await login(store, 'carol');
        assert.deepEqual(await store.addRequest(a, 'carol', T0 + 7), {
          ok: true,
          outcome: 'delivered',
          time: T0 + 7,
          targetMs: MS1,
        });
        assert.deepEqual(await store.listContacts('alice'), [
          { user: 'bob', relation: 'pending', status: 'offline' },
          { user: 'carol', relation: 'pending', status: 'offline' },
        ]);
        assert.deepEqual(await store.pendingFor('bob'), [{ from: 'alice', to: 'bob', time: T0 + 5 }]);
        await buddies(store, 'bob', 'carol');
        assert.deepEqual(await store.addRequest({ user: 'bob', admin: true }, 'carol', T0), {
          ok: false,
          error: 'buddy',
        });
      });

      test('[ADD-9] a pending ADD is delivered at every login until answered, and never after', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol');
        await enroll(store);
        await store.addRequest({ user: 'alice', admin: true }, 'bob', T0 + 1);
        await store.addRequest({ user: 'carol', admin: true }, 'bob', T0 + 2);
        for (let i = 0; i < 2; i++) {
          const l = await store.tryLock('bob', MS1, T0 + 10 * i, LEASE);
          assert.ok(l.ok);
          const o = await store.goOnline('bob', l.epoch, MS1, '127.0.0.1:9', 'online', T0 + 10 * i);
          assert.ok(o.ok);
          assert.deepEqual(o.pending, [
            { from: 'alice', to: 'bob', time: T0 + 1 },
            { from: 'carol', to: 'bob', time: T0 + 2 },
          ]);
          assert.deepEqual(await store.goOffline('bob', l.epoch), { ok: true, wasOnline: true });
        }
        const b = await login(store, 'bob', MS1, T0 + 100);
        assert.deepEqual(await store.answer(b, 'alice', 'grant', T0 + 101), { ok: true, outcome: 'granted' });
        assert.deepEqual(await store.answer(b, 'carol', 'deny', T0 + 102), { ok: true, outcome: 'denied' });
        assert.deepEqual(await store.answer(b, 'carol', 'grant', T0 + 103), { ok: false, error: 'no-pending' });
        assert.deepEqual(await store.answer(b, 'alice', 'deny', T0 + 103), { ok: false, error: 'no-pending' });
        assert.deepEqual(await store.pendingFor('bob'), []);
        await store.goOffline('bob', b.epoch);
        const b2 = await login(store, 'bob', MS1, T0 + 200);
        const o = await store.listContacts('bob');
        assert.deepEqual(o, [{ user: 'alice', relation: 'buddy', status: 'offline' }]);
        assert.deepEqual(await store.pendingFor(b2.user), []);
        assert.deepEqual(await store.listContacts('carol'), []);
        assert.deepEqual(await store.listContacts('alice'), [
          {
            user: 'bob',
            relation: 'buddy',
            status: 'online',
            address: '127.0.0.1:20003',
            publicKey: (await store.getUser('bob'))?.publicKey,
          },
        ]);
      });

      test('[ADD-8] a pending ADD in both directions is granted at once by the second ADD, with CONTACT to both', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob');
        const first = nextEvent(store, (e) => e.type === 'add');
        await store.addRequest({ user: 'alice', admin: true }, 'bob', T0);
        await first;
        const rec = recorder(store);
        const second = nextEvent(store, (e) => e.type === 'contact' && e.owner === 'alice');
        assert.deepEqual(await store.addRequest({ user: 'bob', admin: true }, 'alice', T0), {
          ok: true,
          outcome: 'granted',
        });
        await second;
        rec.stop();
        assert.deepEqual(
          rec.events.map((e) => [e.type, e.type === 'contact' ? e.owner : '']),
          [
            ['contact', 'bob'],
            ['contact', 'alice'],
          ],
        );
        assert.deepEqual(await store.listContacts('alice'), [{ user: 'bob', relation: 'buddy', status: 'offline' }]);
        assert.deepEqual(await store.listContacts('bob'), [{ user: 'alice', relation: 'buddy', status: 'offline' }]);
        assert.deepEqual(await store.pendingFor('alice'), []);
        assert.deepEqual(await store.pendingFor('bob'), []);
      });

      test('[REM-1][REM-2][REM-3][REM-4] REM removes both directions, withdraws an unanswered ADD, unblocks, and refuses a stranger', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol');
        await buddies(store, 'alice', 'bob');
        await store.addRequest({ user: 'alice', admin: true }, 'carol', T0);
        const A: Actor = { user: 'alice', admin: true };
        assert.deepEqual(await store.remove(A, 'bob'), { ok: true, removed: 'buddy' });
        assert.deepEqual(await store.listContacts('bob'), []);
        assert.deepEqual(await store.remove(A, 'carol'), { ok: true, removed: 'pending' });
        // [REM-3] withdrawn: never delivered again
        assert.deepEqual(await store.pendingFor('carol'), []);
        assert.deepEqual(await store.listContacts('alice'), []);
        assert.deepEqual(await store.remove(A, 'bob'), { ok: false, error: 'not-contact' });
        assert.deepEqual(await store.remove(A, 'nobody'), { ok: false, error: 'not-contact' });
        // [REM-4] REM of a blocked user unblocks
        await store.block(A, 'bob');
        assert.deepEqual(await store.remove(A, 'bob'), { ok: true, removed: 'blocked' });
        assert.deepEqual(await store.listContacts('alice'), []);
      });

      test('[BLOCK-1][BLOCK-2][BLOCK-4] BLOCK removes the relation and ADDs both ways; to the blocked user it looks like a logout and a REM', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'mallory', 'carol');
        await enroll(store);
        await buddies(store, 'alice', 'bob');
        await store.addRequest({ user: 'mallory', admin: true }, 'alice', T0);
        await store.addRequest({ user: 'alice', admin: true }, 'carol', T0);
        const a = await login(store, 'alice');
        // the feed may be asynchronous (PostgreSQL): record once bob's login was heard
        const bobOnline = nextEvent(store, (e) => e.type === 'presence' && e.user === 'bob');
        await login(store, 'bob');
        await bobOnline;
        const rec = recorder(store);
        const last = nextEvent(store, (e) => e.type === 'contact' && e.owner === 'alice' && e.contact.user === 'bob');
        assert.deepEqual(await store.block(a, 'bob'), { ok: true, already: false });
        await last;
        const ev = rec.events.map(({ origin: _o, ...e }) => e);
        assert.deepEqual(ev, [
          { type: 'presence', user: 'alice', status: 'offline', to: 'bob' },
          { type: 'contact', owner: 'bob', contact: { user: 'alice', relation: 'none', status: 'offline' } },
          { type: 'contact', owner: 'alice', contact: { user: 'bob', relation: 'blocked', status: 'offline' } },
        ]);
        rec.stop();
        // [BLOCK-7] blocking again changes nothing; oneself is forbidden; unknown users are unknown
        assert.deepEqual(await store.block(a, 'bob'), { ok: true, already: true });
        assert.deepEqual(await store.block(a, 'alice'), { ok: false, error: 'self' });
        assert.deepEqual(await store.block(a, 'nobody'), { ok: false, error: 'unknown' });
        assert.deepEqual(await store.listContacts('bob'), []);
        assert.deepEqual(await store.listContacts('alice'), [
          { user: 'bob', relation: 'blocked', status: 'offline' },
          { user: 'carol', relation: 'pending', status: 'offline' },
        ]);
        assert.deepEqual(await store.watchers('alice'), []);
        // [BLOCK-4] blocking a user whose ADD is unanswered looks like a denial to him
        const denial = nextEvent(store, (e) => e.type === 'answer' && e.to === 'mallory');
        assert.deepEqual(await store.block(a, 'mallory'), { ok: true, already: false });
        assert.deepEqual(await denial, {
          type: 'answer',
          origin: store.id,
          from: 'alice',
          to: 'mallory',
          decision: 'deny',
        });
        assert.deepEqual(await store.pendingFor('alice'), []);
        assert.deepEqual(await store.listContacts('mallory'), []);
      });

      test('[BLOCK-6][BLOCK-5][ADD-6] an ADD from a blocked user is stored, withheld until UNBLOCK; an ADD to a user one blocks is forbidden', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'mallory');
        await enroll(store);
        const a = await login(store, 'alice');
        const m = await login(store, 'mallory');
        await store.block(a, 'mallory');
        assert.deepEqual(await store.addRequest(a, 'mallory', T0), { ok: false, error: 'forbidden' });
        const rec = recorder(store);
        assert.deepEqual(await store.addRequest(m, 'alice', T0 + 9), {
          ok: true,
          outcome: 'blocked-silently',
          time: T0 + 9,
        });
        // pending in mallory's list, as any stored ADD; a second one is a duplicate, as any
        assert.deepEqual(await store.listContacts('mallory'), [
          { user: 'alice', relation: 'pending', status: 'offline' },
        ]);
        assert.deepEqual(await store.addRequest(m, 'alice', T0 + 10), { ok: false, error: 'duplicate' });
        // withheld: not in alice's pending list, nor in her bundle, nor answerable
        assert.deepEqual(await store.pendingFor('alice'), []);
        assert.deepEqual(await store.answer(a, 'mallory', 'grant', T0), { ok: false, error: 'no-pending' });
        // [BLOCK-5] UNBLOCK: CONTACT none to alice; the ADD becomes deliverable
        const done = nextEvent(store, (e) => e.type === 'contact' && e.owner === 'alice');
        assert.deepEqual(await store.unblock(a, 'mallory'), { ok: true });
        assert.deepEqual(await done, {
          type: 'contact',
          origin: store.id,
          owner: 'alice',
          contact: { user: 'mallory', relation: 'none', status: 'offline' },
        });
        rec.stop();
        assert.deepEqual(
          rec.events.filter((e) => e.type === 'add'),
          [],
        );
        assert.deepEqual(await store.pendingFor('alice'), [{ from: 'mallory', to: 'alice', time: T0 + 9 }]);
        assert.deepEqual(await store.unblock(a, 'mallory'), { ok: false, error: 'not-blocked' });
        assert.deepEqual(await store.answer(a, 'mallory', 'grant', T0), { ok: true, outcome: 'granted' });
      });

      test('[ADD-LIMIT-1][ADD-LIMIT-2][BLOCK-LIMIT-1] list sizes are bounded', async (t) => {
        const { store } = await setup(t, h, { limits: { maxContacts: 3, maxPendingAdds: 2, maxBlocked: 2 } });
        await users(store, 'alice', 'bob', 'u1', 'u2', 'u3', 'u4', 'u5');
        const A: Actor = { user: 'alice', admin: true };
        for (const u of ['u1', 'u2', 'u3']) assert.equal((await store.addRequest(A, u, T0)).ok, true);
        assert.deepEqual(await store.addRequest(A, 'u4', T0), { ok: false, error: 'limit', which: 'contacts' });
        // a grant turns a pending entry into a buddy: the requester's count does not grow
        assert.deepEqual(await store.answer({ user: 'u1', admin: true }, 'alice', 'grant', T0), {
          ok: true,
          outcome: 'granted',
        });
        // but the answerer's does: u5 has three contacts, alice's grant would be a fourth
        for (const u of ['u2', 'u3', 'u4']) await store.addRequest({ user: 'u5', admin: true }, u, T0);
        await store.addRequest({ user: 'bob', admin: true }, 'u5', T0);
        assert.deepEqual(await store.answer({ user: 'u5', admin: true }, 'bob', 'grant', T0), {
          ok: false,
          error: 'limit',
          which: 'contacts',
        });
        // [ADD-LIMIT-2] u4 has 1 pending (from u5); one more fits, then full
        assert.equal((await store.addRequest({ user: 'u1', admin: true }, 'u4', T0)).ok, true);
        assert.deepEqual(await store.addRequest({ user: 'u2', admin: true }, 'u4', T0), {
          ok: false,
          error: 'limit',
          which: 'pending',
        });
        // [BLOCK-LIMIT-1]
        assert.equal((await store.block({ user: 'bob', admin: true }, 'u1')).ok, true);
        assert.equal((await store.block({ user: 'bob', admin: true }, 'u2')).ok, true);
        assert.deepEqual(await store.block({ user: 'bob', admin: true }, 'u3'), {
          ok: false,
          error: 'limit',
          which: 'blocked',
        });
      });

      test('[LOCK-6] every session-bound write refuses a stale epoch or a user not online', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob');
        await enroll(store);
        const a = await login(store, 'alice');
        const old: Actor = { user: 'alice', epoch: a.epoch - 1 };
        const st = { ok: false, error: 'stale', detail: 'epoch' };
        assert.deepEqual(await store.addRequest(old, 'bob', T0), st);
        assert.deepEqual(await store.answer(old, 'bob', 'grant', T0), st);
        assert.deepEqual(await store.remove(old, 'bob'), st);
        assert.deepEqual(await store.block(old, 'bob'), st);
        assert.deepEqual(await store.unblock(old, 'bob'), st);
        assert.deepEqual(await store.setProfile(old, { about: 'x' }), st);
        assert.deepEqual(await store.passwd(old, verifier(), newUser('x').keyBlob), st);
        const offline: Actor = { user: 'bob', epoch: 0 };
        assert.deepEqual(await store.addRequest(offline, 'alice', T0), { ok: false, error: 'stale', detail: 'state' });
        assert.deepEqual(await store.addRequest({ user: 'ghost', epoch: 1 }, 'alice', T0), {
          ok: false,
          error: 'stale',
          detail: 'state',
        });
        assert.deepEqual(await store.pendingFor('bob'), []);
      });

      test('contact lists carry presence: address and key only for online buddies', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol', 'dave');
        await enroll(store);
        await buddies(store, 'alice', 'bob');
        await buddies(store, 'alice', 'carol');
        await store.addRequest({ user: 'alice', admin: true }, 'dave', T0);
        await login(store, 'bob', MS1, T0, 'busy');
        await login(store, 'dave');
        const l = await store.tryLock('alice', MS1, T0, LEASE);
        assert.ok(l.ok);
        const o = await store.goOnline('alice', l.epoch, MS1, '127.0.0.1:5555', 'online', T0);
        assert.ok(o.ok);
        const bobKey = (await store.getUser('bob'))?.publicKey;
        assert.deepEqual(o.contacts, [
          { user: 'bob', relation: 'buddy', status: 'busy', address: '127.0.0.1:20003', publicKey: bobKey },
          { user: 'carol', relation: 'buddy', status: 'offline' },
          { user: 'dave', relation: 'pending', status: 'offline' },
        ]);
        assert.deepEqual(await store.watchers('alice'), [{ user: 'bob', msId: 'ms1', incarnation: 1 }]);
        assert.deepEqual(o.contacts, await store.listContacts('alice'));
      });
    });

    describe('profile, search, password', () => {
      test('[PROFILE-3] a user sets its own profile fields; absent fields stay', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store);
        const a = await login(store, 'alice');
        assert.deepEqual(await store.setProfile(a, { fullName: 'Alice', location: 'Paris' }), { ok: true });
        assert.deepEqual(await store.setProfile(a, { about: 'hi' }), { ok: true });
        assert.deepEqual(await store.getProfile('alice'), { fullName: 'Alice', location: 'Paris', about: 'hi' });
        assert.deepEqual(await store.setProfile(a, { location: 'x'.repeat(300) }), {
          ok: false,
          error: 'invalid',
          detail: 'location',
        });
        assert.equal(await store.getProfile('nobody'), null);
      });

      test('PASSWD replaces the verifier and the sealed key blob', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store);
        const a = await login(store, 'alice');
        const v = verifier();
        const blob = newUser('x').keyBlob;
        assert.deepEqual(await store.passwd(a, { ...v, iterations: 10 }, blob), {
          ok: false,
          error: 'invalid',
          detail: 'iterations',
        });
        assert.deepEqual(await store.passwd(a, v, 'garbage'), { ok: false, error: 'invalid', detail: 'keyBlob' });
        assert.deepEqual(await store.passwd(a, v, blob), { ok: true });
        const rec = await store.getUser('alice');
        assert.deepEqual(rec?.verifier, v);
        assert.equal(rec?.keyBlob, blob);
        // the next lock hands out the new verifier
        await store.goOffline('alice', a.epoch);
        const l = await store.tryLock('alice', MS1, T0 + 1, LEASE);
        assert.ok(l.ok);
        assert.deepEqual(l.verifier, v);
      });

      test('[SEARCH-2][SEARCH-3] search is paged by username with a cursor, bounded, by field', async (t) => {
        const { store } = await setup(t, h);
        for (let i = 0; i < 120; i++) {
          const name = `user${String(i).padStart(3, '0')}`;
          await store.registerUser(
            newUser(name, { fullName: i % 2 ? 'Odd Person' : 'Even Person', location: i < 10 ? 'Lyon' : '' }),
            T0,
          );
        }
        await users(store, 'zed');
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 10; page++) {
          const r = await store.searchUsers('user', 'username', cursor, 1000);
          assert.ok(r.ok);
          assert.ok(r.results.length <= 50);
          seen.push(...r.results.map((x) => x.username));
          cursor = r.nextCursor;
          if (!cursor) break;
        }
        assert.equal(seen.length, 120);
        assert.deepEqual(seen, [...seen].sort());
        assert.equal(new Set(seen).size, 120);
        const odd = await store.searchUsers('ODD', 'name', null, 5);
        assert.ok(odd.ok);
        assert.deepEqual(odd.results[0], { username: 'user001', fullName: 'Odd Person', location: 'Lyon' });
        assert.equal(odd.results.length, 5);
        assert.equal(odd.nextCursor, 'user009');
        const lyon = await store.searchUsers('lyon', 'location', null, 50);
        assert.ok(lyon.ok);
        assert.equal(lyon.results.length, 10);
        assert.equal(lyon.nextCursor, null);
        assert.deepEqual(lyon.results[0], { username: 'user000', fullName: 'Even Person', location: 'Lyon' });
        const any = await store.searchUsers('ZE', 'any', null, 50);
        assert.ok(any.ok);
        assert.deepEqual(any.results, [{ username: 'zed' }]);
        // a username matches by prefix only; names and locations by substring
        assert.deepEqual(await store.searchUsers('ser0', 'username', null, 50), {
          ok: true,
          results: [],
          nextCursor: null,
        });
        const sub = await store.searchUsers('yo', 'any', null, 50);
        assert.ok(sub.ok);
        assert.equal(sub.results.length, 10);
        // LIKE wildcards are literal
        for (const q of ['%', '_', '\\']) {
          const r = await store.searchUsers(q, 'any', null, 50);
          assert.deepEqual(r, { ok: true, results: [], nextCursor: null }, q);
        }
        assert.deepEqual(await store.searchUsers('x'.repeat(65), 'any', null, 10), {
          ok: false,
          error: 'invalid',
          detail: 'query',
        });
        assert.deepEqual(await store.searchUsers('', 'any', null, 10), {
          ok: false,
          error: 'invalid',
          detail: 'query',
        });
        assert.deepEqual(await store.searchUsers('x', 'any', 'Not A Name', 10), {
          ok: false,
          error: 'invalid',
          detail: 'cursor',
        });
      });

      test('[SEARCH-5] search reveals no block: a user who blocks the searcher is found as any other', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'anna', 'anne', 'annie');
        await store.block({ user: 'anne', admin: true }, 'annie');
        const r = await store.searchUsers('ann', 'username', null, 10);
        assert.ok(r.ok);
        assert.deepEqual(
          r.results.map((x) => x.username),
          ['anna', 'anne', 'annie'],
        );
      });
    });

    describe('change feed', () => {
      test('presence, add, answer and contact changes are announced with their origin', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice', 'bob');
        // the feed may be asynchronous (PostgreSQL): start recording once the enrollment was heard
        const enrolled = nextEvent(store, (e) => e.type === 'ms-enrolled');
        await enroll(store);
        await enrolled;
        const rec = recorder(store);
        const a = await login(store, 'alice');
        const b = await login(store, 'bob');
        await store.addRequest(a, 'bob', T0 + 1);
        await store.answer(b, 'alice', 'grant', T0 + 2);
        await store.setStatus('bob', b.epoch, 'away');
        const done = nextEvent(store, (e) => e.type === 'presence' && e.user === 'alice' && e.status === 'offline');
        await store.goOffline('alice', a.epoch);
        await done;
        rec.stop();
        const ev = rec.events.map((e) => {
          assert.equal(e.origin, store.id);
          const { origin: _o, ...rest } = e;
          return rest;
        }) as Array<Omit<StoreEvent, 'origin'>>;
        const alice = await store.getUser('alice');
        const bob = await store.getUser('bob');
        assert.deepEqual(ev, [
          {
            type: 'presence',
            user: 'alice',
            status: 'online',
            msId: 'ms1',
            address: '127.0.0.1:20005',
            publicKey: alice?.publicKey,
          },
          {
            type: 'presence',
            user: 'bob',
            status: 'online',
            msId: 'ms1',
            address: '127.0.0.1:20003',
            publicKey: bob?.publicKey,
          },
          { type: 'add', from: 'alice', to: 'bob', time: T0 + 1 },
          {
            type: 'contact',
            owner: 'bob',
            contact: {
              user: 'alice',
              relation: 'buddy',
              status: 'online',
              address: '127.0.0.1:20005',
              publicKey: alice?.publicKey,
            },
          },
          {
            type: 'contact',
            owner: 'alice',
            contact: {
              user: 'bob',
              relation: 'buddy',
              status: 'online',
              address: '127.0.0.1:20003',
              publicKey: bob?.publicKey,
            },
          },
          { type: 'answer', from: 'bob', to: 'alice', decision: 'grant' },
          {
            type: 'presence',
            user: 'bob',
            status: 'away',
            msId: 'ms1',
            address: '127.0.0.1:20003',
            publicKey: bob?.publicKey,
          },
          { type: 'presence', user: 'alice', status: 'offline' },
        ]);
      });

      test('another store instance on the same data hears the changes (a second CRS process)', {
        skip: !h.separateConnections,
      }, async (t) => {
        const { store, open } = await setup(t, h);
        const other = await open();
        await users(store, 'alice');
        await enroll(store);
        const heard = nextEvent(other, (e) => e.type === 'presence' && e.user === 'alice');
        const a = await login(store, 'alice');
        const e = await heard;
        assert.equal(e.origin, store.id);
        assert.notEqual(other.id, store.id);
        const gone = nextEvent(other, (x) => x.type === 'ms-gone');
        await store.leaveMs(MS1);
        assert.deepEqual(await gone, {
          type: 'ms-gone',
          origin: store.id,
          msId: 'ms1',
          incarnation: 1,
          reason: 'left',
        });
        assert.equal(a.user, 'alice');
      });

      test('an unsubscribed listener hears nothing; a throwing listener does not break the store', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store);
        let n = 0;
        const off = store.onChange(() => n++);
        off();
        store.onChange(() => {
          throw new Error('listener bug');
        });
        const heard = nextEvent(store, (e) => e.type === 'presence');
        await login(store, 'alice');
        await heard;
        assert.equal(n, 0);
      });
    });

    describe('persistence', () => {
      test('close and reopen: users, epochs, contacts, blocks, pending ADDs and MSs survive', async (t) => {
        const { store, open } = await setup(t, h);
        await users(store, 'alice', 'bob', 'carol');
        await enroll(store);
        await buddies(store, 'alice', 'bob');
        await store.addRequest({ user: 'carol', admin: true }, 'alice', T0 + 3);
        await store.block({ user: 'bob', admin: true }, 'carol');
        const a = await login(store, 'alice');
        await store.goOffline('alice', a.epoch);
        const before = await store.getUser('alice');
        await store.close();
        const again = await open();
        assert.deepEqual(await again.getUser('alice'), before);
        assert.equal(before?.epoch, 1);
        assert.deepEqual(await again.listContacts('alice'), [{ user: 'bob', relation: 'buddy', status: 'offline' }]);
        assert.deepEqual(await again.listContacts('bob'), [
          { user: 'alice', relation: 'buddy', status: 'offline' },
          { user: 'carol', relation: 'blocked', status: 'offline' },
        ]);
        assert.deepEqual(await again.pendingFor('alice'), [{ from: 'carol', to: 'alice', time: T0 + 3 }]);
        assert.equal((await again.getMs('ms1'))?.incarnation, 1);
        const l = await again.tryLock('alice', MS1, T0 + 10, LEASE);
        assert.ok(l.ok);
        assert.equal(l.epoch, 2);
      });
    });

    describe('properties', () => {
      test('hostile strings (names, queries, cursors, profile texts) get typed results, never exceptions', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store);
        const a = await login(store, 'alice');
        const str = fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.constantFrom("'; DROP TABLE users; --", '%', '_%\\', '\u0000', 'é', 'a'.repeat(5000)),
        );
        await fc.assert(
          fc.asyncProperty(
            str,
            str,
            fc.constantFrom('username', 'name', 'location', 'any') as fc.Arbitrary<
              'username' | 'name' | 'location' | 'any'
            >,
            async (x, y, field) => {
              const r = await store.searchUsers(x, field, y === '' ? null : y, 10);
              assert.ok(r.ok || r.error === 'invalid');
              const u = await store.getUser(x);
              assert.ok(u === null || u.username === x);
              const l = await store.tryLock(x, MS1, T0, LEASE);
              if (l.ok)
                assert.deepEqual(await store.unlock(x, l.epoch, MS1), { ok: true }); // a name an earlier run registered
              else assert.ok(['unknown', 'online'].includes(l.error), l.error);
              const add = await store.addRequest(a, x, T0);
              assert.ok(add.ok || ['unknown', 'self', 'duplicate'].includes(add.error));
              const p = await store.setProfile(a, { about: x });
              assert.ok(p.ok || p.error === 'invalid');
              const reg = await store.registerUser({ ...newUser('zz'), username: x }, T0);
              assert.ok(reg.ok || reg.error === 'invalid' || reg.error === 'exists');
            },
          ),
          { numRuns: 40 },
        );
        assert.equal((await store.getUser('alice'))?.state.kind, 'online');
      });

      test('[INV-9][ADD-8] concurrent mutual ADDs from two store instances: one stored, one granted, buddies both ways', async (t) => {
        const { store, open } = await setup(t, h);
        const other = await open();
        const N = 12;
        await users(
          store,
          ...Array.from({ length: N }, (_, i) => `a${i}`),
          ...Array.from({ length: N }, (_, i) => `b${i}`),
        );
        const rs = await Promise.all(
          Array.from({ length: N }, (_, i) =>
            Promise.all([
              store.addRequest({ user: `a${i}`, admin: true }, `b${i}`, T0),
              other.addRequest({ user: `b${i}`, admin: true }, `a${i}`, T0),
            ]),
          ),
        );
        for (let i = 0; i < N; i++) {
          const outcomes = rs[i].map((r) => (r.ok ? r.outcome : r.error)).sort();
          assert.deepEqual(outcomes, ['granted', 'stored'], `pair ${i}`);
          assert.deepEqual(await store.listContacts(`a${i}`), [
            { user: `b${i}`, relation: 'buddy', status: 'offline' },
          ]);
          assert.deepEqual(await other.listContacts(`b${i}`), [
            { user: `a${i}`, relation: 'buddy', status: 'offline' },
          ]);
          assert.deepEqual(await store.pendingFor(`a${i}`), []);
          assert.deepEqual(await store.pendingFor(`b${i}`), []);
        }
      });

      test('[ADD-LIMIT-2] concurrent ADDs to one target from two store instances never exceed maxPendingAdds', async (t) => {
        const { store, open } = await setup(t, h, { limits: { maxPendingAdds: 5 } });
        const other = await open();
        const senders = Array.from({ length: 16 }, (_, i) => `s${i}`);
        await users(store, 'target', ...senders);
        const rs = await Promise.all(
          senders.map((u, i) => (i % 2 ? store : other).addRequest({ user: u, admin: true }, 'target', T0 + i)),
        );
        assert.equal(rs.filter((r) => r.ok).length, 5);
        assert.ok(rs.every((r) => r.ok || (r.error === 'limit' && r.which === 'pending')));
        assert.equal((await store.pendingFor('target')).length, 5);
      });

      test('[INV-9][ADD-4][ADD-8][BLOCK-1] random concurrent contact operations keep the relations consistent', async (t) => {
        const names = ['ann', 'bea', 'cid', 'dan'];
        type Op = { op: 'add' | 'grant' | 'deny' | 'rem' | 'block' | 'unblock'; a: number; b: number; inst: 0 | 1 };
        const opArb: fc.Arbitrary<Op> = fc.record({
          op: fc.constantFrom(
            'add' as const,
            'add' as const,
            'grant' as const,
            'deny' as const,
            'rem' as const,
            'block' as const,
            'unblock' as const,
          ),
          a: fc.integer({ min: 0, max: 3 }),
          b: fc.integer({ min: 0, max: 3 }),
          inst: fc.constantFrom(0 as const, 1 as const),
        });
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
            async (rounds) => {
              const data = await h.create();
              const s0 = await data.open({ limits: { maxContacts: 2 } });
              const s1 = await data.open({ limits: { maxContacts: 2 } });
              try {
                await users(s0, ...names);
                for (const round of rounds) {
                  // the operations of a round run concurrently, spread over both instances
                  await Promise.all(
                    round.map(({ op, a, b, inst }) => {
                      const s = inst ? s1 : s0;
                      const me = { user: names[a], admin: true as const };
                      const other = names[b];
                      switch (op) {
                        case 'add':
                          return s.addRequest(me, other, T0);
                        case 'grant':
                        case 'deny':
                          return s.answer(me, other, op, T0);
                        case 'rem':
                          return s.remove(me, other);
                        case 'block':
                          return s.block(me, other);
                        case 'unblock':
                          return s.unblock(me, other);
                      }
                    }),
                  );
                }
                const lists = new Map<string, Map<string, string>>();
                for (const n of names)
                  lists.set(n, new Map((await s0.listContacts(n)).map((c) => [c.user, c.relation])));
                const rel = (x: string, y: string) => lists.get(x)?.get(y);
                for (const x of names) {
                  assert.ok((lists.get(x)?.size ?? 0) <= 2 + 3, 'bounded'); // maxContacts, plus blocked entries
                  const counted = [...(lists.get(x)?.values() ?? [])].filter((r) => r !== 'blocked').length;
                  assert.ok(counted <= 2, `[ADD-LIMIT-1] ${x} has ${counted}`);
                  for (const y of names) {
                    if (x === y) continue;
                    // [INV-9] buddies both ways or neither
                    if (rel(x, y) === 'buddy') assert.equal(rel(y, x), 'buddy', `[INV-9] ${x} has ${y}`);
                    // [ADD-8] never pending in both directions
                    assert.ok(!(rel(x, y) === 'pending' && rel(y, x) === 'pending'), `[ADD-8] ${x}<->${y}`);
                    // [ADD-4] no pending between buddies
                    const incoming = (await s0.pendingFor(x)).map((p) => p.from);
                    if (rel(x, y) === 'buddy') assert.ok(!incoming.includes(y), `[ADD-4] ${y}->${x}`);
                    // [BLOCK-1] a block leaves no buddy relation
                    if (rel(x, y) === 'blocked') assert.notEqual(rel(y, x), 'buddy', `[BLOCK-1] ${x} blocks ${y}`);
                    // [BLOCK-6] withheld: nothing from a blocked user in the pending list
                    if (rel(x, y) === 'blocked') assert.ok(!incoming.includes(y), `[BLOCK-6] ${y}->${x}`);
                  }
                }
              } finally {
                await s0.close();
                await s1.close();
                await data.destroy();
              }
            },
          ),
          { numRuns: 12 },
        );
      });

      test('[LOCK-1][LOCK-6] random lock operations agree with the spec section 8.3 model', async (t) => {
        const { store } = await setup(t, h);
        await users(store, 'alice');
        await enroll(store, MS1, 100, 0);
        await enroll(store, MS2, 100, 0);
        // Model of one user record; time moves forward only.
        type Op =
          | { op: 'lock'; ms: 0 | 1; dt: number }
          | { op: 'online'; ms: 0 | 1; epochDelta: number; dt: number }
          | { op: 'unlock' | 'offline'; epochDelta: number; dt: number }
          | { op: 'expire'; dt: number };
        const ms = [MS1, MS2];
        const opArb: fc.Arbitrary<Op> = fc.oneof(
          fc.record({
            op: fc.constant('lock' as const),
            ms: fc.constantFrom(0 as const, 1 as const),
            dt: fc.integer({ min: 0, max: 20_000 }),
          }),
          fc.record({
            op: fc.constant('online' as const),
            ms: fc.constantFrom(0 as const, 1 as const),
            epochDelta: fc.constantFrom(0, 0, -1),
            dt: fc.integer({ min: 0, max: 20_000 }),
          }),
          fc.record({
            op: fc.constantFrom('unlock' as const, 'offline' as const),
            epochDelta: fc.constantFrom(0, 0, -1),
            dt: fc.integer({ min: 0, max: 20_000 }),
          }),
          fc.record({ op: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 20_000 }) }),
        );
        let now = 0;
        let offsetMs = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
            // each run starts from a clean record: offline, MSs alive
            const rec0 = await store.getUser('alice');
            if (rec0 && rec0.state.kind !== 'offline') await store.offlineAllOfMs(rec0.state.msId);
            let epoch = (await store.getUser('alice'))?.epoch ?? 0;
            type Model = { k: 'offline' } | { k: 'locked'; ms: number; until: number } | { k: 'online'; ms: number };
            let state = { k: 'offline' } as Model;
            for (const o of ops) {
              now += o.dt;
              // keep both MSs alive: the model is about the user record
              offsetMs = now;
              for (const m of ms) await store.renewMs(m, offsetMs, 10_000_000);
              if (o.op === 'lock') {
                const r = await store.tryLock('alice', ms[o.ms], now, LEASE);
                if (state.k === 'online') assert.deepEqual(r, { ok: false, error: 'online' });
                else if (state.k === 'locked' && state.until > now) assert.deepEqual(r, { ok: false, error: 'locked' });
                else {
                  assert.ok(r.ok);
                  epoch += 1;
                  assert.equal(r.epoch, epoch);
                  state = { k: 'locked', ms: o.ms, until: now + LEASE };
                }
              } else if (o.op === 'online') {
                const r = await store.goOnline('alice', epoch + o.epochDelta, ms[o.ms], '127.0.0.1:1', 'online', now);
                const okNow: boolean =
                  o.epochDelta === 0 && state.k === 'locked' && state.until > now && state.ms === o.ms;
                assert.equal(r.ok, okNow, JSON.stringify({ r, state, o, now }));
                if (okNow) state = { k: 'online', ms: o.ms };
              } else if (o.op === 'unlock') {
                const r = await store.unlock('alice', epoch + o.epochDelta);
                const okNow: boolean = o.epochDelta === 0 && state.k !== 'online';
                assert.equal(r.ok, okNow);
                if (okNow) state = { k: 'offline' };
              } else if (o.op === 'offline') {
                const r = await store.goOffline('alice', epoch + o.epochDelta);
                assert.equal(r.ok, o.epochDelta === 0);
                if (r.ok) {
                  assert.equal(r.wasOnline, state.k === 'online');
                  state = { k: 'offline' };
                }
              } else {
                const r = await store.expireLocks(now);
                const expired: boolean = state.k === 'locked' && state.until <= now;
                assert.deepEqual(r, expired ? ['alice'] : []);
                if (expired) state = { k: 'offline' };
              }
              const rec = await store.getUser('alice');
              assert.equal(rec?.epoch, epoch);
              assert.equal(rec?.state.kind, state.k === 'offline' ? 'offline' : state.k);
            }
          }),
          { numRuns: 15 },
        );
      });
    });
  });
}
