// Generator plugin: spec/machines/*.json -> generated/machines.ts (typed transition tables)
// and generated/diagrams/<machine>.mmd (mermaid stateDiagram-v2), as spec/text/12-state-machines.md
// describes. Pure function of the machine files: stable order (files sorted, tables in file order).
import type { GeneratedFile, Generator, GeneratorContext } from './plugin.js';

export interface MachineNamed {
  name: string;
  text: string;
  /** An event raised by a timer: the limit (spec/registry/limits.json) whose running out raises it. */
  timer?: string;
}
export interface MachineTransitionSpec {
  name: string;
  from: string | string[];
  event: string;
  guard?: string;
  to: string;
  actions: string[];
  reqs: string[];
}
export interface MachineSpec {
  name: string;
  title: string;
  section: string;
  viewpoint: string;
  states: MachineNamed[];
  initial: string;
  events: MachineNamed[];
  guards: MachineNamed[];
  transitions: MachineTransitionSpec[];
}

const NAME_RE = /^[a-z][a-z0-9-]*$/;
const EVENT_RE = /^[A-Z][A-Z0-9_-]*$/;
const REQ_RE = /^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+$/;

/** Normalises `from` to a list. */
export function fromStates(t: MachineTransitionSpec): string[] {
  return Array.isArray(t.from) ? t.from : [t.from];
}

/** Structural checks of one machine file; returns the problems found (empty when sound). */
export function checkMachine(m: MachineSpec): string[] {
  const errs: string[] = [];
  const where = `machine ${m.name}`;
  if (!NAME_RE.test(m.name)) errs.push(`${where}: bad machine name`);
  const states = new Set(m.states.map((s) => s.name));
  const events = new Set(m.events.map((e) => e.name));
  const guards = new Set(m.guards.map((g) => g.name));
  if (states.size !== m.states.length) errs.push(`${where}: duplicate state`);
  if (events.size !== m.events.length) errs.push(`${where}: duplicate event`);
  if (guards.size !== m.guards.length) errs.push(`${where}: duplicate guard`);
  for (const s of states) if (!NAME_RE.test(s)) errs.push(`${where}: bad state name ${s}`);
  for (const e of events) if (!EVENT_RE.test(e)) errs.push(`${where}: bad event name ${e}`);
  if (!states.has(m.initial)) errs.push(`${where}: initial state ${m.initial} is not a state`);
  const names = new Set<string>();
  const reached = new Set<string>([m.initial]);
  for (const t of m.transitions) {
    const tw = `${where} transition ${t.name}`;
    if (!NAME_RE.test(t.name)) errs.push(`${tw}: bad name`);
    if (names.has(t.name)) errs.push(`${tw}: duplicate name`);
    names.add(t.name);
    for (const f of fromStates(t)) if (!states.has(f)) errs.push(`${tw}: unknown from-state ${f}`);
    if (!states.has(t.to)) errs.push(`${tw}: unknown to-state ${String(t.to)}`);
    if (!events.has(t.event)) errs.push(`${tw}: unknown event ${t.event}`);
    if (t.guard !== undefined && !guards.has(t.guard.replace(/^!/, ''))) errs.push(`${tw}: unknown guard ${t.guard}`);
    if (!Array.isArray(t.actions) || t.actions.length === 0) errs.push(`${tw}: no actions`);
    if (!Array.isArray(t.reqs) || t.reqs.length === 0) errs.push(`${tw}: no requirement IDs`);
    for (const r of t.reqs ?? []) if (!REQ_RE.test(r)) errs.push(`${tw}: bad requirement ID ${r}`);
    reached.add(t.to);
  }
  for (const s of states) if (!reached.has(s)) errs.push(`${where}: state ${s} is unreachable`);
  const usedEvents = new Set(m.transitions.map((t) => t.event));
  for (const e of events) if (!usedEvents.has(e)) errs.push(`${where}: event ${e} drives no transition`);
  const usedGuards = new Set(m.transitions.flatMap((t) => (t.guard ? [t.guard.replace(/^!/, '')] : [])));
  for (const g of guards) if (!usedGuards.has(g)) errs.push(`${where}: guard ${g} is unused`);
  return errs;
}

/** Reads every spec/machines/*.json through the generator context, sorted by file name. */
export function loadMachines(
  ctx: Pick<GeneratorContext, 'list' | 'readJson'>,
): { file: string; machine: MachineSpec }[] {
  return ctx.list('spec/machines', '.json').map((file) => ({ file, machine: ctx.readJson<MachineSpec>(file) }));
}

function mermaidId(state: string): string {
  return state.replace(/[^A-Za-z0-9]/g, '_');
}

/**
 * The mermaid stateDiagram-v2 text of one machine. Transitions between the same two states are
 * drawn as one edge whose label lists their events one per line (in table order): parallel edges
 * and stacked self-loops each carried a label of their own, and the layout piled those labels on
 * one another (test/site/site.test.ts checks that no two edge labels overlap).
 */
export function machineDiagram(m: MachineSpec): string {
  const lines = ['stateDiagram-v2'];
  for (const s of m.states) lines.push(`  state "${s.name}" as ${mermaidId(s.name)}`);
  lines.push(`  [*] --> ${mermaidId(m.initial)}`);
  const edges = new Map<string, { from: string; to: string; labels: string[] }>();
  for (const t of m.transitions) {
    const label = t.guard ? `${t.event} [${t.guard}]` : t.event;
    for (const f of fromStates(t)) {
      const key = `${f}\u0000${t.to}`;
      const e = edges.get(key) ?? { from: f, to: t.to, labels: [] };
      if (!e.labels.includes(label)) e.labels.push(label);
      edges.set(key, e);
    }
  }
  for (const e of edges.values())
    lines.push(`  ${mermaidId(e.from)} --> ${mermaidId(e.to)} : ${e.labels.join('<br/>')}`);
  return lines.join('\n') + '\n';
}

function lit(v: unknown): string {
  return JSON.stringify(v);
}

function machineTs(m: MachineSpec): string {
  const out: string[] = [];
  out.push(`  ${lit(m.name)}: {`);
  out.push(`    name: ${lit(m.name)},`);
  out.push(`    title: ${lit(m.title)},`);
  out.push(`    section: ${lit(m.section)},`);
  out.push(`    viewpoint: ${lit(m.viewpoint)},`);
  out.push(`    initial: ${lit(m.initial)},`);
  out.push(`    states: [${m.states.map((s) => lit(s.name)).join(', ')}],`);
  out.push(`    events: [${m.events.map((e) => lit(e.name)).join(', ')}],`);
  out.push(`    guards: [${m.guards.map((g) => lit(g.name)).join(', ')}],`);
  out.push('    transitions: [');
  for (const t of m.transitions) {
    const guard = t.guard === undefined ? 'null' : lit(t.guard);
    out.push(
      `      { name: ${lit(t.name)}, from: [${fromStates(t).map(lit).join(', ')}], event: ${lit(t.event)}, guard: ${guard}, ` +
        `to: ${lit(t.to)}, actions: [${t.actions.map(lit).join(', ')}], reqs: [${t.reqs.map(lit).join(', ')}] },`,
    );
  }
  out.push('    ],');
  out.push('  },');
  return out.join('\n');
}

/** The TypeScript module with the typed tables and the transition helper. */
export function machinesModule(machines: MachineSpec[]): string {
  return `// The IMSP state machines (spec/text/12-state-machines.md) as typed transition tables.
// A transition is taken when its from-states include the current state, its event matches and its
// guard holds; a guard "!g" holds when g is false or not given. The first match in table order wins.

export const MACHINES = {
${machines.map(machineTs).join('\n')}
} as const;

export type MachineName = keyof typeof MACHINES;
export const MACHINE_NAMES = [${machines.map((m) => lit(m.name)).join(', ')}] as const satisfies readonly MachineName[];
export type StateOf<M extends MachineName> = (typeof MACHINES)[M]['states'][number];
export type EventOf<M extends MachineName> = (typeof MACHINES)[M]['events'][number];
export type GuardOf<M extends MachineName> = (typeof MACHINES)[M]['guards'][number];
export type TransitionOf<M extends MachineName> = (typeof MACHINES)[M]['transitions'][number];
export type TransitionNameOf<M extends MachineName> = TransitionOf<M>['name'];
export type GuardValues<M extends MachineName> = Partial<Record<GuardOf<M>, boolean>>;

/** A transition row, widened for code that handles every machine alike. */
export interface MachineTransition {
  readonly name: string;
  readonly from: readonly string[];
  readonly event: string;
  readonly guard: string | null;
  readonly to: string;
  readonly actions: readonly string[];
  readonly reqs: readonly string[];
}

function guardHolds(guard: string | null, values: Readonly<Record<string, boolean | undefined>>): boolean {
  if (guard === null) return true;
  if (guard.startsWith('!')) return values[guard.slice(1)] !== true;
  return values[guard] === true;
}

/** The transition taken from \`state\` on \`event\` with these guard values, or null when none matches. */
export function findTransition<M extends MachineName>(
  machine: M,
  state: StateOf<M>,
  event: EventOf<M>,
  guardValues: GuardValues<M> = {},
): TransitionOf<M> | null {
  const rows = MACHINES[machine].transitions as readonly MachineTransition[];
  const values = guardValues as Readonly<Record<string, boolean | undefined>>;
  for (const t of rows) {
    if (t.event === event && t.from.includes(state) && guardHolds(t.guard, values)) return t as TransitionOf<M>;
  }
  return null;
}

/** The target state from \`state\` on \`event\` with these guard values, or null when no transition matches. */
export function transition<M extends MachineName>(
  machine: M,
  state: StateOf<M>,
  event: EventOf<M>,
  guardValues: GuardValues<M> = {},
): StateOf<M> | null {
  const t = findTransition(machine, state, event, guardValues);
  return t === null ? null : (t.to as StateOf<M>);
}
`;
}

const generate: Generator = (ctx) => {
  const loaded = loadMachines(ctx);
  const problems = loaded.flatMap(({ machine }) => checkMachine(machine));
  if (problems.length > 0) throw new Error(`spec/machines is inconsistent:\n${problems.join('\n')}`);
  const sources = loaded.map((l) => l.file);
  const files: GeneratedFile[] = [
    { path: 'machines.ts', content: machinesModule(loaded.map((l) => l.machine)), sources },
  ];
  for (const { file, machine } of loaded) {
    files.push({ path: `diagrams/${machine.name}.mmd`, content: machineDiagram(machine), sources: [file] });
  }
  return files;
};

export default generate;
