// `make requirements-check`: the tracing check of spec/site/coverage.ts. Exits 1 when a wire MUST or
// SHOULD that binds a CRS, an MS or a client has neither a kit case for that role nor an entry in
// spec/exceptions.json, when a backlog entry has its case now, when a case names a requirement it
// does not declare, when a case built by a factory breaks the rules of the hand-written ones
// (factoryProblems), or when an entry of spec/exceptions.json has no reason. Prints a one-line summary.
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
  roleBuilders,
  staticUndeclared,
  type CheckResult,
  type KitCase,
} from './coverage.js';
import { type FactorySite, kitErrorRegistry, NamedIds } from './named-ids.js';
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
  const factory = factoryProblems(
    named.factorySites(),
    await roleLists(root),
    new Set(named.cases().map((c) => c.id)),
    new Set(reqs.map((r) => r.id)),
  );
  return checkCoverage(reqs, cases, collectNamedTests(root), loadExceptions(root), [...undeclared.values()], factory);
}

/**
 * Each role's cases built with the registry's limits, then every configurable limit at its minimum,
 * then at its maximum (spec/registry/limits.json): the lists factoryProblems compares.
 */
export async function roleLists(root: string): Promise<Record<string, FactoryCase[][]>> {
  const limits = (
    JSON.parse(readFileSync(join(root, 'spec/registry/limits.json'), 'utf8')) as {
      limits: { name: string; configurable: boolean; min?: number; max?: number }[];
    }
  ).limits.filter((l) => l.configurable && l.min !== undefined && l.max !== undefined);
  const sets = [
    {},
    Object.fromEntries(limits.map((l) => [l.name, l.min!])),
    Object.fromEntries(limits.map((l) => [l.name, l.max!])),
  ];
  const out: Record<string, FactoryCase[][]> = {};
  for (const { role, cases } of await roleBuilders(root)) out[role] = sets.map((o) => cases(o));
  return out;
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

/** What the factory check needs of a case. */
export interface FactoryCase {
  id: string;
  section: string;
  reqs: readonly string[];
  origin?: string;
}

/**
 * The cases built by factories (in loops and helpers, with no literal id), checked as the hand-written
 * ones are: every factory site records a literal `origin`, unique among the sites; in each role every
 * id is unique and reads role/section/n with the case's own section; a case whose id is not a literal
 * names its factory site by `origin`; its reqs declare every requirement (an ID of the spec) its site's
 * `run` can name; and the role's ids, origins and reqs do not change with the limits (`lists` holds a
 * role's cases built with different limits, the defaults first). One line per problem.
 */
export function factoryProblems(
  sites: FactorySite[],
  roles: Record<string, readonly (readonly FactoryCase[])[]>,
  literalIds: ReadonlySet<string>,
  known: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  const bySite = new Map<string, FactorySite>();
  for (const s of sites) {
    if (s.origin === undefined) out.push(`${s.file}:${s.line}: a case built here records no literal origin`);
    else if (bySite.has(s.origin)) {
      const o = bySite.get(s.origin)!;
      out.push(`origin '${s.origin}' names two factory sites: ${o.file}:${o.line} and ${s.file}:${s.line}`);
    } else bySite.set(s.origin, s);
  }
  const shape = (c: FactoryCase): string => `${c.id} ${c.origin ?? ''} ${c.section} ${[...c.reqs].sort().join(',')}`;
  for (const [role, [first = [], ...others]] of Object.entries(roles)) {
    const seen = new Map<string, number>();
    for (const c of first) seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
    for (const [id, n] of seen) if (n > 1) out.push(`${role}: id ${id} is given to ${n} cases`);
    for (const c of first) {
      if (c.id !== `${role}/${c.section}/${c.id.split('/')[2]}` || !/^\d+$/.test(c.id.split('/')[2] ?? ''))
        out.push(`${c.id}: the id does not read ${role}/${c.section}/n (its role and section)`);
      if (c.origin === undefined) {
        if (!literalIds.has(c.id)) out.push(`${c.id}: built by a factory that records no origin`);
        continue;
      }
      const site = bySite.get(c.origin);
      if (!site) {
        out.push(`${c.id}: origin '${c.origin}' is no factory site of conformance/cases`);
        continue;
      }
      const missing = site.named.filter((x) => known.has(x) && !c.reqs.includes(x)).sort(compareIds);
      if (missing.length)
        out.push(
          `${c.id} (origin '${c.origin}'): its checks can name ${missing.join(' ')}, which its reqs do not declare`,
        );
    }
    for (const other of others) {
      const a = first.map(shape);
      const b = other.map(shape);
      const i = a.findIndex((x, k) => x !== b[k]);
      if (i >= 0 || a.length !== b.length)
        out.push(
          `${role}: the case list changes with the limits at ${first[i]?.id ?? `case ${a.length + 1}`}: ${a[i] ?? 'none'} / ${b[i] ?? 'none'}`,
        );
    }
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
