// What the store suites share: the harness each Store implementation gives, the constants, and the
// set-up steps (a fresh data set, an enrolled MS, registered users, a logged-in user, two buddies).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { LIMITS } from '../../generated/registry.js';
import type { Actor, MsRef, OpenStoreOptions, Stale, Store } from '../../reference/store/store.js';
import { newUser } from './fixtures.js';

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

export const T0 = 1_700_000_000_000;
/** The lock's and an MS enrollment's lease: the registry's defaults (lockLease, msLease). */
export const LEASE = LIMITS.lockLease;
export const MS_LEASE = LIMITS.msLease;
export const MS1: MsRef = { msId: 'ms1', incarnation: 1 };
export const MS2: MsRef = { msId: 'ms2', incarnation: 1 };

/** A store's refusal of a stale actor [LOCK-6], as the suites expect it (not the store's own helper). */
export const STALE = (detail: Stale['detail']): Stale => ({ ok: false, error: 'stale', detail });

export async function setup(
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

export async function enroll(store: Store, ms: MsRef = MS1, capacity = 100, now = T0): Promise<void> {
  const r = await store.enrollMs({ ...ms, listen: `127.0.0.1:${7100 + ms.incarnation}`, capacity }, now, MS_LEASE);
  assert.equal(r.ok, true, JSON.stringify(r));
}

export async function users(store: Store, ...names: string[]): Promise<void> {
  for (const n of names) assert.deepEqual(await store.registerUser(newUser(n), T0), { ok: true });
}

/** Lock and log in; returns the epoch (the actor of session-bound operations). */
export async function login(
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

export async function buddies(store: Store, a: string, b: string): Promise<void> {
  assert.equal((await store.addRequest({ user: a, admin: true }, b, T0)).ok, true);
  assert.deepEqual(await store.answer({ user: b, admin: true }, a, 'grant', T0), { ok: true, outcome: 'granted' });
}
