// Registration: registerUser() and `imsp user add|list|del`. What is stored must let the real
// login math succeed with the password and fail without it, and must not contain the password.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { unb64, clientLogin, openKeyBlob, verifyClientProof } from '../../reference/crypto/index.js';
import { run, type UserIo } from '../../reference/cli/user.js';
import { openStore, registerUser, SqliteStore, DEFAULT_SQLITE_PATH } from '../../reference/store/index.js';

async function tmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-user-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function io(stdinText?: string, tty = false): UserIo & { out: string[]; err: string[]; input: PassThrough } {
  const input = new PassThrough() as PassThrough & { isTTY?: boolean; setRawMode?: (m: boolean) => unknown };
  if (tty) {
    input.isTTY = true;
    input.setRawMode = () => input;
  }
  if (stdinText !== undefined) input.end(stdinText);
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdin: input,
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    env: {},
    out,
    err,
    input,
  };
}

test('[AUTH-5] registerUser stores a verifier the login proof checks against, and a key blob the password opens', async (t) => {
  const store = await SqliteStore.open(':memory:');
  t.after(() => store.close());
  const r = await registerUser(store, 'alice', 'correct horse', { log2N: 10, profile: { fullName: 'Alice' } });
  assert.ok(r.ok);
  const u = await store.getUser('alice');
  assert.ok(u);
  assert.equal(u.verifier.iterations, 4096);
  assert.equal(u.publicKey, r.publicKey);
  assert.equal(u.profile.fullName, 'Alice');
  const auth = 'imsp1-login,alice,test-transcript';
  const good = clientLogin('correct horse', unb64(u.verifier.salt), u.verifier.iterations, auth);
  assert.ok(verifyClientProof(unb64(u.verifier.storedKey), auth, good.proof));
  const bad = clientLogin('wrong', unb64(u.verifier.salt), u.verifier.iterations, auth);
  assert.equal(verifyClientProof(unb64(u.verifier.storedKey), auth, bad.proof), null);
  const id = openKeyBlob('correct horse', 'alice', u.keyBlob, u.publicKey);
  assert.equal(id.publicKey, u.publicKey);
  assert.throws(() => openKeyBlob('wrong', 'alice', u.keyBlob));
  assert.deepEqual(await registerUser(store, 'alice', 'x', { log2N: 10 }), { ok: false, error: 'exists' });
});

test('[USER-1] registerUser refuses bad names, empty passwords and out-of-range costs before deriving keys', async (t) => {
  const store = await SqliteStore.open(':memory:');
  t.after(() => store.close());
  assert.deepEqual(await registerUser(store, 'Bad', 'pw'), { ok: false, error: 'invalid', detail: 'username' });
  assert.deepEqual(await registerUser(store, 'ok', ''), { ok: false, error: 'invalid', detail: 'password' });
  assert.deepEqual(await registerUser(store, 'ok', 'pw', { iterations: 100 }), {
    ok: false,
    error: 'invalid',
    detail: 'iterations',
  });
  assert.deepEqual(await registerUser(store, 'ok', 'pw', { log2N: 9 }), {
    ok: false,
    error: 'invalid',
    detail: 'log2N',
  });
  assert.equal(await store.countUsers(), 0);
});

test('no password and no private key at rest: the database files hold neither', async (t) => {
  const dir = await tmp(t);
  const path = join(dir, 'imsp.db');
  const password = 'PW-unique-7f3a9c-marker';
  const store = await openStore(path);
  const r = await registerUser(store, 'carol', password, { log2N: 10 });
  assert.ok(r.ok);
  const blob = (await store.getUser('carol'))?.keyBlob ?? '';
  const id = openKeyBlob(password, 'carol', blob);
  const open = await readdir(dir);
  assert.ok(open.includes('imsp.db-wal'), open.join());
  for (const f of open) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
  await store.close();
  // a new database file is the CRS user's only, and so are its WAL files
  for (const f of await readdir(dir)) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
  for (const f of await readdir(dir)) {
    const bytes = await readFile(join(dir, f));
    assert.equal(bytes.includes(Buffer.from(password)), false, f);
    assert.equal(bytes.includes(id.edSeed), false, f);
    assert.equal(bytes.includes(Buffer.from(id.edSeed.toString('base64url'))), false, f);
    assert.equal(bytes.includes(id.xPrivate), false, f);
  }
});

test('imsp user add (file, stdin), list, del, and their errors', async (t) => {
  const dir = await tmp(t);
  const db = join(dir, 'u.db');
  await writeFile(join(dir, 'pw'), 'first line\nsecond line\n');
  let o = io();
  assert.equal(
    await run(
      [
        'user',
        'add',
        'alice',
        '--store',
        db,
        '--password-file',
        join(dir, 'pw'),
        '--full-name',
        'Alice L',
        '--log2n',
        '10',
      ],
      o,
    ),
    0,
  );
  assert.match(o.out.join(''), /^registered alice\npublic key [A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}\n$/);
  o = io('s3cret\n');
  assert.equal(await run(['user', 'add', 'bob', '--store', db, '--password-stdin', '--log2n', '10'], o), 0);
  o = io();
  assert.equal(
    await run(['user', 'add', 'bob', '--store', db, '--password-file', join(dir, 'pw'), '--log2n', '10'], o),
    1,
  );
  assert.match(o.err.join(''), /bob exists already/);
  o = io('');
  assert.equal(await run(['user', 'add', 'carol', '--store', db], o), 2);
  assert.match(o.err.join(''), /not a terminal/);
  o = io();
  assert.equal(
    await run(['user', 'add', 'Carol', '--store', db, '--password-file', join(dir, 'pw'), '--log2n', '10'], o),
    1,
  );
  // [USER-1] the rule is said, in the registry's words
  assert.match(
    o.err.join(''),
    /^imsp user add: invalid username 'Carol': a lower-case letter, then up to 31 lower-case letters, digits/,
  );
  o = io();
  assert.equal(
    await run(['user', 'add', 'carol', '--store', db, '--password-file', join(dir, 'pw'), '--log2n', '9'], o),
    2,
  );
  o = io();
  assert.equal(await run(['user', 'list', '--store', db], o), 0);
  assert.equal(o.out.join(''), 'alice\toffline\tAlice L\nbob\toffline\n');
  o = io();
  assert.equal(await run(['user', 'del', 'bob', '--store', db], o), 0);
  o = io();
  assert.equal(await run(['user', 'del', 'bob', '--store', db], o), 1);
  // the stored verifier is the one of the file's first line
  const store = await openStore(db);
  t.after(() => store.close());
  const u = await store.getUser('alice');
  assert.ok(u);
  const auth = 'x';
  assert.ok(
    verifyClientProof(
      unb64(u.verifier.storedKey),
      auth,
      clientLogin('first line', unb64(u.verifier.salt), 4096, auth).proof,
    ),
  );
  assert.deepEqual(await store.listUsers(null, 10), ['alice']);
});

test('imsp user del --prefix removes the users a conformance-kit run left, and only those', async (t) => {
  const dir = await tmp(t);
  const db = join(dir, 'u.db');
  const store = await openStore(db);
  // Names around the prefix in octet order: "kit.r1-" and "kit.r1" sort before "kit.r1.", "kit.r1_x" and "kiu" after.
  const names = ['kit.r1', 'kit.r1-x', 'kit.r1.a', 'kit.r1.b', 'kit.r1.zz', 'kit.r1_x', 'kit.r2.a', 'kiu'];
  for (const n of names) assert.ok((await registerUser(store, n, 'pw', { log2N: 10, iterations: 4096 })).ok, n);
  await store.close();
  let o = io();
  assert.equal(await run(['user', 'del', '--prefix', 'kit.r1.', '--store', db], o), 0);
  assert.equal(o.out.join(''), '3 users start with kit.r1.\ndeleted kit.r1.a\ndeleted kit.r1.b\ndeleted kit.r1.zz\n');
  o = io();
  assert.equal(await run(['user', 'list', '--store', db], o), 0);
  assert.deepEqual(
    o.out
      .join('')
      .trim()
      .split('\n')
      .map((l) => l.split('\t')[0]),
    ['kit.r1', 'kit.r1-x', 'kit.r1_x', 'kit.r2.a', 'kiu'],
  );
  // A name and --prefix, neither, or an empty prefix: a usage error, nothing deleted.
  for (const args of [['kiu', '--prefix', 'k'], [], ['--prefix', '']]) {
    o = io();
    assert.equal(await run(['user', 'del', ...args, '--store', db], o), 2, args.join(' '));
  }
  o = io();
  assert.equal(await run(['user', 'list', '--store', db], o), 0);
  assert.equal(o.out.join('').trim().split('\n').length, 5);
});

test('imsp user add prompts twice on a terminal, echo off; different answers are refused', async (t) => {
  const dir = await tmp(t);
  const db = join(dir, 'u.db');
  let o = io(undefined, true);
  const done = run(['user', 'add', 'dora', '--store', db, '--log2n', '10'], o);
  o.input.write('pa');
  o.input.write('ssX\u007f\r');
  o.input.write('pass\r');
  assert.equal(await done, 0);
  assert.equal(o.err.join(''), 'Password: \nPassword (again): \n');
  o = io(undefined, true);
  const bad = run(['user', 'add', 'eve', '--store', db, '--log2n', '10'], o);
  o.input.write('one\rtwo\r');
  assert.equal(await bad, 2);
  assert.match(o.err.join(''), /passwords differ/);
  const store = await openStore(db);
  t.after(() => store.close());
  const u = await store.getUser('dora');
  assert.ok(u);
  assert.ok(
    verifyClientProof(unb64(u.verifier.storedKey), 'a', clientLogin('pass', unb64(u.verifier.salt), 4096, 'a').proof),
  );
  assert.equal(await store.getUser('eve'), null);
});

test('the default store is ./imsp.db; IMSP_STORE overrides it', async (t) => {
  assert.equal(DEFAULT_SQLITE_PATH, './imsp.db');
  const dir = await tmp(t);
  const db = join(dir, 'env.db');
  await writeFile(join(dir, 'pw'), 'pw\n');
  const o = io();
  o.env.IMSP_STORE = db;
  assert.equal(await run(['user', 'add', 'frank', '--password-file', join(dir, 'pw'), '--log2n', '10'], o), 0);
  const store = await openStore(db);
  t.after(() => store.close());
  assert.ok(await store.getUser('frank'));
});
