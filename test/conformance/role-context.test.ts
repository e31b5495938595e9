// RoleContext.limitUpTo: the one guard of the kit cases that wait out or fill a limit
// [§90.5 Running the Kit]: the limit's value when it is within the case's bound or --slow was given, a SKIP naming the limit
// and the --set that would run it otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Skip } from '../../conformance/lib/case.js';
import { Transcript } from '../../conformance/lib/conn.js';
import { Limits } from '../../conformance/lib/registry.js';
import { RoleContext, type RoleEnv } from '../../conformance/lib/role-context.js';
import type { RunOptions } from '../../conformance/lib/runner.js';

class TestContext extends RoleContext<RoleEnv> {}

function ctx(sets: Record<string, number>, slow: boolean): TestContext {
  const opts = { limits: new Limits(sets), slow, timeoutMs: 1000 } as unknown as RunOptions;
  return new TestContext({ opts, runId: 'r', counter: 0 }, new Transcript(), []);
}

test('limitUpTo returns a limit within the bound, or any limit with --slow', () => {
  assert.equal(ctx({ requestTimeout: 5000 }, false).limitUpTo('requestTimeout', 5000), 5000);
  assert.equal(ctx({ requestTimeout: 30000 }, true).limitUpTo('requestTimeout', 5000), 30000);
});

test('limitUpTo skips a limit over the bound without --slow, naming the --set that would run it', () => {
  assert.throws(
    () => ctx({ maxContacts: 500 }, false).limitUpTo('maxContacts', 40, ''),
    (e: unknown) =>
      e instanceof Skip && e.message === 'maxContacts is 500; pass --slow, or --set maxContacts=N matching the target',
  );
  assert.throws(
    () => ctx({ lockLease: 6000 }, false).limitUpTo('lockLease', 5000),
    /lockLease is 6000 ms; pass --slow/,
  );
});
