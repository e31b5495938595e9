// The model generator (issue 18): the Promela transitions come from spec/machines, a transition the
// model does not know fails generation, a removed one is never taken, and a trail reads as messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { promelaModel } from '../../grammar/codegen/gen-model.js';
import type { MachineSpec } from '../../grammar/codegen/gen-machines.js';
import { MODEL_MACHINES } from '../../grammar/codegen/model/steps.js';
import { readTrail, sequenceMermaid, sequenceText } from '../../spec/model/trail.js';

function machines(): Map<string, MachineSpec> {
  const out = new Map<string, MachineSpec>();
  for (const n of Object.keys(MODEL_MACHINES))
    out.set(n, JSON.parse(readFileSync(`spec/machines/${n}.json`, 'utf8')) as MachineSpec);
  return out;
}

test('every transition of a modelled machine is in the model, in table order', () => {
  const ms = machines();
  const pml = promelaModel([...ms.values()]);
  for (const [name, prefix] of Object.entries(MODEL_MACHINES)) {
    const m = ms.get(name)!;
    m.transitions.forEach((t, i) =>
      assert.match(
        pml,
        new RegExp(`#define ${prefix}_T_${t.name.replace(/-/g, '_')} ${i + 1}\\b`),
        `${name}/${t.name}`,
      ),
    );
  }
});

test('a changed to-state or guard in spec/machines changes the model', () => {
  const base = promelaModel([...machines().values()]);
  const ms = machines();
  ms.get('buddy-relation')!.transitions.find((t) => t.name === 'grant')!.to = 'none';
  assert.notEqual(promelaModel([...ms.values()]), base);
  const ms2 = machines();
  delete ms2.get('user-record')!.transitions.find((t) => t.name === 'online')!.guard;
  const pml = promelaModel([...ms2.values()]);
  assert.doesNotMatch(pml.slice(pml.indexOf('/* online: ')), /^[^\n]*ev == UR_E_ONLINE && \(G_fenced\)/);
});

test('a transition new to the model fails generation; a removed one is never taken', () => {
  const ms = machines();
  ms.get('user-record')!.transitions.push({
    name: 'steal',
    from: 'online',
    event: 'LOCK',
    to: 'locked',
    actions: ['take the lock'],
    reqs: ['LOCK-1'],
  });
  assert.throws(() => promelaModel([...ms.values()]), /transition 'steal' is new to the model/);
  const ms2 = machines();
  const ur = ms2.get('user-record')!;
  ur.transitions = ur.transitions.filter((t) => t.name !== 'lock-expired');
  assert.match(promelaModel([...ms2.values()], { lenient: true }), /#define UR_T_lock_expired 255/);
});

test('a trail reads as a message sequence and a mermaid diagram', () => {
  const steps = readTrail(
    [
      'c0 MS0 LOGIN User=u0',
      'MS0 CRS LOCK User=u0',
      'CRS MS0 PRESENCE User=u1 Status=2',
      'MS0 u0 300 Challenge',
      'CRS CRS VIOLATION INV-3',
    ],
    1,
  );
  assert.deepEqual(
    steps.map((s) => [s.from, s.to]),
    [
      ['c0 (u0@MS0)', 'MS0'],
      ['MS0', 'CRS'],
      ['CRS', 'MS0'],
      ['MS0', 'c0 (u0@MS0)'],
      ['CRS', 'CRS'],
    ],
  );
  assert.match(sequenceText(steps), /CRS -> MS0: PRESENCE User: u1 Status: away/);
  const mmd = sequenceMermaid(steps);
  assert.match(mmd, /^sequenceDiagram\n/);
  assert.match(mmd, /Note over CRS: VIOLATION INV-3/);
});
