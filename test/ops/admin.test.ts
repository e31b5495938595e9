// `imsp admin sessions|ms|kick` over the admin socket (reference/ops/admin.ts), and /healthz and
// /readyz on the metrics port, against an in-process cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { ImspClient } from '../../reference/client/client.js';
import { serveAdmin, adminRequest } from '../../reference/ops/admin.js';
import { crsAdminHandlers, msAdminHandlers } from '../../reference/ops/admin-handlers.js';
import { run as adminCmd } from '../../reference/cli/admin.js';

function io(socket?: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env: socket ? { IMSP_ADMIN_SOCKET: socket } : {},
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

test('imsp admin: sessions and ms at the CRS and at an MS; the socket is 0600; bad requests answered', {
  timeout: 60_000,
}, async (t) => {
  const cluster = await startCluster({ ms: 2, users: ['alice', 'bob'] });
  const dir = await mkdtemp(join(tmpdir(), 'imsp-admin-'));
  const crsSock = join(dir, 'run', 'crs.sock');
  const msSock = join(dir, 'run', 'ms.sock');
  const crsAdmin = await serveAdmin(crsSock, crsAdminHandlers(cluster.crs));
  const msAdmin = await serveAdmin(msSock, msAdminHandlers(cluster.ms[0], cluster.crsAddress));
  const alice = new ImspClient({ user: 'alice', password: 'pw-alice', ms: cluster.ms[0].address });
  t.after(async () => {
    await alice.close();
    await crsAdmin.close();
    await msAdmin.close();
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  assert.equal((await stat(crsSock)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'run'))).mode & 0o777, 0o700);
  await alice.login();

  let r = io(crsSock);
  assert.equal(await adminCmd(['admin', 'sessions'], r.io), 0, r.err());
  assert.match(r.out(), /^USER\s+MS\s+STATUS\s+ADDRESS/m);
  assert.match(r.out(), new RegExp(`^alice\\s+${cluster.ms[0].msId}\\s+online\\s+127\\.0\\.0\\.1:\\d+`, 'm'));
  assert.doesNotMatch(r.out(), /^bob/m);

  // columns with no value anywhere are left out: a CRS knows no session's start
  assert.doesNotMatch(r.out(), /SINCE|\s-\s*$/m);

  // the CRS's table shows when each MS enrolled (its rows carry enrolledAt, not an MS's enrolled flag)
  r = io(crsSock);
  assert.equal(await adminCmd(['admin', 'ms'], r.io), 0, r.err());
  assert.match(r.out(), /^MSID\s+INCARNATION\s+LISTEN\s+LOAD\s+CAPACITY\s+ENROLLEDAT\s+LEASEEXPIRESAT$/m);
  assert.match(r.out(), new RegExp(`^${cluster.ms[0].msId}\\s.*\\s\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+\\d{4}-`, 'm'));
  assert.doesNotMatch(r.out(), /\s-(\s|$)/m, 'no empty cell');

  r = io(crsSock);
  assert.equal(await adminCmd(['admin', 'ms', '--json'], r.io), 0, r.err());
  const ms = JSON.parse(r.out()) as { msId: string }[];
  assert.deepEqual(ms.map((m) => m.msId).sort(), cluster.ms.map((m) => m.msId).sort());

  r = io();
  assert.equal(await adminCmd(['admin', '--socket', msSock, 'sessions'], r.io), 0, r.err());
  assert.match(r.out(), /^alice\s/m);

  // bad requests get an answer, not a hang; no socket is a clear message
  assert.deepEqual(await adminRequest(crsSock, { cmd: 'reboot' }), {
    ok: false,
    error: "unknown command 'reboot' (known: sessions, ms, kick)",
  });
  const raw = await new Promise<string>((resolve) => {
    const s = connect(crsSock);
    let b = '';
    s.on('data', (d) => (b += d));
    s.on('end', () => resolve(b));
    s.write('not json\n');
  });
  assert.match(raw, /"ok":false,"error":"request is not JSON"/);
  r = io(join(dir, 'nothing.sock'));
  assert.equal(await adminCmd(['admin', 'sessions'], r.io), 1);
  assert.match(r.err(), /no server listens on .*nothing\.sock/);
  r = io();
  assert.equal(await adminCmd(['admin', 'sessions'], r.io), 2);
  assert.match(r.err(), /give --socket/);
  // a regular file in the way is not removed
  await writeFile(join(dir, 'file'), 'x');
  await assert.rejects(serveAdmin(join(dir, 'file'), {}), /exists and is not a socket/);
});

test('imsp admin kick: the CRS says which MS; the MS ends the session and the CRS sees the user offline', {
  timeout: 60_000,
}, async (t) => {
  const cluster = await startCluster({ ms: 1, users: ['alice'] });
  const dir = await mkdtemp(join(tmpdir(), 'imsp-admin-'));
  const crsSock = join(dir, 'crs.sock');
  const msSock = join(dir, 'ms.sock');
  const crsAdmin = await serveAdmin(crsSock, crsAdminHandlers(cluster.crs));
  const msAdmin = await serveAdmin(msSock, msAdminHandlers(cluster.ms[0], cluster.crsAddress));
  const alice = new ImspClient({ user: 'alice', password: 'pw-alice', ms: cluster.ms[0].address });
  t.after(async () => {
    await alice.close();
    await crsAdmin.close();
    await msAdmin.close();
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  await alice.login();
  let r = io(crsSock);
  assert.equal(await adminCmd(['admin', 'kick', 'alice'], r.io), 1);
  assert.match(r.err(), new RegExp(`alice is on MS ${cluster.ms[0].msId}`));
  const ended = new Promise<string>((resolve) => alice.once('logout', (e) => resolve(e.reason)));
  r = io();
  assert.equal(await adminCmd(['admin', '--socket', msSock, 'kick', 'alice'], r.io), 0, r.err());
  assert.match(r.out(), /kicked alice/);
  assert.match(await ended, /ERR_SESSION_ENDED|closed/);
  r = io(crsSock);
  for (let i = 0; i < 100; i++) {
    r = io(crsSock);
    await adminCmd(['admin', 'sessions'], r.io);
    if (/no sessions/.test(r.out())) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.match(r.out(), /no sessions/);
  r = io();
  assert.equal(await adminCmd(['admin', '--socket', msSock, 'kick', 'alice'], r.io), 1);
  assert.match(r.err(), /alice has no session here/);
});
