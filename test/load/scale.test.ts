// bench/scale.ts (make bench-scale, issue 15): the layout it picks for a machine, the limits it reads,
// the CRS's own count of online users, and a smoke run at a small size. Never a timing goal here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { ephemeralPortCount, main, openFileLimit, planScale, scaleComplete } from '../../bench/scale.js';
import { countOnline, populateSqlite, sharedCredentials, userName } from '../../reference/load/population.js';
import { WorkerCore } from '../../reference/load/worker.js';
import type { LoadReport } from '../../reference/load/run.js';

test('planScale: 100,000 sessions at 15,000 per MS take 7 MSs, and the fd limit decides the workers', () => {
  const wide = planScale({ sessions: 100_000, perMs: 15_000 }, 131_072, 28_232);
  assert.deepEqual(wide.problems, []);
  assert.equal(wide.ms, 7);
  assert.equal(wide.workers, 4);
  assert.deepEqual(wide.sources, ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']);
  // At the default 20,000 descriptors a worker may hold at most 19,488 sessions: 6 workers.
  assert.equal(planScale({ sessions: 100_000, perMs: 15_000 }, 20_000, 28_232).workers, 6);
  // An MS of 15,000 sessions cannot run under ulimit -n 10,000: the plan says so.
  const narrow = planScale({ sessions: 100_000, perMs: 15_000 }, 10_000, 28_232);
  assert.equal(narrow.problems.length, 1);
  assert.match(narrow.problems[0]!, /ulimit -n is 10000/);
});

test('planScale: a plan without problems fits every process in the fd limit and every source in its ports (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300_000 }),
      fc.integer({ min: 1, max: 40_000 }),
      fc.integer({ min: 1024, max: 300_000 }),
      fc.integer({ min: 100, max: 60_000 }),
      (sessions, perMs, fdLimit, ports) => {
        const p = planScale({ sessions, perMs }, fdLimit, ports);
        if (p.problems.length > 0) return;
        assert.ok(p.ms * perMs >= sessions, 'the MSs hold every session');
        assert.ok(Math.ceil(sessions / p.ms) <= perMs, 'no MS above --per-ms');
        assert.ok(Math.ceil(sessions / p.ms) + 512 <= fdLimit, 'an MS fits the fd limit');
        assert.ok(Math.ceil(sessions / p.workers) + 512 <= fdLimit, 'a worker fits the fd limit');
        assert.ok(p.sources.length * Math.floor((ports * 3) / 4) >= sessions, 'enough source ports');
        assert.equal(new Set(p.sources).size, p.sources.length);
        for (const s of p.sources) assert.match(s, /^127\.0\.0\.(\d+)$/);
      },
    ),
    { numRuns: 300 },
  );
});

test('openFileLimit and ephemeralPortCount read /proc text', () => {
  const limits = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             unlimited            unlimited            processes ',
    'Max open files            20000                20000                files     ',
  ].join('\n');
  assert.equal(openFileLimit(limits), 20_000);
  assert.equal(openFileLimit(limits.replace('20000   ', 'unlimited')), Number.MAX_SAFE_INTEGER);
  assert.equal(ephemeralPortCount('32768\t60999\n'), 28_232);
  assert.equal(ephemeralPortCount('garbage'), 0);
  // This machine's own files parse to something usable.
  assert.ok(openFileLimit(readFileSync('/proc/self/limits', 'utf8')) >= 256);
});

test('countOnline counts the users the CRS store holds online, and only those', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-scale-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'crs.db');
  await populateSqlite(path, { users: 6, buddies: 2, prefix: 'q' });
  assert.equal(countOnline(path, 'q'), 0);
  const db = new Database(path);
  db.prepare("UPDATE users SET state = 'online' WHERE username IN (?, ?)").run(userName(1, 'q'), userName(4, 'q'));
  db.prepare("UPDATE users SET state = 'locked' WHERE username = ?").run(userName(2, 'q'));
  db.close();
  assert.equal(countOnline(path, 'q'), 2);
  assert.equal(countOnline(path, 'zz'), 0);
});

test('scaleComplete needs every login, every held session and the CRS count', () => {
  const r = { logins: { ok: 10 }, crsOnline: 10, sessions: { held: 10 } } as unknown as LoadReport;
  assert.equal(scaleComplete(r, 10), true);
  assert.equal(scaleComplete({ ...r, crsOnline: 9 }, 10), false);
  assert.equal(scaleComplete({ ...r, crsOnline: null }, 10), false);
  assert.equal(scaleComplete({ ...r, sessions: { peak: 10, held: 9 } }, 10), false);
  assert.equal(scaleComplete({ ...r, logins: { ...r.logins, ok: 9 } }, 10), false);
});

test('[LOGIN-1] bench-scale smoke: 24 sessions over 3 spawned MSs, all online at the CRS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-scale-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const json = join(dir, 'scale.json');
  const code = await main(['--sessions', '24', '--per-ms', '8', '--hold', '1', '--max-seconds', '120', '--json', json]);
  const out = JSON.parse(readFileSync(json, 'utf8')) as { report: LoadReport; plan: { ms: number } };
  assert.equal(code, 0, JSON.stringify(out.report.errors));
  assert.equal(out.plan.ms, 3);
  assert.equal(out.report.crsOnline, 24);
  assert.equal(out.report.logins.ok, 24);
  const ms = out.report.memory.filter((m) => m.name.startsWith('ms'));
  assert.equal(ms.length, 3);
  assert.deepEqual(
    ms.map((m) => m.sessions),
    [8, 8, 8],
  );
  for (const m of out.report.memory) assert.ok((m.rssAfter ?? 0) > 0, `${m.name} RSS read`);
});

test('a load worker tries a failed login again, up to `retries` times, and counts every attempt', async () => {
  const core = new WorkerCore(() => undefined);
  const credentials = sharedCredentials(Buffer.alloc(16, 7), 4096);
  // Nothing listens on port 1: every attempt fails at connect.
  await core.handle({
    op: 'init',
    init: {
      index: 0,
      credentials,
      ms: ['127.0.0.1:1'],
      sources: [],
      users: [
        [0, 'r0'],
        [1, 'r1'],
      ],
      timeoutMs: 2000,
      heartbeats: false,
    },
  });
  const once = await core.handle({ op: 'login', concurrency: 2, maxMs: 20_000 });
  assert.ok(once.ok);
  assert.equal(once.logins?.length, 2);
  const thrice = await core.handle({ op: 'login', concurrency: 2, maxMs: 20_000, retries: 2 });
  assert.ok(thrice.ok);
  assert.equal(thrice.logins?.length, 6);
  assert.deepEqual(thrice.logins?.map((l) => l.user).sort(), ['r0', 'r0', 'r0', 'r1', 'r1', 'r1']);
  assert.ok(thrice.logins?.every((l) => !l.ok));
  await core.handle({ op: 'shutdown' });
});
