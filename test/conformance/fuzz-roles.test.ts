// `make fuzz-roles` in its short mode (issue 14): the kit's wire and state fuzzers at scale against
// the reference CRS and MS, each in its own process. The short run must not crash the target, must
// count only answered inputs, report RSS and inputs/s, and stop every process it started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fuzzRole } from '../../conformance/fuzz-roles.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const role of ['crs', 'ms'] as const) {
  test(`[CONN-8] fuzz-roles short mode: ${role} survives hostile input at scale, RSS and inputs/s are reported, the target is stopped`, async () => {
    const lines: string[] = [];
    const rep = await fuzzRole(role, {
      root,
      roles: [role],
      count: 300,
      maxSeconds: 60,
      concurrency: 8,
      seed: 7,
      out: (l) => lines.push(l),
    });
    assert.equal(rep.stats.crashed, false, lines.join('\n'));
    assert.ok(rep.stats.inputs > 0, 'some hostile inputs were answered');
    assert.ok(rep.stats.written >= rep.stats.inputs);
    assert.ok(Number.isFinite(rep.rssBeforeKiB) && Number.isFinite(rep.rssAfterKiB), 'RSS read from /proc');
    assert.ok(rep.inputsPerSecond > 0);
    assert.match(lines.join('\n'), /inputs\/s; RSS before/);
    assert.equal(alive(rep.pid), false, 'the target process was stopped');
  });
}
