// `make demo`: the whole system on one machine, scripted, with a readable transcript.
//
// 1. A temporary directory with a fresh MS key and an embedded SQLite store holding three
//    registered demo users (alice, bob, carol).
// 2. A CRS and two MSs as child processes (`node reference/bin/imsp.js crs|ms --port 0`); their
//    addresses are read from the `listening HOST:PORT` line each prints.
// 3. Scripted clients (the reference client library) on different MSs: login, presence, ADD to an
//    online user and to an offline one (delivered at its next login), INIT, MSG, a file, a presence
//    state change, REM and logout.
// 4. Everything is stopped; the exit status is 0 only when every step did what it should.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { b64 } from '../crypto/b64.js';
import { registerUser } from '../store/register.js';
import { SqliteStore } from '../store/sqlite.js';
import { ImspClient, type ClientOptions } from '../client/client.js';
import type { ClientEvents } from '../client/events.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IMSP = join(ROOT, 'reference', 'bin', 'imsp.js');
const STEP_TIMEOUT = 15_000;
const t0 = Date.now();

const color = process.stdout.isTTY ? (c: number, s: string) => `\x1b[${c}m${s}\x1b[0m` : (_c: number, s: string) => s;
function stamp(): string {
  return `${String(((Date.now() - t0) / 1000).toFixed(2)).padStart(6)}s`;
}
function line(who: string, text: string, c = 0): void {
  process.stdout.write(`${color(2, stamp())}  ${color(c || 1, who.padEnd(6))} ${text}\n`);
}
function section(title: string): void {
  process.stdout.write(`\n${color(36, `== ${title}`)}\n`);
}

class StepFailed extends Error {}

function within<T>(p: Promise<T>, what: string, ms = STEP_TIMEOUT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new StepFailed(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

function waitFor<K extends keyof ClientEvents>(
  c: ImspClient,
  name: K,
  pred: (e: ClientEvents[K][0]) => boolean,
  what: string,
): Promise<ClientEvents[K][0]> {
  return within(
    new Promise((resolve) => {
      const f = (e: ClientEvents[K][0]) => {
        if (!pred(e)) return;
        c.off(name, f as never);
        resolve(e);
      };
      c.on(name, f as never);
    }),
    what,
  );
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new StepFailed(what);
  line('check', `ok: ${what}`, 32);
}

interface Proc {
  name: string;
  child: ChildProcess;
  address: string;
}

/** Every child started, so that no server outlives the demo, however the demo ends. */
const children = new Set<ChildProcess>();
let workDir: string | undefined;
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    process.exitCode = 130;
    process.exit(); // runs the 'exit' handler above
  });
}
// A closed stdout (`make demo | head`) must not leave the servers running either.
process.stdout.on('error', () => process.exit(1));

function startServer(name: string, args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, [IMSP, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const errLines: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    errLines.push(l);
    if (errLines.length > 50) errLines.shift();
  });
  return within(
    new Promise<Proc>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (l) => {
        const m = /^listening (\S+)$/.exec(l.trim());
        if (m) resolve({ name, child, address: m[1] });
      });
      child.once('exit', (code) =>
        reject(new StepFailed(`${name} exited with ${code} before listening:\n${errLines.join('\n')}`)),
      );
    }),
    `${name} to listen`,
  );
}

async function stopServer(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Shows a client's events in the transcript. */
function narrate(c: ImspClient): void {
  const who = c.user;
  c.on('presence', (e) => line(who, `<- PRESENCE ${e.user} is ${e.status}${e.address ? ` at ${e.address}` : ''}`, 33));
  c.on('contact', (e) => line(who, `<- CONTACT ${e.user}: ${e.relation}, ${e.status}`, 33));
  c.on('request', (e) =>
    line(who, `<- ADD from ${e.from}${e.time ? ` (sent ${new Date(e.time).toISOString()})` : ''}`, 33),
  );
  c.on('answer', (e) => line(who, `<- ANSWER from ${e.from}: ${e.decision}`, 33));
  c.on('notice', (e) => line(who, `<- NOTICE ${e.code}${e.reason ? ` ${e.reason}` : ''}`, 33));
  c.on('session', (e) =>
    line(who, `peer session with ${e.user} up (${e.initiator ? 'we sent INIT' : 'we answered INIT-ACK'})`, 35),
  );
  c.on('session-end', (e) => line(who, `peer session with ${e.user} ended: ${e.reason}; session keys dropped`, 35));
  c.on('message', (e) => line(who, `<- MSG from ${e.from}: "${e.text}"`, 32));
  c.on('typing', (e) => line(who, `<- TYPING ${e.from} ${e.state}`, 35));
  c.on('file-progress', (e) =>
    line(who, `   file ${e.name} ${e.direction === 'in' ? 'received' : 'sent'} ${e.done}/${e.size} octets`, 2),
  );
  c.on('file', (e) => line(who, `<- file ${e.name} (${e.size} octets, sha-256 checked) saved to ${e.path}`, 32));
  c.on('refused', (e) => line(who, `refused (${e.direction}) ${e.user ?? ''} ${e.status} ${e.code}`, 31));
  c.on('logout', (e) => line(who, `session ended: ${e.reason}`, 2));
}

async function loginWithRetry(c: ImspClient): Promise<void> {
  // An MS prints its address before its enrollment at the CRS completes; until then it answers 503.
  for (let i = 0; ; i++) {
    try {
      await c.login();
      return;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (i >= 50 || code !== 'ERR_UNAVAILABLE') throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The three demo users, registered in an embedded store as `imsp user add` does. */
async function setup(dir: string): Promise<{ keyFile: string; dbPath: string }> {
  section('Setup: MS key, embedded store, demo users');
  const keyFile = join(dir, 'ms.key');
  await writeFile(keyFile, b64(randomBytes(32)) + '\n', { mode: 0o600 });
  const dbPath = join(dir, 'imsp.db');
  const store = await SqliteStore.open(dbPath);
  const users = ['alice', 'bob', 'carol'];
  for (const name of users) {
    // As `imsp user add` does: the CRS gets a verifier and a sealed key blob, never the password
    // and never a private key in clear.
    const r = await registerUser(store, name, `${name}-demo-password`, { log2N: 15 });
    if (!r.ok) throw new StepFailed(`registering ${name}: ${String(r.error)}`);
    line('setup', `registered ${name} (SCRAM verifier, Ed25519/X25519 keys sealed with scrypt N=2^15)`);
  }
  await store.close();
  return { keyFile, dbPath };
}

/** One CRS and two MSs; each is pushed on `procs` as soon as it is up, so it is stopped at the end. */
async function startServers(
  dbPath: string,
  keyFile: string,
  procs: Proc[],
): Promise<{ crs: Proc; msA: string; msB: string }> {
  section('Servers: one CRS and two MSs as child processes');
  const crs = await startServer('crs', [
    'crs',
    '--port',
    '0',
    '--store',
    dbPath,
    '--ms-key-file',
    keyFile,
    '--log-level',
    'warn',
  ]);
  procs.push(crs);
  line('crs', `listening on ${crs.address}`);
  const starting = ['ms-a', 'ms-b'].map((id) =>
    startServer(id, [
      'ms',
      '--port',
      '0',
      '--crs',
      crs.address,
      '--ms-key-file',
      keyFile,
      '--ms-id',
      id,
      '--log-level',
      'warn',
    ]),
  );
  // Both start at once; each is recorded as soon as it is up, so a failure of one still stops the other.
  const started = await Promise.allSettled(starting.map((p) => p.then((ms) => (procs.push(ms), ms))));
  for (const r of started) if (r.status === 'rejected') throw r.reason;
  procs.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const ms of procs.slice(1)) line(ms.name, `listening on ${ms.address}, enrolling at the CRS`);
  return { crs, msA: procs[1].address, msB: procs[2].address };
}

/** Makes a demo client that narrates its events. */
type NewClient = (user: string, opts: Partial<ClientOptions>) => ImspClient;

async function loginAliceAndBob(
  client: NewClient,
  crs: Proc,
  msA: string,
  msB: string,
): Promise<[ImspClient, ImspClient]> {
  section('Login: alice at ms-a, bob at ms-b');
  const alice = client('alice', { ms: msA });
  line('alice', '-> LOGIN');
  await within(loginWithRetry(alice), 'alice to log in');
  line(
    'alice',
    `logged in at ${alice.msAddress}; peer address ${alice.address}; Server-proof verified, key blob opened`,
  );
  const bob = client('bob', { crs: crs.address, ms: msB });
  line('bob', '-> LOGIN');
  await within(loginWithRetry(bob), 'bob to log in');
  line('bob', `logged in at ${bob.msAddress}; peer address ${bob.address}`);
  check(alice.msAddress !== bob.msAddress, 'alice and bob are on different MSs');
  return [alice, bob];
}

async function addOnlineAndOffline(alice: ImspClient, bob: ImspClient): Promise<void> {
  section('ADD to an online user: alice asks bob, bob grants');
  const bobAsked = waitFor(bob, 'request', (e) => e.from === 'alice', 'bob to get the ADD');
  line('alice', '-> ADD bob');
  const r1 = await alice.add('bob');
  line('alice', `   ADD bob: ${r1}`);
  check(r1 === 'delivered', 'ADD to an online user is delivered at once (200)');
  await bobAsked;
  const aliceSeesBob = waitFor(
    alice,
    'presence',
    (e) => e.user === 'bob' && e.status === 'online' && e.address !== undefined,
    'alice to see bob online',
  );
  const granted = waitFor(alice, 'answer', (e) => e.from === 'bob', 'the ANSWER to reach alice');
  line('bob', '-> ANSWER alice grant');
  await bob.answer('alice', 'grant');
  await granted;
  await aliceSeesBob;
  check(
    alice.contacts.isBuddy('bob') && bob.contacts.isBuddy('alice'),
    'alice and bob are buddies, each sees the other online',
  );

  section('ADD to an offline user: alice asks carol (not logged in)');
  line('alice', '-> ADD carol');
  const r2 = await alice.add('carol');
  line('alice', `   ADD carol: ${r2}`);
  check(r2 === 'stored', 'ADD to an offline user is stored (202)');
}

async function peerToPeer(alice: ImspClient, bob: ImspClient, dir: string): Promise<void> {
  section('Peer to peer: INIT / INIT-ACK, MSG, TYPING, a file');
  const opened = waitFor(bob, 'session', (e) => e.user === 'alice', 'the session at bob');
  const msg = waitFor(bob, 'message', (e) => e.from === 'alice', 'the MSG at bob');
  line('alice', '-> MSG bob (opens the peer session first: INIT)');
  await alice.send('bob', 'Hello Bob! This travels straight to you, sealed with our session key.');
  await opened;
  check((await msg).text.startsWith('Hello Bob!'), "bob got alice's message");
  const typing = waitFor(alice, 'typing', (e) => e.from === 'bob' && e.state === 'typing', 'alice to see bob typing');
  line('bob', '-> TYPING alice typing');
  await bob.typing('alice', 'typing');
  await typing;
  const reply = waitFor(alice, 'message', (e) => e.from === 'bob', 'the reply at alice');
  line('bob', '-> MSG alice');
  await bob.send('alice', 'Hi Alice, got it.');
  await reply;
  const src = join(dir, 'holiday-notes.txt');
  const content = Buffer.from(
    Array.from({ length: 12_000 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join(''),
  );
  await writeFile(src, content);
  line('alice', `-> sending file ${src} (${content.length} octets, in chunks of at most 262144)`);
  const got = waitFor(bob, 'file', (e) => e.from === 'alice', 'the file at bob');
  await alice.sendFile('bob', src);
  const f = await got;
  check((await readFile(f.path)).equals(content), 'the file arrived intact');
}

/** bob goes away; carol logs in, gets alice's stored ADD and grants it. */
async function awayAndStoredAdd(
  alice: ImspClient,
  bob: ImspClient,
  client: NewClient,
  msB: string,
): Promise<ImspClient> {
  section('Presence state change: bob goes away');
  const away = waitFor(alice, 'presence', (e) => e.user === 'bob' && e.status === 'away', 'alice to see bob away');
  line('bob', '-> STATUS away');
  await bob.setStatus('away');
  await away;
  check(alice.contacts.get('bob')?.status === 'away', 'alice sees bob away');

  section('The stored ADD is delivered when carol logs in (at ms-b)');
  const carol = client('carol', { ms: msB });
  const carolAsked = waitFor(carol, 'request', (e) => e.from === 'alice', 'carol to get the stored ADD');
  line('carol', '-> LOGIN');
  await within(loginWithRetry(carol), 'carol to log in');
  line('carol', `logged in at ${carol.msAddress}`);
  await carolAsked;
  const carolGrant = waitFor(alice, 'answer', (e) => e.from === 'carol', "carol's answer at alice");
  line('carol', '-> ANSWER alice grant');
  await carol.answer('alice', 'grant');
  await carolGrant;
  check(alice.contacts.isBuddy('carol'), 'alice and carol are buddies');
  return carol;
}

async function remAndLogout(
  alice: ImspClient,
  bob: ImspClient,
  carol: ImspClient,
  clients: ImspClient[],
): Promise<void> {
  section('REM: alice removes bob');
  const bobLoses = waitFor(bob, 'contact', (e) => e.user === 'alice' && e.relation === 'none', 'bob to lose alice');
  line('alice', '-> REM bob');
  await alice.rem('bob');
  await bobLoses;
  check(!alice.contacts.isBuddy('bob') && !bob.contacts.isBuddy('alice'), 'the buddy relation is gone both ways');
  check(alice.sessionKeyCount() === 0 && bob.sessionKeyCount() === 0, 'the alice-bob session keys were dropped');

  section('Logout');
  for (const c of [carol, bob, alice]) {
    line(c.user, '-> LOGOUT');
    await within(c.logout(), `${c.user} to log out`);
  }
  check(
    clients.every((c) => !c.loggedIn && c.sessionKeyCount() === 0),
    'everyone is logged out, no session key is left',
  );
}

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-demo-'));
  workDir = dir;
  const procs: Proc[] = [];
  const clients: ImspClient[] = [];
  try {
    const { keyFile, dbPath } = await setup(dir);
    const { crs, msA, msB } = await startServers(dbPath, keyFile, procs);
    const downloads = join(dir, 'downloads');
    const client: NewClient = (user, opts) => {
      const c = new ImspClient({
        user,
        password: `${user}-demo-password`,
        downloadDir: join(downloads, user),
        ...opts,
      });
      clients.push(c);
      narrate(c);
      return c;
    };
    const [alice, bob] = await loginAliceAndBob(client, crs, msA, msB);
    await addOnlineAndOffline(alice, bob);
    await peerToPeer(alice, bob, dir);
    const carol = await awayAndStoredAdd(alice, bob, client, msB);
    await remAndLogout(alice, bob, carol, clients);
    section('Demo complete');
    return 0;
  } catch (e) {
    process.stdout.write(`\n${color(31, `DEMO FAILED: ${e instanceof Error ? e.message : String(e)}`)}\n`);
    return 1;
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const p of procs.reverse()) await stopServer(p);
    line('demo', 'servers stopped');
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
