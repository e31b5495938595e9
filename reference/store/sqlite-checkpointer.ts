// WAL checkpoints of the SQLite store off the commit path (issue 15). SQLite's automatic checkpoint
// runs inside the COMMIT that crosses 1,000 WAL pages: that commit copies the pages into the database
// file and syncs it, on the CRS's only thread, and every login queued behind it waits (the stage table
// of `make bench-load` shows it in "CRS store committed"). Here the store's own connection has
// wal_autocheckpoint off and a worker thread with a second connection on the same file runs a
// PASSIVE checkpoint after every CHECKPOINT_EVERY commits: PASSIVE never blocks the writer (WAL lets a
// checkpoint run beside readers and one writer), and the checkpointing connection syncs as the store's
// durability says, so what survives a crash is unchanged [PERSIST-1] [PERSIST-4]. This is how SQLite
// documents running checkpoints "in a separate thread or process" (wal.html, "Application-Initiated
// Checkpoints"). If the worker fails, the store's connection takes automatic checkpoints back.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';

/** Commits between two checkpoint requests (a login writes a few pages: ~1,000 WAL pages apart, as SQLite's default). */
export const CHECKPOINT_EVERY = 200;

/** SQLite's default automatic checkpoint, restored on the store's connection when the worker fails. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

// CommonJS, evaluated in the worker: opens its own connection and checkpoints on each message.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = ' + workerData.synchronous);
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
  parentPort.postMessage({ busy: r.busy, log: r.log, checkpointed: r.checkpointed });
});
`;

/** A checkpoint's outcome: WAL frames, and how many of them are now in the database file. */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export class WalCheckpointer {
  private readonly worker: Worker;
  private commits = 0;
  private inFlight = false;
  private failed = false;
  /** Checkpoints completed (tests, metrics). */
  done = 0;
  /** The last checkpoint's outcome. */
  last: CheckpointResult | null = null;
  private waiters: Array<(r: CheckpointResult) => void> = [];

  constructor(
    private readonly db: Database.Database,
    file: string,
    durability: 'full' | 'normal',
  ) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(SOURCE, {
      eval: true,
      workerData: { driver, file, synchronous: durability === 'normal' ? 'NORMAL' : 'FULL' },
    });
    this.worker.unref();
    this.worker.on('message', (r: CheckpointResult) => {
      this.inFlight = false;
      // once close() has ref'd the worker it stays ref'd until it exits: a checkpoint's reply that
      // arrives after close() must not let the process end with close() still pending
      if (!this.failed) this.worker.unref();
      this.done++;
      this.last = r;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f(r);
    });
    this.worker.on('error', () => this.fail());
    this.worker.on('exit', () => this.fail());
    db.pragma('wal_autocheckpoint = 0');
  }

  private fail(): void {
    if (this.failed) return;
    this.failed = true;
    this.inFlight = false;
    // the worker is gone: checkpoints go back on the commit path, as without it
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
  }

  /** Called after each commit of the store: asks for a checkpoint every CHECKPOINT_EVERY commits. */
  committed(): void {
    if (this.failed || ++this.commits < CHECKPOINT_EVERY || this.inFlight) return;
    this.commits = 0;
    this.inFlight = true;
    // referenced while it works: a checkpoint in progress holds the process like any pending I/O
    this.worker.ref();
    this.worker.postMessage('checkpoint');
  }

  /** Resolves with the outcome of the next checkpoint that completes (tests). */
  next(): Promise<CheckpointResult> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Whether checkpoints run in the worker (false once it failed or was closed). */
  get active(): boolean {
    return !this.failed;
  }

  /** Ends the worker abruptly, as a crash of its thread would (tests of the fallback). */
  async crashForTest(): Promise<void> {
    await this.worker.terminate();
  }

  /** Stops the worker (its connection closes first). */
  async close(): Promise<void> {
    if (this.failed) return;
    this.failed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage('close');
    // a checkpoint in progress finishes first; a worker that does not end in 10 s is terminated
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    timer.unref();
    await exited;
    clearTimeout(timer);
  }
}
