// The model-checking pages of the spec site (issue 18): model.html (what is modelled, every run with
// its states, depth, memory and time, the mutants) and one page per checked property with its result
// and, where a mutant broke it, the counterexample as a message sequence and a mermaid diagram.
// Inputs: spec/model/results/*.json (make model-check ARGS=--record) and spec/model/mutants.json
// (make model-mutants ARGS=--record); the pages say so when a file is missing.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml } from './anchors.js';
import { diagramHash, figureHtml, type Diagram } from './markdown.js';
import { MODEL_CONFIGS } from '../../grammar/codegen/model/configs.js';
import { CHECK_RUNS, PROPERTIES } from '../model/check.js';
import { readTrail, sequenceMermaid, sequenceText } from '../model/trail.js';
import type { SpinResult } from '../model/spin.js';

export interface ModelPage {
  file: string;
  title: string;
  body: string;
  diagrams: Diagram[];
}

interface MutantRecord {
  mutant: string;
  text: string;
  expect: string;
  caughtAs: string | null;
  result: SpinResult;
}

function read<T>(root: string, rel: string): T | null {
  const p = join(root, rel);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, 'utf8')) as T;
}

export function propertyFile(id: string): string {
  return `model-${id.toLowerCase()}.html`;
}

function runRow(r: SpinResult): string {
  const verdict = r.errors > 0 ? `violated: ${r.error ?? ''}` : r.complete ? 'holds' : 'holds (search bounded)';
  const how =
    r.mode === 'ltl'
      ? `LTL ${r.ltl}, pan -a -f (weak fairness)`
      : r.mode === 'bitstate'
        ? `bitstate (hash factor ${r.hashFactor ?? '?'})`
        : 'exhaustive';
  return `<tr><td><code>${escapeHtml(r.id)}</code></td><td>${escapeHtml(r.cfgName)} (CFG ${r.cfg})${r.defines.length ? ` <code>${escapeHtml(r.defines.join(' '))}</code>` : ''}</td><td>${escapeHtml(how)}</td><td>${escapeHtml(verdict)}</td><td>${r.states.toLocaleString('en')}</td><td>${r.depth}</td><td>${r.memoryMB} MB</td><td>${r.panSeconds} s / ${r.cpuSeconds} s</td></tr>`;
}

const RUN_HEAD =
  '<tr><th>Run</th><th>Configuration</th><th>Search</th><th>Result</th><th>States</th><th>Depth</th><th>Memory</th><th>Time (pan / CPU)</th></tr>';

function counterexample(m: MutantRecord, diagrams: Diagram[]): string {
  if (!m.result.trail || m.result.trail.length === 0) return '<p>No trail was recorded.</p>';
  const steps = readTrail(m.result.trail, m.result.cfg);
  const definition = sequenceMermaid(steps);
  const d: Diagram = {
    hash: diagramHash(definition),
    definition,
    origin: `spec/model/mutants.json (${m.mutant})`,
    alt: `Counterexample of mutant ${m.mutant}`,
  };
  diagrams.push(d);
  return `${figureHtml(d, `Counterexample: ${m.mutant}`)}<details><summary>The trail as a message sequence (${steps.length} steps)</summary><pre>${escapeHtml(sequenceText(steps))}</pre></details>`;
}

/** The pages; root is the repository root. */
export function modelPages(root: string): ModelPage[] {
  const dir = join(root, 'spec/model/results');
  const order = CHECK_RUNS.map((r) => r.id);
  const check = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SpinResult)
        .sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))
    : null;
  const mutants = read<{ mutants: MutantRecord[] }>(root, 'spec/model/mutants.json')?.mutants ?? null;
  const pages: ModelPage[] = [];
  const diagrams: Diagram[] = [];
  const b: string[] = [];
  b.push('<h1>The protocol, model-checked</h1>');
  b.push(
    '<p class="lede"><code>make generate</code> turns the state machines (<code>spec/machines/*.json</code>) and the rules of this specification into a Promela model, <code>generated/model/imsp.pml</code>; <code>make model-check</code> verifies it with Spin in every interleaving of a small cluster, with faults; <code>make model-mutants</code> plants faults in the model and Spin must find each. <code>generated/model/README.md</code> lists what is abstracted.</p>',
  );
  b.push(
    '<h2>Configurations</h2><table><tr><th>CFG</th><th>Name</th><th>MSs</th><th>Users</th><th>Clients</th><th>Faults</th><th>What runs</th></tr>',
  );
  for (const c of MODEL_CONFIGS) {
    b.push(
      `<tr><td>${c.id}</td><td>${escapeHtml(c.name)}</td><td>${c.ms}</td><td>${c.users}</td><td>${escapeHtml(c.clients.map((k) => `u${k.user}@MS${k.ms}`).join(', '))}</td><td>${c.faults} of: ${escapeHtml(c.kinds.join(', ') || 'none')}${c.lockLease ? '; lock leases run out' : ''}</td><td>${escapeHtml(c.text)}</td></tr>`,
    );
  }
  b.push('</table>');
  b.push('<h2>Properties</h2><ul>');
  for (const [id, text] of Object.entries(PROPERTIES))
    b.push(`<li><a href="${propertyFile(id)}">${id}</a>: ${escapeHtml(text)}</li>`);
  b.push('</ul>');
  b.push('<h2>Runs</h2>');
  if (!check)
    b.push('<p class="missing">spec/model/results/ is absent: run <code>make model-check ARGS=--record</code>.</p>');
  else b.push(`<table>${RUN_HEAD}${check.map(runRow).join('')}</table>`);
  b.push('<h2>Mutants</h2>');
  if (!mutants)
    b.push(
      '<p class="missing">spec/model/mutants.json is absent: run <code>make model-mutants ARGS=--record</code>.</p>',
    );
  else {
    b.push(
      '<table><tr><th>Mutant</th><th>Fault planted</th><th>Must be caught by</th><th>Spin found</th><th>States</th><th>Depth</th></tr>',
    );
    for (const m of mutants) {
      b.push(
        `<tr><td><code>${escapeHtml(m.mutant)}</code></td><td>${escapeHtml(m.text)}</td><td><a href="${propertyFile(m.expect)}">${m.expect}</a></td><td>${m.caughtAs === m.expect ? 'caught' : `MISSED (${escapeHtml(m.caughtAs ?? 'nothing')})`}</td><td>${m.result.states.toLocaleString('en')}</td><td>${m.result.depth}</td></tr>`,
      );
    }
    b.push('</table>');
  }
  pages.push({ file: 'model.html', title: 'Model checking', body: b.join('\n'), diagrams: [] });

  for (const [id, text] of Object.entries(PROPERTIES)) {
    const d: Diagram[] = [];
    const p: string[] = [
      `<h1>${id}, model-checked</h1>`,
      `<p class="lede">${escapeHtml(text)}</p>`,
      '<p><a href="model.html">All runs and mutants</a></p>',
    ];
    const runs = (check ?? []).filter((r) => r.properties.includes(id));
    p.push('<h2>Result</h2>');
    if (runs.length === 0) p.push('<p class="missing">No recorded run checks this property.</p>');
    else p.push(`<table>${RUN_HEAD}${runs.map(runRow).join('')}</table>`);
    const muts = (mutants ?? []).filter((m) => m.expect === id);
    for (const m of muts) {
      p.push(
        `<h2>Mutant <code>${escapeHtml(m.mutant)}</code></h2><p>${escapeHtml(m.text)} Spin: ${m.caughtAs === m.expect ? `caught, ${escapeHtml(m.result.error ?? '')}` : 'MISSED'}.</p>`,
      );
      p.push(counterexample(m, d));
    }
    diagrams.push(...d);
    pages.push({ file: propertyFile(id), title: `${id}, model-checked`, body: p.join('\n'), diagrams: d });
  }
  return pages;
}
