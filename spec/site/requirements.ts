// `make requirements`: per requirement ID (in natural order) the kit cases that declare it and the
// tests whose name cites it, then the MUSTs with neither that spec/exceptions.json does not excuse,
// then a summary line. It reports and exits 0; `--check` (make requirements-check) runs the tracing
// check of spec/site/coverage.ts instead and exits 1 when it fails.
// The scanning is spec/site/scan.ts, shared with the site builder.

import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { compareIds, loadKitCaseMap } from './coverage.js';
import { main as checkMain } from './requirements-check.js';
import { buildReport, loadRequirementData, type Report } from './scan.js';

export function formatReport(report: Report, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  const width = Math.max(8, ...report.rows.map((r) => r.req.id.length));
  lines.push('Requirements and the tests that cite them');
  lines.push('');
  for (const row of [...report.rows].sort((a, b) => compareIds(a.req.id, b.req.id))) {
    const head = `${row.req.id.padEnd(width)}  ${row.req.level.padEnd(6)}`;
    if (row.coverage === 'tested') {
      const cites = [...row.kit.map((k) => `kit ${k.id}`), ...row.citations.map((c) => `${c.file}:${c.line}`)];
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
  lines.push(
    `MUSTs with neither a kit case nor a named test, and not listed in spec/exceptions.json (${report.mustsWithoutTest.length}):`,
  );
  for (const row of report.mustsWithoutTest) {
    lines.push(`  ${row.req.id.padEnd(width)}  ${row.req.source}:${row.req.line}  ${row.req.sentence}`);
  }
  if (report.unknownCited.length > 0) {
    lines.push('');
    lines.push(`IDs cited by tests but not defined in spec/text (${report.unknownCited.length}):`);
    for (const u of report.unknownCited)
      lines.push(`  ${u.id.padEnd(width)}  ${u.citations.map((c) => `${c.file}:${c.line}`).join(', ')}`);
  }
  if (report.unknownUntested.length > 0) {
    lines.push('');
    lines.push(`IDs in spec/exceptions.json not defined in spec/text: ${report.unknownUntested.join(', ')}`);
  }
  const c = report.counts;
  const mustTested = report.rows.filter((r) => r.req.level === 'MUST' && r.coverage === 'tested').length;
  lines.push('');
  lines.push(
    `Summary: ${c.total} requirements (${c.must} MUST, ${c.should} SHOULD, ${c.may} MAY${c.info ? `, ${c.info} without keyword` : ''}); ` +
      `${c.tested} checked (${report.rows.filter((r) => r.kit.length > 0).length} by a kit case, ${report.rows.filter((r) => r.citations.length > 0).length} by a named test), ${c.untested} excepted, ${c.none} with neither; ` +
      `MUSTs tested ${mustTested}/${c.must}, MUSTs with no test ${report.mustsWithoutTest.length}; ` +
      `${report.rows.filter((r) => r.code.length > 0).length} cited by reference/ code.`,
  );
  return lines.join('\n') + '\n';
}

export async function main(argv: readonly string[], root: string): Promise<number> {
  if (argv.includes('--check')) return checkMain(argv, root);
  const data = loadRequirementData(root);
  if (data.requirements.length === 0) {
    process.stdout.write('No requirement IDs found in spec/text/*.md yet.\n');
    return 0;
  }
  process.stdout.write(
    formatReport(buildReport({ ...data, kitCases: await loadKitCaseMap(root) }), {
      verbose: argv.includes('--verbose') || argv.includes('-v'),
    }),
  );
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2), resolve(dirname(fileURLToPath(import.meta.url)), '../..'));
}
