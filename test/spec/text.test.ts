// The specification text against itself, the registries and the machines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromStates } from '../../grammar/codegen/gen-machines.js';
import { REQ_ID_RE } from '../../grammar/codegen/gen-requirements.js';
import {
  ROOT,
  extraction,
  machines,
  registry,
  sectionFile,
  specText,
  textMachineTables,
  withoutCode,
} from './helpers.js';

interface ErrorsReg {
  errors: { code: string; status: number; req: string }[];
}
interface LimitsReg {
  limits: { name: string; value: number; req: string }[];
}
interface StatusReg {
  statusCodes: { code: number; reason: string }[];
}
interface MethodsReg {
  methods: { name: string; drives?: string }[];
}

/** A requirement ID without brackets (built from REQ_ID_RE so this file cites no ID-like text). */
const BARE_ID_RE = new RegExp(`(?<![\\w[-])${REQ_ID_RE.source.slice(2, -2)}(?![\\w\\]])`, 'g');

const defined = (): Set<string> => new Set(extraction().requirements.map((r) => r.id));

test('requirement IDs are unique across the text', () => {
  assert.deepEqual(extraction().duplicates, []);
});

test('every sentence with a BCP 14 keyword carries a requirement ID', () => {
  const ex = extraction();
  assert.deepEqual(ex.untagged, [], 'normative keywords outside a tagged sentence');
  assert.deepEqual(
    ex.keywordless.map((r) => `${r.id}: ${r.text}`),
    [],
    'IDs on sentences without a keyword',
  );
});

test('every requirement ID cited by a registry is defined by a sentence of the text', () => {
  const ids = defined();
  const cited = new Map<string, string>();
  for (const e of registry<ErrorsReg>('errors').errors) cited.set(e.req, `errors.json ${e.code}`);
  for (const l of registry<LimitsReg>('limits').limits) cited.set(l.req, `limits.json ${l.name}`);
  const headersText = readFileSync(join(ROOT, 'spec/registry/headers.json'), 'utf8');
  for (const m of headersText.matchAll(REQ_ID_RE)) cited.set(m[1], 'headers.json');
  const missing = [...cited].filter(([id]) => !ids.has(id)).map(([id, where]) => `${id} (${where})`);
  assert.deepEqual(missing, []);
});

test('an error code and the requirement it cites agree: the sentence names the code or its status', () => {
  const reqs = new Map(extraction().requirements.map((r) => [r.id, r.text]));
  const misfits: string[] = [];
  for (const e of registry<ErrorsReg>('errors').errors) {
    const text = reqs.get(e.req) ?? '';
    if (!text.includes(e.code) && !text.includes(String(e.status))) misfits.push(`${e.code} -> ${e.req}: ${text}`);
  }
  assert.deepEqual(misfits, []);
});

test('every requirement ID a machine transition implements is defined in the text', () => {
  const ids = defined();
  const missing: string[] = [];
  for (const m of machines())
    for (const t of m.transitions) for (const r of t.reqs) if (!ids.has(r)) missing.push(`${m.name}.${t.name}: ${r}`);
  assert.deepEqual(missing, []);
});

test('every requirement ID cited without brackets in the text is defined', () => {
  const ids = defined();
  const areas = new Set([...ids].map((id) => id.replace(/-[0-9]+$/, '')));
  const dangling = new Set<string>();
  for (const { file, text } of specText()) {
    for (const m of withoutCode(text).matchAll(BARE_ID_RE)) {
      const id = m[1];
      if (areas.has(id.replace(/-[0-9]+$/, '')) && !ids.has(id)) dangling.add(`${file}: ${id}`);
    }
  }
  assert.deepEqual([...dangling], []);
});

test('[STATE-3] every transition of every machine is in the text table, and every row of the text is in the data', () => {
  const tables = textMachineTables();
  const data = machines();
  assert.deepEqual([...tables.keys()].sort(), data.map((m) => m.name).sort(), 'one text table per machine');
  for (const m of data) {
    const rows = tables.get(m.name)!;
    const want = m.transitions.map((t) => ({
      name: t.name,
      from: fromStates(t),
      event: t.event,
      guard: t.guard ?? null,
      to: t.to,
      actions: t.actions.join('; '),
      reqs: t.reqs,
    }));
    assert.deepEqual(rows, want, `machine ${m.name}: text table and spec/machines/${m.name}.json differ`);
  }
});

test('every machine section of the text names its states and events as the data does', () => {
  for (const m of machines()) {
    const file = sectionFile('12').text;
    const start = file.indexOf(`## ${m.section}. `);
    assert.ok(start >= 0, `section ${m.section} for ${m.name}`);
    const end = file.indexOf('\n## ', start + 1);
    const body = file.slice(start, end < 0 ? undefined : end);
    for (const s of m.states) assert.ok(body.includes(`| \`${s.name}\` | ${s.text} |`), `${m.name} state ${s.name}`);
    for (const e of m.events) assert.ok(body.includes(`| \`${e.name}\` | ${e.text} |`), `${m.name} event ${e.name}`);
    for (const g of m.guards) assert.ok(body.includes(`| \`${g.name}\` | ${g.text} |`), `${m.name} guard ${g.name}`);
  }
});

test("every method's drives field names a machine and an event that exists", () => {
  const byName = new Map(machines().map((m) => [m.name, m]));
  for (const method of registry<MethodsReg>('methods').methods) {
    if (!method.drives) continue;
    for (const d of method.drives.split(',').map((s) => s.trim())) {
      const [mname, event] = d.split(':');
      const m = byName.get(mname);
      assert.ok(m, `${method.name}: machine ${mname}`);
      assert.ok(
        m.events.some((e) => e.name === event),
        `${method.name}: event ${event} of ${mname}`,
      );
    }
  }
});

test('every method of methods.json has its own subsection in section 5, in registry order', () => {
  const text = sectionFile('5').text;
  const headings = [...text.matchAll(/^## 5\.(\d+)\. (\S+)$/gm)].map((m) => [Number(m[1]), m[2]] as const);
  const names = registry<MethodsReg>('methods').methods.map((m) => m.name);
  assert.deepEqual(
    headings.map(([, n]) => n),
    names,
  );
  assert.deepEqual(
    headings.map(([i]) => i),
    names.map((_, i) => i + 1),
  );
});

test('every error code and every status code appears in the error-handling section', () => {
  const text = sectionFile('14').text;
  for (const e of registry<ErrorsReg>('errors').errors) assert.ok(text.includes(e.code), e.code);
  for (const s of registry<StatusReg>('status-codes').statusCodes) {
    assert.ok(new RegExp(`\\b${s.code}\\b`).test(text), String(s.code));
  }
});

test('the limits table of the registries section matches limits.json', () => {
  const text = sectionFile('16').text;
  for (const l of registry<LimitsReg>('limits').limits) {
    const row = new RegExp(`^\\| ${l.name} \\| ${l.value} \\|`, 'm');
    assert.ok(row.test(text), `${l.name} = ${l.value}`);
  }
});

test('section files, headings and anchors are consistent and unique', () => {
  const sections = extraction().sections;
  const anchors = new Set<string>();
  for (const s of sections) {
    assert.ok(!anchors.has(s.anchor), `duplicate section ${s.number}`);
    anchors.add(s.anchor);
  }
  for (const { file, text } of specText()) {
    const base = file.split('/').pop()!;
    assert.match(base, /^\d\d-[a-z0-9-]+\.md$/, file);
    const first = /^# (\S+)\. /m.exec(text);
    assert.ok(first, `${file} opens with a numbered top-level heading`);
    const num = Number(base.slice(0, 2));
    assert.ok(first[1] === String(num) || /^[A-Z]$/.test(first[1]), `${file}: heading ${first[1]}`);
    // Subsection numbers start with their top-level number.
    for (const s of sections.filter((x) => x.file === file))
      assert.ok(s.number.split('.')[0] === first[1], `${file}: ${s.number}`);
  }
});

test('mermaid blocks are sequence or state diagrams without statement separators in labels', () => {
  for (const { file, text } of specText()) {
    for (const m of text.matchAll(/```mermaid\n([\s\S]*?)```/g)) {
      const body = m[1];
      assert.match(body, /^(sequenceDiagram|stateDiagram-v2)\n/, file);
      assert.ok(!body.includes(';'), `${file}: ';' ends a mermaid statement early`);
      assert.ok(!body.includes('#'), `${file}: '#' starts a mermaid entity`);
    }
  }
});

test('spec/exceptions.json lists only defined IDs, each with a reason', () => {
  const path = join(ROOT, 'spec/exceptions.json');
  assert.ok(existsSync(path));
  const data = JSON.parse(readFileSync(path, 'utf8')) as { exceptions: { id: string; reason: string }[] };
  const ids = defined();
  const seen = new Set<string>();
  for (const u of data.exceptions) {
    assert.ok(ids.has(u.id), `${u.id} is defined`);
    assert.ok(!seen.has(u.id), `${u.id} listed once`);
    seen.add(u.id);
    assert.ok(u.reason.length > 20, `${u.id} has a reason`);
  }
});

test('every invariant has an INV- ID', () => {
  const invs = extraction().requirements.filter((r) => r.id.startsWith('INV-'));
  assert.ok(invs.length >= 7, `${invs.length} invariants`);
  for (const r of invs) assert.equal(r.section.split('.')[0], '13', `${r.id} is in section 13`);
});

test('every method subsection of section 5 says which transitions it drives', () => {
  const text = sectionFile('5').text;
  const parts = text.split(/^## 5\.\d+\. /m).slice(1);
  for (const p of parts) assert.match(p, /^Drives: .+/m, p.split('\n')[0]);
});

test('every "Section N.M" cross-reference names a section that exists', () => {
  const numbers = new Set(extraction().sections.map((s) => s.number));
  const dangling: string[] = [];
  for (const { file, text } of specText()) {
    for (const m of withoutCode(text).matchAll(/\bSections? ((?:[0-9]+|[A-Z])(?:\.[0-9]+)*)/g)) {
      if (!numbers.has(m[1])) dangling.push(`${file}: Section ${m[1]}`);
    }
    for (const m of withoutCode(text).matchAll(
      /\bSections ((?:[0-9]+|[A-Z])(?:\.[0-9]+)*) (?:to|and) ((?:[0-9]+|[A-Z])(?:\.[0-9]+)*)/g,
    )) {
      if (!numbers.has(m[2])) dangling.push(`${file}: Section ${m[2]}`);
    }
  }
  assert.deepEqual(dangling, []);
});

test('every limit the text names exists in limits.json, and every limit is named in the text outside section 16', () => {
  const limits = new Set(registry<LimitsReg>('limits').limits.map((l) => l.name));
  const used = new Set<string>();
  const unknown: string[] = [];
  for (const { file, text } of specText()) {
    if (file.includes('/16-')) continue;
    for (const m of withoutCode(text).matchAll(
      /\b((?:max|min|scram|rate|user|client|ms|lock|handshake|request|session|file)[A-Z][A-Za-z]*|fileChunkSize|msLease|lockLease|sessionTimeout)\b/g,
    )) {
      if (limits.has(m[1])) used.add(m[1]);
      else unknown.push(`${file}: ${m[1]}`);
    }
  }
  assert.deepEqual(unknown, []);
  assert.deepEqual(
    [...limits].filter((l) => !used.has(l)),
    [],
  );
});

test('a limit and the requirement it cites agree: the sentence names the limit', () => {
  const reqs = new Map(extraction().requirements.map((r) => [r.id, r.text]));
  const misfits: string[] = [];
  for (const l of registry<LimitsReg>('limits').limits) {
    const text = reqs.get(l.req) ?? '';
    if (!text.includes(l.name)) misfits.push(`${l.name} -> ${l.req}: ${text}`);
  }
  assert.deepEqual(misfits, []);
});

test('every flow of the specification has its sequence diagram', () => {
  const flows: Record<string, string> = {
    '7.1': 'enrollment',
    '7.2': 'de-enrollment and MS death',
    '7.3': 'LOCATE and load balancing',
    '8.1': 'login',
    '8.4': 'logout',
    '9.1': 'presence',
    '9.3': 'ADD',
    '9.4': 'ANSWER',
    '9.5': 'REM',
    '9.6': 'block',
    '9.7': 'PROFILE',
    '9.8': 'PASSWD',
    '9.9': 'SEARCH',
    '10.1': 'INIT/INIT-ACK/MSG/TYPING/BYE',
    '10.3': 'files',
    '10.4': 'typing',
    '11.1': 'heartbeats',
    '11.2': 'rate limits',
    '11.4': 'MS shutdown',
  };
  for (const [num, name] of Object.entries(flows)) {
    const file = sectionFile(num.split('.')[0]).text;
    const start = file.indexOf(`\n## ${num}. `);
    assert.ok(start >= 0, `section ${num} (${name})`);
    const next = file.indexOf('\n## ', start + 1);
    const body = file.slice(start, next < 0 ? undefined : next);
    assert.match(body, /```mermaid\nsequenceDiagram\n/, `section ${num} (${name}) has a sequence diagram`);
  }
});

test('wherever the text or a machine pairs a status with an error code, the registry gives that code that status', () => {
  const status = new Map(registry<ErrorsReg>('errors').errors.map((e) => [e.code, e.status]));
  const wrong: string[] = [];
  const check = (where: string, s: string): void => {
    for (const m of s.matchAll(/\b([1-5][0-9]{2}) (?:[A-Z][a-z]+ )?(ERR_[A-Z0-9_]+)/g)) {
      const want = status.get(m[2]);
      if (want === undefined) wrong.push(`${where}: unknown ${m[2]}`);
      else if (want !== Number(m[1])) wrong.push(`${where}: ${m[1]} ${m[2]} (registry: ${want})`);
    }
    for (const m of s.matchAll(/\bERR_[A-Z0-9_]+/g)) if (!status.has(m[0])) wrong.push(`${where}: unknown ${m[0]}`);
  };
  for (const { file, text } of specText()) check(file, text);
  for (const m of machines()) for (const t of m.transitions) check(`${m.name}.${t.name}`, t.actions.join('; '));
  assert.deepEqual([...new Set(wrong)], []);
});

test('every requirement sentence is a whole sentence: it starts with a capital letter and names its subject', () => {
  const fragments = extraction().requirements.filter(
    (r) => !/^[A-Z`"(]/.test(r.text) || /^(MUST|SHOULD|MAY)\b/.test(r.text),
  );
  assert.deepEqual(
    fragments.map((r) => `${r.id}: ${r.text}`),
    [],
  );
});
