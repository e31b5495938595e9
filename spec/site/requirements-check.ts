// `make requirements-check`: the tracing check of spec/site/coverage.ts. Exits 1 when a wire MUST or
// SHOULD that binds a CRS, an MS or a client has neither a kit case for that role nor an entry in
// spec/exceptions.json, when a backlog entry has its case now, when a case names a requirement it
// does not declare, or when an entry of spec/exceptions.json has no reason. Prints a one-line summary.
// --verbose also prints the backlog. --update-backlog rewrites the backlog of spec/exceptions.json:
// adds the uncovered wire requirement-role pairs, drops the ones that have a case now (a new wire
// requirement without a case goes there with a reason, in the same commit as the requirement).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkCoverage,
  checkFailed,
  compareIds,
  collectNamedTests,
  formatCheck,
  loadExceptions,
  loadKitCases,
  staticUndeclared,
  type CheckResult,
  type KitCase,
} from './coverage.js';
import { kitErrorRegistry, NamedIds } from './named-ids.js';
import { loadRequirementData } from './scan.js';

export async function runCheck(root: string): Promise<CheckResult> {
  const data = loadRequirementData(root);
  const cases = await loadKitCases(root);
  const reqs = data.requirements.map((r) => ({ id: r.id, level: r.level, sentence: r.sentence }));
  const named = NamedIds.create(root, await kitErrorRegistry(root));
  const undeclared = new Map<string, CheckResult['undeclared'][number]>();
  for (const u of [...staticUndeclared(root, cases), ...callUndeclared(named, cases)]) {
    const had = undeclared.get(u.id);
    undeclared.set(u.id, had ? { ...had, ids: [...new Set([...had.ids, ...u.ids])].sort(compareIds) } : u);
  }
  return checkCoverage(reqs, cases, collectNamedTests(root), loadExceptions(root), [...undeclared.values()]);
}

/**
 * The IDs each case's checks can name through the helpers it calls (spec/site/named-ids.ts) that its
 * reqs do not declare; merged per case with the text scan's (an ID either finds is listed once).
 */
export function callUndeclared(named: NamedIds, cases: KitCase[]): CheckResult['undeclared'] {
  const byId = new Map(cases.map((c) => [c.id, c] as const));
  const out: CheckResult['undeclared'] = [];
  for (const c of named.cases()) {
    const k = byId.get(c.id);
    const missing = k ? c.named.filter((x) => !k.reqs.includes(x)).sort(compareIds) : [];
    if (missing.length) out.push({ id: c.id, file: c.file, ids: missing });
  }
  return out;
}

/** Rewrites the backlog of spec/exceptions.json from a check result (one entry per line, natural order). */
export function updateBacklog(root: string, r: CheckResult): void {
  const path = join(root, 'spec/exceptions.json');
  const doc = JSON.parse(readFileSync(path, 'utf8')) as {
    $comment: string;
    exceptions: unknown[];
    backlog: { id: string; roles: string[]; reason: string }[];
  };
  const by = new Map<string, { id: string; roles: string[]; reason: string }>(
    doc.backlog.map((b) => [b.id, { ...b, roles: [...b.roles] }]),
  );
  for (const u of r.uncovered) {
    const b = by.get(u.id) ?? { id: u.id, roles: [], reason: 'observable on the wire; no kit case yet' };
    if (!b.roles.includes(u.role)) b.roles.push(u.role);
    by.set(u.id, b);
  }
  for (const s of r.staleBacklog) {
    const b = by.get(s.id);
    if (b) b.roles = b.roles.filter((x) => x !== s.role);
  }
  const backlog = [...by.values()].filter((b) => b.roles.length > 0).sort((a, b) => compareIds(a.id, b.id));
  const lines = (xs: unknown[]): string =>
    xs.map((x, i) => `  ${JSON.stringify(x)}${i < xs.length - 1 ? ',' : ''}`).join('\n');
  writeFileSync(
    path,
    `{\n "$comment": ${JSON.stringify(doc.$comment)},\n "exceptions": [\n${lines(doc.exceptions)}\n ],\n "backlog": [\n${lines(backlog)}\n ]\n}\n`,
  );
}

export async function main(argv: readonly string[], root: string): Promise<number> {
  let r = await runCheck(root);
  if (argv.includes('--update-backlog')) {
    updateBacklog(root, r);
    r = await runCheck(root);
  }
  if (argv.includes('--verbose') || argv.includes('-v')) {
    for (const row of r.rows)
      if (row.missing.length) process.stdout.write(`backlog ${row.id.padEnd(14)} ${row.missing.join(',')}\n`);
  }
  process.stdout.write(formatCheck(r));
  return checkFailed(r) ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2), resolve(dirname(fileURLToPath(import.meta.url)), '../..'));
}
