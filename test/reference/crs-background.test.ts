// Background store work of the CRS (lease renewals, sweeps, LEAVE bookkeeping) has no request to
// answer: when it fails it must be logged, never left as an unhandled rejection, which ends a Node
// process. Found when a CRS renewing an MS lease met a store closed under it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../helpers/cluster.js';

test('a failing background store task of the CRS is logged, not an unhandled rejection that would end the process', async (t) => {
  const c = await startCluster({ ms: 0 });
  t.after(() => c.dispose());
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const failed = Promise.reject(new Error('store: closed'));
  c.crs.track(failed);
  await failed.catch(() => undefined);
  // Two turns of the event loop: unhandled rejections are reported after the microtask queue drains.
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(unhandled, []);
});
