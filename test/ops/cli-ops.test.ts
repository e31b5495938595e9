// Operators' points of issue 17 that live in the command line: key files (written 0600, base64 or
// base64url accepted, a clear error otherwise), EPIPE (`imsp user list | head`), ms.key ignored by git.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { decodeKeyText } from '../../reference/crypto/b64.js';
import { parseMsKey, makeVerifier } from '../../reference/crypto/scram.js';
import { run as keyCmd, writeSecretFile, looseMode } from '../../reference/cli/key.js';
import { openStore } from '../../reference/store/index.js';
import { sealKeyBlobAsync } from '../../reference/crypto/key-blob.js';
import { generateIdentity } from '../../reference/crypto/keys.js';
import { quietOnEpipe } from '../../reference/cli/epipe.js';
import { EventEmitter } from 'node:events';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMSP = join(ROOT, 'reference/bin/imsp.js');

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
    out,
    err,
  };
}

test('[ENROLL-14] keys are accepted in base64url and in base64 (openssl rand -base64 32), with or without padding', () => {
  const raw = randomBytes(32);
  assert.deepEqual(parseMsKey(raw.toString('base64url') + '\n'), raw);
  assert.deepEqual(parseMsKey(raw.toString('base64') + '\n'), raw);
  assert.deepEqual(parseMsKey(raw.toString('base64').replace(/=+$/, '')), raw);
  // a key whose base64 has + and / (the case openssl users hit)
  const plus = Buffer.from('fb'.repeat(32), 'hex');
  assert.match(plus.toString('base64'), /[+/]/);
  assert.deepEqual(parseMsKey(plus.toString('base64')), plus);
});

test('[ENROLL-14] anything else is refused with a message that says what was expected', () => {
  const msg = (t: string) => {
    try {
      decodeKeyText(t, 'MS key');
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail(`accepted ${JSON.stringify(t)}`);
  };
  assert.match(msg(''), /expected base64 or base64url.*empty/);
  assert.match(msg('abc$def'), /expected base64 or base64url.*character 4 is '\$'/);
  assert.match(msg('ab+c_d'), /mixes the two alphabets/);
  assert.match(msg('ab=cd'), /padding only at the end/);
  assert.match(msg('a b'), /character 2 is U\+0020/);
  assert.throws(() => parseMsKey(randomBytes(16).toString('base64')), /shorter than 32 octets/);
});

test('[ENROLL-16] imsp key generate writes 0600, refuses to overwrite without --force; check reports loose modes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-key-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'ms.key');
  const old = process.umask(0o022);
  try {
    let r = io();
    assert.equal(await keyCmd(['key', 'generate', file], r.io), 0);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(parseMsKey(await readFile(file, 'utf8')).length, 32);
    const first = await readFile(file, 'utf8');
    r = io();
    assert.equal(await keyCmd(['key', 'generate', file], r.io), 1);
    assert.match(r.err.join(''), /exists already/);
    assert.equal(await readFile(file, 'utf8'), first);
    assert.equal(await keyCmd(['key', 'generate', file, '--force'], io().io), 0);
    assert.notEqual(await readFile(file, 'utf8'), first);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    r = io();
    assert.equal(await keyCmd(['key', 'check', file], r.io), 0);
    assert.match(r.out.join(''), /32 octets, mode 0600/);
    await chmod(file, 0o644);
    assert.match(looseMode(file) ?? '', /mode 0644: readable by everyone; chmod 600/);
    r = io();
    assert.equal(await keyCmd(['key', 'check', file], r.io), 1);
    assert.match(r.err.join(''), /chmod 600/);
    // [ENROLL-14] a file that holds no key: the same words as the servers at start, no codec jargon
    const bad = join(dir, 'short.key');
    writeSecretFile(bad, 'short\n');
    r = io();
    assert.equal(await keyCmd(['key', 'check', bad], r.io), 1);
    const said = r.err.join('');
    assert.match(said, /^imsp key: .*short\.key: MS key: .*The file must hold the MS key as base64url text/);
    assert.match(said, /imsp key generate FILE/);
    assert.doesNotMatch(said, /ERR_|header/i);
    writeSecretFile(join(dir, 'other'), 'x');
    assert.equal((await stat(join(dir, 'other'))).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});

test('the servers refuse a bad key file with one clear line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-key-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.key');
  await writeFile(bad, 'not a key!\n', { mode: 0o600 });
  const r = await run(process.execPath, [
    IMSP,
    'crs',
    '--port',
    '0',
    '--store',
    join(dir, 'x.db'),
    '--ms-key-file',
    bad,
  ]).then(
    () => assert.fail('started with a bad key'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /--ms-key-file .*bad\.key: MS key: expected base64 or base64url .*character 4 is ' '|character 4 is U\+0020/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('imsp load refuses a count that is not a non-negative integer with one line naming the option, exit 2', async () => {
  for (const [flag, value] of [
    ['--users', 'x'],
    ['--probe-rounds', '-1'],
    ['--probes', '2.5'],
  ] as const) {
    const r = await run(process.execPath, [IMSP, 'load', '--spawn', flag, value]).then(
      () => assert.fail(`imsp load ran with ${flag} ${value}`),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 2, `${flag} ${value}`);
    assert.match(
      r.stderr,
      new RegExp(
        `^error: option '${flag} <n>' argument '${value.replace('.', '\\.')}' is invalid\\. ${flag} must be a non-negative integer\\n$`,
      ),
    );
  }
});

test('imsp user list | head: no EPIPE crash, exit 0, nothing on stderr', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-epipe-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const db = join(dir, 'users.db');
  const store = await openStore(db, { durability: 'normal' });
  // one verifier and key blob for all (cheap), 600 users: far more output than one pipe read
  const verifier = makeVerifier('pw', { iterations: 4096 });
  const identity = generateIdentity();
  const keyBlob = await sealKeyBlobAsync('pw', 'u', identity, { log2N: 10 });
  for (let i = 0; i < 600; i++)
    await store.registerUser(
      { username: `user${String(i).padStart(4, '0')}`, verifier, publicKey: identity.publicKey, keyBlob },
      Date.now(),
    );
  await store.close();
  const child = spawn(
    '/bin/bash',
    ['-c', `set -o pipefail; '${process.execPath}' '${IMSP}' user list --store '${db}' | head -2`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(out.trim().split('\n').length, 2);
  assert.equal(err, '');
  assert.equal(code, 0, 'pipefail: imsp itself exited 0');
});

test('quietOnEpipe: EPIPE exits 0, any other write error exits 1 with one line', () => {
  const exits: number[] = [];
  const out = new EventEmitter() as unknown as NodeJS.WriteStream;
  const errLines: string[] = [];
  const err = Object.assign(new EventEmitter(), {
    write: (s: string) => errLines.push(s),
  }) as unknown as NodeJS.WriteStream;
  quietOnEpipe(out, err, (c) => exits.push(c));
  out.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  out.emit('error', Object.assign(new Error('no space left'), { code: 'ENOSPC' }));
  assert.deepEqual(exits, [0, 1]);
  assert.match(errLines.join(''), /cannot write output: no space left/);
});

test('ms.key is ignored by git', async () => {
  const { stdout } = await run('git', ['-C', ROOT, 'check-ignore', '-v', 'ms.key']);
  assert.match(stdout, /\.gitignore:\d+:\S*key\s+ms\.key/);
});
