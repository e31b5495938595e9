// Durability levels of the SQLite store [§11.5 CRS Restart and Persistence]: with durability 'normal' (WAL, synchronous=NORMAL)
// every change the store has reported done survives the death of the process that wrote it; the test
// kills the writer with SIGKILL (no close, no checkpoint) while it is still writing, then reopens the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../reference/store/sqlite.js';
import { newUser } from './fixtures.js';

const WRITER = fileURLToPath(new URL('./durability-writer.ts', import.meta.url));

/** Runs the writer on `path`, kills it with SIGKILL once it has reported `after` users, returns the reported users. */
function writeThenKill(path: string, level: 'normal' | 'full', after: number): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path, level], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const reported = new Map<string, string>();
    let buf = '';
    let err = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [name, key] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (name && key) reported.set(name, key);
      }
      if (!killed && reported.size >= after) {
        killed = true;
        child.kill('SIGKILL'); // mid-stream: the writer is still registering users
      }
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL' && killed) resolve(reported);
      else reject(new Error(`writer ended with ${code ?? signal} before being killed: ${err}`));
    });
  });
}

for (const level of ['normal', 'full'] as const) {
  test(`[PERSIST-4] [INV-7] durability ${level}: every change reported done survives a SIGKILL of the writing process`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'imsp-durability-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'imsp.db');
    const reported = await writeThenKill(path, level, 40);
    assert.ok(reported.size >= 40);
    const store = await SqliteStore.open(path, { durability: level });
    try {
      for (const [name, key] of reported) {
        const u = await store.getUser(name);
        assert.ok(u, `${name} was reported registered before the kill and must survive it`);
        assert.equal(u.publicKey, key);
      }
      // The store is usable after the crash: the next write succeeds.
      const again = await store.registerUser(newUser('after0'), Date.now());
      assert.equal(again.ok, true);
    } finally {
      await store.close();
    }
  });
}
