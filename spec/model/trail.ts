// A Spin counterexample as people read it (issue 18): the model prints one line per message,
// "@ <from> <to> <text>", in the spec's method names; pan -r -S replays the trail and prints them.
// This module turns those lines into a numbered message sequence and a mermaid sequence diagram.
import { MODEL_CONFIGS } from '../../grammar/codegen/model/configs.js';

const STATUS = ['offline', 'online', 'away'];
const RELATION = ['none', 'pending', 'buddy', 'blocked'];

export interface Step {
  from: string;
  to: string;
  text: string;
  /** A note (fault, time, violation) rather than a message. */
  note: boolean;
}

function words(text: string): string {
  return text
    .replace(/Status=(\d)/g, (_, n: string) => `Status: ${STATUS[Number(n)] ?? n}`)
    .replace(/Relation=(\d)/g, (_, n: string) => `Relation: ${RELATION[Number(n)] ?? n}`)
    .replace(/Decision=1\b/g, 'Decision: grant')
    .replace(/Decision=0\b/g, 'Decision: deny')
    .replace(/([A-Z][A-Za-z-]*)=/g, '$1: ');
}

/** Names the participants: c<i> is the client i, u<n> as a target of an MS is the client of user n there. */
export function readTrail(lines: readonly string[], cfgId: number): Step[] {
  const cfg = MODEL_CONFIGS.find((c) => c.id === cfgId);
  const clientName = (i: number): string => {
    const cl = cfg?.clients[i];
    return cl ? `c${i} (u${cl.user}@MS${cl.ms})` : `c${i}`;
  };
  const clientOf = (ms: number, user: number): string => {
    const i = cfg?.clients.findIndex((c) => c.ms === ms && c.user === user) ?? -1;
    return i >= 0 ? clientName(i) : `u${user}@MS${ms}`;
  };
  const steps: Step[] = [];
  for (const line of lines) {
    const m = /^(\S+) (\S+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const [, rawFrom, rawTo, text] = m;
    const name = (p: string, other: string): string => {
      const c = /^c(\d+)$/.exec(p);
      if (c) return clientName(Number(c[1]));
      const u = /^u(\d+)$/.exec(p);
      const ms = /^MS(\d+)$/.exec(other);
      if (u && ms) return clientOf(Number(ms[1]), Number(u[1]));
      return p;
    };
    const from = name(rawFrom, rawTo);
    const to = name(rawTo, rawFrom);
    const note = from === to || /^(FAULT|TIME|VIOLATION|TIMEOUT)\b/.test(text) || /link closed/.test(text);
    steps.push({ from, to, text: words(text), note });
  }
  return steps;
}

/** The numbered message sequence, one line per step. */
export function sequenceText(steps: readonly Step[]): string {
  return steps
    .map(
      (s, i) => `${String(i + 1).padStart(3)}. ${s.note ? `[${s.from}] ${s.text}` : `${s.from} -> ${s.to}: ${s.text}`}`,
    )
    .join('\n');
}

function pid(p: string): string {
  return p.replace(/[^A-Za-z0-9]/g, '_');
}

/** A mermaid sequenceDiagram of the steps. */
export function sequenceMermaid(steps: readonly Step[]): string {
  const parts: string[] = [];
  const add = (p: string): void => {
    if (!parts.includes(p)) parts.push(p);
  };
  for (const s of steps) {
    add(s.from);
    add(s.to);
  }
  const order = (p: string): number => (p.startsWith('c') ? 0 : p.startsWith('MS') ? 1 : p === 'CRS' ? 2 : 3);
  parts.sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out = ['sequenceDiagram'];
  for (const p of parts) out.push(`    participant ${pid(p)} as ${p}`);
  for (const s of steps) {
    const text = s.text.replace(/[;#]/g, ',');
    if (s.note) out.push(`    Note over ${pid(s.from)}: ${text}`);
    else out.push(`    ${pid(s.from)}->>${pid(s.to)}: ${text}`);
  }
  return `${out.join('\n')}\n`;
}
