// The servers' operations layer: configuration precedence, limits, metrics endpoint, failed-login
// windows, the `imsp crs` / `imsp ms` commands (as child processes, stopped by SIGTERM), and TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import http from 'node:http';
import { resolveOptions, envName, ConfigError, type OptionDef } from '../../reference/ops/config.js';
import { resolveLimits, REGISTRY_LIMITS } from '../../reference/proto/limits.js';
import { createMetrics, serveMetrics } from '../../reference/ops/metrics.js';
import { FailureWindow } from '../../reference/ms/failures.js';
import { CrsServer } from '../../reference/crs/crs.js';
import { MsServer } from '../../reference/ms/ms.js';
import { SqliteStore } from '../../reference/store/sqlite.js';
import { registerUser } from '../../reference/store/register.js';
import { ProtoClient, rawExchange } from '../helpers/proto-client.js';
import { CRS_OPTIONS } from '../../reference/cli/servers.js';

const DEFS: OptionDef[] = [
  { key: 'port', flags: '--port <port>', type: 'int', help: 'port', default: 7000 },
  { key: 'store', flags: '--store <s>', type: 'string', help: 'store', default: './imsp.db' },
  { key: 'msKeyFile', flags: '--ms-key-file <p>', type: 'string', help: 'key' },
  { key: 'crsTls', flags: '--crs-tls', type: 'bool', help: 'tls', default: false },
];

function tempDir(t: { after: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'imsp-ops-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('configuration: flags over IMSP_* environment over the config file over defaults', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ port: 7001, store: 'file.db', msKeyFile: 'k', limits: { msLease: 5000 } }));
  assert.equal(envName('msKeyFile'), 'IMSP_MS_KEY_FILE');
  const env = { IMSP_STORE: 'env.db', IMSP_CRS_TLS: 'yes', IMSP_LIMIT_LOCK_LEASE: '2000' };
  const r = resolveOptions(DEFS, { config: file, port: '7002', limit: ['msHeartbeatInterval=1000'] }, env);
  assert.deepEqual(r.values, { port: 7002, store: 'env.db', msKeyFile: 'k', crsTls: true });
  assert.deepEqual(r.limits, { msLease: 5000, lockLease: 2000, msHeartbeatInterval: 1000 });
  const d = resolveOptions(DEFS, {}, {});
  assert.deepEqual(d.values, { port: 7000, store: './imsp.db', msKeyFile: undefined, crsTls: false });
  assert.throws(() => resolveOptions(DEFS, { port: 'x' }, {}), ConfigError);
  writeFileSync(file, JSON.stringify({ prot: 1 }));
  assert.throws(() => resolveOptions(DEFS, { config: file }, {}), /unknown key "prot"/);
  writeFileSync(file, '{not json');
  assert.throws(() => resolveOptions(DEFS, { config: file }, {}), ConfigError);
  assert.throws(() => resolveOptions(DEFS, { limit: ['nonsense'] }, {}), /name=value/);
});

test('[PERSIST-4] imsp crs --durability: full by default, normal by flag, IMSP_DURABILITY or config file; anything else refused', (t) => {
  assert.equal(resolveOptions(CRS_OPTIONS, {}, {}).values.durability, 'full');
  assert.equal(resolveOptions(CRS_OPTIONS, { durability: 'normal' }, {}).values.durability, 'normal');
  assert.equal(resolveOptions(CRS_OPTIONS, {}, { IMSP_DURABILITY: 'normal' }).values.durability, 'normal');
  assert.equal(
    resolveOptions(CRS_OPTIONS, { durability: 'full' }, { IMSP_DURABILITY: 'normal' }).values.durability,
    'full',
  );
  const file = join(tempDir(t), 'c.json');
  writeFileSync(file, JSON.stringify({ durability: 'normal' }));
  assert.equal(resolveOptions(CRS_OPTIONS, { config: file }, {}).values.durability, 'normal');
  assert.throws(() => resolveOptions(CRS_OPTIONS, { durability: 'off' }, {}), /durability must be one of full, normal/);
  assert.throws(() => resolveOptions(CRS_OPTIONS, {}, { IMSP_DURABILITY: 'FULL' }), ConfigError);
});

test('limits: registry defaults; only configurable limits within [min, max] may be overridden', () => {
  const l = resolveLimits({ msLease: 500 });
  assert.equal(l.msLease, 500);
  assert.equal(l.lockLease, REGISTRY_LIMITS.lockLease);
  assert.throws(() => resolveLimits({ msLease: 10 }), /outside/);
  assert.throws(() => resolveLimits({ maxUsernameLength: 64 }), /not configurable/);
  assert.throws(() => resolveLimits({ noSuchLimit: 1 }), /unknown limit/);
});

test('[METRICS-1] the metrics endpoint serves Prometheus text on /metrics and 404 elsewhere', async (t) => {
  const m = createMetrics('ms');
  m.logins.inc({ result: 'ok' });
  m.errors.inc({ code: 'ERR_LOCKED' });
  const srv = await serveMetrics(m, 0);
  t.after(() => srv.close());
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get(`http://${srv.address}${path}`, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  const ok = await get('/metrics');
  assert.equal(ok.status, 200);
  assert.match(ok.body, /imsp_logins_total\{result="ok",role="ms"\} 1/);
  assert.match(ok.body, /imsp_errors_total\{code="ERR_LOCKED",role="ms"\} 1/);
  assert.equal((await get('/other')).status, 404);
});

test('[RATE-4] failed-login window: refuses after max failures in the window, forgets after it', () => {
  let now = 1000;
  const w = new FailureWindow({ max: 2, windowMs: 100, now: () => now });
  assert.equal(w.retryAfter('u'), 0);
  w.fail('u');
  w.fail('u');
  assert.equal(w.retryAfter('u'), 100);
  now += 60;
  assert.equal(w.retryAfter('u'), 40);
  now += 41;
  assert.equal(w.retryAfter('u'), 0);
  w.fail('u');
  w.clear('u');
  assert.equal(w.retryAfter('u'), 0);
  const small = new FailureWindow({ max: 1, windowMs: 1000, maxKeys: 2, now: () => now });
  small.fail('a');
  small.fail('b');
  small.fail('c');
  assert.equal(small.retryAfter('a'), 0, 'the oldest key was dropped: the table is bounded');
  assert.ok(small.retryAfter('c') > 0);
});

const BIN = new URL('../../reference/bin/imsp.js', import.meta.url).pathname;

function startCli(
  args: string[],
  t: { after: (f: () => void) => void },
): Promise<{ child: ChildProcess; address: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      const m = /^listening (\S+)$/.exec(line);
      if (m) resolve({ child, address: m[1]!, exited });
      else reject(new Error(`unexpected first line: ${line}`));
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${err}`)));
  });
}

test('imsp crs and imsp ms: start on port 0, print the address, serve a login, stop on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const keyFile = join(dir, 'ms.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64url') + '\n');
  const dbPath = join(dir, 'imsp.db');
  const seed = await SqliteStore.open(dbPath);
  assert.ok((await registerUser(seed, 'olga', 'pw-olga', { log2N: 10 })).ok);
  await seed.close();
  const crs = await startCli(
    [
      'crs',
      '--port',
      '0',
      '--store',
      dbPath,
      '--durability',
      'normal',
      '--ms-key-file',
      keyFile,
      '--log-level',
      'warn',
    ],
    t,
  );
  const ms = await startCli(
    ['ms', '--port', '0', '--crs', crs.address, '--ms-key-file', keyFile, '--ms-id', 'cli-ms', '--log-level', 'warn'],
    t,
  );
  // LOCATE names the MS once it has enrolled; the client then logs in there.
  let located = '';
  for (let i = 0; i < 100 && !located.includes(ms.address); i++) {
    located = await rawExchange(crs.address, 'LOCATE\r\n\r\n', { untilHead: true });
  }
  assert.match(located, new RegExp(`Server: ${ms.address.replace(/[.[\]]/g, '\\$&')}`));
  const c = await ProtoClient.connect(ms.address);
  t.after(() => c.destroy());
  assert.equal((await c.login('olga', 'pw-olga')).result?.status, 200);
  ms.child.kill('SIGTERM');
  const notice = await c.waitFor('NOTICE');
  assert.equal(notice.headers.find(([k]) => k === 'Error-code')?.[1], 'ERR_SHUTDOWN');
  assert.equal(await ms.exited, 0);
  crs.child.kill('SIGTERM');
  assert.equal(await crs.exited, 0);
});

test('imsp crs --help prints the options; a missing MS key file is a usage error', async () => {
  const out = execFileSync(process.execPath, [BIN, 'crs', '--help'], { encoding: 'utf8' });
  assert.match(out, /--ms-key-file/);
  assert.match(out, /IMSP_STORE/);
  assert.match(out, /--durability <level>.*\(full\|normal\)/s);
  assert.match(out, /IMSP_DURABILITY/);
  const r = spawn(process.execPath, [BIN, 'crs', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  r.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => r.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /ms-key-file/);
});

test('[ENROLL-14] an MS key file of raw octets stops the server at start, naming the file and the format', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const raw = join(dir, 'raw.key');
  writeFileSync(raw, randomBytes(32));
  const r = spawn(process.execPath, [BIN, 'crs', '--port', '0', '--ms-key-file', raw, '--store', join(dir, 'x.db')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  r.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => r.once('exit', resolve));
  assert.equal(code, 2);
  assert.ok(err.includes(raw), `the message names the file: ${err}`);
  assert.match(err, /base64url text on one line, at least 32 octets/);
});

test('[CONN-9] TLS underneath: a CRS with a certificate, an MS that verifies it, a login through both', async (t) => {
  const dir = tempDir(t);
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  const store = await SqliteStore.open(':memory:');
  t.after(() => store.close());
  assert.ok((await registerUser(store, 'tina', 'pw-tina', { log2N: 10 })).ok);
  const msKey = randomBytes(32);
  const crs = await CrsServer.start({
    store,
    msKey,
    port: 0,
    tls: { cert: readFileSync(cert), key: readFileSync(key) },
  });
  t.after(() => crs.close());
  const ms = await MsServer.start({
    crs: crs.address,
    msKey,
    msId: 'tls-ms',
    port: 0,
    crsTls: { ca: readFileSync(cert) },
  });
  t.after(() => ms.kill());
  await ms.ready();
  const c = await ProtoClient.connect(ms.address);
  t.after(() => c.destroy());
  const out = await c.login('tina', 'pw-tina');
  assert.equal(out.result?.status, 200);
  // An MS that does not trust the certificate never enrolls.
  const bad = await MsServer.start({
    crs: crs.address,
    msKey,
    msId: 'tls-bad',
    port: 0,
    crsTls: {},
    reconnectDelay: 10_000,
  });
  t.after(() => bad.kill());
  const reason = await new Promise<string>((resolve) => bad.once('enroll-failed', resolve));
  assert.match(reason, /certificate/i);
  assert.equal(bad.enrolled, false);
});
