// `make chaos --short` as part of `make test` (issue 14): the campaign's CLI in a child process, the
// servers from the sources, one fault of each kind on SQLite and a CRS kill on
// PostgreSQL. It must end by itself with exit status 0, a table with a row per fault kind, every fault
// recovered and 0 violations, and the same in JSON. The leftover check of `make test` then finds
// nothing it started (servers, PostgreSQL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPgBin } from '../helpers/pg.js';
import { FAULT_KINDS, type ChaosReport } from './chaos.js';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

test('[INV-1][INV-2][INV-3][INV-7][INV-10][RECONNECT-2] make chaos --short: every fault kind injected and recovered, 0 violations, table and JSON', {
  timeout: 900_000,
}, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'imsp-chaos-test-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const stores = findPgBin() || process.env.IMSP_PG_URL ? 'sqlite,postgres' : 'sqlite';
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, '--short', '--source', '--seed', '14', '--stores', stores, '--out', out],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stdout += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.diagnostic(
    stdout
      .split('\n')
      .filter((l) => l.startsWith('|') || l.includes('VIOLATION'))
      .join('\n'),
  );
  const report = JSON.parse(readFileSync(join(out, 'chaos-14.json'), 'utf8')) as ChaosReport;
  assert.deepEqual(report.violations, [], 'no violation');
  assert.equal(code, 0, stdout.slice(-3000));
  assert.deepEqual(
    report.rows.map((r) => r.kind),
    [...FAULT_KINDS],
  );
  for (const r of report.rows) {
    assert.ok(r.injected >= 1, `${r.kind} injected`);
    assert.equal(r.recovered, r.injected, `${r.kind}: every fault recovered`);
    assert.equal(r.violations, 0);
    assert.equal(r.convergeMs.length, r.recovered);
    for (const ms of r.convergeMs) assert.ok(ms <= report.bounds.convergeMs, `${r.kind} converged in ${ms} ms`);
    for (const ms of r.reconnectMs) assert.ok(ms <= report.bounds.reconnectMs, `${r.kind} reconnect in ${ms} ms`);
  }
  // the kills reconnect clients: the "Done when" point of issue 14, with servers killed by signal
  for (const kind of ['ms-kill', 'crs-kill'] as const)
    assert.ok(report.rows.find((r) => r.kind === kind)!.reconnectMs.length > 0, `${kind}: some client reconnected`);
  const md = readFileSync(join(out, 'chaos-14.md'), 'utf8');
  for (const kind of FAULT_KINDS) assert.match(md, new RegExp(`^\\| ${kind} \\| \\d+ \\| \\d+ \\|.* \\| 0 \\|$`, 'm'));
  assert.match(md, /Violations: 0/);
});
