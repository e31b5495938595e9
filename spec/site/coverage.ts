// Tracing, the way duvet separates implementation and test annotations (issue 12). Per requirement:
//   - kit cases: conformance cases whose `reqs` declare the ID ("a kit case checks it"), per role;
//   - tests: tests under test/ whose NAME cites the ID as [ID] ("a test checks it"); an [ID] in a
//     comment or a helper does not count;
//   - code: comments of reference/ that cite it ("code enforces it", from scan.ts).
// And the check of `make requirements-check`: every wire MUST/SHOULD that binds a CRS, an MS or a
// client has a kit case for that role, or is listed in spec/exceptions.json (not observable by a
// wire peer, with a reason; or, for a role the requirement does not bind, with a reason); the
// backlog list of that file names the wire requirements still waiting for a case, and may only
// shrink. A case module that names an ID in a check must declare it in that case's reqs.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { collectNamedTests, listFiles, stripStamp, type KitCaseRef } from './scan.js';

export { collectNamedTests };

export type KitRole = 'crs' | 'ms' | 'client';
export const KIT_ROLES: readonly KitRole[] = ['crs', 'ms', 'client'];

export interface KitCase extends KitCaseRef {
  role: KitRole;
  id: string;
  title: string;
  reqs: string[];
  /** The section module that defines it, relative to the repository root. */
  file: string;
}

export interface NamedTest {
  file: string;
  line: number;
  name: string;
}

/** An entry of spec/exceptions.json. */
export interface Exception {
  id: string;
  /**
   * unobservable: no wire peer can observe it (local storage, memory, the kit itself, tools, operator
   *   procedure); tests (or review) cover it instead. With roles: no peer of those roles can.
   * not-bound: the sentence's subject is not the roles listed (the binding table over-reaches).
   */
  kind: 'unobservable' | 'not-bound';
  roles?: KitRole[];
  reason: string;
}

export interface BacklogEntry {
  id: string;
  roles: KitRole[];
  reason: string;
}

export interface ExceptionsFile {
  exceptions: Exception[];
  backlog: BacklogEntry[];
}

const BARE_ID = /^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+$/;

/** Natural order of requirement IDs: CONN-1, CONN-2, ..., CONN-15 (prefix, then number). */
export function compareIds(a: string, b: string): number {
  const pa = /^(.*)-(\d+)$/.exec(a);
  const pb = /^(.*)-(\d+)$/.exec(b);
  if (!pa || !pb) return a.localeCompare(b);
  return pa[1] === pb[1] ? Number(pa[2]) - Number(pb[2]) : pa[1]!.localeCompare(pb[1]!);
}

// ---------------------------------------------------------------------------------------------
// Which roles a requirement binds

/**
 * Prefixes whose sentences leave the subject implicit, and the role that decides them on the wire.
 * Grammar, registry, connection and sealing rules bind every receiver: the CRS, the MS and the
 * client (which receives INIT, MSG and pushes).
 */
const PREFIX_ROLES: Record<string, KitRole[]> = {
  CONN: ['crs', 'ms', 'client'],
  WIRE: ['crs', 'ms', 'client'],
  'WIRE-LIMIT': ['crs', 'ms', 'client'],
  REG: ['crs', 'ms', 'client'],
  HDR: ['crs', 'ms', 'client'],
  'HDR-TEXT': ['crs', 'ms', 'client'],
  REC: ['crs', 'ms', 'client'],
  ERR: ['crs', 'ms', 'client'],
  STATE: ['crs', 'ms', 'client'],
  SEAL: ['crs', 'ms', 'client'],
  HB: ['crs', 'ms', 'client'],
  RATE: ['crs', 'ms'],
  ENROLL: ['crs'],
  LOCATE: ['crs'],
  REGISTER: ['crs'],
  LOCK: ['crs'],
  USER: ['crs'],
  ADD: ['crs'],
  'ADD-LIMIT': ['crs'],
  ANSWER: ['crs'],
  REM: ['crs'],
  CONTACT: ['crs'],
  BLOCK: ['crs'],
  'BLOCK-LIMIT': ['crs'],
  LIST: ['crs'],
  PROFILE: ['crs'],
  PASSWD: ['crs'],
  SEARCH: ['crs'],
  PERSIST: ['crs'],
  PRESENCE: ['crs'],
  INV: ['crs'],
  LOGIN: ['ms'],
  LOGOUT: ['ms'],
  AUTH: ['ms'],
  'MS-SHUTDOWN': ['ms'],
  P2P: ['client'],
  MSG: ['client'],
  FILE: ['client'],
  TYPING: ['client'],
};

export const prefixOf = (id: string): string => id.replace(/-\d+$/, '');

/**
 * The roles a requirement binds: the roles its sentence names before its first MUST/SHOULD (CRS, MS,
 * client; "receiver", "server" and "implementation" name several), else the prefix table above.
 */
export function bindingRoles(id: string, sentence: string): KitRole[] {
  const pre = sentence.split(/\b(?:MUST|SHOULD|SHALL|REQUIRED|RECOMMENDED)\b/)[0] ?? '';
  const r = new Set<KitRole>();
  if (/\bCRS\b/.test(pre)) r.add('crs');
  if (/\bMSs?\b|\bMessaging Servers?\b/.test(pre)) r.add('ms');
  if (/\bclients?\b/i.test(pre)) r.add('client');
  if (r.size === 0 && /\b(?:receivers?|recipients?|implementations?|endpoints?|either side|both sides)\b/i.test(pre))
    for (const x of KIT_ROLES) r.add(x);
  if (r.size === 0 && /\bservers?\b/i.test(pre)) {
    r.add('crs');
    r.add('ms');
  }
  if (r.size > 0) return KIT_ROLES.filter((x) => r.has(x));
  return PREFIX_ROLES[prefixOf(id)] ?? [];
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** What the check reads of a kit case, as a role module builds it. */
export interface BuiltCase {
  id: string;
  title: string;
  section: string;
  reqs: readonly string[];
  origin?: string;
}

/**
 * The kit's case builder of each role (conformance/roles/ROLE.ts), taking a `Limits` of
 * conformance/lib/registry.ts built from `overrides`.
 */
export async function roleBuilders(
  root: string,
): Promise<{ role: KitRole; cases(overrides: Record<string, number>): BuiltCase[] }[]> {
  const { Limits } = (await import(pathToFileURL(join(root, 'conformance/lib/registry.ts')).href)) as {
    Limits: new (o: Record<string, number>) => unknown;
  };
  const out: { role: KitRole; cases(overrides: Record<string, number>): BuiltCase[] }[] = [];
  for (const role of KIT_ROLES) {
    const mod = (await import(pathToFileURL(join(root, `conformance/roles/${role}.ts`)).href)) as Record<
      string,
      { cases?: (l: unknown) => BuiltCase[] }
    >;
    const rm = Object.values(mod).find((v) => typeof v?.cases === 'function');
    if (!rm?.cases) throw new Error(`conformance/roles/${role}.ts exports no role module`);
    const build = rm.cases;
    out.push({ role, cases: (o) => build(new Limits(o)) });
  }
  return out;
}

/** The kit's cases per role, loaded from conformance/roles (and where each is defined). */
export async function loadKitCases(root: string): Promise<KitCase[]> {
  if (!existsSync(join(root, 'conformance/roles'))) return [];
  const files = listFiles(root, 'conformance/cases', ['.ts']);
  const where = new Map<string, string>();
  for (const f of files)
    for (const m of readFileSync(join(root, f), 'utf8').matchAll(/\bid: '([a-z]+\/[a-z0-9-]+\/\d+)'/g))
      where.set(m[1]!, f);
  const out: KitCase[] = [];
  for (const { role, cases } of await roleBuilders(root)) {
    for (const c of cases({}))
      out.push({
        role,
        id: c.id,
        title: c.title,
        reqs: [...c.reqs],
        file: where.get(c.id) ?? 'conformance/cases/common/04-message-format.ts',
      });
  }
  return out;
}

export function parseExceptions(json: unknown): ExceptionsFile {
  const o = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
  const roles = (v: unknown): KitRole[] | undefined =>
    Array.isArray(v) ? v.filter((x): x is KitRole => KIT_ROLES.includes(x as KitRole)) : undefined;
  const exceptions: Exception[] = (Array.isArray(o.exceptions) ? o.exceptions : []).map(
    (e: Record<string, unknown>) => ({
      id: String(e.id),
      kind: e.kind === 'not-bound' ? 'not-bound' : 'unobservable',
      ...(roles(e.roles) ? { roles: roles(e.roles)! } : {}),
      reason: typeof e.reason === 'string' ? e.reason : '',
    }),
  );
  const backlog: BacklogEntry[] = (Array.isArray(o.backlog) ? o.backlog : []).map((e: Record<string, unknown>) => ({
    id: String(e.id),
    roles: roles(e.roles) ?? [],
    reason: typeof e.reason === 'string' ? e.reason : '',
  }));
  return { exceptions, backlog };
}

export function loadExceptions(root: string): ExceptionsFile {
  const p = join(root, 'spec/exceptions.json');
  if (!existsSync(p)) return { exceptions: [], backlog: [] };
  return parseExceptions(JSON.parse(stripStamp(readFileSync(p, 'utf8'))));
}

/** Kit cases by the requirement IDs they declare, for the report and the site. */
export async function loadKitCaseMap(root: string): Promise<Map<string, KitCaseRef[]>> {
  const map = new Map<string, KitCaseRef[]>();
  for (const c of await loadKitCases(root)) {
    for (const id of c.reqs) {
      const ref = { role: c.role, id: c.id, title: c.title, file: c.file };
      const list = map.get(id);
      if (list) list.push(ref);
      else map.set(id, [ref]);
    }
  }
  return map;
}

// ---------------------------------------------------------------------------------------------
// Static check: a case module names in its checks only IDs its cases declare

/**
 * For each case object with a literal id in a section module, the quoted requirement IDs in its text
 * ('LOCK-1' passed to ctx.must, expectStatus, checkError ...) that its reqs do not declare.
 */
export function staticUndeclared(root: string, cases: KitCase[]): { id: string; file: string; ids: string[] }[] {
  const byId = new Map(cases.map((c) => [c.id, c] as const));
  const out: { id: string; file: string; ids: string[] }[] = [];
  for (const file of listFiles(root, 'conformance/cases', ['.ts'])) {
    const text = readFileSync(join(root, file), 'utf8');
    const starts = [...text.matchAll(/\bid: '([a-z]+\/[a-z0-9-]+\/\d+)'/g)];
    starts.forEach((m, i) => {
      const body = text.slice(m.index, i + 1 < starts.length ? starts[i + 1]!.index : text.length);
      const c = byId.get(m[1]!);
      if (!c) return;
      const named = new Set(
        [...body.matchAll(/'([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)'/g)]
          .map((x) => x[1]!)
          .filter((x) => BARE_ID.test(x)),
      );
      const missing = [...named].filter((x) => !c.reqs.includes(x)).sort(compareIds);
      if (missing.length) out.push({ id: c.id, file, ids: missing });
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The check

export interface ReqInfo {
  id: string;
  level: string;
  sentence: string;
}

export interface TraceRow {
  id: string;
  level: string;
  roles: KitRole[];
  kit: KitCase[];
  tests: NamedTest[];
  exception?: Exception;
  /** Bound roles with neither a kit case nor an exception (backlog or not). */
  missing: KitRole[];
}

export interface CheckResult {
  rows: TraceRow[];
  /** Bound wire requirement x role with no case, no exception and no backlog entry. */
  uncovered: { id: string; role: KitRole }[];
  /** Backlog entries that now have their case (the list must shrink). */
  staleBacklog: { id: string; role: KitRole }[];
  /** Exceptions or backlog naming IDs the spec does not define, or without a reason. */
  badEntries: string[];
  /** Case checks naming IDs the case does not declare (static scan). */
  undeclared: { id: string; file: string; ids: string[] }[];
  /** Cases declaring IDs the spec does not define. */
  unknownDeclared: { id: string; ids: string[] }[];
  /**
   * Cases built by factories (loops and helpers) that break the rules of the hand-written ones: no
   * literal origin, a duplicate or misshapen id, an id list that moves with the limits, an undeclared
   * requirement (factoryProblems in requirements-check.ts). One line each.
   */
  factory: string[];
  counts: { bound: number; pairs: number; covered: number; backlog: number; unobservable: number; notBound: number };
}

export function checkCoverage(
  reqs: ReqInfo[],
  cases: KitCase[],
  tests: Map<string, NamedTest[]>,
  ex: ExceptionsFile,
  undeclared: CheckResult['undeclared'] = [],
  factory: string[] = [],
): CheckResult {
  const known = new Set(reqs.map((r) => r.id));
  const exc = new Map<string, Exception[]>();
  for (const e of ex.exceptions) exc.set(e.id, [...(exc.get(e.id) ?? []), e]);
  const backlog = new Map<string, Set<KitRole>>();
  for (const b of ex.backlog) backlog.set(b.id, new Set([...(backlog.get(b.id) ?? []), ...b.roles]));
  const rows: TraceRow[] = [];
  const uncovered: CheckResult['uncovered'] = [];
  const staleBacklog: CheckResult['staleBacklog'] = [];
  let pairs = 0;
  let covered = 0;
  let backlogPairs = 0;
  for (const r of [...reqs].sort((a, b) => compareIds(a.id, b.id))) {
    const kit = cases.filter((c) => c.reqs.includes(r.id));
    const es = exc.get(r.id) ?? [];
    // An unobservable entry without roles excuses every role; with roles, only those (like not-bound).
    const unobservable = es.find((e) => e.kind === 'unobservable' && !e.roles?.length);
    const notBound = new Set(es.flatMap((e) => e.roles ?? []));
    const wire = (r.level === 'MUST' || r.level === 'SHOULD') && !unobservable;
    const roles = wire ? bindingRoles(r.id, r.sentence).filter((x) => !notBound.has(x)) : [];
    const missing: KitRole[] = [];
    for (const role of roles) {
      pairs++;
      const has = kit.some((c) => c.role === role);
      const listed = backlog.get(r.id)?.has(role) ?? false;
      if (has) covered++;
      if (has && listed) staleBacklog.push({ id: r.id, role });
      if (!has) {
        missing.push(role);
        if (listed) backlogPairs++;
        else uncovered.push({ id: r.id, role });
      }
    }
    rows.push({
      id: r.id,
      level: r.level,
      roles,
      kit,
      tests: tests.get(r.id) ?? [],
      ...(es[0] ? { exception: unobservable ?? es[0] } : {}),
      missing,
    });
  }
  const badEntries = [
    ...ex.exceptions.filter((e) => !known.has(e.id)).map((e) => `exception ${e.id}: not defined by the spec`),
    ...ex.exceptions.filter((e) => e.reason.trim().length < 10).map((e) => `exception ${e.id}: no reason`),
    ...ex.backlog.filter((e) => !known.has(e.id)).map((e) => `backlog ${e.id}: not defined by the spec`),
    ...ex.backlog.filter((e) => e.roles.length === 0).map((e) => `backlog ${e.id}: no roles`),
  ];
  const unknownDeclared = cases
    .map((c) => ({ id: c.id, ids: c.reqs.filter((x) => !known.has(x)) }))
    .filter((x) => x.ids.length > 0);
  return {
    rows,
    uncovered,
    staleBacklog,
    badEntries,
    undeclared,
    unknownDeclared,
    factory,
    counts: {
      bound: rows.filter((r) => r.roles.length > 0).length,
      pairs,
      covered,
      backlog: backlogPairs,
      unobservable: ex.exceptions.filter((e) => e.kind === 'unobservable').length,
      notBound: ex.exceptions.filter((e) => e.kind === 'not-bound').length,
    },
  };
}

export function checkFailed(r: CheckResult): boolean {
  return (
    r.uncovered.length +
      r.staleBacklog.length +
      r.badEntries.length +
      r.undeclared.length +
      r.unknownDeclared.length +
      r.factory.length >
    0
  );
}

export function formatCheck(r: CheckResult): string {
  const lines: string[] = [];
  const c = r.counts;
  if (r.uncovered.length) {
    lines.push(
      `Wire MUST/SHOULD with no kit case for a role it binds, and not in spec/exceptions.json (${r.uncovered.length}):`,
    );
    for (const u of r.uncovered) lines.push(`  ${u.id.padEnd(14)} ${u.role}`);
  }
  if (r.staleBacklog.length) {
    lines.push(
      `Backlog entries that now have a kit case: remove them from spec/exceptions.json (${r.staleBacklog.length}):`,
    );
    for (const u of r.staleBacklog) lines.push(`  ${u.id.padEnd(14)} ${u.role}`);
  }
  if (r.undeclared.length) {
    lines.push(`Cases whose checks name requirements their reqs do not declare (${r.undeclared.length}):`);
    for (const u of r.undeclared) lines.push(`  ${u.id.padEnd(18)} ${u.ids.join(' ')}  (${u.file})`);
  }
  if (r.unknownDeclared.length) {
    lines.push(`Cases declaring IDs the spec does not define (${r.unknownDeclared.length}):`);
    for (const u of r.unknownDeclared) lines.push(`  ${u.id.padEnd(18)} ${u.ids.join(' ')}`);
  }
  if (r.factory.length) {
    lines.push(`Cases built by factories that break the rules of the hand-written ones (${r.factory.length}):`);
    for (const f of r.factory) lines.push(`  ${f}`);
  }
  for (const b of r.badEntries) lines.push(`spec/exceptions.json: ${b}`);
  const perRole = KIT_ROLES.map((role) => {
    const need = r.rows.filter((x) => x.roles.includes(role)).length;
    const have = r.rows.filter((x) => x.roles.includes(role) && x.kit.some((k) => k.role === role)).length;
    return `${role} ${have}/${need}`;
  });
  lines.push(
    `requirements-check: ${c.bound} wire MUST/SHOULD bind a role (${c.pairs} requirement-role pairs); ${c.covered} pairs have a kit case (${perRole.join(', ')}); ` +
      `${c.backlog} pairs in the backlog; ${c.unobservable} exceptions not observable on the wire, ${c.notBound} not-bound; ` +
      `${checkFailed(r) ? 'FAILED' : 'ok'}`,
  );
  return lines.join('\n') + '\n';
}
