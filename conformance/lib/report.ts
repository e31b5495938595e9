// Reports: JSON with the wire log of every case, JUnit XML, and an HTML requirement-by-verdict
// matrix whose requirement IDs link to the spec site's anchors (req-<ID>).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CaseResult, Verdict } from './case.js';
import { summaryLine } from './runner.js';

export interface RunInfo {
  role: string;
  target: string;
  seed: number;
  runs: number;
  startedAt: string;
  durationMs: number;
  commandLine: string;
}

export function toJson(info: RunInfo, results: CaseResult[]): string {
  return JSON.stringify(
    {
      kit: 'imsp-conformance',
      ...info,
      summary: summaryLine(results),
      cases: results.map((r) => ({
        id: r.id,
        section: r.section,
        title: r.title,
        reqs: r.reqs,
        verdict: r.verdict,
        findings: r.findings,
        ...(r.skipReason ? { skipReason: r.skipReason } : {}),
        ...(r.seed !== undefined ? { seed: r.seed } : {}),
        ...(r.path !== undefined ? { path: r.path } : {}),
        ...(r.replay ? { replay: r.replay } : {}),
        durationMs: r.durationMs,
        wire: r.transcript.entries,
      })),
    },
    null,
    1,
  );
}

const xml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '?');

export function toJunit(info: RunInfo, results: CaseResult[]): string {
  const bySection = new Map<string, CaseResult[]>();
  for (const r of results) bySection.set(r.section, [...(bySection.get(r.section) ?? []), r]);
  const suites = [...bySection].map(([section, rs]) => {
    const failures = rs.filter((r) => r.verdict === 'FAIL').length;
    const skipped = rs.filter((r) => r.verdict === 'SKIP').length;
    const time = rs.reduce((a, r) => a + r.durationMs, 0) / 1000;
    const cases = rs.map((r) => {
      const name = xml(`${r.id} ${r.reqs.map((q) => `[${q}]`).join('')} ${r.title}`);
      let inner = '';
      if (r.verdict === 'FAIL') {
        const f = r.findings.find((x) => x.verdict === 'FAIL' || x.verdict === 'WARN');
        inner = `<failure message="${xml(f ? `[${f.req}] ${f.text.split('\n')[0]}` : 'failed')}">${xml(r.findings.map((x) => `${x.verdict} [${x.req}] ${x.text}`).join('\n'))}\n${r.replay ? xml(`replay: ${r.replay}`) : ''}</failure><system-out>${xml(r.transcript.render())}</system-out>`;
      } else if (r.verdict === 'SKIP') inner = `<skipped message="${xml(r.skipReason ?? '')}"/>`;
      else if (r.verdict === 'WARN') inner = `<system-out>${xml(r.findings.map((x) => `${x.verdict} [${x.req}] ${x.text}`).join('\n'))}</system-out>`;
      return `    <testcase classname="imsp.${xml(info.role)}.${xml(section)}" name="${name}" time="${(r.durationMs / 1000).toFixed(3)}">${inner}</testcase>`;
    });
    return `  <testsuite name="${xml(`${info.role}/${section}`)}" tests="${rs.length}" failures="${failures}" skipped="${skipped}" time="${time.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="imsp-conformance ${xml(info.role)} ${xml(info.target)}" tests="${results.length}">\n${suites.join('\n')}\n</testsuites>\n`;
}

const ORDER: Verdict[] = ['FAIL', 'WARN', 'PASS', 'INFO', 'SKIP'];

/** Requirement x verdict matrix; each requirement links to `${specBase}#req-ID`. */
export function toHtml(info: RunInfo, results: CaseResult[], specBase: string, levels: Map<string, string> = new Map()): string {
  const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const reqs = new Map<string, CaseResult[]>();
  for (const r of results) for (const q of r.reqs) reqs.set(q, [...(reqs.get(q) ?? []), r]);
  // A requirement is caught (named) by a finding even when the case cites others too.
  for (const r of results) for (const f of r.findings) if (f.req && !r.reqs.includes(f.req)) reqs.set(f.req, [...(reqs.get(f.req) ?? []), r]);
  const worst = (rs: CaseResult[]): Verdict => ORDER.find((v) => rs.some((r) => r.verdict === v)) ?? 'SKIP';
  const ids = [...reqs.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const rows = ids
    .map((id) => {
      const rs = reqs.get(id)!;
      const cells = ORDER.map((v) => {
        const hit = rs.filter((r) => r.verdict === v);
        return `<td class="${v.toLowerCase()}">${hit.map((r) => `<a href="#case-${esc(r.id)}" title="${esc(r.title)}">${esc(r.id)}</a>`).join('<br>')}</td>`;
      }).join('');
      return `<tr class="row-${worst(rs).toLowerCase()}"><th><a href="${esc(specBase)}#req-${esc(id)}">${esc(id)}</a></th><td>${esc(levels.get(id) ?? '')}</td><td class="v-${worst(rs).toLowerCase()}">${worst(rs)}</td>${cells}</tr>`;
    })
    .join('\n');
  const details = results
    .map(
      (r) => `<section id="case-${esc(r.id)}" class="case v-${r.verdict.toLowerCase()}"><h3>${r.verdict} ${esc(r.id)}: ${esc(r.title)}</h3>
<p>Requirements: ${r.reqs.map((q) => `<a href="${esc(specBase)}#req-${esc(q)}">${esc(q)}</a>`).join(', ')} &middot; ${r.durationMs} ms${r.skipReason ? ` &middot; skipped: ${esc(r.skipReason)}` : ''}</p>
${r.findings.length ? `<ul>${r.findings.map((f) => `<li class="${f.verdict.toLowerCase()}">${f.verdict} [${esc(f.req)}] ${esc(f.text)}</li>`).join('')}</ul>` : ''}
${r.replay ? `<p>Replay: <code>${esc(r.replay)}</code></p>` : ''}
<details><summary>wire log (${r.transcript.entries.length} entries)</summary><pre>${esc(r.transcript.render())}</pre></details></section>`,
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>IMSP conformance: ${esc(info.role)} ${esc(info.target)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}
.v-fail,.fail{background:#fdd}.v-warn,.warn{background:#ffd}.v-pass,.pass{background:#dfd}.v-info,.info{background:#def}.v-skip,.skip{background:#eee}
td.pass,td.fail,td.warn,td.info,td.skip{background:none}tr.row-fail th{background:#fdd}pre{white-space:pre-wrap;font-size:12px;background:#f7f7f7;padding:6px}
section.case{border-left:4px solid #ccc;padding-left:8px;margin:8px 0}section.v-fail{border-color:#c00}section.v-warn{border-color:#cc0}section.v-pass{border-color:#0a0}
</style></head><body>
<h1>IMSP conformance report</h1>
<p>Role under test: <b>${esc(info.role)}</b> at <code>${esc(info.target)}</code> &middot; seed ${info.seed} &middot; runs ${info.runs} &middot; ${esc(info.startedAt)} &middot; ${(info.durationMs / 1000).toFixed(1)} s</p>
<p><b>${esc(summaryLine(results))}</b></p>
<p>Command: <code>${esc(info.commandLine)}</code></p>
<h2>Requirements by verdict</h2>
<table><thead><tr><th>Requirement</th><th>Level</th><th>Verdict</th>${ORDER.map((v) => `<th>${v}</th>`).join('')}</tr></thead><tbody>
${rows}
</tbody></table>
<h2>Cases</h2>
${details}
</body></html>
`;
}

export function writeFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

export function writeHtml(dir: string, content: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, 'index.html');
  writeFileSync(p, content);
  return p;
}
