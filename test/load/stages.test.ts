// The stage table of a load run (issue 15): the servers' stage trace, its join with the clients' times, and
// one spawned run whose table must follow the protocol's order. Timing goals belong to bench/load.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  enableStageTrace,
  stage,
  stageTraceOn,
  stageTraceSnapshot,
  STAGE_TRACE_MAX_USERS,
} from '../../reference/ops/stage-trace.js';
import { enableLoopTrace, loopTracePeek, loopTraceSnapshot } from '../../reference/ops/loop-trace.js';
import {
  loopReport,
  renderLoopReport,
  readStageTraces,
  renderReportStages,
  stageTable,
} from '../../reference/load/stages.js';
import { runLoad } from '../../reference/load/run.js';
import { renderProfiles, summarizeProfile } from '../../reference/load/cpuprofile.js';

test('stage(): nothing is kept while tracing is off; on, the latest time of each stage per user, bounded', () => {
  stage('a', 'ms.proof', 1);
  assert.equal(stageTraceOn(), false);
  assert.deepEqual(stageTraceSnapshot(), {});
  enableStageTrace();
  stage('a', 'ms.proof', 1);
  stage('a', 'ms.proof', 5); // a re-login overwrites
  stage('a', 'crs.commit', 7);
  assert.deepEqual(stageTraceSnapshot(), { a: { 'ms.proof': 5, 'crs.commit': 7 } });
  for (let i = 0; i < STAGE_TRACE_MAX_USERS + 10; i++) stage(`u${i}`, 'ms.online', i);
  assert.equal(Object.keys(stageTraceSnapshot()).length, STAGE_TRACE_MAX_USERS);
});

test('stageTable joins the clients with the merged traces: steps and times from PROOF', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-stages-test-'));
  try {
    // two MSs saw the push about "p": the later one counts
    writeFileSync(
      join(dir, 'ms1.stages.json'),
      JSON.stringify({ p: { 'ms.proof': 102, 'ms.online': 104, 'ms.pushIn': 120, 'ms.pushOut': 121 } }),
    );
    writeFileSync(join(dir, 'ms2.stages.json'), JSON.stringify({ p: { 'ms.pushIn': 125, 'ms.pushOut': 130 } }));
    writeFileSync(
      join(dir, 'crs.stages.json'),
      JSON.stringify({
        p: { 'crs.online': 105, 'crs.begin': 106, 'crs.commit': 116, 'crs.push': 117, 'crs.answer': 118 },
      }),
    );
    writeFileSync(join(dir, 'other.json'), '{"p":{"ms.proof":0}}'); // not a trace file
    const traces = readStageTraces(dir);
    const rows = stageTable([{ user: 'p', tStart: 90, tProof: 100, tDone: 140, tLast: 133 }], traces);
    const by = new Map(rows.map((r) => [r.stage, r]));
    assert.equal(by.get('MS has PROOF')?.stepP50, 2);
    assert.equal(by.get('CRS store committed')?.stepP50, 10);
    assert.equal(by.get('CRS store committed')?.fromProofP99, 16);
    assert.equal(by.get('MS has PRESENCE (later MS)')?.stepP50, 8);
    assert.equal(by.get('MS sent it to the buddies (later MS)')?.fromProofP50, 30);
    assert.equal(by.get('last buddy has PRESENCE')?.stepP50, 3);
    assert.equal(by.get('MS has the 200')?.n, 0, 'no ms.online200 in the traces');
    assert.equal(by.get('client has the 200')?.n, 0, 'no step from a missing stage');
    assert.match(renderReportStages({ probes: rows, logins: [] }), /fan-out probes[\s\S]*CRS store committed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('[PRESENCE-2] a spawned run with stageTrace: every probe has every stage, in the order of the protocol', async () => {
  const report = await runLoad({
    scenario: 'storm',
    spawn: true,
    spawnMs: 2,
    users: 24,
    buddies: 4,
    concurrency: 4,
    processes: 0,
    probes: 3,
    rate: 100,
    heartbeats: false,
    serverDurability: 'normal',
    stageTrace: true,
  });
  assert.equal(report.fanout.delivered, report.fanout.expected);
  const probes = report.stages?.probes ?? [];
  assert.equal(probes.length, 14);
  for (const r of probes) assert.equal(r.n, report.fanout.probes, `${r.stage}: every probe`);
  // Within one login the stages are ordered (one clock per machine): no step is negative.
  for (const r of probes.slice(0, 8)) assert.ok(r.stepP50 >= 0, `${r.stage} ${r.stepP50}`);
  const logins = report.stages?.logins ?? [];
  assert.ok(logins.every((r) => r.n > 0 || r.stage === 'last buddy has PRESENCE'));
  // what held the servers during the probes: one row per server, each probe's later MS named
  const loop = report.stages?.loop;
  assert.ok(loop);
  assert.deepEqual(loop.rows.map((r) => r.process).sort(), ['crs', 'ms1', 'ms2']);
  for (const r of loop.rows) assert.ok((r.cpuMs ?? -1) >= 0 && (r.waitMs ?? -1) >= 0, `${r.process} schedstat`);
  assert.equal(loop.slowest.length, Math.min(5, report.fanout.probes));
  for (const s of loop.slowest) assert.ok(['ms1', 'ms2'].includes(s.ms) && s.stepMs >= 0);
});

test('loop trace: off it keeps nothing; on, the GC pauses V8 reports, with their start on the epoch clock', async () => {
  assert.deepEqual(loopTraceSnapshot(), { gc: [], delay: [] });
  const t0 = performance.timeOrigin + performance.now();
  enableLoopTrace();
  let keep: unknown[] = [];
  // allocate until a scavenge is reported (entries arrive on a later turn): bounded, no sleep
  for (let i = 0; i < 500 && (loopTracePeek()?.gc.length ?? 0) === 0; i++) {
    keep = Array.from({ length: 20_000 }, (_, j) => ({ j, s: `x${j}` }));
    await new Promise((r) => setImmediate(r));
  }
  const snap = loopTraceSnapshot();
  assert.ok(keep.length > 0);
  assert.ok(snap.gc.length > 0, 'a GC pause was recorded');
  const now = performance.timeOrigin + performance.now();
  for (const [start, d] of snap.gc) assert.ok(start >= t0 - 1 && start <= now && d >= 0);
  assert.deepEqual(loopTraceSnapshot(), { gc: [], delay: [] }, 'the snapshot stops the trace');
});

test('loopReport: GC pauses and loop delay in the probe window, what overlapped the slowest push step, and the GC inside the slowest probes end to end', () => {
  const probes = [
    { user: 'a', tStart: 900, tProof: 1000, tDone: 1010, tLast: 1040 },
    { user: 'b', tStart: 1900, tProof: 2000, tDone: 2010, tLast: 2100 },
  ];
  const stages = new Map([
    ['crs', { a: { 'crs.push': 1005 }, b: { 'crs.push': 2005 } }],
    ['ms1', { a: { 'ms.pushIn': 1006 }, b: { 'ms.pushIn': 2010 } }],
    ['ms2', { a: { 'ms.pushIn': 1008 }, b: { 'ms.pushIn': 2085 } }],
  ]);
  const loops = new Map([
    ['crs', { gc: [], delay: [] }],
    ['ms1', { gc: [[500, 3]] as Array<[number, number]>, delay: [{ t: 1000, count: 100, mean: 1, p99: 4, max: 9 }] }],
    [
      'ms2',
      {
        // one pause before the window, one inside b's step (2020..2070), one after the window
        gc: [
          [100, 50, 1],
          [2020, 50, 4],
          [5000, 10, 4],
        ] as Array<[number, number, number]>,
        delay: [
          { t: 1000, count: 100, mean: 1, p99: 2, max: 3 },
          { t: 2000, count: 100, mean: 2, p99: 40, max: 55 },
        ],
      },
    ],
  ]);
  const r = loopReport(probes, loops, stages, [{ name: 'ms2', cpuMs: 12, waitMs: 34 }]);
  assert.ok(r);
  assert.equal(r.windowMs, 1100);
  const ms2 = r.rows.find((x) => x.process === 'ms2')!;
  assert.deepEqual(
    [ms2.gcCount, ms2.gcTotalMs, ms2.gcMaxMs, ms2.gcMajor, ms2.gcMajorMs, ms2.delayP99, ms2.delayMax],
    [1, 50, 50, 1, 50, 40, 55],
  );
  assert.deepEqual([ms2.cpuMs, ms2.waitMs], [12, 34]);
  assert.equal(r.rows.find((x) => x.process === 'ms1')!.gcCount, 0);
  assert.deepEqual(r.slowest[0], { user: 'b', ms: 'ms2', stepMs: 80, gcMs: 50, delayMax: 55 });
  assert.deepEqual(r.slowest[1], { user: 'a', ms: 'ms2', stepMs: 3, gcMs: 0, delayMax: 3 });
  assert.match(renderLoopReport(r), /b at ms2: 80\.00 ms; GC in it 50\.00 ms/);
  // end to end: b (PROOF 2000 -> last receipt 2100) held 50 ms of ms2's pause, a none
  // (steps of b: PROOF 2000 -> crs.push 2005 -> ms.pushIn 2085 (the later MS) -> last receipt 2100)
  assert.deepEqual(r.slowestFanout, [
    { user: 'b', ms: 100, gc: { ms2: 50 }, longest: { step: 'MS has PRESENCE (later MS)', ms: 80 } },
    { user: 'a', ms: 40, gc: {}, longest: { step: 'last buddy has PRESENCE', ms: 32 } },
  ]);
  assert.match(
    renderLoopReport(r),
    /\n {2}b: 100\.00 ms; GC in it: ms2 50\.00 ms; longest step "MS has PRESENCE \(later MS\)" 80\.00 ms\n {2}a: 40\.00 ms; GC in it: none; longest/,
  );
});

test('summarizeProfile: self time per function from the samples, idle excluded from the shares', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-prof-test-'));
  try {
    const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 9 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)') },
        { id: 2, callFrame: frame('(idle)') },
        { id: 3, callFrame: frame('seal', 'file:///x/dist/reference/net/sender.js') },
        { id: 4, callFrame: frame('(garbage collector)') },
      ],
      // each sample's time is the delta to the next one (µs)
      samples: [3, 3, 4, 2, 3],
      timeDeltas: [0, 1000, 3000, 1000, 5000],
    };
    writeFileSync(join(dir, 'CPU.20261207.010000.4242.0.001.cpuprofile'), JSON.stringify(profile));
    const s = summarizeProfile(join(dir, 'CPU.20261207.010000.4242.0.001.cpuprofile'));
    assert.equal(s.idleMs, 5);
    assert.equal(s.busyMs, 5); // seal 1 + 3, GC 1; the last sample has no successor
    assert.equal(s.top[0]?.name, 'seal dist/reference/net/sender.js:10');
    assert.equal(s.top[0]?.share, 0.8);
    assert.equal(s.gcShare, 0.2);
    assert.match(renderProfiles([s], new Map([['4242', 'ms1']])), /^ms1: busy 0\.01 s[\s\S]*80\.0% {2}seal/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
