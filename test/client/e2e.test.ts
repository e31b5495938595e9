// The client library end to end against the reference CRS and MSs (test/helpers/cluster.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { ImspClient, type ClientOptions } from '../../reference/client/client.js';
import { parseHostPort } from '../../reference/net/address.js';
import { RawPeer, next } from './p2p-harness.js';

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, users: string[]) {
  const cluster = await startCluster({ ms: 2, users });
  const dir = await mkdtemp(join(tmpdir(), 'imsp-client-e2e-'));
  const clients: ImspClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close();
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  const make = (user: string, msIndex: number | 'locate', extra: Partial<ClientOptions> = {}) => {
    const c = new ImspClient({
      user,
      password: `pw-${user}`,
      ...(msIndex === 'locate' ? { crs: cluster.crsAddress } : { ms: cluster.ms[msIndex].address }),
      downloadDir: join(dir, user),
      ...extra,
    });
    clients.push(c);
    return c;
  };
  return { cluster, dir, make };
}

async function befriend(a: ImspClient, b: ImspClient): Promise<void> {
  const req = next(b, 'request', (e) => e.from === a.user);
  assert.equal(await a.add(b.user), 'delivered');
  await req;
  const granted = next(a, 'answer', (e) => e.from === b.user);
  const online = next(a, 'presence', (e) => e.user === b.user && e.status !== 'offline' && e.address !== undefined);
  await b.answer(a.user, 'grant');
  assert.equal((await granted).decision, 'grant');
  await online;
}

test('[AUTH-11] [LOGIN-1] login through LOCATE: Server-proof checked, key blob opened, bound address announced', async (t) => {
  const { cluster, make } = await setup(t, ['alice']);
  const alice = make('alice', 'locate');
  const logged = next(alice, 'login');
  await alice.login();
  const e = await logged;
  assert.equal(e.user, 'alice');
  assert.ok(cluster.ms.some((m) => m.address === alice.msAddress));
  assert.match(alice.address, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(alice.address, '127.0.0.1:0');
  assert.ok(alice.loggedIn);
  await alice.logout();
  assert.equal(alice.loggedIn, false);
});

test('[AUTH-8] [LOCK-2] a wrong password is refused 401 ERR_AUTH_FAILED; a second login of a user online is refused 409', async (t) => {
  const { make } = await setup(t, ['alice']);
  await assert.rejects(make('alice', 0, { password: 'wrong' }).login(), { code: 'ERR_AUTH_FAILED', status: 401 });
  await assert.rejects(make('nobody', 0).login(), { code: 'ERR_AUTH_FAILED', status: 401 });
  const alice = make('alice', 0);
  await alice.login();
  await assert.rejects(make('alice', 1).login(), { code: 'ERR_ALREADY_ONLINE', status: 409 });
});

test('[MSG-1] [PRESENCE-7] buddies on different MSs: ADD/grant, presence with address, INIT, MSG, a file, typing, status change', async (t) => {
  const { dir, make } = await setup(t, ['alice', 'bob']);
  const alice = make('alice', 0);
  const bob = make('bob', 1);
  await alice.login();
  await bob.login();
  await befriend(alice, bob);
  assert.equal(alice.contacts.get('bob')?.relation, 'buddy');
  assert.equal(bob.contacts.get('alice')?.relation, 'buddy');
  const msg = next(bob, 'message');
  await alice.send('bob', 'hello across MSs');
  assert.equal((await msg).text, 'hello across MSs');
  const typing = next(alice, 'typing');
  await bob.typing('alice', 'paused');
  assert.equal((await typing).state, 'paused');
  const src = join(dir, 'notes.txt');
  await writeFile(src, 'file body\n'.repeat(50_000));
  const got = next(bob, 'file');
  await alice.sendFile('bob', src);
  const f = await got;
  assert.deepEqual(await readFile(f.path), await readFile(src));
  const busy = next(alice, 'presence', (e) => e.user === 'bob' && e.status === 'busy');
  await bob.setStatus('busy');
  await busy;
  assert.equal(alice.contacts.get('bob')?.status, 'busy');
});

test('[P2P-14] [LOGOUT-2] [INV-5] [MSG-6] [P2P-5] no session key survives a logout, on either side', async (t) => {
  const { make } = await setup(t, ['alice', 'bob']);
  const alice = make('alice', 0);
  const bob = make('bob', 1);
  await alice.login();
  await bob.login();
  await befriend(alice, bob);
  const m = next(bob, 'message');
  await alice.send('bob', 'before logout');
  await m;
  const keys = [...alice.sessionKeys(), ...bob.sessionKeys()];
  assert.equal(keys.length, 4);
  const aliceAddress = alice.address;
  const ended = next(bob, 'session-end');
  const offline = next(bob, 'presence', (e) => e.user === 'alice' && e.status === 'offline');
  await alice.logout();
  await ended;
  await offline;
  assert.equal(alice.sessionKeyCount(), 0);
  assert.equal(bob.sessionKeyCount(), 0);
  assert.ok(
    keys.every((k) => k.every((b) => b === 0)),
    'every key octet is overwritten',
  );
  // Bob no longer has an address or key for alice, so no session can be opened to a stale address.
  assert.equal(bob.contacts.buddyKey('alice'), undefined);
  await assert.rejects(bob.send('alice', 'are you there?'), { code: 'ERR_UNAVAILABLE' });
  // [P2P-5] logged out, alice answers no INIT: her peer address no longer accepts connections.
  await assert.rejects(RawPeer.connect(aliceAddress));
});

test('[ADD-2] [ADD-3] [REM-1] an ADD to an offline user is stored (202) and delivered at the next login; deny; REM ends the buddy relation', async (t) => {
  const { make } = await setup(t, ['alice', 'carol', 'dave']);
  const alice = make('alice', 0);
  await alice.login();
  assert.equal(await alice.add('carol'), 'stored');
  assert.equal(await alice.add('dave'), 'stored');
  const carol = make('carol', 1);
  const req = next(carol, 'request', (e) => e.from === 'alice');
  await carol.login();
  await req;
  assert.ok(carol.contacts.requests.has('alice'));
  const answered = next(alice, 'answer');
  await carol.answer('alice', 'grant');
  assert.equal((await answered).decision, 'grant');
  const dave = make('dave', 0);
  await dave.login();
  const denied = next(alice, 'answer', (e) => e.from === 'dave');
  await dave.answer('alice', 'deny');
  assert.equal((await denied).decision, 'deny');
  assert.equal(alice.contacts.get('dave'), undefined);
  const removed = next(carol, 'contact', (e) => e.user === 'alice');
  await alice.rem('carol');
  assert.equal((await removed).relation, 'none');
  assert.equal(alice.contacts.get('carol'), undefined);
  await assert.rejects(alice.send('carol', 'x'), { code: 'ERR_NOT_BUDDY' });
});

test('[P2P-13] [CONTACT-2] after BLOCK the blocked buddy sees us offline and its session is dropped', async (t) => {
  const { make } = await setup(t, ['alice', 'bob']);
  const alice = make('alice', 0);
  const bob = make('bob', 1);
  await alice.login();
  await bob.login();
  await befriend(alice, bob);
  const m = next(alice, 'message');
  await bob.send('alice', 'hi');
  await m;
  const gone = next(bob, 'presence', (e) => e.user === 'alice' && e.status === 'offline');
  await alice.block('bob');
  await gone;
  assert.equal(alice.sessionKeyCount(), 0);
  // Whatever bob's book says now (alice offline, or no longer a contact), he cannot reach her.
  await assert.rejects(bob.send('alice', 'still there?'), (e: { code?: string }) =>
    ['ERR_UNAVAILABLE', 'ERR_NOT_BUDDY', 'ERR_BLOCKED'].includes(e.code ?? ''),
  );
  assert.equal(bob.sessionKeyCount(), 0);
});

test('[PASSWD-1] [PASSWD-2] PASSWD re-seals the key blob: the new password logs in and opens the same keys', async (t) => {
  const { make } = await setup(t, ['alice']);
  const alice = make('alice', 0);
  await alice.login();
  await assert.rejects(alice.passwd('not-the-password', 'x'), { code: 'ERR_AUTH_FAILED' });
  await alice.passwd('pw-alice', 'a-new-password');
  await alice.logout();
  await assert.rejects(make('alice', 1).login(), { code: 'ERR_AUTH_FAILED' });
  const again = make('alice', 1, { password: 'a-new-password' });
  await again.login();
  assert.ok(again.loggedIn);
});

test('[CTL-8] [LOGOUT-4] a session that ends while PASSWD opens the key blob fails the change 425, sends no PASSWD, and the old password still logs in', async (t) => {
  const { make } = await setup(t, ['alice']);
  const alice = make('alice', 0);
  await alice.login();
  // The key blob is opened off the event loop (scrypt), so the logout below ends the session first.
  // The outcome is awaited from the start: the change may fail before the logout returns.
  const changing = assert.rejects(alice.passwd('pw-alice', 'a-new-password'), {
    code: 'ERR_OUT_OF_STATE',
    status: 425,
  });
  await alice.logout();
  await changing;
  const again = make('alice', 1);
  await again.login();
  assert.ok(again.loggedIn);
});

test('[ERR-7] [LOGOUT-4] NOTICE ERR_SHUTDOWN ends the session: keys dropped, BYE to peers; the user logs in again at another MS', async (t) => {
  const { cluster, make } = await setup(t, ['alice', 'bob']);
  const alice = make('alice', 0);
  const bob = make('bob', 1);
  await alice.login();
  await bob.login();
  await befriend(alice, bob);
  const m = next(bob, 'message');
  await alice.send('bob', 'x');
  await m;
  const notice = next(alice, 'notice');
  const loggedOut = next(alice, 'logout');
  const bobSessionEnd = next(bob, 'session-end');
  await cluster.ms[0].stop();
  assert.equal((await notice).code, 'ERR_SHUTDOWN');
  await loggedOut;
  await bobSessionEnd;
  assert.equal(alice.loggedIn, false);
  assert.equal(alice.sessionKeyCount(), 0);
  assert.equal(bob.sessionKeyCount(), 0);
  // LOCATE now names the MS that is left.
  const again = new ImspClient({ user: 'alice', password: 'pw-alice', crs: cluster.crsAddress });
  t.after(() => again.close());
  await again.login();
  assert.equal(again.msAddress, cluster.ms[1].address);
});

test('[LOGIN-1] logout then login again with the same client object', async (t) => {
  const { make } = await setup(t, ['alice']);
  const alice = make('alice', 0);
  await alice.login();
  await alice.logout();
  // [RECONNECT-4] the password served the first login only: a new login after LOGOUT asks for it.
  await assert.rejects(alice.login(), { code: 'ERR_OUT_OF_STATE' });
  await alice.login('pw-alice');
  assert.ok(alice.loggedIn);
});

test('[HB-1] [HB-5] heartbeats keep an idle session alive well past sessionTimeout', async (t) => {
  const cluster = await startCluster({
    ms: 1,
    users: ['alice'],
    limits: { clientHeartbeatInterval: 100, sessionTimeout: 400 },
  });
  const alice = new ImspClient({
    user: 'alice',
    password: 'pw-alice',
    ms: cluster.ms[0].address,
    limits: { sessionTimeout: 400 },
  });
  t.after(async () => {
    await alice.close();
    await cluster.dispose();
  });
  let ended = false;
  alice.on('logout', () => (ended = true));
  await alice.login();
  // Liveness over time can only be shown by letting time pass: 4 x sessionTimeout idle.
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(ended, false);
  assert.ok(alice.loggedIn);
  await alice.setStatus('away');
});

test('[PROFILE-1] [SEARCH-1] [BLOCK-1] profile read and change, search, LIST resynchronises, block and unblock', async (t) => {
  const { make } = await setup(t, ['alice', 'bob', 'bobby']);
  const alice = make('alice', 0);
  await alice.login();
  await alice.setProfile({ fullName: 'Alice Liddell', location: 'Oxford' });
  const me = await alice.profile();
  assert.equal(me['Full-name'], 'Alice Liddell');
  assert.equal(me.Location, 'Oxford');
  const found = await alice.search('bob', { field: 'username' });
  assert.deepEqual(found.map((r) => r.User).sort(), ['bob', 'bobby']);
  await alice.block('bob');
  assert.ok(alice.contacts.isBlocked('bob'));
  await alice.list();
  assert.ok(alice.contacts.isBlocked('bob'), 'LIST shows the block list');
  await alice.unblock('bob');
  await alice.list();
  assert.equal(alice.contacts.get('bob'), undefined);
  await assert.rejects(alice.unblock('bob'), { status: 404 });
  await assert.rejects(alice.add('nobody-here'), { code: 'ERR_UNKNOWN_USER', status: 404 });
});

test('[BLOCK-5] [ADD-3] an ADD withheld by a block shows as a request when it is unblocked, not only at the next login', async (t) => {
  const { make } = await setup(t, ['alice', 'carol']);
  const alice = make('alice', 0);
  const carol = make('carol', 1);
  await alice.login();
  await carol.login();
  await alice.block('carol');
  // [BLOCK-6] the ADD is stored and withheld: carol is told 202, alice is shown nothing
  assert.equal(await carol.add('alice'), 'stored');
  assert.equal(alice.contacts.requests.has('carol'), false);
  const shown: string[] = [];
  alice.on('request', (e) => shown.push(e.from));
  await alice.unblock('carol');
  assert.ok(alice.contacts.requests.has('carol'), 'the request is in the contact book when UNBLOCK returns');
  assert.deepEqual(shown, ['carol'], 'one request event, as for a pushed ADD');
  // and it can be answered at once
  const granted = next(carol, 'answer', (e) => e.from === 'alice');
  await alice.answer('carol', 'grant');
  assert.equal((await granted).decision, 'grant');
});

test('[MS-SHUTDOWN-4] with relogin, a client whose MS shuts down logs in again at another MS', async (t) => {
  const { cluster, make } = await setup(t, ['alice']);
  const alice = make('alice', 0, { crs: cluster.crsAddress, relogin: true, reloginDelayMax: 50 });
  await alice.login();
  assert.equal(alice.msAddress, cluster.ms[0].address);
  const out = next(alice, 'logout');
  const back = next(alice, 'login');
  await cluster.ms[0].stop();
  assert.equal((await out).reconnecting, true);
  assert.equal((await back).ms, cluster.ms[1].address);
  assert.ok(alice.loggedIn);
});

test('[P2P-3] an INIT that overtakes the PRESENCE carrying its key is accepted after one LIST', async (t) => {
  const { make } = await setup(t, ['alice', 'bob']);
  const alice = make('alice', 0);
  const bob = make('bob', 1);
  await alice.login();
  await bob.login();
  await befriend(alice, bob);
  // Bob's book loses alice's key, as if her PRESENCE had not arrived yet.
  bob.contacts.presence('alice', 'offline');
  assert.equal(bob.contacts.buddyKey('alice'), undefined);
  const got = next(bob, 'message');
  await alice.send('bob', 'early bird');
  assert.equal((await got).text, 'early bird');
  assert.ok(bob.contacts.buddyKey('alice'));
});

/** A TCP relay to `target` that can be told to drop everything from then on (a silent, half-open MS). */
async function relay(target: string): Promise<{ address: string; silence: () => void; close: () => Promise<void> }> {
  const { host, port } = parseHostPort(target);
  let silent = false;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect({ host, port });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    inbound.on('data', (b) => silent || outbound.write(b));
    outbound.on('data', (b) => silent || inbound.write(b));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${a.port}`,
    silence: () => (silent = true),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

test('[HB-6] [LOGOUT-4] a client whose MS goes silent ends its session after sessionTimeout, keys dropped', async (t) => {
  const cluster = await startCluster({ ms: 1, users: ['alice'], limits: { clientHeartbeatInterval: 100 } });
  const r = await relay(cluster.ms[0].address);
  const alice = new ImspClient({ user: 'alice', password: 'pw-alice', ms: r.address, limits: { sessionTimeout: 300 } });
  t.after(async () => {
    await alice.close();
    await r.close();
    await cluster.dispose();
  });
  await alice.login();
  const out = next(alice, 'logout');
  r.silence();
  assert.match((await out).reason, /ERR_TIMEOUT/);
  assert.equal(alice.loggedIn, false);
  assert.equal(alice.sessionKeyCount(), 0);
});
