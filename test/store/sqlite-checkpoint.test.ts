// WAL checkpoints of the SQLite store in a worker thread, off the commit path (issue 15): the store's
// connection takes no automatic checkpoint, the worker's PASSIVE checkpoints keep up with a writer, every
// reported change is still there after a reopen [PERSIST-1], and a failed worker gives the checkpoints back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../reference/store/sqlite.js';
import { CHECKPOINT_EVERY } from '../../reference/store/sqlite-checkpointer.js';
import { newUser } from './fixtures.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./checkpoint-close-child.ts', import.meta.url));

function tempFile(t: { after: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-ckpt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'crs.db');
}

/** `n` commits, one after the other (each awaited: one transaction each, no group commit). */
async function commits(store: SqliteStore, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const r = await store.registerUser(newUser(`ck${i}`), 1);
    assert.equal(r.ok, true);
  }
}

const autocheckpoint = (store: SqliteStore): number =>
  (store as unknown as { db: { pragma(s: string, o: { simple: true }): number } }).db.pragma('wal_autocheckpoint', {
    simple: true,
  });

test('[PERSIST-1] a file store checkpoints in its worker, not in its commits, and keeps every reported change', async (t) => {
  const file = tempFile(t);
  const store = await SqliteStore.open(file, { durability: 'normal' });
  assert.ok(store.checkpointer?.active);
  assert.equal(autocheckpoint(store), 0, 'no automatic checkpoint on the commit path');
  const next = store.checkpointer!.next();
  await commits(store, 0, CHECKPOINT_EVERY);
  const r = await next;
  assert.equal(r.busy, 0);
  assert.ok(r.log > 0 && r.checkpointed > 0, JSON.stringify(r));
  await commits(store, CHECKPOINT_EVERY, 10);
  await store.close();
  const again = await SqliteStore.open(file);
  t.after(() => again.close());
  for (const i of [0, CHECKPOINT_EVERY - 1, CHECKPOINT_EVERY + 9]) assert.ok(await again.getUser(`ck${i}`), `ck${i}`);
});

test('a store whose checkpoint worker died checkpoints in its commits again', async (t) => {
  const store = await SqliteStore.open(tempFile(t), { durability: 'normal' });
  t.after(() => store.close());
  await store.checkpointer!.crashForTest();
  assert.equal(store.checkpointer!.active, false);
  assert.equal(autocheckpoint(store), 1000);
  await commits(store, 0, 5);
});

test('an in-memory store has no checkpoint worker', async () => {
  const store = await SqliteStore.open(':memory:');
  assert.equal(store.checkpointer, null);
  await store.close();
});

test('closing while a checkpoint is in flight ends the process cleanly (the reply does not unref the worker)', async (t) => {
  // Before the fix the worker's reply, arriving after close() had ref'd the worker, unref'd it again;
  // the event loop ran dry with close() pending and node exited 13 (the final CI's `imsp user list |
  // head` test, cancelled with "Promise resolution is still pending"). A child process, as nothing
  // else may hold its event loop.
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, tempFile(t)]);
  assert.equal(stdout, 'closed\n');
});
