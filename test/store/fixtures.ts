// Test data for the store suite: well-formed verifiers, public keys and key blobs made of random
// octets (the store checks their syntax, never their meaning), and helpers to await events.
import { randomBytes } from 'node:crypto';
import type { NewUser, Store, StoreEvent, Verifier } from '../../reference/store/store.js';

const b64 = (n: number): string => randomBytes(n).toString('base64url');

export function verifier(): Verifier {
  return { salt: b64(16), iterations: 4096, storedKey: b64(32), serverKey: b64(32) };
}

export function newUser(username: string, profile?: NewUser['profile']): NewUser {
  return {
    username,
    verifier: verifier(),
    publicKey: `${b64(32)}.${b64(32)}`,
    keyBlob: `v1.${b64(16)}.10.${b64(12)}.${b64(80)}`,
    ...(profile ? { profile } : {}),
  };
}

/** Resolves with the first event that satisfies `pred` (the test's own timeout bounds the wait). */
export function nextEvent<E extends StoreEvent>(store: Store, pred: (e: StoreEvent) => e is E): Promise<E>;
export function nextEvent(store: Store, pred: (e: StoreEvent) => boolean): Promise<StoreEvent>;
export function nextEvent(store: Store, pred: (e: StoreEvent) => boolean): Promise<StoreEvent> {
  return new Promise((resolve) => {
    const off = store.onChange((e) => {
      if (pred(e)) {
        off();
        resolve(e);
      }
    });
  });
}

/** Collects every event a store delivers, for assertions after a marker event arrives. */
export function recorder(store: Store): { events: StoreEvent[]; stop: () => void } {
  const events: StoreEvent[] = [];
  const stop = store.onChange((e) => events.push(e));
  return { events, stop };
}
