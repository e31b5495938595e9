// `make requirements`: per requirement ID the tests that cite it, then the MUSTs with no test that
// spec/untested.json does not excuse, then a summary line. It reports; it always exits 0.
// The scanning is spec/site/scan.ts, shared with the site builder.

import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { buildReport, loadRequirementData, type Report } from './scan.js';

export function formatReport(report: Report, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  const width = Math.max(8, ...report.rows.map((r) => r.req.id.length));
  lines.push('Requirements and the tests that cite them');
  lines.push('');
  for (const row of report.rows) {
    const head = `${row.req.id.padEnd(width)}  ${row.req.level.padEnd(6)}`;
    if (row.coverage === 'tested') {
      const cites = row.citations.map((c) => `${c.file}:${c.line}`);
      const shown = opts.verbose ? cites : cites.slice(0, 4);
      const more = cites.length > shown.length ? ` (+${cites.length - shown.length} more)` : '';
      lines.push(`${head}  ${shown.join(', ')}${more}`);
    } else if (row.coverage === 'untested') {
      lines.push(`${head}  untested: ${row.reason ?? ''}`);
    } else {
      lines.push(`${head}  no test yet`);
    }
  }
  lines.push('');
  lines.push(`MUSTs with no test and not listed in spec/untested.json (${report.mustsWithoutTest.length}):`);
  for (const row of report.mustsWithoutTest) {
    lines.push(`  ${row.req.id.padEnd(width)}  ${row.req.source}:${row.req.line}  ${row.req.sentence}`);
  }
  if (report.unknownCited.length > 0) {
    lines.push('');
    lines.push(`IDs cited by tests but not defined in spec/text (${report.unknownCited.length}):`);
    for (const u of report.unknownCited) lines.push(`  ${u.id.padEnd(width)}  ${u.citations.map((c) => `${c.file}:${c.line}`).join(', ')}`);
  }
  if (report.unknownUntested.length > 0) {
    lines.push('');
    lines.push(`IDs in spec/untested.json not defined in spec/text: ${report.unknownUntested.join(', ')}`);
  }
  const c = report.counts;
  const mustTested = report.rows.filter((r) => r.req.level === 'MUST' && r.coverage === 'tested').length;
  lines.push('');
  lines.push(
    `Summary: ${c.total} requirements (${c.must} MUST, ${c.should} SHOULD, ${c.may} MAY${c.info ? `, ${c.info} without keyword` : ''}); ` +
      `${c.tested} tested, ${c.untested} deliberately untested, ${c.none} with no test; ` +
      `MUSTs tested ${mustTested}/${c.must}, MUSTs with no test ${report.mustsWithoutTest.length}; ` +
      `${report.rows.filter((r) => r.code.length > 0).length} cited by reference/ code.`,
  );
  return lines.join('\n') + '\n';
}

export function main(argv: readonly string[], root: string): number {
  const data = loadRequirementData(root);
  if (data.requirements.length === 0) {
    process.stdout.write('No requirement IDs found in spec/text/*.md yet.\n');
    return 0;
  }
  process.stdout.write(formatReport(buildReport(data), { verbose: argv.includes('--verbose') || argv.includes('-v') }));
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2), resolve(dirname(fileURLToPath(import.meta.url)), '../..'));
}
