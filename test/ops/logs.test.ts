// Operators' log lines (issue 17), read from real `imsp crs` / `imsp ms` processes: structured JSON
// lines with an `event`, the user and the client's address for login ok, login failed, lockout and
// logout; enrollment at both ends; an MS's death at the CRS; a clear line when the CRS cannot be
// reached; `--log-level debug` saying what each request did; /readyz following enrollment;
// `--metrics-port 0` picking a free port and printing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ImspClient } from '../../reference/client/client.js';
import { registerUser } from '../../reference/store/register.js';
import { openStore } from '../../reference/store/index.js';
import { metricsPortOf } from '../../reference/cli/servers.js';

const IMSP = fileURLToPath(new URL('../../reference/bin/imsp.js', import.meta.url));

interface Proc {
  child: ChildProcess;
  address: Promise<string>;
  /** Every stdout line so far (`listening HOST:PORT`, `metrics HOST:PORT`). */
  out: string[];
  lines: Record<string, unknown>[];
  /** Resolves with the first log line (seen so far or later) that matches. */
  waitLog(
    pred: (l: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function start(args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(process.execPath, [IMSP, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: Record<string, unknown>[] = [];
  const out: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ msg: l });
    }
    for (const w of waiters.splice(0)) w();
  });
  const address = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      out.push(l);
      for (const w of waiters.splice(0)) w();
      const m = /^listening (\S+)$/.exec(l);
      if (m) resolve(m[1]);
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${JSON.stringify(lines.slice(-5))}`)));
  });
  address.catch(() => undefined);
  return {
    child,
    address,
    out,
    lines,
    async waitLog(pred, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline)
          assert.fail(
            `no log line ${what}; last lines:\n${lines
              .slice(-15)
              .map((l) => JSON.stringify(l))
              .join('\n')}`,
          );
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200).unref();
        });
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      await done;
      clearTimeout(t);
    },
  };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('an MS that cannot reach the CRS says so clearly, and is not ready', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-logs-'));
  const key = join(dir, 'ms.key');
  await writeFile(key, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  const deadPort = await freePort();
  const metricsPort = await freePort();
  const ms = start([
    'ms',
    '--port',
    '0',
    '--crs',
    `127.0.0.1:${deadPort}`,
    '--ms-key-file',
    key,
    '--ms-id',
    'lonely',
    '--metrics-port',
    String(metricsPort),
  ]);
  t.after(async () => {
    await ms.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const l = await ms.waitLog((x) => x.event === 'crs_unreachable', 'crs_unreachable');
  assert.equal(l.crs, `127.0.0.1:${deadPort}`);
  assert.match(String(l.msg), /cannot reach the CRS at 127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\); clients get 503/);
  assert.equal(l.level, 50, 'an error, not a debug line');
  const r = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  assert.equal(r.status, 503);
  assert.deepEqual(await r.json(), { status: 'not ready', checks: { enrolled: 'not enrolled at the CRS' } });
  assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status, 200);
});

test('--metrics-port 0 picks a free port and prints it after `listening`, as --port 0 does; "off" (or no flag) serves none', {
  timeout: 60_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-logs-'));
  const key = join(dir, 'ms.key');
  await writeFile(key, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  const crs = `127.0.0.1:${await freePort()}`; // nobody there: the MS serves anyway, not ready
  const args = (id: string) => ['ms', '--port', '0', '--crs', crs, '--ms-key-file', key, '--ms-id', id];
  const any = start([...args('metrics-any'), '--metrics-port', '0']);
  // the environment asks for metrics, the flag turns them off: flags win, and "off" is a value
  const off = start([...args('metrics-off'), '--metrics-port', 'off'], { ...process.env, IMSP_METRICS_PORT: '0' });
  t.after(async () => {
    await any.stop();
    await off.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await any.address;
  const logged = await any.waitLog((x) => /metrics endpoint/.test(String(x.msg)), 'the metrics endpoint line');
  assert.match(String(logged.address), /^127\.0\.0\.1:[1-9][0-9]*$/, 'a real port, not 0');
  await any.waitLog(() => any.out.length >= 2, 'a second stdout line');
  assert.deepEqual(any.out.slice(1), [`metrics ${logged.address}`], '`listening` stays the first line');
  assert.equal((await fetch(`http://${logged.address}/healthz`)).status, 200);
  assert.equal((await fetch(`http://${logged.address}/readyz`)).status, 503);

  await off.address;
  const closed = new Promise<void>((r) => off.child.once('close', () => r()));
  await off.stop();
  await closed; // stdout read to its end
  assert.equal(off.out.length, 1, `only the listening line: ${off.out.join(' | ')}`);
  assert.ok(!off.lines.some((x) => /metrics endpoint/.test(String(x.msg))), 'no metrics endpoint');

  assert.throws(() => metricsPortOf('65536'), /metricsPort must be a port from 0 to 65535, or off/);
  assert.throws(() => metricsPortOf('-1'), /metricsPort must be a port/);
  assert.equal(metricsPortOf(undefined), undefined);
  assert.equal(metricsPortOf('9100'), 9100);
});

test('login ok, login failed, lockout, logout with user and client address; enrollment; MS death; debug lines', {
  timeout: 120_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-logs-'));
  const key = join(dir, 'ms.key');
  await writeFile(key, randomBytes(32).toString('base64') + '\n', { mode: 0o600 }); // openssl-style base64
  const db = join(dir, 'imsp.db');
  const store = await openStore(db);
  for (const u of ['alice', 'bob']) await registerUser(store, u, `pw-${u}`, { log2N: 10, iterations: 4096 });
  await store.close();
  const metricsPort = await freePort();
  const crs = start(['crs', '--port', '0', '--store', db, '--ms-key-file', key, '--log-level', 'debug']);
  const crsAddr = await crs.address;
  const ms = start([
    'ms',
    '--port',
    '0',
    '--crs',
    crsAddr,
    '--ms-key-file',
    key,
    '--ms-id',
    'ms-logs',
    '--log-level',
    'debug',
    '--metrics-port',
    String(metricsPort),
    '--limit',
    'maxFailedLoginsPerUser=1',
  ]);
  const clients: ImspClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close();
    await ms.stop('SIGKILL');
    await crs.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const msAddr = await ms.address;
  const enrolled = await ms.waitLog((x) => x.event === 'enrolled', 'enrolled at the MS');
  assert.equal(enrolled.msId, 'ms-logs');
  assert.equal(enrolled.crs, crsAddr);
  await crs.waitLog((x) => x.event === 'ms_enrolled', 'ms_enrolled at the CRS');
  assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);

  // a wrong password: login_failed with the user and the client's address
  const wrong = new ImspClient({ user: 'alice', password: 'nope', ms: msAddr });
  clients.push(wrong);
  await assert.rejects(wrong.login(), /AUTH_FAILED/);
  const failed = await ms.waitLog((x) => x.event === 'login_failed', 'login_failed');
  assert.equal(failed.user, 'alice');
  assert.match(String(failed.client), /^127\.0\.0\.1:\d+$/);
  assert.equal(failed.reason, 'wrong password');
  // the next attempt is locked out: the lockout line says for how long
  const again = new ImspClient({ user: 'alice', password: 'pw-alice', ms: msAddr });
  clients.push(again);
  await assert.rejects(again.login(), /RATE_LIMITED/);
  const lockout = await ms.waitLog((x) => x.event === 'lockout', 'lockout');
  assert.equal(lockout.user, 'alice');
  assert.ok(Number(lockout.retryAfterMs) > 0);
  assert.match(String(lockout.client), /^127\.0\.0\.1:\d+$/);

  // bob logs in and out
  const bob = new ImspClient({ user: 'bob', password: 'pw-bob', ms: msAddr });
  clients.push(bob);
  await bob.login();
  const okLine = await ms.waitLog((x) => x.event === 'login_ok' && x.user === 'bob', 'login_ok');
  assert.match(String(okLine.client), /^127\.0\.0\.1:\d+$/);
  assert.equal(okLine.address, bob.address);
  await bob.logout();
  const out = await ms.waitLog((x) => x.event === 'logout' && x.user === 'bob', 'logout');
  assert.equal(out.reason, 'logout');
  assert.equal(out.client, okLine.client);

  // debug says what each request did, at both ends, and never a secret
  await ms.waitLog(
    (x) => x.level === 20 && /^client LOGIN -> 300$/.test(String(x.msg)),
    'the MS debug line of a LOGIN',
  );
  await ms.waitLog((x) => x.level === 20 && /^CRS LOCK -> 200$/.test(String(x.msg)), 'the MS debug line of a LOCK');
  await crs.waitLog(
    (x) => x.level === 20 && /^MS ms-logs ONLINE -> 200$/.test(String(x.msg)),
    'the CRS debug line of an ONLINE',
  );
  const all = JSON.stringify([...ms.lines, ...crs.lines]);
  assert.doesNotMatch(all, /pw-bob|pw-alice|Stored-key|Proof"/);

  // the MS dies: the CRS says so
  await ms.stop('SIGKILL');
  const lost = await crs.waitLog((x) => x.event === 'ms_lost', 'ms_lost', 60_000);
  assert.equal((lost.ms as { msId: string }).msId, 'ms-logs');
});
