// The machine files, the generated transition tables and the diagrams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import generate, {
  checkMachine,
  fromStates,
  machineDiagram,
  machinesModule,
  type MachineSpec,
} from '../../grammar/codegen/gen-machines.js';
import { context, machines } from './helpers.js';

interface GeneratedMachines {
  transition(machine: string, state: string, event: string, guards?: Record<string, boolean>): string | null;
  findTransition(
    machine: string,
    state: string,
    event: string,
    guards?: Record<string, boolean>,
  ): { name: string } | null;
  MACHINES: Record<
    string,
    { states: readonly string[]; events: readonly string[]; guards: readonly string[]; initial: string }
  >;
  MACHINE_NAMES: readonly string[];
}

/** Imports the generated module from a temporary copy, so the test does not depend on generated/ being fresh. */
async function loadGenerated(t: { after(fn: () => void): void }): Promise<GeneratedMachines> {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-machines-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'machines.ts');
  writeFileSync(file, machinesModule(machines()));
  return (await import(pathToFileURL(file).href)) as GeneratedMachines;
}

/** Reference semantics straight from the JSON: first row in table order whose from/event/guard match. */
function reference(m: MachineSpec, state: string, event: string, guards: Record<string, boolean>): string | null {
  for (const t of m.transitions) {
    if (t.event !== event || !fromStates(t).includes(state)) continue;
    if (t.guard !== undefined) {
      const neg = t.guard.startsWith('!');
      const v = guards[t.guard.replace(/^!/, '')] === true;
      if (neg ? v : !v) continue;
    }
    return t.to;
  }
  return null;
}

const EXPECTED = ['buddy-relation', 'client-session', 'client-view', 'ms-enrollment', 'p2p-session', 'user-record'];

test('the six machines of the spec exist, each sound: known states, events and guards, all reachable, all used', () => {
  const ms = machines();
  assert.deepEqual(
    ms.map((m) => m.name),
    EXPECTED,
  );
  for (const m of ms) assert.deepEqual(checkMachine(m), [], m.name);
});

test('checkMachine finds the faults it is there to find', () => {
  const m = machines().find((x) => x.name === 'user-record')!;
  const broken: MachineSpec = structuredClone(m);
  broken.transitions[0].to = 'nowhere';
  broken.transitions[1].event = 'NO_SUCH_EVENT';
  broken.transitions[2].guard = '!no-such-guard';
  broken.transitions.push({ ...broken.transitions[3] });
  const errs = checkMachine(broken).join('\n');
  assert.match(errs, /unknown to-state nowhere/);
  assert.match(errs, /unknown event NO_SUCH_EVENT/);
  assert.match(errs, /unknown guard !no-such-guard/);
  assert.match(errs, /duplicate name/);
});

test('the generated user-record table locks, refuses and fences as Section 8.3 says', async (t) => {
  const g = await loadGenerated(t);
  assert.equal(g.transition('user-record', 'offline', 'LOCK'), 'locked');
  assert.equal(g.findTransition('user-record', 'locked', 'LOCK')?.name, 'lock-busy');
  assert.equal(g.findTransition('user-record', 'locked', 'LOCK', { 'lease-expired': true })?.name, 'relock-expired');
  assert.equal(g.findTransition('user-record', 'online', 'LOCK')?.name, 'lock-online');
  assert.equal(g.transition('user-record', 'locked', 'ONLINE', { fenced: true }), 'online');
  assert.equal(g.findTransition('user-record', 'locked', 'ONLINE')?.name, 'online-stale');
  assert.equal(g.transition('user-record', 'offline', 'ONLINE', { fenced: true }), null);
  assert.equal(g.transition('user-record', 'online', 'MS_GONE'), 'offline');
});

test('the generated client and enrollment tables fail closed on bad proofs', async (t) => {
  const g = await loadGenerated(t);
  assert.equal(g.transition('client-session', 'challenged', 'PROOF'), 'ended');
  assert.equal(g.transition('client-session', 'challenged', 'PROOF', { 'proof-ok': true }), 'onlining');
  assert.equal(g.transition('client-view', 'proof-sent', 'ACCEPTED'), 'ended');
  assert.equal(g.transition('client-view', 'proof-sent', 'ACCEPTED', { 'server-proof-ok': true }), 'active');
  assert.equal(g.transition('p2p-session', 'idle', 'INIT'), 'closed');
  assert.equal(g.transition('ms-enrollment', 'challenged', 'PROOF'), 'ended');
});

test('[STATE-4] transition() takes the first matching row in table order, for every machine, state, event and guard values', async (t) => {
  const g = await loadGenerated(t);
  const ms = machines();
  assert.deepEqual(
    [...g.MACHINE_NAMES],
    ms.map((m) => m.name),
  );
  const arb = fc.constantFrom(...ms).chain((m) =>
    fc.record(
      {
        m: fc.constant(m),
        state: fc.constantFrom(...m.states.map((s) => s.name)),
        event: fc.constantFrom(...m.events.map((e) => e.name)),
        guards: fc.dictionary(
          fc.constantFrom(...(m.guards.length ? m.guards.map((x) => x.name) : ['none'])),
          fc.boolean(),
          { noNullPrototype: true },
        ),
      },
      { noNullPrototype: true },
    ),
  );
  fc.assert(
    fc.property(arb, ({ m, state, event, guards }) => {
      assert.equal(g.transition(m.name, state, event, guards), reference(m, state, event, guards));
    }),
    { numRuns: 500 },
  );
});

test('the generated tables carry every state, event and guard of the data, and the initial state', async (t) => {
  const g = await loadGenerated(t);
  for (const m of machines()) {
    const gm = g.MACHINES[m.name];
    assert.deepEqual(
      [...gm.states],
      m.states.map((s) => s.name),
    );
    assert.deepEqual(
      [...gm.events],
      m.events.map((e) => e.name),
    );
    assert.deepEqual(
      [...gm.guards],
      m.guards.map((x) => x.name),
    );
    assert.equal(gm.initial, m.initial);
  }
});

test('each diagram draws the initial state, one edge per pair of states, and every transition on it', () => {
  for (const m of machines()) {
    const d = machineDiagram(m);
    assert.match(d, /^stateDiagram-v2\n/);
    const id = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '_');
    assert.ok(d.includes(`[*] --> ${id(m.initial)}`));
    const edges = d.split('\n').filter((l) => l.includes(' --> ') && !l.includes('[*]'));
    // Parallel transitions share one edge (their labels one per line), so labels cannot pile up.
    const pairs = new Set(m.transitions.flatMap((t) => fromStates(t).map((f) => `${id(f)} --> ${id(t.to)}`)));
    assert.equal(edges.length, pairs.size, m.name);
    for (const t of m.transitions) {
      const label = t.guard ? `${t.event} [${t.guard}]` : t.event;
      for (const f of fromStates(t)) {
        const edge = edges.find((l) => l.startsWith(`  ${id(f)} --> ${id(t.to)} : `));
        assert.ok(edge?.split(' : ')[1].split('<br/>').includes(label), `${m.name}: ${f} -> ${t.to} carries ${label}`);
      }
    }
    assert.ok(!/\bend\b/.test(d.replace(/"[^"]*"/g, '')), `${m.name}: 'end' is reserved in mermaid`);
  }
});

test('the generator is deterministic and emits the module and one diagram per machine', async () => {
  const a = await generate(context());
  const b = await generate(context());
  assert.deepEqual(a, b);
  assert.deepEqual(
    a.map((f) => f.path),
    ['machines.ts', ...EXPECTED.map((n) => `diagrams/${n}.mmd`)],
  );
});

test('the committed generated/machines.ts is literal-typed: unknown states, events and guards do not compile', async () => {
  const g = await import('../../generated/machines.js');
  const to: 'offline' | 'locked' | 'online' | null = g.transition('user-record', 'offline', 'LOCK');
  assert.equal(to, 'locked');
  const row = g.findTransition('p2p-session', 'open', 'MSG', { 'msg-ok': true });
  assert.equal(row?.name, 'msg');
  assert.deepEqual(row?.reqs, ['MSG-1']);
  if (false as boolean) {
    // @ts-expect-error 'away' is not a state of user-record
    g.transition('user-record', 'away', 'LOCK');
    // @ts-expect-error 'MSG' is not an event of user-record
    g.transition('user-record', 'offline', 'MSG');
    // @ts-expect-error 'proof-ok' is not a guard of user-record
    g.transition('user-record', 'locked', 'ONLINE', { 'proof-ok': true });
    // @ts-expect-error no such machine
    g.transition('no-such-machine', 'idle', 'INIT');
  }
});
