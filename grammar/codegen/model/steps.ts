// Promela transition functions generated from spec/machines/*.json (issue 18).
//
// Each modelled machine becomes a block of #defines (its states, events and transitions, numbered
// in file order) and one inline `<P>_step(st, ev, <guards...>, nxt, tid)` that applies the rule of
// Section 12 [STATE-4]: the first transition in table order whose from-states include st, whose
// event is ev and whose guard holds is taken; nxt gets its to-state and tid its number. No match
// leaves nxt = st and tid = <P>_T_NONE. The model's processes (template.ts) call these inlines and
// then do the transition's effects, keyed by transition name, so a changed to-state, guard, order or
// a removed transition in spec/machines changes the model that Spin checks.
import type { MachineSpec } from '../gen-machines.js';
import { fromStates } from '../gen-machines.js';

/** The machines the model uses, with the Promela prefix of each. p2p-session is out of the model. */
export const MODEL_MACHINES: Readonly<Record<string, string>> = {
  'user-record': 'UR',
  'client-session': 'CS',
  'client-view': 'CV',
  'ms-enrollment': 'ME',
  'buddy-relation': 'BR',
};

export function ident(name: string): string {
  return name.replace(/[^A-Za-z0-9]/g, '_');
}

export function guardParam(g: string): string {
  return `G_${ident(g)}`;
}

/** The Promela block of one machine: defines and the step inline. */
export function machineSteps(m: MachineSpec, prefix: string): string {
  const out: string[] = [];
  out.push(
    `/* ---- machine ${m.name} (spec/machines/${m.name}.json, Section ${m.section}), initial ${m.initial} ---- */`,
  );
  m.states.forEach((s, i) => out.push(`#define ${prefix}_${ident(s.name)} ${i}`));
  m.events.forEach((e, i) => out.push(`#define ${prefix}_E_${ident(e.name)} ${i}`));
  out.push(`#define ${prefix}_T_NONE 0`);
  m.transitions.forEach((t, i) => out.push(`#define ${prefix}_T_${ident(t.name)} ${i + 1}`));
  const params = ['st', 'ev', ...m.guards.map((g) => guardParam(g.name)), 'nxt', 'tid'];
  out.push(`inline ${prefix}_step(${params.join(', ')}) {`);
  out.push('  d_step {');
  out.push('  nxt = st; tid = ' + `${prefix}_T_NONE;`);
  let depth = 0;
  for (const t of m.transitions) {
    const from = fromStates(t)
      .map((f) => `st == ${prefix}_${ident(f)}`)
      .join(' || ');
    const conds = [`(${from})`, `ev == ${prefix}_E_${ident(t.event)}`];
    if (t.guard) {
      const neg = t.guard.startsWith('!');
      const p = guardParam(t.guard.replace(/^!/, ''));
      conds.push(neg ? `!(${p})` : `(${p})`);
    }
    const pad = '  '.repeat(depth + 1);
    out.push(`${pad}if /* ${t.name}: ${t.reqs.join(', ')} */`);
    out.push(`${pad}:: (${conds.join(' && ')}) -> nxt = ${prefix}_${ident(t.to)}; tid = ${prefix}_T_${ident(t.name)}`);
    out.push(`${pad}:: else ->`);
    depth++;
  }
  out.push(`${'  '.repeat(depth + 1)}skip`);
  for (let d = depth; d > 0; d--) out.push(`${'  '.repeat(d)}fi`);
  out.push('  }');
  out.push('}');
  return out.join('\n');
}

/** Transition name -> readable "machine/transition" table for the trail reader. */
export function transitionNames(m: MachineSpec): string[] {
  return m.transitions.map((t) => t.name);
}
