// An exclusive lock on the site output directory, so that two builds (or a build and the browser
// test reading the site) in the same working tree do not interleave. The lock is a directory
// created atomically inside the output directory (`site/.lock/`), holding the owner's pid; a lock whose
// owner process is gone is taken over.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryTake(lockDir: string): boolean {
  try {
    mkdirSync(lockDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
    } catch {
      // Being created right now, or damaged: treat as held unless it stays ownerless (below).
    }
    if (owner === process.pid) return false;
    if (Number.isNaN(owner) || alive(owner)) return false;
    rmSync(lockDir, { recursive: true, force: true });
    return tryTake(lockDir);
  }
  writeFileSync(join(lockDir, 'pid'), String(process.pid));
  return true;
}

const held = new Map<string, number>();

/**
 * Takes the lock of the output directory `out`, waiting at most timeoutMs for another holder.
 * Re-entrant within one process. Resolves to the function that releases it.
 */
export async function acquireSiteLock(out: string, timeoutMs = 300_000): Promise<() => void> {
  mkdirSync(out, { recursive: true });
  const lockDir = join(out, '.lock');
  const release = (): void => {
    const n = (held.get(lockDir) ?? 1) - 1;
    if (n > 0) held.set(lockDir, n);
    else {
      held.delete(lockDir);
      rmSync(lockDir, { recursive: true, force: true });
    }
  };
  const n = held.get(lockDir);
  if (n !== undefined) {
    held.set(lockDir, n + 1);
    return release;
  }
  const deadline = Date.now() + timeoutMs;
  let ownerless = 0;
  while (!tryTake(lockDir)) {
    if (Date.now() > deadline)
      throw new Error(`could not lock ${lockDir} within ${timeoutMs} ms (held by another build)`);
    // A lock directory without a pid file for a few seconds is a crashed creator: remove it.
    try {
      readFileSync(join(lockDir, 'pid'));
      ownerless = 0;
    } catch {
      if (++ownerless > 20) rmSync(lockDir, { recursive: true, force: true });
    }
    await delay(250);
  }
  held.set(lockDir, 1);
  return release;
}

/** Runs fn holding the lock of `out`. */
export async function withSiteLock<T>(out: string, fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const release = await acquireSiteLock(out, timeoutMs);
  try {
    return await fn();
  } finally {
    release();
  }
}
