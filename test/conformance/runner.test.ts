// The runner's verdicts around SKIP and the health probe (conformance/lib/runner.ts): a run whose
// target stops answering for good cannot end with 0 failed, even when the case it died in skipped
// (kit-mutation seed 13, ms/crs-uplink.ts:220: an MS that never enrolls again passed the whole kit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCases, type Driver, type RunOptions } from '../../conformance/lib/runner.js';
import { Skip, type CaseDef, type Finding } from '../../conformance/lib/case.js';

interface Ctx {
  findings: Finding[];
}

const opts: RunOptions = {
  seed: 1,
  runs: 1,
  timeoutMs: 1000,
  strict: false,
  limits: {} as RunOptions['limits'],
  slow: false,
  progress: () => undefined,
  commandLine: '',
};

/** A driver whose target answers the health probe while `alive()` says so. */
function driver(cases: CaseDef<Ctx>[], alive: () => boolean): Driver<Ctx> {
  return {
    cases,
    context: (_tr, findings) => ({ findings }),
    cleanup: async () => [],
    probe: async () => (alive() ? null : 'LOGIN answered 503'),
  };
}

const skipping = (id: string, before?: () => void): CaseDef<Ctx> => ({
  id,
  section: 'x',
  title: id,
  reqs: ['ENROLL-12'],
  async run() {
    before?.();
    throw new Skip('the MS did not enroll again');
  },
});
const passing = (id: string): CaseDef<Ctx> => ({ id, section: 'x', title: id, reqs: ['WIRE-3'], async run() {} });

test('a case that skips while the target stays healthy is a SKIP', async () => {
  const cases = [skipping('x/1'), passing('x/2')];
  const r = await runCases(
    driver(cases, () => true),
    cases,
    opts,
    5000,
  );
  assert.deepEqual(
    r.map((x) => x.verdict),
    ['SKIP', 'PASS'],
  );
  assert.equal(r[0]!.skipReason, 'the MS did not enroll again');
});

test('a case that skips and leaves the target dead for good FAILs; the cases after it skip', async () => {
  let alive = true;
  const cases = [passing('x/1'), skipping('x/2', () => (alive = false)), passing('x/3')];
  const r = await runCases(
    driver(cases, () => alive),
    cases,
    opts,
    5000,
  );
  assert.deepEqual(
    r.map((x) => x.verdict),
    ['PASS', 'FAIL', 'SKIP'],
  );
  assert.match(r[1]!.findings[0]!.text, /health probe after the case failed: LOGIN answered 503/);
  assert.equal(r[1]!.findings[0]!.req, 'ENROLL-12');
  assert.match(r[2]!.skipReason ?? '', /the target is not answering/);
});

test('a probe that fails once and then answers leaves a skipped case a SKIP', async () => {
  let probes = 0;
  const cases = [skipping('x/1')];
  const d = driver(cases, () => true);
  d.probe = async () => (++probes === 1 ? 'LOGIN answered 503' : null);
  const r = await runCases(d, cases, opts, 5000);
  assert.equal(r[0]!.verdict, 'SKIP');
});

test('[CRYPTO-4] a case that skips after the target broke a wire rule in it FAILs with that rule (a login the kit refused for a non-canonical Key-share)', async () => {
  const cases = [skipping('x/1'), skipping('x/2')];
  const d = driver(cases, () => true);
  let n = 0;
  d.cleanup = async () =>
    ++n === 1 ? [{ req: 'CRYPTO-4', text: 'Key-share of LOGIN is not canonical base64url' }] : [];
  const r = await runCases(d, cases, opts, 5000);
  assert.deepEqual(
    r.map((x) => x.verdict),
    ['FAIL', 'SKIP'],
  );
  assert.equal(r[0]!.findings[0]!.req, 'CRYPTO-4');
  assert.match(r[0]!.findings[0]!.text, /^target broke the wire rules: Key-share of LOGIN/);
});

test('[ENROLL-12] a failed probe that names the requirement its target breaks is attributed to it, not to the case’s first requirement', async () => {
  const reg10 = (id: string): CaseDef<Ctx> => ({ ...skipping(id), reqs: ['REG-10', 'REC-1'] });
  for (const [probe, req] of [
    [
      { req: 'ENROLL-12', text: 'LOGIN answered 503, and the MS has not enrolled again since it lost its CRS link' },
      'ENROLL-12',
    ],
    ['LOGIN answered 503', 'REG-10'],
  ] as const) {
    const cases = [reg10('x/1')];
    const d = driver(cases, () => true);
    d.probe = async () => probe;
    const r = await runCases(d, cases, opts, 5000);
    assert.equal(r[0]!.verdict, 'FAIL');
    assert.equal(r[0]!.findings[0]!.req, req);
    assert.match(r[0]!.findings[0]!.text, /^health probe after the case failed: LOGIN answered 503/);
  }
});
