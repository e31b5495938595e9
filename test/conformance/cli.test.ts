// The kit's command line: listing, selection, usage errors, exit status, reports; and the case
// catalogue's own rules (every case cites requirements the spec defines, ids are unique).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROLES, runKit, type KitConfig } from '../../conformance/cli.js';
import { errorSpec, Limits } from '../../conformance/lib/registry.js';
import { loadRequirements } from '../../conformance/lib/requirements.js';
import { select } from '../../conformance/lib/runner.js';
import { FAST_LIMITS, startReferenceCrs, workdir } from '../../conformance/lib/spawn.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'conformance/bin/imsp-conformance.js');

test('[CONF-1] every case has a unique id, a section, and cites only requirement IDs the spec defines', async () => {
  const reqs = await loadRequirements();
  assert.ok(reqs, 'requirements are readable');
  const seen = new Set<string>();
  for (const role of ['crs', 'ms', 'client'] as const) {
    const cases = (await ROLES[role]()).cases(new Limits());
    assert.ok(cases.length > 5, `${role} has cases`);
    for (const c of cases) {
      assert.ok(!seen.has(c.id), `duplicate id ${c.id}`);
      seen.add(c.id);
      assert.ok(c.id.startsWith(`${role}/${c.section}/`), `${c.id} is role/section/n`);
      assert.ok(c.reqs.length > 0, `${c.id} cites a requirement`);
      for (const r of c.reqs) assert.ok(reqs.levels.has(r), `${c.id} cites ${r}, which spec/text does not define`);
    }
  }
});

test('[CONF-2] --only and --exclude select by section, id, id prefix and requirement ID', async () => {
  const cases = (await ROLES.crs()).cases(new Limits());
  assert.ok(select(cases, ['enroll'], []).every((c) => c.section === 'enroll'));
  assert.deepEqual(
    select(cases, ['crs/lock/2'], []).map((c) => c.id),
    ['crs/lock/2'],
  );
  assert.ok(select(cases, ['LOCK-6'], []).every((c) => c.reqs.includes('LOCK-6')));
  assert.ok(select(cases, ['LOCK-6'], []).length >= 2);
  assert.ok(select(cases, [], ['fuzz']).every((c) => c.section !== 'fuzz'));
});

test('[CONF-3] --list prints every case with its requirements and exits 0; a missing --target is a usage error (2)', () => {
  const list = spawnSync(process.execPath, [bin, '--role', 'crs', '--list', '--only', 'enroll'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /crs\/enroll\/1 +\[ENROLL-2\]/);
  assert.match(list.stdout, /\d+ cases/);
  const bad = spawnSync(process.execPath, [bin, '--role', 'crs'], { cwd: root, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--target/);
  const dispatched = spawnSync(
    process.execPath,
    [join(root, 'reference/bin/imsp.js'), 'conformance', '--role', 'ms', '--list'],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(dispatched.status, 0, dispatched.stderr);
  assert.match(dispatched.stdout, /ms\/login\/2/);
});

test('[CONF-4] against the reference CRS: the summary line, JSON with wire logs, JUnit and the HTML matrix linking req-<ID>', async (t) => {
  const w = workdir();
  t.after(() => w.dispose());
  const crs = await startReferenceCrs(root, w);
  t.after(() => crs.stop());
  const out = mkdtempSync(join(tmpdir(), 'imsp-conf-report-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const lines: string[] = [];
  const cfg: KitConfig = {
    role: 'crs',
    target: crs.address,
    msKey: w.msKey,
    seed: 1,
    runs: 3,
    timeoutMs: 3000,
    only: ['crs/enroll/1', 'crs/lock/2', 'crs/wire/1'],
    exclude: [],
    strict: false,
    slow: false,
    limits: new Limits(FAST_LIMITS),
    specBase: 'spec.html',
    list: false,
    quiet: false,
    json: join(out, 'r.json'),
    junit: join(out, 'r.xml'),
    html: join(out, 'html'),
  };
  const { results, status } = await runKit(cfg, (l) => lines.push(l));
  assert.equal(status, 0, lines.join('\n'));
  assert.equal(results.length, 3);
  assert.equal(lines.at(-1), '3 passed, 0 failed, 0 warned, 0 skipped');
  assert.ok(
    lines.some((l) => l.startsWith('[1/3] PASS crs/wire/1')),
    'progress lines',
  );
  const json = JSON.parse(readFileSync(cfg.json!, 'utf8')) as {
    cases: { id: string; wire: { dir: string; text: string }[] }[];
  };
  assert.ok(
    json.cases[0]!.wire.some((e) => e.dir === 'out') && json.cases[0]!.wire.some((e) => e.dir === 'in'),
    'wire log per case',
  );
  const xml = readFileSync(cfg.junit!, 'utf8');
  assert.match(xml, /<testsuites[^>]* tests="3"/);
  assert.match(xml, /<testcase classname="imsp\.crs\.enroll"/);
  assert.ok(existsSync(join(out, 'html/index.html')));
  const html = readFileSync(join(out, 'html/index.html'), 'utf8');
  assert.match(html, /href="spec\.html#req-ENROLL-2"/);
});

test('[CONF-5] a target that answers wrongly fails with a non-zero status, naming the requirement', async (t) => {
  // A fake "CRS" that answers everything 200 and never closes: the framing cases must FAIL.
  const net = await import('node:net');
  const server = net.createServer((s) => s.on('data', () => s.write('200 OK\r\n\r\n')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => server.close());
  const w = workdir();
  t.after(() => w.dispose());
  const port = (server.address() as import('node:net').AddressInfo).port;
  const lines: string[] = [];
  const cfg: KitConfig = {
    role: 'crs',
    target: `127.0.0.1:${port}`,
    msKey: w.msKey,
    seed: 1,
    runs: 2,
    timeoutMs: 300,
    only: ['crs/wire/1'],
    exclude: [],
    strict: false,
    slow: false,
    limits: new Limits(),
    specBase: 's',
    list: false,
    quiet: true,
  };
  const { results, status } = await runKit(cfg, (l) => lines.push(l));
  assert.equal(status, 1);
  assert.equal(results[0]!.verdict, 'FAIL');
  assert.equal(results[0]!.findings[0]!.req, errorSpec('ERR_BARE_LF').req);
  assert.equal(lines.at(-1), '0 passed, 1 failed, 0 warned, 0 skipped');
});
