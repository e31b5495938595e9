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
import { readStageTraces, renderReportStages, stageTable } from '../../reference/load/stages.js';
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
