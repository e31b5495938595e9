// Every timer transition of spec/machines is fired by the kit's state-machine fuzzing (issue 12:
// "State-machine fuzzing covers every machine in spec/machines that binds the role under test,
// including lease expiry and takeover"). A timer transition is one whose event carries `timer` (the
// limit that runs out: handshakeTimeout, sessionTimeout, msLease, lockLease); the machine binds the role
// of its `viewpoint`. Each fuzz case lists in `timers` the transitions its commands fire
// ('machine/transition'); a new timer transition that no fuzz case of its role fires fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CaseDef } from '../../conformance/lib/case.js';
import { Limits } from '../../conformance/lib/registry.js';
import { clientRole } from '../../conformance/roles/client.js';
import { crsRole } from '../../conformance/roles/crs.js';
import { msRole } from '../../conformance/roles/ms.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Machine {
  name: string;
  viewpoint: string;
  events: { name: string; timer?: string }[];
  transitions: { name: string; event: string }[];
}

const machines: Machine[] = readdirSync(`${root}spec/machines`)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(`${root}spec/machines/${f}`, 'utf8')) as Machine);

const limitNames = new Set(
  (JSON.parse(readFileSync(`${root}spec/registry/limits.json`, 'utf8')) as { limits: { name: string }[] }).limits.map(
    (l) => l.name,
  ),
);

/** 'machine/transition' of every transition whose event is a timer, with the role its machine binds. */
const timerTransitions = machines.flatMap((m) => {
  const timed = new Set(m.events.filter((e) => e.timer !== undefined).map((e) => e.name));
  return m.transitions.filter((t) => timed.has(t.event)).map((t) => ({ id: `${m.name}/${t.name}`, role: m.viewpoint }));
});

const cases: Record<string, CaseDef<unknown>[]> = {
  crs: crsRole.cases(new Limits({})) as CaseDef<unknown>[],
  ms: msRole.cases(new Limits({})) as CaseDef<unknown>[],
  client: clientRole.cases(new Limits({})) as CaseDef<unknown>[],
};

/** The timer transitions a role's fuzz cases say they fire, with the case that says so. */
const firedBy = (role: string, from = cases): Map<string, string> =>
  new Map((from[role] ?? []).filter((c) => c.fuzz).flatMap((c) => (c.timers ?? []).map((t) => [t, c.id] as const)));

test('every timer event names a limit of the registry, and the machines have timer transitions', () => {
  for (const m of machines)
    for (const e of m.events)
      if (e.timer !== undefined)
        assert.ok(limitNames.has(e.timer), `${m.name} event ${e.name}: timer ${e.timer} is no limit of limits.json`);
  // The four timers the issue names: handshake timeout, session timeout, MS lease, lock lease.
  const ids = timerTransitions.map((t) => t.id);
  for (const id of ['ms-enrollment/handshake-timeout', 'ms-enrollment/lease-expired', 'client-session/silence'])
    assert.ok(ids.includes(id), `${id} is no timer transition: its event lost its timer`);
});

/**
 * Timer transitions no fuzz case fires yet, each with its reason. Shrink it, never grow it: a new timer
 * transition needs a fuzz command, not an entry here.
 */
const NOT_YET_FIRED: Record<string, string> = {};

/** The timer transitions (role: machine/transition) that no fuzz case of the role fires. */
const unfired = (from = cases): string[] =>
  timerTransitions
    .filter((t) => !firedBy(t.role, from).has(t.id) && !(t.id in NOT_YET_FIRED))
    .map((t) => `${t.role}: ${t.id}`);

test('every timer transition of a machine binding a role is fired by a fuzz case of that role', () => {
  const missing = unfired();
  assert.deepEqual(missing, [], 'timer transitions no fuzz case fires (add a command and list it in the case timers)');
  // An entry whose transition is now fired, or gone, is stale.
  for (const id of Object.keys(NOT_YET_FIRED)) {
    const t = timerTransitions.find((x) => x.id === id);
    assert.ok(t, `NOT_YET_FIRED names ${id}, no timer transition`);
    assert.ok(!firedBy(t.role).has(id), `${id} is fired by ${firedBy(t.role).get(id)}: drop it from NOT_YET_FIRED`);
  }
});

test("a fuzz case's timers name timer transitions of a machine binding its role", () => {
  const known = new Set(timerTransitions.map((t) => `${t.role} ${t.id}`));
  for (const [role, list] of Object.entries(cases))
    for (const c of list)
      for (const t of c.timers ?? []) {
        assert.ok(c.fuzz, `${c.id} lists timers but is no fuzz case`);
        assert.ok(known.has(`${role} ${t}`), `${c.id}: ${t} is no timer transition of a ${role} machine`);
      }
});

test('the check catches a timer transition no case fires', () => {
  // ms/fuzz/2 without its stall command (no timers listed): the MS's two timer transitions go unfired.
  const { timers: _dropped, ...bare } = cases.ms!.find((c) => c.id === 'ms/fuzz/2')!;
  const without = { ...cases, ms: cases.ms!.map((c) => (c.id === 'ms/fuzz/2' ? bare : c)) };
  assert.deepEqual(unfired(without), ['ms: client-session/handshake-timeout', 'ms: client-session/silence']);
  // A fuzz case of another role does not cover it.
  const moved = {
    ...without,
    crs: [...cases.crs!, { ...bare, id: 'crs/fuzz/99', timers: ['client-session/silence'] }],
  };
  assert.ok(unfired(moved).includes('ms: client-session/silence'));
});
