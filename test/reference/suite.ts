// The end-to-end suite of the reference CRS and MS, over loopback sockets with one CRS and two (or
// more) MSs, run once per store (sqlite.test.ts, postgres.test.ts). No sleeps: every wait is on an
// event (a push, a close, a store event) or on a response.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startCluster, type Cluster, type ClusterOptions } from '../helpers/cluster.js';
import { ProtoClient, recordsOf, h, rawExchange } from '../helpers/proto-client.js';
import { RawMs } from '../helpers/raw-ms.js';
import {
  makeVerifier,
  decoyKey,
  decoySalt,
  makeNonce,
  loginAuthMessage,
  clientLogin,
} from '../../reference/crypto/scram.js';
import { b64, unb64 } from '../../reference/crypto/b64.js';
import { sealKeyBlob, openKeyBlob } from '../../reference/crypto/key-blob.js';
import { generateIdentity, generateKeyShare } from '../../reference/crypto/keys.js';
import type { StoreEvent } from '../../reference/store/store.js';
import type { RequestMessage } from '../../codec/index.js';

export type StoreKind = 'sqlite' | 'postgres';

let userSeq = 0;
/** A fresh username per call, so tests sharing a cluster never collide. */
export function uname(base: string): string {
  return `${base}${++userSeq}`;
}

/** Logs a user in at an MS and returns the connected client; fails the test when login fails. */
export async function online(
  cluster: Cluster,
  msIndex: number,
  user: string,
  opts: { status?: string; address?: string } = {},
): Promise<ProtoClient> {
  const c = await ProtoClient.connect(cluster.ms[msIndex]!.address);
  const out = await c.login(user, `pw-${user}`, opts);
  assert.equal(
    out.result?.status,
    200,
    `login of ${user}: ${out.challenge.status} ${h(out.challenge, 'Error-code') ?? ''} ${out.result ? h(out.result, 'Error-code') : ''}`,
  );
  assert.ok(out.ok, 'Server-proof verifies');
  return c;
}

/** Makes two registered users buddies through ADD + ANSWER grant (both must be online on the given clients). */
export async function befriend(a: ProtoClient, b: ProtoClient, aName: string, bName: string): Promise<void> {
  const r = await a.request('ADD', { To: bName });
  assert.equal(r.status, 200);
  await b.waitFor('ADD', (m) => h(m, 'From') === aName);
  const g = await b.request('ANSWER', { User: aName, Decision: 'grant' });
  assert.equal(g.status, 200);
  await a.waitFor('CONTACT', (m) => h(m, 'User') === bName && h(m, 'Relation') === 'buddy');
  await b.waitFor('CONTACT', (m) => h(m, 'User') === aName && h(m, 'Relation') === 'buddy');
}

function nextStoreEvent(cluster: Cluster, pred: (e: StoreEvent) => boolean): Promise<StoreEvent> {
  return new Promise((resolve) => {
    const off = cluster.store.onChange((e) => {
      if (pred(e)) {
        off();
        resolve(e);
      }
    });
  });
}

const byUser =
  (u: string) =>
  (m: RequestMessage): boolean =>
    h(m, 'User') === u;

export function serverSuite(kind: StoreKind, base: Partial<ClusterOptions> = {}): void {
  const open = (o: ClusterOptions = {}): Promise<Cluster> => startCluster({ ...base, ...o, store: kind });

  describe(`reference servers on ${kind}: shared cluster`, () => {
    let cluster: Cluster;
    const clients: ProtoClient[] = [];
    const track = (c: ProtoClient): ProtoClient => (clients.push(c), c);
    const user = async (
      base: string,
      profile?: { fullName?: string; location?: string; about?: string },
    ): Promise<string> => {
      const n = uname(base);
      await cluster.addUser(n, undefined, profile);
      return n;
    };
    before(async () => {
      cluster = await open({ ms: 2 });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await cluster.dispose();
    });

    test('[LOCATE-1] LOCATE at the CRS names the enrolled MSs, least loaded first', async () => {
      const text = await rawExchange(cluster.crsAddress, 'LOCATE\r\nImsp-version: 1\r\n\r\n', { untilHead: true });
      assert.match(text, /^200 OK\r\n/);
      const servers = [...text.matchAll(/^Server: (.*)\r$/gm)].map((m) => m[1]);
      assert.deepEqual(new Set(servers), new Set(cluster.ms.map((m) => m.address)));
    });

    test('[LOGIN-1] login: 300 challenge, 200 with Server-proof, key blob that opens with the password, SEALED link', async () => {
      const alice = await user('alice');
      const c = track(await ProtoClient.connect(cluster.ms[0]!.address));
      const out = await c.login(alice, `pw-${alice}`, { status: 'busy' });
      assert.equal(out.challenge.status, 300);
      assert.equal(h(out.challenge, 'Iterations'), '4096');
      assert.ok(h(out.challenge, 'Nonce')!.length > 24, 'nonce = cnonce + snonce');
      assert.equal(out.result?.status, 200);
      assert.ok(out.ok);
      assert.equal(h(out.result!, 'Status'), 'busy');
      const id = openKeyBlob(`pw-${alice}`, alice, h(out.result!, 'Key-blob')!);
      assert.equal(id.publicKey, h(out.result!, 'Public-key'));
      assert.ok(c.link.sealing, 'the link is sealed after login');
      assert.equal((await c.request('PING')).status, 200);
      const u = await cluster.store.getUser(alice);
      assert.equal(u?.state.kind, 'online');
    });

    test('[AUTH-8] wrong password: 401 ERR_AUTH_FAILED in clear, connection closed, lock released', async () => {
      const bob = await user('bob');
      const c = track(await ProtoClient.connect(cluster.ms[0]!.address));
      const out = await c.login(bob, 'wrong password');
      assert.equal(out.result?.status, 401);
      assert.equal(h(out.result!, 'Error-code'), 'ERR_AUTH_FAILED');
      await c.closed;
      const u = await cluster.store.getUser(bob);
      assert.equal(u?.state.kind, 'offline', 'UNLOCK freed the lock');
      const ok = track(await online(cluster, 1, bob));
      assert.ok(ok.link.sealing);
    });

    test('[AUTH-8] unknown user: a challenge like any other (stable fake salt, 4096 iterations), then 401', async () => {
      const ghost = uname('ghost');
      const c1 = track(await ProtoClient.connect(cluster.ms[0]!.address));
      const o1 = await c1.login(ghost, 'whatever');
      assert.equal(o1.challenge.status, 300);
      assert.equal(h(o1.challenge, 'Iterations'), '4096');
      assert.equal(o1.result?.status, 401);
      assert.equal(h(o1.result!, 'Error-code'), 'ERR_AUTH_FAILED');
      await c1.closed;
      const c2 = track(await ProtoClient.connect(cluster.ms[0]!.address));
      const o2 = await c2.login(ghost, 'whatever', { stopAfterChallenge: true });
      assert.equal(h(o2.challenge, 'Salt'), h(o1.challenge, 'Salt'), 'the fake salt is stable per user');
    });

    test('[AUTH-14] [AUTH-9] every MS gives the same decoy salt for an unknown name, HMAC(decoy key, name), different per name', async () => {
      const salts = async (msIndex: number, name: string): Promise<string | undefined> => {
        const c = track(await ProtoClient.connect(cluster.ms[msIndex]!.address));
        const o = await c.login(name, 'whatever', { stopAfterChallenge: true });
        assert.equal(o.challenge.status, 300);
        assert.equal(h(o.challenge, 'Iterations'), '4096');
        c.destroy();
        return h(o.challenge, 'Salt');
      };
      const g1 = uname('nobody');
      const g2 = uname('nobody');
      const s0 = await salts(0, g1);
      assert.equal(await salts(1, g1), s0, 'the two MSs agree');
      assert.equal(s0, b64(decoySalt(decoyKey(cluster.msKey), g1)), 'derived from the MS key as the spec says');
      assert.notEqual(await salts(1, g2), s0, 'another name, another salt');
      // A known user's real salt is not the decoy.
      const real = await user('known');
      assert.notEqual(await salts(0, real), b64(decoySalt(decoyKey(cluster.msKey), real)));
    });

    test('[LOCK-2] login while already online: 409 ERR_ALREADY_ONLINE, the connection stays open', async () => {
      const carol = await user('carol');
      track(await online(cluster, 0, carol));
      const c = track(await ProtoClient.connect(cluster.ms[1]!.address));
      const out = await c.login(carol, `pw-${carol}`);
      assert.equal(out.challenge.status, 409);
      assert.equal(h(out.challenge, 'Error-code'), 'ERR_ALREADY_ONLINE');
      // Still serving on this connection: another user can log in on it.
      const dave = await user('dave');
      const again = await c.login(dave, `pw-${dave}`);
      assert.equal(again.result?.status, 200);
      // Same MS, same user: refused too.
      const c3 = track(await ProtoClient.connect(cluster.ms[0]!.address));
      assert.equal((await c3.login(carol, `pw-${carol}`)).challenge.status, 409);
    });

    test('[LOCK-1] concurrent logins of one user through several MSs: exactly one wins (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.constantFrom(0, 1), { minLength: 2, maxLength: 4 }), async (where) => {
          const eve = await user('eve');
          const cs = await Promise.all(
            where.map(async (i) => track(await ProtoClient.connect(cluster.ms[i]!.address))),
          );
          const outs = await Promise.all(cs.map((c) => c.login(eve, `pw-${eve}`)));
          const winners = outs.filter((o) => o.result?.status === 200);
          assert.equal(winners.length, 1, outs.map((o) => `${o.challenge.status}/${o.result?.status}`).join(' '));
          for (const o of outs) {
            if (o.result?.status === 200) continue;
            // [LOCK-1] [LOCK-2] the others are refused with 423 or 409, their connections left open.
            assert.ok([409, 423].includes(o.challenge.status), `loser got ${o.challenge.status}`);
            assert.ok(['ERR_LOCKED', 'ERR_ALREADY_ONLINE'].includes(h(o.challenge, 'Error-code')!));
          }
          const u = await cluster.store.getUser(eve);
          assert.equal(u?.state.kind, 'online');
        }),
        { numRuns: 5 },
      );
    });

    test('[PRESENCE-2] [PRESENCE-3] [PRESENCE-4] presence: buddies on different MSs see login, status changes and logout', async () => {
      const a = await user('pa');
      const b = await user('pb');
      const ca = track(await online(cluster, 0, a));
      const cb = track(await online(cluster, 1, b));
      await befriend(ca, cb, a, b);
      // After the grant, each sees the other online with address and key (CONTACT).
      const contact = await ca.waitFor('CONTACT', byUser(b));
      assert.equal(h(contact, 'Status'), 'online');
      assert.equal(h(contact, 'Address'), '127.0.0.1:7200');
      assert.ok(h(contact, 'Public-key'));
      const st = await cb.request('STATUS', { Status: 'away' });
      assert.equal(st.status, 200);
      const p = await ca.waitFor('PRESENCE', (m) => h(m, 'User') === b && h(m, 'Status') === 'away');
      assert.equal(h(p, 'To'), undefined, 'To is not forwarded to clients');
      // LIST shows the buddy online.
      const list = recordsOf(await ca.request('LIST'));
      const rec = list.find((r) => r.User === b);
      assert.equal(rec?.Relation, 'buddy');
      assert.equal(rec?.Status, 'away');
      const lo = await cb.request('LOGOUT');
      assert.equal(lo.status, 200);
      await cb.closed;
      await ca.waitFor('PRESENCE', (m) => h(m, 'User') === b && h(m, 'Status') === 'offline');
      // The login bundle of a later login lists the buddy with presence.
      const cb2 = track(await online(cluster, 0, b));
      void cb2;
      await ca.waitFor('PRESENCE', (m) => h(m, 'User') === b && h(m, 'Status') === 'online');
    });

    test('[ADD-1] ADD to an online user: 200, pushed at once; GRANT makes both buddies; ANSWER pushed to the sender', async () => {
      const a = await user('aa');
      const b = await user('ab');
      const ca = track(await online(cluster, 0, a));
      const cb = track(await online(cluster, 1, b));
      const r = await ca.request('ADD', { To: b });
      assert.equal(r.status, 200);
      const add = await cb.waitFor('ADD', (m) => h(m, 'From') === a);
      assert.ok(h(add, 'Time'));
      // The sender's list shows a pending contact.
      const la = recordsOf(await ca.request('LIST'));
      assert.equal(la.find((x) => x.User === b)?.Relation, 'pending');
      assert.equal((await ca.request('ADD', { To: b })).status, 409, '[ADD-4] pending already');
      const g = await cb.request('ANSWER', { User: a, Decision: 'grant' });
      assert.equal(g.status, 200);
      const ans = await ca.waitFor('ANSWER', (m) => h(m, 'From') === b);
      assert.equal(h(ans, 'Decision'), 'grant');
      await ca.waitFor('CONTACT', (m) => h(m, 'User') === b && h(m, 'Relation') === 'buddy');
      await cb.waitFor('CONTACT', (m) => h(m, 'User') === a && h(m, 'Relation') === 'buddy');
      const again = await ca.request('ADD', { To: b });
      assert.equal(again.status, 409);
      assert.equal(h(again, 'Error-code'), 'ERR_ALREADY_BUDDY');
      assert.equal(
        (await cb.request('ANSWER', { User: a, Decision: 'grant' })).status,
        404,
        '[ADD-9] nothing pending any more',
      );
    });

    test('[AUTH-10] From is stamped from the session: a client cannot give From; the target sees the real sender', async () => {
      const a = await user('sa');
      const b = await user('sb');
      const ca = track(await online(cluster, 0, a));
      const cb = track(await online(cluster, 0, b));
      const forged = await ca.request('ADD', { To: b, From: 'mallory' });
      assert.equal(forged.status, 422);
      assert.equal(h(forged, 'Error-code'), 'ERR_HEADER_NOT_ALLOWED');
      assert.equal((await ca.request('ADD', { To: b })).status, 200);
      const add = await cb.waitFor('ADD');
      assert.equal(h(add, 'From'), a);
    });

    test('[ADD-9] an offline ADD is stored (202), delivered at every login until answered, never after', async () => {
      const a = await user('oa');
      const b = await user('ob');
      const ca = track(await online(cluster, 0, a));
      const r = await ca.request('ADD', { To: b });
      assert.equal(r.status, 202);
      for (let i = 0; i < 2; i++) {
        const cb = await online(cluster, i % 2, b);
        const recs = recordsOf(await cb.request('LIST'));
        assert.ok(
          recs.some((x) => x.From === a && x.Time),
          `login ${i}: pending ADD listed`,
        );
        assert.equal((await cb.request('LOGOUT')).status, 200);
        await cb.closed;
      }
      const cb = track(await ProtoClient.connect(cluster.ms[1]!.address));
      const out = await cb.login(b, `pw-${b}`);
      assert.ok(
        recordsOf(out.result!).some((x) => x.From === a),
        'in the login bundle',
      );
      assert.equal((await cb.request('ANSWER', { User: a, Decision: 'deny' })).status, 200);
      const ans = await ca.waitFor('ANSWER', (m) => h(m, 'From') === b);
      assert.equal(h(ans, 'Decision'), 'deny');
      assert.equal((await cb.request('LOGOUT')).status, 200);
      await cb.closed;
      const cb2 = track(await ProtoClient.connect(cluster.ms[0]!.address));
      const out2 = await cb2.login(b, `pw-${b}`);
      assert.ok(!recordsOf(out2.result!).some((x) => x.From === a), 'answered: no longer delivered');
    });

    test('[ADD-8] an ADD answering a pending ADD the other way grants both at once', async () => {
      const a = await user('ma');
      const b = await user('mb');
      const ca = track(await online(cluster, 0, a));
      const cb = track(await online(cluster, 1, b));
      assert.equal((await ca.request('ADD', { To: b })).status, 200);
      assert.equal((await cb.request('ADD', { To: a })).status, 200);
      await ca.waitFor('CONTACT', (m) => h(m, 'User') === b && h(m, 'Relation') === 'buddy');
      await cb.waitFor('CONTACT', (m) => h(m, 'User') === a && h(m, 'Relation') === 'buddy');
      assert.ok(!recordsOf(await cb.request('LIST')).some((x) => x.From === a), 'no pending request left');
    });

    test('[REM-4] REM of a blocked user unblocks it', async () => {
      const a = await user('qa');
      const b = await user('qb');
      const ca = track(await online(cluster, 0, a));
      assert.equal((await ca.request('BLOCK', { User: b })).status, 200);
      assert.equal(recordsOf(await ca.request('LIST')).find((x) => x.User === b)?.Relation, 'blocked');
      assert.equal((await ca.request('REM', { User: b })).status, 200);
      assert.ok(!recordsOf(await ca.request('LIST')).some((x) => x.User === b));
      assert.equal((await ca.request('UNBLOCK', { User: b })).status, 404);
    });

    test('[ADD-5] ADD to an unknown user: 404 ERR_UNKNOWN_USER; to oneself: 403 [ADD-6]', async () => {
      const a = await user('ua');
      const ca = track(await online(cluster, 0, a));
      const r = await ca.request('ADD', { To: uname('nobody') });
      assert.equal(r.status, 404);
      assert.equal(h(r, 'Error-code'), 'ERR_UNKNOWN_USER');
      const s = await ca.request('ADD', { To: a });
      assert.equal(s.status, 403, '[ADD-6]');
    });

    test('[REM-1] REM removes the buddy both ways (CONTACT none pushed to both), then 404 ERR_NOT_CONTACT', async () => {
      const a = await user('ra');
      const b = await user('rb');
      const ca = track(await online(cluster, 0, a));
      const cb = track(await online(cluster, 1, b));
      await befriend(ca, cb, a, b);
      const r = await ca.request('REM', { User: b });
      assert.equal(r.status, 200);
      await ca.waitFor('CONTACT', (m) => h(m, 'User') === b && h(m, 'Relation') === 'none');
      await cb.waitFor('CONTACT', (m) => h(m, 'User') === a && h(m, 'Relation') === 'none');
      assert.ok(!recordsOf(await cb.request('LIST')).some((x) => x.User === a));
      const again = await ca.request('REM', { User: b });
      assert.equal(again.status, 404);
      assert.equal(h(again, 'Error-code'), 'ERR_NOT_CONTACT');
      // No presence flows any more: b's status change reaches a only as nothing (barrier: a third buddy).
    });

    test('[REM-3] REM withdraws an unanswered ADD: it is not delivered at the next login', async () => {
      const a = await user('wa');
      const b = await user('wb');
      const ca = track(await online(cluster, 0, a));
      assert.equal((await ca.request('ADD', { To: b })).status, 202);
      assert.equal((await ca.request('REM', { User: b })).status, 200);
      const cb = track(await ProtoClient.connect(cluster.ms[1]!.address));
      const out = await cb.login(b, `pw-${b}`);
      assert.ok(!recordsOf(out.result!).some((x) => x.From === a));
    });

    test('[BLOCK-1] BLOCK ends the relation both ways: the blocked user sees an offline and a REM, then nothing of the blocker', async () => {
      const a = await user('ba');
      const b = await user('bb');
      const w = await user('bw'); // a buddy of both, used as a barrier for "nothing arrived"
      const ca = track(await online(cluster, 0, a));
      const cb = track(await online(cluster, 1, b));
      const cw = track(await online(cluster, 0, w));
      await befriend(ca, cb, a, b);
      await befriend(cw, cb, w, b);
      await befriend(cw, ca, w, a);
      assert.equal((await ca.request('BLOCK', { User: b })).status, 200);
      // [BLOCK-2] the blocker sees Relation blocked; the blocked user an offline and a REM.
      await ca.waitFor('CONTACT', (m) => h(m, 'User') === b && h(m, 'Relation') === 'blocked');
      await cb.waitFor('PRESENCE', (m) => h(m, 'User') === a && h(m, 'Status') === 'offline');
      await cb.waitFor('CONTACT', (m) => h(m, 'User') === a && h(m, 'Relation') === 'none');
      assert.ok(!recordsOf(await cb.request('LIST')).some((x) => x.User === a), '[BLOCK-4] looks like a REM');
      const before = cb.seen('PRESENCE', byUser(a)).length;
      assert.equal((await ca.request('STATUS', { Status: 'busy' })).status, 200);
      // w sees a's change; b, later in the same push order, does not [BLOCK-8].
      await cw.waitFor('PRESENCE', (m) => h(m, 'User') === a && h(m, 'Status') === 'busy');
      assert.equal((await cw.request('STATUS', { Status: 'away' })).status, 200);
      await cb.waitFor('PRESENCE', (m) => h(m, 'User') === w && h(m, 'Status') === 'away');
      assert.equal(cb.seen('PRESENCE', byUser(a)).length, before, 'no presence of the blocker after the block');
      // ... nor the blocker of the blocked user.
      const aBefore = ca.seen('PRESENCE', byUser(b)).length;
      assert.equal((await cb.request('STATUS', { Status: 'away' })).status, 200);
      await cw.waitFor('PRESENCE', (m) => h(m, 'User') === b && h(m, 'Status') === 'away');
      assert.equal((await cw.request('STATUS', { Status: 'busy' })).status, 200);
      await ca.waitFor('PRESENCE', (m) => h(m, 'User') === w && h(m, 'Status') === 'busy');
      assert.equal(ca.seen('PRESENCE', byUser(b)).length, aBefore, 'the blocker gets no presence of the blocked user');
      // [BLOCK-7] again: 200, nothing changes; oneself: 403. [BLOCK-5] UNBLOCK, then [BLOCK-9] 404.
      assert.equal((await ca.request('BLOCK', { User: b })).status, 200);
      assert.equal((await ca.request('BLOCK', { User: a })).status, 403);
      assert.equal((await ca.request('UNBLOCK', { User: b })).status, 200);
      await ca.waitFor('CONTACT', (m) => h(m, 'User') === b && h(m, 'Relation') === 'none');
      const again = await ca.request('UNBLOCK', { User: b });
      assert.equal(again.status, 404);
      assert.equal(h(again, 'Error-code'), 'ERR_NOT_CONTACT');
    });

    test('[BLOCK-6] an ADD from a blocked user is answered 202 and never delivered while the block lasts', async () => {
      const a = await user('xa');
      const b = await user('xb');
      const ca = track(await online(cluster, 0, a));
      assert.equal((await ca.request('BLOCK', { User: b })).status, 200);
      const cb = track(await online(cluster, 1, b));
      const r = await cb.request('ADD', { To: a });
      assert.equal(r.status, 202, 'blocking is not revealed');
      assert.ok(!recordsOf(await ca.request('LIST')).some((x) => x.From === b), 'not delivered');
      assert.equal((await ca.request('ADD', { To: b })).status, 403, "[ADD-6] an ADD to a user on one's block list");
      assert.equal((await ca.request('BLOCK', { User: uname('nobody') })).status, 404);
    });

    test("[PROFILE-1] PROFILE: set one's own, read another's; changing another's is 403 ERR_FORBIDDEN", async () => {
      const a = await user('fa', { fullName: 'Alice A', location: 'Paris' });
      const b = await user('fb');
      const cb = track(await online(cluster, 0, b));
      const r = await cb.request('PROFILE', { User: a });
      assert.equal(r.status, 200);
      assert.equal(h(r, 'User'), a);
      assert.equal(h(r, 'Full-name'), 'Alice A');
      assert.equal(h(r, 'Location'), 'Paris');
      const set = await cb.request('PROFILE', { 'Full-name': 'Bob B', About: 'hi' });
      assert.equal(set.status, 200);
      assert.equal(h(set, 'Full-name'), 'Bob B');
      const mine = await cb.request('PROFILE');
      assert.equal(h(mine, 'About'), 'hi');
      const forbidden = await cb.request('PROFILE', { User: a, 'Full-name': 'Hacked' });
      assert.equal(forbidden.status, 403);
      assert.equal(h(forbidden, 'Error-code'), 'ERR_FORBIDDEN');
      const missing = await cb.request('PROFILE', { User: uname('nobody') });
      assert.equal(missing.status, 404);
    });

    test('[SEARCH-1] SEARCH by username prefix and by name, paged with Limit and Next-cursor', async () => {
      const prefix = uname('zq');
      const names = [`${prefix}a`, `${prefix}b`, `${prefix}c`];
      for (const n of names) await cluster.addUser(n, undefined, { fullName: `Zed ${n}` });
      const me = await user('sq');
      const c = track(await online(cluster, 0, me));
      const p1 = await c.request('SEARCH', { Query: prefix, Field: 'username', Limit: 2 });
      assert.equal(p1.status, 200);
      const r1 = recordsOf(p1).map((x) => x.User);
      assert.deepEqual(r1, names.slice(0, 2));
      const cursor = h(p1, 'Next-cursor');
      assert.ok(cursor);
      const p2 = await c.request('SEARCH', { Query: prefix, Field: 'username', Limit: 2, Cursor: cursor });
      assert.deepEqual(
        recordsOf(p2).map((x) => x.User),
        names.slice(2),
      );
      assert.equal(h(p2, 'Next-cursor'), undefined);
      const byName = await c.request('SEARCH', { Query: `zed ${prefix}b`, Field: 'name' });
      assert.deepEqual(
        recordsOf(byName).map((x) => x.User),
        [`${prefix}b`],
      );
      assert.equal(recordsOf(byName)[0]?.['Full-name'], `Zed ${prefix}b`);
    });

    test('[PASSWD-1] PASSWD replaces the verifier and key blob: the new password logs in, the old one fails', async () => {
      const a = await user('pw');
      const c = track(await online(cluster, 0, a));
      const v = makeVerifier('new secret');
      const blob = sealKeyBlob('new secret', a, generateIdentity(), { log2N: 10 });
      const r = await c.request('PASSWD', {
        Salt: v.salt,
        Iterations: v.iterations,
        'Stored-key': v.storedKey,
        'Server-key': v.serverKey,
        'Key-blob': blob,
      });
      assert.equal(r.status, 200);
      const low = await c.request('PASSWD', {
        Salt: v.salt,
        Iterations: 1000,
        'Stored-key': v.storedKey,
        'Server-key': v.serverKey,
        'Key-blob': blob,
      });
      assert.equal(low.status, 422, '[AUTH-5] fewer than 4096 iterations refused');
      assert.equal((await c.request('LOGOUT')).status, 200);
      await c.closed;
      const old = track(await ProtoClient.connect(cluster.ms[1]!.address));
      assert.equal((await old.login(a, `pw-${a}`)).result?.status, 401);
      const neu = track(await ProtoClient.connect(cluster.ms[1]!.address));
      const out = await neu.login(a, 'new secret');
      assert.equal(out.result?.status, 200);
      assert.ok(out.ok);
      assert.equal(h(out.result!, 'Key-blob'), blob);
    });

    test("[STATE-1] out-of-state and malformed messages get the registry's error and the MS keeps serving", async () => {
      const a = await user('ma');
      // PROOF before LOGIN: 425, and the error table closes the connection after it [STATE-6].
      const early = track(await ProtoClient.connect(cluster.ms[0]!.address));
      const p = await early.request('PROOF', { Proof: 'A'.repeat(43) });
      assert.equal(p.status, 425);
      assert.equal(h(p, 'Error-code'), 'ERR_OUT_OF_STATE');
      const c = track(await ProtoClient.connect(cluster.ms[0]!.address));
      // A session method in clear before login: 425, then the close [STATE-5] (tested below).
      // LOGIN missing a required header: 422 ERR_MISSING_HEADER.
      const miss = await c.request('LOGIN', { 'Imsp-version': 1, User: a });
      assert.equal(miss.status, 422);
      assert.equal(h(miss, 'Error-code'), 'ERR_MISSING_HEADER');
      // A bad header value: 422 ERR_BAD_VALUE.
      const bad = await c.request('LOGIN', {
        'Imsp-version': 1,
        User: 'Not A Name',
        Nonce: 'x'.repeat(24),
        'Key-share': 'A'.repeat(43),
        Address: '127.0.0.1:1',
      });
      assert.equal(bad.status, 422);
      assert.equal(h(bad, 'Error-code'), 'ERR_BAD_VALUE');
      // An unknown method: 405 ERR_UNKNOWN_METHOD; then a LOGIN on the same connection is served.
      const unk = await rawExchange(cluster.ms[0]!.address, 'FROBNICATE\r\n\r\nLOGIN\r\nImsp-version: 1\r\n\r\n', {
        untilHead: true,
      });
      assert.match(unk, /^405 .*\r\nError-code: ERR_UNKNOWN_METHOD\r\n/s);
      // A method not allowed client -> MS: 405 ERR_METHOD_NOT_ALLOWED.
      const lock = await rawExchange(cluster.ms[0]!.address, `LOCK\r\nUser: ${a}\r\n\r\n`, { untilHead: true });
      assert.match(lock, /^405 .*Error-code: ERR_METHOD_NOT_ALLOWED\r\n/s);
      // The same connection still logs in.
      const out = await c.login(a, `pw-${a}`);
      assert.equal(out.result?.status, 200);
      // LOGIN again inside the session (sealed, where LOGIN travels in clear): out of state, 425,
      // and the session goes on [REG-15].
      const again = await c.request('LOGIN', {
        'Imsp-version': 1,
        User: a,
        Nonce: 'x'.repeat(24),
        'Key-share': 'A'.repeat(43),
        Address: '127.0.0.1:1',
      });
      assert.equal(again.status, 425);
      assert.equal(h(again, 'Error-code'), 'ERR_OUT_OF_STATE');
      assert.equal((await c.request('PING')).status, 200);
    });

    test('[WIRE-4] a framing error is answered 400 and the connection closed; the MS keeps serving', async () => {
      const text = await rawExchange(cluster.ms[1]!.address, 'lowercase start line\r\n\r\n');
      assert.match(text, /^400 /);
      assert.match(text, /Error-code: ERR_BAD_METHOD/);
      const crsText = await rawExchange(cluster.crsAddress, 'ENROLL\r\nBad Header\r\n\r\n');
      assert.match(crsText, /^400 /);
      const a = await user('fr');
      track(await online(cluster, 1, a));
    });

    test('[CONN-2] an unsupported Imsp-version gets 400 ERR_VERSION and the close: LOGIN at the MS, ENROLL and LOCATE at the CRS', async () => {
      const c = track(await ProtoClient.connect(cluster.ms[0]!.address));
      const r = await c.request('LOGIN', {
        'Imsp-version': 2,
        User: 'someone',
        Nonce: 'x'.repeat(24),
        'Key-share': 'A'.repeat(43),
        Address: '127.0.0.1:1',
      });
      assert.equal(r.status, 400);
      assert.equal(h(r, 'Error-code'), 'ERR_VERSION');
      await c.closed;
      // rawExchange resolves when the server closes: each answer is followed by the close.
      const loc = await rawExchange(cluster.crsAddress, 'LOCATE\r\nImsp-version: 2\r\n\r\n');
      assert.match(loc, /^400 [^\r]*\r\n(.*\r\n)*Error-code: ERR_VERSION\r\n/);
      const enr = await rawExchange(
        cluster.crsAddress,
        `ENROLL\r\nImsp-version: 2\r\nMs-id: ms-x\r\nIncarnation: 1\r\nNonce: ${'x'.repeat(24)}\r\nKey-share: ${'A'.repeat(43)}\r\nListen: 127.0.0.1:1\r\nCapacity: 10\r\n\r\n`,
      );
      assert.match(enr, /^400 [^\r]*\r\n(.*\r\n)*Error-code: ERR_VERSION\r\n/);
      track(await online(cluster, 0, await user('vv')));
    });

    test('[STATE-5] a session method in clear before login gets 425 ERR_OUT_OF_STATE and the close', async () => {
      const c = track(await ProtoClient.connect(cluster.ms[1]!.address));
      const l = await c.request('LIST');
      assert.equal(l.status, 425);
      assert.equal(h(l, 'Error-code'), 'ERR_OUT_OF_STATE');
      await c.closed;
      const raw = await rawExchange(cluster.ms[1]!.address, 'PING\r\n\r\n');
      assert.match(raw, /^425 [^\r]*\r\n(.*\r\n)*Error-code: ERR_OUT_OF_STATE\r\n/);
      track(await online(cluster, 1, await user('st')));
    });

    test('[ENROLL-4] the CRS refuses an MS with a wrong key (401), ENROLL-less requests (425) and garbage (400), and keeps serving', async () => {
      const bad = await RawMs.connect(cluster.crsAddress);
      const out = await bad.enroll(Buffer.alloc(32, 7), { msId: uname('rogue') });
      assert.equal(out.challenge.status, 300);
      assert.equal(out.result?.status, 401);
      assert.equal(h(out.result!, 'Error-code'), 'ERR_AUTH_FAILED');
      await bad.closed;
      // [CONN-1] a first message other than ENROLL or LOCATE: 425, then the connection is closed.
      const early = await RawMs.connect(cluster.crsAddress);
      const r = await early.request('PING');
      assert.equal(r.status, 425);
      assert.equal(h(r, 'Error-code'), 'ERR_OUT_OF_STATE');
      await early.closed;
      const proof = await rawExchange(cluster.crsAddress, `PROOF\r\nProof: ${'A'.repeat(43)}\r\n\r\n`);
      assert.match(proof, /^425 .*Error-code: ERR_OUT_OF_STATE/s);
      // A refused first LOCATE (a bad header) is answered, then the connection closed.
      const badLocate = await rawExchange(cluster.crsAddress, 'LOCATE\r\nImsp-version: x\r\n\r\nLOCATE\r\n\r\n');
      assert.match(badLocate, /^422 /);
      assert.doesNotMatch(badLocate, /\r\n200 OK/);
      const text = await rawExchange(cluster.crsAddress, 'garbage line\r\n\r\n');
      assert.match(text, /^400 /);
      const good = await RawMs.connect(cluster.crsAddress);
      const ok = await good.enroll(cluster.msKey, { msId: uname('fine') });
      assert.ok(ok.ok);
      assert.equal((await good.request('PING')).status, 200);
      assert.equal((await good.request('LEAVE')).status, 200);
      await good.closed;
    });

    test('[LOCK-6] the CRS refuses every epoch-bound request with a stale epoch (410 ERR_STALE_EPOCH)', async () => {
      const a = await user('ea');
      const ms = await RawMs.connect(cluster.crsAddress);
      try {
        assert.ok((await ms.enroll(cluster.msKey, { msId: uname('fence') })).ok);
        const lock = await ms.request('LOCK', { User: a });
        assert.equal(lock.status, 200);
        const epoch = Number(h(lock, 'Epoch'));
        const stale = await ms.request('ONLINE', {
          User: a,
          Epoch: epoch - 1,
          Address: '127.0.0.1:9',
          Status: 'online',
        });
        assert.equal(stale.status, 410);
        assert.equal(h(stale, 'Error-code'), 'ERR_STALE_EPOCH');
        const relock = await ms.request('LOCK', { User: a });
        assert.equal(relock.status, 423, '[LOCK-1] the lock is held');
        const on = await ms.request('ONLINE', { User: a, Epoch: epoch, Address: '127.0.0.1:9', Status: 'online' });
        assert.equal(on.status, 200);
        for (const [method, fields] of [
          ['STATUS', { User: a, Epoch: epoch + 5, Status: 'busy' }],
          ['LIST', { User: a, Epoch: epoch + 5 }],
          ['ADD', { From: a, To: a, Epoch: epoch + 5 }],
          ['REM', { From: a, User: a, Epoch: epoch + 5 }],
          ['SEARCH', { From: a, Epoch: epoch + 5, Query: 'x' }],
          ['PROFILE', { From: a, Epoch: epoch + 5 }],
          ['OFFLINE', { User: a, Epoch: epoch + 5 }],
        ] as const) {
          const r = await ms.request(method, fields);
          assert.equal(r.status, 410, method);
        }
        assert.equal((await ms.request('UNLOCK', { User: a, Epoch: epoch + 1 })).status, 410);
        assert.equal((await ms.request('OFFLINE', { User: a, Epoch: epoch })).status, 200);
      } finally {
        ms.destroy();
      }
    });

    test('[REGISTER-1] REGISTER over an MS link creates a user; a second time 409 ERR_USER_EXISTS', async () => {
      const ms = await RawMs.connect(cluster.crsAddress);
      try {
        assert.ok((await ms.enroll(cluster.msKey, { msId: uname('reg') })).ok);
        const n = uname('reg');
        const v = makeVerifier('pw');
        const id = generateIdentity();
        const fields = {
          User: n,
          Salt: v.salt,
          Iterations: v.iterations,
          'Stored-key': v.storedKey,
          'Server-key': v.serverKey,
          'Key-blob': sealKeyBlob('pw', n, id, { log2N: 10 }),
          'Public-key': id.publicKey,
        };
        assert.equal((await ms.request('REGISTER', fields)).status, 201);
        const dup = await ms.request('REGISTER', fields);
        assert.equal(dup.status, 409);
        assert.equal(h(dup, 'Error-code'), 'ERR_USER_EXISTS');
        assert.equal((await ms.request('LEAVE')).status, 200);
      } finally {
        ms.destroy();
      }
      const n2 = uname('reg');
      void n2;
    });

    test('[ENROLL-6] an ENROLL with an Ms-id enrolled at an equal or higher incarnation is refused (409)', async () => {
      const id = uname('dup');
      const first = await RawMs.connect(cluster.crsAddress);
      const second = await RawMs.connect(cluster.crsAddress);
      try {
        assert.ok((await first.enroll(cluster.msKey, { msId: id, incarnation: 1000 })).ok);
        const r = await second.enroll(cluster.msKey, { msId: id, incarnation: 1000 });
        assert.equal(r.challenge.status, 409);
        assert.equal(h(r.challenge, 'Error-code'), 'ERR_MS_CONFLICT');
        await second.closed;
        // A higher incarnation replaces the old one; the old link is closed.
        const third = await RawMs.connect(cluster.crsAddress);
        assert.ok((await third.enroll(cluster.msKey, { msId: id, incarnation: 2000 })).ok);
        await first.closed;
        assert.equal((await third.request('LEAVE')).status, 200);
        third.destroy();
      } finally {
        first.destroy();
        second.destroy();
      }
    });

    test('[METRICS-1] the servers count logins, sessions and errors', async () => {
      const text = await cluster.ms[0]!.metrics.registry.metrics();
      assert.match(text, /imsp_logins_total\{result="ok",role="ms"\} [1-9]/);
      assert.match(text, /imsp_sessions\{kind="client",role="ms"\}/);
      const crs = await cluster.crs.metrics.registry.metrics();
      assert.match(crs, /imsp_pushes_total\{method="PRESENCE",role="crs"\} [1-9]/);
      assert.match(crs, /imsp_lock_contention_total/);
    });
  });

  describe(`reference servers on ${kind}: failures and limits`, () => {
    test('[LOGIN-9] an MS killed mid-login: the CRS frees its lock when the link closes; the user logs in elsewhere', async (t) => {
      const cluster = await open({ ms: 2 });
      t.after(() => cluster.dispose());
      await cluster.addUser('kim');
      const c = await ProtoClient.connect(cluster.ms[0]!.address);
      t.after(() => c.destroy());
      assert.equal((await c.login('kim', 'pw-kim', { stopAfterChallenge: true })).challenge.status, 300);
      assert.equal((await cluster.store.getUser('kim'))?.state.kind, 'locked');
      const closed = new Promise<void>((resolve) => cluster.crs.once('ms-closed', () => resolve()));
      cluster.ms[0]!.kill();
      await closed; // [ENROLL-10] the enrollment (and its lock) ends with the link
      const c2 = await online(cluster, 1, 'kim');
      t.after(() => c2.destroy());
    });

    test('[HB-4] an MS frozen mid-login: its lock is freed when its lease ends; the user logs in elsewhere', async (t) => {
      const cluster = await open({ ms: 2, limits: { msLease: 1000, msHeartbeatInterval: 100, lockLease: 10000 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('kit');
      const c = await ProtoClient.connect(cluster.ms[0]!.address);
      t.after(() => c.destroy());
      assert.equal((await c.login('kit', 'pw-kit', { stopAfterChallenge: true })).challenge.status, 300);
      const expired = new Promise<void>((resolve) => cluster.crs.once('ms-expired', () => resolve()));
      cluster.ms[0]!.freeze();
      assert.equal(
        (await cluster.store.getUser('kit'))?.state.kind,
        'locked',
        'still locked: a frozen MS keeps its link open',
      );
      await expired;
      const c2 = await online(cluster, 1, 'kit');
      t.after(() => c2.destroy());
    });

    test('[HB-4] a dead MS: the CRS sets its users offline and pushes it to their buddies', async (t) => {
      const cluster = await open({ ms: 2, limits: { msLease: 1000, msHeartbeatInterval: 100 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('dan');
      await cluster.addUser('ivy');
      const cd = await online(cluster, 0, 'dan');
      const ci = await online(cluster, 1, 'ivy');
      t.after(() => (cd.destroy(), ci.destroy()));
      await befriend(cd, ci, 'dan', 'ivy');
      cluster.ms[0]!.kill();
      await ci.waitFor('PRESENCE', (m) => h(m, 'User') === 'dan' && h(m, 'Status') === 'offline');
      assert.equal((await cluster.store.getUser('dan'))?.state.kind, 'offline');
    });

    test('[LOCK-3] a lock not converted within lockLease expires', async (t) => {
      const cluster = await open({ ms: 2, limits: { lockLease: 200, handshakeTimeout: 10000 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('lea');
      const c = await ProtoClient.connect(cluster.ms[0]!.address);
      t.after(() => c.destroy());
      await c.login('lea', 'pw-lea', { stopAfterChallenge: true });
      const expired = new Promise<string[]>((resolve) => cluster.crs.on('locks-expired', resolve));
      assert.deepEqual(await expired, ['lea']);
      const other = await ProtoClient.connect(cluster.ms[1]!.address);
      t.after(() => other.destroy());
      const status = (await other.login('lea', 'pw-lea', { stopAfterChallenge: true })).challenge.status;
      assert.equal(status, 300, 'the lock expired');
    });

    test('[LOGIN-8] ONLINE refused 410 ERR_STALE_EPOCH (the lock lease ran out before the PROOF): PROOF answered 503 ERR_UNAVAILABLE, then the close', async (t) => {
      const cluster = await open({ ms: 1, limits: { lockLease: 200, handshakeTimeout: 10000 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('lou');
      const c = await ProtoClient.connect(cluster.ms[0]!.address);
      t.after(() => c.destroy());
      // The client side of LOGIN by hand, so that the PROOF (with the right password) goes after the lease.
      const share = generateKeyShare();
      const cnonce = makeNonce();
      const eC = b64(share.publicKey);
      const address = '127.0.0.1:7200';
      const expired = new Promise<string[]>((resolve) => cluster.crs.on('locks-expired', resolve));
      const challenge = await c.request('LOGIN', {
        'Imsp-version': 1,
        User: 'lou',
        Nonce: cnonce,
        'Key-share': eC,
        Address: address,
      });
      assert.equal(challenge.status, 300);
      assert.deepEqual(await expired, ['lou']);
      const salt = h(challenge, 'Salt')!;
      const iterations = Number(h(challenge, 'Iterations'));
      const eS = h(challenge, 'Key-share')!;
      const auth = loginAuthMessage({
        user: 'lou',
        cnonce,
        nonce: h(challenge, 'Nonce')!,
        salt,
        iterations,
        eC,
        eS,
        address,
      });
      const cl = clientLogin('pw-lou', unb64(salt), iterations, auth);
      const r = await c.request('PROOF', { Proof: b64(cl.proof) });
      assert.equal(r.status, 503);
      assert.equal(h(r, 'Error-code'), 'ERR_UNAVAILABLE');
      await c.closed;
      assert.equal((await cluster.store.getUser('lou'))?.state.kind, 'offline', 'no session was opened');
      const again = await online(cluster, 0, 'lou');
      t.after(() => again.destroy());
    });

    test('[HB-8] [HB-9] the MS PINGs an idle client, the CRS PINGs an idle MS', async (t) => {
      const cluster = await open({
        ms: 1,
        limits: { clientHeartbeatInterval: 100, msHeartbeatInterval: 100, msLease: 2000 },
      });
      t.after(() => cluster.dispose());
      await cluster.addUser('pia');
      const c = await online(cluster, 0, 'pia');
      t.after(() => c.destroy());
      await c.nextPing();
      assert.ok(c.pings >= 1);
      const ms = await RawMs.connect(cluster.crsAddress);
      t.after(() => ms.destroy());
      assert.ok((await ms.enroll(cluster.msKey, { msId: 'idle-ms' })).ok);
      await ms.nextPing();
    });

    test('[HB-2] a silent client session ends after sessionTimeout: NOTICE ERR_SESSION_ENDED, buddies see offline', async (t) => {
      const cluster = await open({ ms: 2, msLimits: { sessionTimeout: 400, clientHeartbeatInterval: 300000 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('sid');
      await cluster.addUser('sue');
      const a = await online(cluster, 0, 'sid');
      const b = await online(cluster, 1, 'sue');
      t.after(() => (a.destroy(), b.destroy()));
      await befriend(a, b, 'sid', 'sue');
      // sue keeps talking; sid falls silent.
      const keep = setInterval(() => void b.request('PING').catch(() => undefined), 50);
      t.after(() => clearInterval(keep));
      const notice = await a.waitFor('NOTICE');
      assert.equal(h(notice, 'Error-code'), 'ERR_SESSION_ENDED');
      await a.closed;
      await b.waitFor('PRESENCE', (m) => h(m, 'User') === 'sid' && h(m, 'Status') === 'offline');
    });

    test('[MS-SHUTDOWN-1] a graceful MS stop: NOTICE ERR_SHUTDOWN, users offline at the CRS, LEAVE', async (t) => {
      const cluster = await open({ ms: 2 });
      t.after(() => cluster.dispose());
      await cluster.addUser('gus');
      await cluster.addUser('gil');
      const a = await online(cluster, 0, 'gus');
      const b = await online(cluster, 1, 'gil');
      t.after(() => (a.destroy(), b.destroy()));
      await befriend(a, b, 'gus', 'gil');
      const msId = cluster.ms[0]!.msId;
      const left = nextStoreEvent(cluster, (e) => e.type === 'ms-gone' && e.msId === msId && e.reason === 'left');
      await cluster.ms[0]!.stop();
      const n = await a.waitFor('NOTICE');
      assert.equal(h(n, 'Error-code'), 'ERR_SHUTDOWN');
      await a.closed;
      await left;
      assert.equal((await cluster.store.getUser('gus'))?.state.kind, 'offline');
      await b.waitFor('PRESENCE', (m) => h(m, 'User') === 'gus' && h(m, 'Status') === 'offline');
      assert.equal(await cluster.store.getMs(msId), null);
    });

    test('[ENROLL-7] an MS that loses the CRS ends its sessions and re-enrolls with a higher incarnation', async (t) => {
      const cluster = await open({ ms: 1 });
      t.after(() => cluster.dispose());
      await cluster.addUser('ray');
      const c = await online(cluster, 0, 'ray');
      t.after(() => c.destroy());
      const ms = cluster.ms[0]!;
      const first = ms.incarnation;
      const reenrolled = new Promise<number>((resolve) => ms.once('enrolled', resolve));
      // Cut the MS-CRS link from the CRS side (as a CRS restart would).
      await cluster.crs.dropMs(ms.msId);
      const n = await c.waitFor('NOTICE');
      assert.equal(h(n, 'Error-code'), 'ERR_SESSION_ENDED');
      const inc = await reenrolled;
      assert.ok(inc > first, 'higher incarnation');
      assert.equal((await cluster.store.getUser('ray'))?.state.kind, 'offline', 'older incarnation freed');
      const again = await online(cluster, 0, 'ray');
      t.after(() => again.destroy());
    });

    test('[RATE-1] [RATE-3] per-connection rate limit: 429 with warnings, then disconnect', async (t) => {
      const cluster = await open({
        ms: 1,
        msLimits: { rateLimitBurst: 5, rateLimitPerSecond: 1, rateLimitWarnings: 2 },
      });
      t.after(() => cluster.dispose());
      await cluster.addUser('rob');
      const c = await online(cluster, 0, 'rob');
      t.after(() => c.destroy());
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          c.request('PING').then(
            (r) => r.status,
            () => 0,
          ),
        ),
      );
      assert.ok(results.includes(429), `some requests refused: ${results.join(',')}`);
      const notice = await c.waitFor('NOTICE');
      assert.equal(h(notice, 'Error-code'), 'ERR_RATE_LIMITED');
      await c.closed;
      // The MS keeps serving others.
      await cluster.addUser('ron');
      const other = await online(cluster, 0, 'ron');
      t.after(() => other.destroy());
    });

    test('[RATE-4] failed logins per user: after maxFailedLoginsPerUser, LOGIN gets 429 with Retry-after', async (t) => {
      const cluster = await open({ ms: 1, msLimits: { maxFailedLoginsPerUser: 2 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('fay');
      for (let i = 0; i < 2; i++) {
        const c = await ProtoClient.connect(cluster.ms[0]!.address);
        assert.equal((await c.login('fay', 'nope')).result?.status, 401);
        await c.closed;
      }
      const c = await ProtoClient.connect(cluster.ms[0]!.address);
      t.after(() => c.destroy());
      const r = await c.login('fay', 'pw-fay');
      assert.equal(r.challenge.status, 429);
      assert.equal(h(r.challenge, 'Error-code'), 'ERR_RATE_LIMITED');
      assert.ok(Number(h(r.challenge, 'Retry-after')) > 0);
    });

    test('[RATE-5] failed logins per address: after maxFailedLoginsPerAddress, LOGIN of any user from it gets 429', async (t) => {
      const cluster = await open({ ms: 1, msLimits: { maxFailedLoginsPerAddress: 2 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('abe');
      for (const u of ['x1', 'x2']) {
        const c = await ProtoClient.connect(cluster.ms[0]!.address);
        assert.equal((await c.login(u, 'nope')).result?.status, 401, 'unknown users fail like wrong passwords');
        await c.closed;
      }
      const c = await ProtoClient.connect(cluster.ms[0]!.address);
      t.after(() => c.destroy());
      const r = await c.login('abe', 'pw-abe');
      assert.equal(r.challenge.status, 429);
      assert.equal(h(r.challenge, 'Error-code'), 'ERR_RATE_LIMITED');
    });

    test('[RATE-2] the per-user rate limit refuses with 429 and Retry-after', async (t) => {
      const cluster = await open({ ms: 1, msLimits: { userRateLimitPerSecond: 1, userRateLimitBurst: 1 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('uma');
      const c = await online(cluster, 0, 'uma');
      t.after(() => c.destroy());
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await c.request('PING');
        statuses.push(r.status);
        if (r.status === 429) assert.ok(Number(h(r, 'Retry-after')) > 0);
      }
      assert.ok(statuses.includes(429), statuses.join(','));
    });

    test('[RATE-8] a PING at the heartbeat pace is counted by neither the connection limit nor the per-user limit', async (t) => {
      const cluster = await open({
        ms: 1,
        msLimits: { userRateLimitPerSecond: 1, userRateLimitBurst: 1, clientHeartbeatInterval: 200 },
      });
      t.after(() => cluster.dispose());
      await cluster.addUser('ulla');
      const c = await online(cluster, 0, 'ulla');
      t.after(() => c.destroy());
      const first = await c.request('PING'); // the first PING of the connection: free
      const status = await c.request('STATUS', { Status: 'away' }); // the user's one token
      await new Promise((res) => setTimeout(res, 250)); // a heartbeat interval later; a quarter token back
      const paced = await c.request('PING');
      assert.deepEqual([first.status, status.status, paced.status], [200, 200, 200]);
      assert.equal((await c.request('PING')).status, 429); // one sooner counts, and the bucket is empty
    });

    test('[ADD-LIMIT-3] ADDs per minute per user are limited (429) by the CRS', async (t) => {
      const cluster = await open({ ms: 1, crsLimits: { maxAddsPerMinute: 2 } });
      t.after(() => cluster.dispose());
      await cluster.addUser('amy');
      const c = await online(cluster, 0, 'amy');
      t.after(() => c.destroy());
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        await cluster.addUser(`t${i}`);
        statuses.push((await c.request('ADD', { To: `t${i}` })).status);
      }
      assert.deepEqual(statuses, [202, 202, 429]);
    });

    test('[CONN-7] an MS without the CRS answers LOGIN 503 ERR_UNAVAILABLE; an MS at capacity too', async (t) => {
      const cluster = await open({ ms: 1, capacity: 1 });
      t.after(() => cluster.dispose());
      await cluster.addUser('cat');
      await cluster.addUser('cub');
      const a = await online(cluster, 0, 'cat');
      t.after(() => a.destroy());
      const b = await ProtoClient.connect(cluster.ms[0]!.address);
      t.after(() => b.destroy());
      const r = await b.login('cub', 'pw-cub');
      assert.equal(r.challenge.status, 503);
      assert.equal(h(r.challenge, 'Error-code'), 'ERR_UNAVAILABLE');
    });
  });
}
