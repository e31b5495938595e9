// `make requirements-check`: the tracing check of spec/site/coverage.ts. Exits 1 when a wire MUST or
// SHOULD that binds a CRS, an MS or a client has neither a kit case for that role nor an entry in
// spec/exceptions.json, when a backlog entry has its case now, when a case names a requirement it
// does not declare, or when an entry of spec/exceptions.json has no reason. Prints a one-line summary.
// --verbose also prints the backlog.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCoverage, checkFailed, collectNamedTests, formatCheck, loadExceptions, loadKitCases, staticUndeclared, type CheckResult } from './coverage.js';
import { loadRequirementData } from './scan.js';

export async function runCheck(root: string): Promise<CheckResult> {
  const data = loadRequirementData(root);
  const cases = await loadKitCases(root);
  const reqs = data.requirements.map((r) => ({ id: r.id, level: r.level, sentence: r.sentence }));
  return checkCoverage(reqs, cases, collectNamedTests(root), loadExceptions(root), staticUndeclared(root, cases));
}

export async function main(argv: readonly string[], root: string): Promise<number> {
  const r = await runCheck(root);
  if (argv.includes('--verbose') || argv.includes('-v')) {
    for (const row of r.rows) if (row.missing.length) process.stdout.write(`backlog ${row.id.padEnd(14)} ${row.missing.join(',')}\n`);
  }
  process.stdout.write(formatCheck(r));
  return checkFailed(r) ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2), resolve(dirname(fileURLToPath(import.meta.url)), '../..'));
}
