// `imsp client --limit NAME=VALUE`: the limits of spec/registry/limits.json the client uses, as a
// test or the conformance kit's `--set` sets them (the kit's client/arch/3 checks handshakeTimeout
// on the wire [CONN-4]); anything else is refused with exit status 2. And what the command says when
// its --crs cannot be reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientLimits } from '../../reference/cli/client.js';

const IMSP = fileURLToPath(new URL('../../reference/bin/imsp.js', import.meta.url));

test('[CONN-4] --limit takes the client limits of the registry, in their ranges', () => {
  assert.deepEqual(clientLimits(['handshakeTimeout=3000']), { handshakeTimeout: 3000 });
  assert.deepEqual(clientLimits(['requestTimeout=2000', 'sessionTimeout=4000']), {
    requestTimeout: 2000,
    sessionTimeout: 4000,
  });
  assert.deepEqual(clientLimits([]), {});
  for (const [bad, why] of [
    ['handshakeTimeout=abc', /expected NAME=VALUE/],
    ['handshakeTimeout', /expected NAME=VALUE/],
    ['handshakeTimeout=-5', /expected NAME=VALUE/],
    ['handshakeTimeout=1', /outside \[100, 60000\]/],
    ['nope=1', /unknown limit nope/],
    ['msLease=5000', /not a limit the client uses/],
  ] as const)
    assert.throws(() => clientLimits([bad]), why, bad);
});

test('imsp client --limit with a bad value exits 2 with the reason, before doing anything', async () => {
  const p = spawn(process.execPath, [IMSP, 'client', '--control', '--limit', 'msLease=5000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /imsp client: --limit msLease: not a limit the client uses/);
  assert.equal(out, '', 'no ready line: the control interface never started');
});

test('imsp client with a --crs where no server listens says so, naming the address, and exits 1', async () => {
  // a port that was free a moment ago: nothing listens there now
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const addr = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const dir = await mkdtemp(join(tmpdir(), 'imsp-cli-unreachable-'));
  try {
    const pw = join(dir, 'pw');
    await writeFile(pw, 'secret\n', { mode: 0o600 });
    const p = spawn(process.execPath, [IMSP, 'client', '--crs', addr, '--user', 'alice', '--password-file', pw], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(
      err,
      new RegExp(`^Cannot reach the server at ${addr.replace(/\./g, '\\.')} \\(connection refused`, 'm'),
    );
    assert.doesNotMatch(err, /not available right now/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
