// make kit-mutation, coverage: which sampled mutants a kit case executes, as Stryker's own
// coverageAnalysis does for the runners that support it (its command runner does not). Stryker's
// instrumenter (the same one that builds the sandbox) instruments the sampled mutants of an
// unmutated copy of the tree; code that reaches a mutant calls stryCov_9fa48(id), which counts into
// globalThis.__stryker__.mutantCoverage. A preload (`--import`, through NODE_OPTIONS of the reference
// processes the kit starts; never in the reference itself) writes those counts to a file when the
// process exits, and every 200 ms before that, so a process the kit ends with SIGKILL (a client that
// does not quit within 2 s of `quit`) leaves what it covered up to its last 200 ms (counted apart).
//
// The dry run: the CRS role and the MS role once each (one reference server serves all cases: a
// mutant either runs in that role or not), the client role one case at a time (the kit starts one
// client process or more per case, so coverage is per case). run-mutant.ts then runs a mutant only
// in the roles whose processes executed it, and in the client role only the cases that executed it;
// a mutant no case executes is "no coverage" (not run; Stryker counts it as undetected).
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Instrumenter } from '@stryker-mutator/instrumenter';
import type { MutationRange } from '@stryker-mutator/api/core';
import { selftestRole } from '../selftest.js';
import { ROLES } from '../cli.js';
import { Limits } from '../lib/registry.js';
import { FAST_LIMITS } from '../lib/spawn.js';
import type { RoleName } from '../lib/config.js';
import { keyOf, keyOfStrykerMutant, quiet, type SampledMutant } from './sample.js';

export const COVERAGE_ENV = 'IMSP_KIT_MUTATION_COVERAGE';
const DIR_ENV = 'IMSP_KIT_COVERAGE_DIR';
const TAG_ENV = 'IMSP_KIT_COVERAGE_TAG';

/** Per sampled mutant key: whether the CRS and MS roles executed it, and the client cases that did. */
export interface MutantCoverage {
  crs: boolean;
  ms: boolean;
  client: string[];
}

export interface Coverage {
  /** Hash of the reference and kit sources the coverage was measured on (stale when either changes). */
  hash: string;
  byKey: Record<string, MutantCoverage>;
  /** Reference processes that wrote coverage, and those that ended without their exit dump (SIGKILL). */
  processes: number;
  withoutExitDump: string[];
  ms: number;
}

/** The kit settings of a mutant run (run-mutant.ts judgeRole), so the dry run executes the same paths. */
export interface KitSettings {
  runs: number;
  seed: number;
  timeoutMs: number;
}

const PRELOAD = `// make kit-mutation coverage preload (conformance/mutation/coverage.ts): writes the mutant coverage
// of this process to $${DIR_ENV}/<tag>.<pid>.json at exit and every 200 ms before.
import { writeFileSync } from 'node:fs';
const dir = process.env.${DIR_ENV};
const tag = (process.env.${TAG_ENV} ?? 'untagged').replace(/[^A-Za-z0-9_.-]/g, '_');
let last = -1;
function dump(exit) {
  const cov = globalThis.__stryker__?.mutantCoverage;
  const ids = new Set(Object.keys(cov?.static ?? {}));
  for (const t of Object.values(cov?.perTest ?? {})) for (const id of Object.keys(t)) ids.add(id);
  if (!exit && ids.size === last) return;
  last = ids.size;
  try {
    writeFileSync(dir + '/' + tag + '.' + process.pid + '.json', JSON.stringify({ tag: process.env.${TAG_ENV}, pid: process.pid, exit, ids: [...ids] }));
  } catch {}
}
if (dir) {
  process.on('exit', () => dump(true));
  setInterval(() => dump(false), 200).unref();
}
`;

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

function tsFiles(root: string, dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .map((f) => `${dir}/${f.replaceAll('\\', '/')}`)
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

/** What the coverage depends on: the reference and the kit (cases, contexts, generated codec, spec data). */
export function coverageHash(root: string, sample: SampledMutant[], k: KitSettings): string {
  const files = ['reference', 'conformance', 'generated', 'codec'].flatMap((d) =>
    existsSync(join(root, d)) ? tsFiles(root, d) : [],
  );
  const h = createHash('sha1');
  h.update(JSON.stringify({ k, keys: sample.map(keyOf) }));
  for (const f of files) h.update(`${f}\0${sha1(readFileSync(join(root, f), 'utf8'))}\0`);
  return h.digest('hex');
}

/**
 * A copy of the tree at `root` whose reference/ carries the sampled mutants instrumented (none active):
 * reference/ is copied, package.json and tsconfig.json too, every other top-level entry is a symlink.
 * Returns Stryker's id -> mutant key for this instrumentation.
 */
async function instrumentedTree(root: string, tree: string, sample: SampledMutant[]): Promise<Map<string, string>> {
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  const skip = new Set(['reference', 'reports', '.scratch', '.git', 'package.json', 'tsconfig.json']);
  for (const e of readdirSync(root)) if (!skip.has(e)) symlinkSync(join(root, e), join(tree, e));
  for (const f of ['package.json', 'tsconfig.json']) cpSync(join(root, f), join(tree, f));
  cpSync(join(root, 'reference'), join(tree, 'reference'), { recursive: true });
  const ranges = new Map<string, MutationRange[]>();
  for (const m of sample) {
    const r = ranges.get(m.file) ?? [];
    r.push({ start: { line: m.line, column: m.column }, end: { line: m.endLine, column: m.endColumn } });
    ranges.set(m.file, r);
  }
  const result = await new Instrumenter(quiet).instrument(
    [...ranges].map(([f, mutate]) => ({ name: join(root, f), content: readFileSync(join(root, f), 'utf8'), mutate })),
    { plugins: null, excludedMutations: [], ignorers: [] },
  );
  for (const f of result.files) writeFileSync(join(tree, f.name.slice(root.length)), f.content);
  return new Map(result.mutants.map((m) => [m.id, keyOfStrykerMutant(m, root)]));
}

/** The dry run described above; `log` gets one line per step. */
export async function measureCoverage(
  root: string,
  out: string,
  sample: SampledMutant[],
  k: KitSettings,
  log: (line: string) => void,
): Promise<Coverage> {
  const t0 = Date.now();
  const tree = join(out, 'coverage-tree');
  const dumps = join(out, 'coverage-dumps');
  rmSync(dumps, { recursive: true, force: true });
  mkdirSync(dumps, { recursive: true });
  const keyOfId = await instrumentedTree(root, tree, sample);
  const preload = join(out, 'coverage-preload.mjs');
  writeFileSync(preload, PRELOAD);
  const saved = { opts: process.env.NODE_OPTIONS, dir: process.env[DIR_ENV], tag: process.env[TAG_ENV] };
  process.env.NODE_OPTIONS = `${saved.opts ?? ''} --import ${preload}`.trim();
  process.env[DIR_ENV] = dumps;
  const failed: string[] = [];
  const run = async (role: RoleName, tag: string, only?: string[]): Promise<void> => {
    process.env[TAG_ENV] = tag;
    const o = await selftestRole(role, {
      root: tree,
      roles: [role],
      runs: k.runs,
      seed: k.seed,
      timeoutMs: role === 'client' ? k.timeoutMs * 4 : k.timeoutMs,
      quiet: true,
      ...(only ? { only } : {}),
      out: () => undefined,
    });
    const bad = o.error ? [`${tag}: set-up: ${o.error.split('\n')[0]}`] : [];
    for (const r of o.results) if (r.verdict === 'FAIL') bad.push(`${r.id} FAIL on the unmutated tree`);
    failed.push(...bad);
  };
  try {
    for (const role of ['crs', 'ms'] as const) {
      const t = Date.now();
      await run(role, role);
      log(`coverage: ${role} role ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
    const t = Date.now();
    const cases = (await ROLES.client()).cases(new Limits(FAST_LIMITS)).map((c) => c.id);
    for (const id of cases) await run('client', `client:${id}`, [id]);
    log(`coverage: client role, ${cases.length} cases one at a time, ${((Date.now() - t) / 1000).toFixed(0)} s`);
  } finally {
    for (const [name, v] of [
      ['NODE_OPTIONS', saved.opts],
      [DIR_ENV, saved.dir],
      [TAG_ENV, saved.tag],
    ] as const)
      if (v === undefined) delete process.env[name];
      else process.env[name] = v;
  }
  if (failed.length)
    log(`coverage: the unmutated tree did not pass everywhere (coverage still used): ${failed.join('; ')}`);
  const byKey: Record<string, MutantCoverage> = Object.fromEntries(
    sample.map((m) => [keyOf(m), { crs: false, ms: false, client: [] as string[] }]),
  );
  const withoutExitDump: string[] = [];
  let processes = 0;
  for (const f of readdirSync(dumps)) {
    const d = JSON.parse(readFileSync(join(dumps, f), 'utf8')) as { tag?: string; exit: boolean; ids: string[] };
    processes++;
    if (!d.exit) withoutExitDump.push(f);
    const tag = d.tag ?? '';
    for (const id of d.ids) {
      const c = byKey[keyOfId.get(id) ?? ''];
      if (!c) continue;
      if (tag === 'crs') c.crs = true;
      else if (tag === 'ms') c.ms = true;
      else if (tag.startsWith('client:') && !c.client.includes(tag.slice(7))) c.client.push(tag.slice(7));
    }
  }
  rmSync(tree, { recursive: true, force: true });
  return { hash: coverageHash(root, sample, k), byKey, processes, withoutExitDump, ms: Date.now() - t0 };
}

/** The kept coverage of out/coverage.json when it was measured on these sources, else a new dry run. */
export async function coverageFor(
  root: string,
  out: string,
  sample: SampledMutant[],
  k: KitSettings,
  log: (line: string) => void,
): Promise<{ file: string; coverage: Coverage }> {
  const file = join(out, 'coverage.json');
  const hash = coverageHash(root, sample, k);
  if (existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as Coverage;
    if (kept.hash === hash) return { file, coverage: kept };
  }
  log('coverage: dry run of each role on the instrumented, unmutated reference (conformance/mutation/coverage.ts)');
  const coverage = await measureCoverage(root, out, sample, k, log);
  writeFileSync(file, JSON.stringify(coverage, null, 1));
  const none = Object.values(coverage.byKey).filter((c) => !c.crs && !c.ms && !c.client.length).length;
  log(
    `coverage: ${coverage.processes} reference processes, ${coverage.withoutExitDump.length} ended without their exit dump; ` +
      `${none} of ${sample.length} sampled mutants executed by no case; ${(coverage.ms / 60000).toFixed(1)} min`,
  );
  return { file, coverage };
}
