// make kit-mutation, the command Stryker's command runner runs for each mutant, in its sandbox (a
// copy of the repository whose reference/ carries every sampled mutant behind a switch; the active
// one is named by __STRYKER_ACTIVE_MUTANT__, which the reference servers and client started by the
// kit inherit). It runs the kit against that reference, only for the role(s) whose code the mutant
// is in, each stopping at its first FAIL, with the short timers of FAST_LIMITS (passed with --set).
// Exit 1 when the kit fails the mutated reference (mutant killed), 0 when everything passes.
// The cases that killed mutants of the same file (then of the same role) in earlier runs of the
// campaign run first (likelyKillers): only the order changes, and most kills end there.
//
// Guard against false kills on a loaded machine: a kill must name a failing case and the
// requirement its finding cites. The first failing case is run again alone with twice the timers;
// only when it fails again is the mutant killed (by that case). A case that fails in the full run
// but passes alone is written down and the role is run once more with twice the timers. A set-up
// failure (the mutated reference did not start, or refused the kit's first enrollment) is retried
// with twice the timers too; if it persists the mutant is logged as killed at set-up, which run.ts
// counts apart and prints, so each one is looked at by hand.
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selftestRole, KNOWN_REFERENCE_DEVIATIONS, type RoleOutcome } from '../selftest.js';
import { IDS_ENV, SAMPLE_ENV } from './checker.js';
import { stopSpawnedOnSignals } from '../lib/spawn.js';
import type { RoleName } from '../lib/config.js';
import { COVERAGE_ENV, type Coverage, type MutantCoverage } from './coverage.js';

export const LOG_ENV = 'IMSP_KIT_MUTATION_LOG';

/** The roles whose reference code lives in a file: the kit role that tests it, or all three for shared layers. */
export function rolesFor(file: string): RoleName[] {
  if (/^reference\/(crs|store)\//.test(file)) return ['crs'];
  if (file.startsWith('reference/ms/')) return ['ms'];
  if (file.startsWith('reference/client/')) return ['client'];
  // Shared layers serve the roles whose code imports them: the p2p handshake only the client, the
  // key blob the client and the CRS (REGISTER and PASSWD check its log2N, store/register.ts).
  if (file === 'reference/crypto/p2p.ts') return ['client'];
  if (file === 'reference/crypto/key-blob.ts') return ['crs', 'client'];
  return ['crs', 'ms', 'client'];
}

/** The file of the sandbox holding mutant `id` (its switch `stryMutAct_9fa48("id")`). */
export function fileOfMutant(root: string, id: string): string | undefined {
  const needle = `stryMutAct_9fa48("${id}")`;
  const walk = (dir: string): string | undefined => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        const hit = walk(rel);
        if (hit) return hit;
      } else if (e.name.endsWith('.ts') && readFileSync(join(root, rel), 'utf8').includes(needle)) return rel;
    }
    return undefined;
  };
  return walk('reference');
}

/** One mutant's outcome as runs.jsonl keeps it (the last line for a key is its current outcome). */
export interface RunEntry {
  id: string;
  key?: string;
  file?: string;
  /** sha1 of the original (unmutated) source file: an outcome is kept only while the file is unchanged. */
  fileHash?: string;
  roles: RoleName[];
  /** nocoverage: no case of the mutant's roles executes its code (coverage.ts); it was not run. */
  verdict: 'killed' | 'survived' | 'timeout' | 'nocoverage';
  /** How a killed mutant was caught: by a case (confirmed alone) or at set-up. */
  kind?: 'case' | 'setup';
  case?: string;
  req?: string;
  detail: string;
  /** Runs that did not decide: set-up failures and failures that did not repeat alone. */
  notes?: string[];
  ms: number;
  /** Timeout: the per-mutant limit it ran past, and whether it is confirmed (run.ts). */
  limitMs?: number;
  confirmed?: boolean;
  at: string;
}

interface Judged {
  verdict: 'killed' | 'survived' | 'nocoverage';
  kind?: 'case' | 'setup';
  case?: string;
  req?: string;
  detail: string;
  notes: string[];
}

const firstFail = (o: RoleOutcome) => {
  const f = o.results.find((r) => r.verdict === 'FAIL' && !KNOWN_REFERENCE_DEVIATIONS[r.id]);
  const finding = f?.findings.find((x) => x.verdict === 'FAIL');
  return f
    ? { id: f.id, req: finding?.req ?? '', text: (finding?.text ?? '').split('\n')[0]!.slice(0, 200) }
    : undefined;
};

/**
 * The cases most likely to kill a mutant of `file` in `role`, from the outcomes logged so far: the
 * cases that killed mutants of the same file first, then those that killed the most mutants of the
 * role, at most `max`. Running them first only changes the order; the full role still runs after.
 */
export function likelyKillers(log: string, file: string, role: RoleName, max = 8): string[] {
  if (!existsSync(log)) return [];
  const score = new Map<string, number>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as RunEntry;
    if (e.verdict !== 'killed' || e.kind !== 'case' || !e.case?.startsWith(`${role}/`)) continue;
    score.set(e.case, (score.get(e.case) ?? 0) + (e.file === file ? 1000 : 1));
  }
  return [...score.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, max)
    .map(([id]) => id);
}

/**
 * The roles a mutant of `file` is run in, and in the client role the cases to run: with coverage
 * (coverage.ts), only the roles whose reference processes executed the mutant and only the client
 * cases that did (a case that never executes it sees the unmutated reference); without, all of them.
 */
export function scopeOf(file: string, cov: MutantCoverage | undefined): { role: RoleName; cases?: string[] }[] {
  return rolesFor(file)
    .filter((r) => !cov || (r === 'client' ? cov.client.length > 0 : cov[r]))
    .map((role) => (cov && role === 'client' ? { role, cases: cov.client } : { role }));
}

/**
 * The kit against the mutated reference in one role, with the false-kill guard described above;
 * `scope`: only these cases (the client cases that execute the mutant), else the whole role.
 */
export async function judgeRole(
  role: RoleName,
  root: string,
  k: { runs: number; seed: number; timeoutMs: number },
  first: string[] = [],
  scope?: string[],
): Promise<Judged> {
  const notes: string[] = [];
  const run = (scale: number, only?: string[]) =>
    selftestRole(role, {
      root,
      roles: [role],
      runs: k.runs,
      seed: k.seed,
      timeoutMs: (role === 'client' ? k.timeoutMs * 4 : k.timeoutMs) * scale,
      quiet: true,
      failFast: true,
      ...(only ? { only } : {}),
      out: () => undefined,
    });
  let setupError = '';
  // The likely killers first (same checks, same timers): most kills end here, before the full role.
  if (first.length) {
    process.env.IMSP_KIT_SPAWN_TIMEOUT_MS = '20000';
    const o = await run(1, first);
    const f = o.error ? undefined : firstFail(o);
    if (f) {
      const again = await run(2, [f.id]);
      const g = again.error ? undefined : firstFail(again);
      if (g)
        return {
          verdict: 'killed',
          kind: 'case',
          case: g.id,
          req: g.req,
          detail: `${g.id} [${g.req}] ${g.text}`,
          notes,
        };
      notes.push(`${f.id} [${f.req}] failed first (timers x1) but not alone with timers x2: not counted`);
    }
  }
  for (const scale of [1, 2, 3]) {
    // The reference's start-up is also given more time on each try (20 s, 40 s, 60 s).
    process.env.IMSP_KIT_SPAWN_TIMEOUT_MS = String(20000 * scale);
    const o = await run(Math.min(scale, 2), scope);
    if (o.error) {
      const lines = o.error.split('\n').filter((l) => l.trim());
      // The first line, and the last line of the server's stderr (a crash shows there).
      setupError = `${lines[0]!.replace(/ --limit \S+/g, '').slice(0, 160)}${lines.length > 1 ? ` | stderr: ${lines.at(-1)!.slice(0, 200)}` : ''}`;
      notes.push(`${role} set-up failed (try ${scale}): ${setupError}`);
      continue;
    }
    const f = firstFail(o);
    if (!f) return { verdict: 'survived', detail: '', notes };
    const again = await run(scale * 2, [f.id]);
    const g = again.error ? undefined : firstFail(again);
    if (g)
      return { verdict: 'killed', kind: 'case', case: g.id, req: g.req, detail: `${g.id} [${g.req}] ${g.text}`, notes };
    notes.push(
      `${f.id} [${f.req}] failed in the ${role} run (timers x${scale}) but not alone with timers x${scale * 2}` +
        `${again.error ? ` (set-up: ${again.error.split('\n')[0]})` : ''}: not counted`,
    );
    setupError = '';
  }
  if (setupError) return { verdict: 'killed', kind: 'setup', detail: `${role}: set-up: ${setupError}`, notes };
  return { verdict: 'survived', detail: '', notes };
}

interface RunSet {
  keys: string[];
  meta?: Record<string, { file: string; fileHash: string }>;
}

async function main(): Promise<number> {
  const root = process.cwd();
  const id = process.env.__STRYKER_ACTIVE_MUTANT__;
  const k = {
    seed: Number(process.env.IMSP_KIT_MUTATION_KIT_SEED ?? 1),
    runs: Number(process.env.IMSP_KIT_MUTATION_RUNS ?? 3),
    timeoutMs: Number(process.env.IMSP_KIT_MUTATION_TIMEOUT ?? 4000),
  };
  const file = id === undefined ? undefined : fileOfMutant(root, id);
  const idsFile = process.env[IDS_ENV];
  const key =
    id === undefined || !idsFile
      ? undefined
      : readFileSync(idsFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: string; key: string })
          .find((e) => e.id === id)?.key;
  const sampleFile = process.env[SAMPLE_ENV];
  const fileHash =
    key && sampleFile ? (JSON.parse(readFileSync(sampleFile, 'utf8')) as RunSet).meta?.[key]?.fileHash : undefined;
  const covFile = process.env[COVERAGE_ENV];
  const cov = covFile && key ? (JSON.parse(readFileSync(covFile, 'utf8')) as Coverage).byKey[key] : undefined;
  // The initial (dry) run, with no mutant active, proves the set-up on the CRS role only: the
  // per-mutant time limit is set generously by run.ts rather than from this run.
  const scopes = id === undefined ? [{ role: 'crs' as const }] : file ? scopeOf(file, cov) : scopeOf('', undefined);
  const roles = scopes.map((s) => s.role);
  const t0 = Date.now();
  let judged: Judged =
    scopes.length === 0
      ? { verdict: 'nocoverage', detail: 'no case of its role(s) executes this code (coverage dry run)', notes: [] }
      : { verdict: 'survived', detail: '', notes: [] };
  const notes: string[] = [];
  const log = process.env[LOG_ENV];
  for (const { role, cases } of scopes) {
    const likely = log && file && id !== undefined ? likelyKillers(log, file, role) : [];
    const inScope = cases ? likely.filter((c) => cases.includes(c)) : likely;
    // When the likely killers are the whole scope, the scoped run alone decides (same cases, same order).
    const first = cases && inScope.length === cases.length ? [] : inScope;
    judged = await judgeRole(role, root, k, first, cases);
    notes.push(...judged.notes);
    if (judged.verdict === 'killed') break;
  }
  const entry: RunEntry = {
    id: id ?? 'dry-run',
    ...(key ? { key } : {}),
    ...(file ? { file } : {}),
    ...(fileHash ? { fileHash } : {}),
    roles,
    verdict: judged.verdict,
    ...(judged.kind ? { kind: judged.kind } : {}),
    ...(judged.case ? { case: judged.case, req: judged.req } : {}),
    detail: judged.detail,
    ...(notes.length ? { notes } : {}),
    ms: Date.now() - t0,
    at: new Date().toISOString(),
  };
  if (log) appendFileSync(log, `${JSON.stringify(entry)}\n`);
  process.stdout.write(
    `mutant ${id ?? '(none)'} ${file ?? ''} ${roles.join(',')}: ${judged.verdict} ${judged.detail}\n`,
  );
  return judged.verdict === 'killed' ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Stryker ends a mutant's command that runs past its time limit: the servers it started go too.
  stopSpawnedOnSignals();
  process.exitCode = await main();
}
