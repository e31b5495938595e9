// The kit against the reference CRS, MS and client, each started through `node reference/bin/imsp.js`
// (as conformance/selftest.ts does for `make conformance`), with a bounded number of fuzz runs.
// Every case must pass, except the reference deviations listed in conformance/selftest.ts (each one a finding of the kit
// against the spec text, reported to the reference's owners); a listed case that starts passing
// fails this test too, so the list cannot go stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { KNOWN_REFERENCE_DEVIATIONS, selftestRole } from '../../conformance/selftest.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

for (const role of ['crs', 'ms', 'client'] as const) {
  test(`[CONF-6] the kit passes against the reference ${role.toUpperCase()}`, async () => {
    const r = await selftestRole(role, {
      root,
      roles: [role],
      runs: 4,
      seed: 20261122,
      timeoutMs: 3000,
      quiet: true,
      out: () => undefined,
    });
    assert.equal(r.error, undefined, r.error);
    assert.ok(r.results.length > 5, `${role}: cases ran`);
    const failed = r.results.filter((x) => x.verdict === 'FAIL');
    const unexpected = failed.filter((x) => !KNOWN_REFERENCE_DEVIATIONS[x.id]);
    assert.deepEqual(
      unexpected.map((x) => `${x.id}: [${x.findings[0]?.req}] ${x.findings[0]?.text.split('\n')[0]}`),
      [],
      'unexpected failures against the reference',
    );
    // A case declares every requirement its checks can name in a finding, pass or fail.
    assert.deepEqual(
      r.results.filter((x) => x.undeclared?.length).map((x) => `${x.id}: ${x.undeclared!.join(' ')}`),
      [],
      'checks naming requirements their case does not declare in reqs',
    );
    const fixed = Object.keys(KNOWN_REFERENCE_DEVIATIONS).filter(
      (id) => id.startsWith(`${role}/`) && r.results.some((x) => x.id === id && x.verdict === 'PASS'),
    );
    assert.deepEqual(fixed, [], 'these reference deviations are fixed: remove them from KNOWN_REFERENCE_DEVIATIONS');
  });
}
