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
  /** Users the kit created on the target, and what became of them (CRS role). */
  createdUsers?: { prefix: string; count: number; note: string };
}

/** How the target is named: a server by its address, a client by the command the kit starts it with. */
export function targetWord(role: string): string {
  return role === 'client' ? 'started as' : 'at';
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
        ...(r.replayPath !== undefined ? { replayPath: r.replayPath } : {}),
        ...(r.replayRuns !== undefined ? { replayRuns: r.replayRuns } : {}),
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
  s
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '?');

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
      else if (r.verdict === 'WARN')
        inner = `<system-out>${xml(r.findings.map((x) => `${x.verdict} [${x.req}] ${x.text}`).join('\n'))}</system-out>`;
      return `    <testcase classname="imsp.${xml(info.role)}.${xml(section)}" name="${name}" time="${(r.durationMs / 1000).toFixed(3)}">${inner}</testcase>`;
    });
    return `  <testsuite name="${xml(`${info.role}/${section}`)}" tests="${rs.length}" failures="${failures}" skipped="${skipped}" time="${time.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="imsp-conformance ${xml(info.role)} ${xml(info.target)}" tests="${results.length}">\n${suites.join('\n')}\n</testsuites>\n`;
}

/** A requirement's verdict in one case: 'NOT REACHED' when the case failed on another requirement first. */
export type ReqVerdict = Verdict | 'NOT REACHED';
const ORDER: ReqVerdict[] = ['FAIL', 'WARN', 'PASS', 'INFO', 'SKIP', 'NOT REACHED'];
const cls = (v: ReqVerdict): string => v.toLowerCase().replace(' ', '-');

/**
 * What one case says about one requirement. A failure belongs to the requirement its finding names
 * (a case citing eight requirements that fails on one of them fails that one only); the others the
 * failing case cites are "not reached": that case neither proved nor broke them. A finding without a
 * requirement is the case's first cited one.
 */
export function verdictFor(r: CaseResult, req: string): ReqVerdict {
  const named = (v: 'FAIL' | 'WARN'): boolean =>
    r.findings.some((f) => f.verdict === v && (f.req || r.reqs[0]) === req);
  if (r.verdict === 'FAIL' || r.verdict === 'WARN') {
    if (named('FAIL')) return r.verdict;
    if (named('WARN')) return 'WARN';
    return 'NOT REACHED';
  }
  return r.verdict;
}

/** Requirement -> (case, verdict) pairs: the cited requirements of every case, and any a finding names. */
export function requirementMatrix(results: CaseResult[]): Map<string, { r: CaseResult; v: ReqVerdict }[]> {
  const m = new Map<string, { r: CaseResult; v: ReqVerdict }[]>();
  const add = (q: string, r: CaseResult): void => {
    const list = m.get(q) ?? [];
    if (!list.some((x) => x.r === r)) list.push({ r, v: verdictFor(r, q) });
    m.set(q, list);
  };
  for (const r of results) for (const q of r.reqs) add(q, r);
  for (const r of results) for (const f of r.findings) if (f.req) add(f.req, r);
  return m;
}

const worstOf = (vs: ReqVerdict[]): ReqVerdict => ORDER.find((v) => vs.includes(v)) ?? 'SKIP';

/**
 * Requirement x verdict matrix. Requirement IDs link to `${specBase}#req-ID` when a spec base is
 * given (--spec-base, e.g. the published spec site); otherwise to the requirement's own row, which
 * quotes its sentence. Nothing links to the file system of the machine that ran the kit.
 */
export function toHtml(
  info: RunInfo,
  results: CaseResult[],
  specBase: string,
  levels: Map<string, string> = new Map(),
  texts: Map<string, string> = new Map(),
): string {
  const esc = (s: string): string =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const matrix = requirementMatrix(results);
  const reqHref = (id: string): string => (specBase ? `${esc(specBase)}#req-${esc(id)}` : `#req-${esc(id)}`);
  const ids = [...matrix.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const rows = ids
    .map((id) => {
      const pairs = matrix.get(id)!;
      const worst = worstOf(pairs.map((p) => p.v));
      const cells = ORDER.map((v) => {
        const hit = pairs.filter((p) => p.v === v);
        return `<td>${hit.map((p) => `<a href="#case-${esc(p.r.id)}" title="${esc(p.r.title)}">${esc(p.r.id)}</a>`).join('<br>')}</td>`;
      }).join('');
      const text = texts.get(id);
      return `<tr id="req-${esc(id)}" class="row-${cls(worst)}"><th><a href="${reqHref(id)}">${esc(id)}</a>${text ? `<div class="req-text">${esc(text)}</div>` : ''}</th><td>${esc(levels.get(id) ?? '')}</td><td><span class="badge v-${cls(worst)}">${worst}</span></td>${cells}</tr>`;
    })
    .join('\n');
  const details = results
    .map(
      (
        r,
      ) => `<section id="case-${esc(r.id)}" class="case v-${cls(r.verdict)}"><h3><span class="badge v-${cls(r.verdict)}">${r.verdict}</span> ${esc(r.id)}: ${esc(r.title)}</h3>
<p>Requirements: ${r.reqs.map((q) => `<a href="${reqHref(q)}">${esc(q)}</a>`).join(', ')} &middot; ${r.durationMs} ms${r.skipReason ? ` &middot; skipped: ${esc(r.skipReason)}` : ''}</p>
${r.findings.length ? `<ul class="findings">${r.findings.map((f) => `<li class="f-${f.verdict.toLowerCase()}"><b>${f.verdict}</b> [${esc(f.req)}] ${esc(f.text)}</li>`).join('')}</ul>` : ''}
${r.replay ? `<p>Replay: <code>${esc(r.replay)}</code></p>` : ''}
<details><summary>wire log (${r.transcript.entries.length} entries)</summary><pre>${esc(r.transcript.render())}</pre></details></section>`,
    )
    .join('\n');
  const counts = ORDER.slice(0, 5)
    .map((v) => `<span class="badge v-${cls(v)}">${v} ${results.filter((r) => r.verdict === v).length}</span>`)
    .join(' ');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>IMSP conformance: ${esc(info.role)} ${esc(info.target)}</title>
<style>
:root{--fail:#c62828;--warn:#b26a00;--pass:#2e7d32;--info:#1565c0;--skip:#757575;--nr:#9e9e9e;--line:#e0e0e0}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:1.5em 2em;max-width:1200px;color:#212121;background:#fafafa}
h1{font-size:1.6em;margin:0 0 .3em}h2{margin-top:1.6em;border-bottom:2px solid var(--line);padding-bottom:.2em}h3{font-size:1.05em;margin:.2em 0}
header.run{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1em 1.2em}header.run p{margin:.3em 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}code{background:#eceff1;padding:1px 4px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}thead th{position:sticky;top:0;background:#eceff1;z-index:1}
td,th{border-bottom:1px solid var(--line);padding:4px 8px;vertical-align:top;text-align:left}tbody tr:hover{background:#f5f5f5}
.req-text{font-weight:normal;font-size:12px;color:#616161;max-width:38em}
.badge{display:inline-block;padding:0 .5em;border-radius:10px;color:#fff;font-size:12px;font-weight:600;white-space:nowrap}
.v-fail{background:var(--fail)}.v-warn{background:var(--warn)}.v-pass{background:var(--pass)}.v-info{background:var(--info)}.v-skip{background:var(--skip)}.v-not-reached{background:var(--nr)}
tr.row-fail th{border-left:4px solid var(--fail)}tr.row-warn th{border-left:4px solid var(--warn)}
section.case{background:#fff;border:1px solid var(--line);border-left:5px solid var(--skip);border-radius:4px;padding:.5em 1em;margin:.6em 0}
section.case.v-fail{border-left-color:var(--fail)}section.case.v-warn{border-left-color:var(--warn)}section.case.v-pass{border-left-color:var(--pass)}section.case.v-info{border-left-color:var(--info)}
section.case{background:#fff}section.case h3 .badge{vertical-align:middle}
ul.findings{margin:.3em 0;padding-left:1.2em}li.f-fail b{color:var(--fail)}li.f-warn b{color:var(--warn)}li.f-info b{color:var(--info)}
pre{white-space:pre-wrap;background:#f5f5f5;padding:8px;border-radius:4px;max-height:30em;overflow:auto}
</style></head><body>
<header class="run"><h1>IMSP conformance report</h1>
<p>Role under test: <b>${esc(info.role)}</b> ${targetWord(info.role)} <code>${esc(info.target)}</code> &middot; seed ${info.seed} &middot; runs ${info.runs} &middot; ${esc(info.startedAt)} &middot; ${(info.durationMs / 1000).toFixed(1)} s</p>
<p>${counts} &middot; <b>${esc(summaryLine(results))}</b></p>
<p>Command: <code>${esc(info.commandLine)}</code></p>
${info.createdUsers ? `<p>Users the kit created on the target: at most <b>${info.createdUsers.count}</b> (registrations it sent; refused ones created none), every one named <code>${esc(info.createdUsers.prefix)}*</code>. ${esc(info.createdUsers.note)}</p>` : ''}
</header>
<h2>Requirements by verdict</h2>
<p>A failure counts against the requirement its finding names; the other requirements a failing case cites are <span class="badge v-not-reached">NOT REACHED</span> by that case.</p>
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
