// make kit-mutation, the command Stryker's command runner runs for each mutant, in its sandbox (a
// copy of the repository whose reference/ carries every sampled mutant behind a switch; the active
// one is named by __STRYKER_ACTIVE_MUTANT__, which the reference servers and client started by the
// kit inherit). It runs the kit against that reference, only for the role(s) whose code the mutant
// is in, each stopping at its first FAIL, with the short timers of FAST_LIMITS (passed with --set).
// Exit 1 when the kit fails the mutated reference (mutant killed), 0 when everything passes.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selftestRole, KNOWN_REFERENCE_DEVIATIONS } from '../selftest.js';
import type { RoleName } from '../lib/config.js';

export const LOG_ENV = 'IMSP_KIT_MUTATION_LOG';

/** The roles whose reference code lives in a file: the kit role that tests it, or all three for shared layers. */
export function rolesFor(file: string): RoleName[] {
  if (/^reference\/(crs|store)\//.test(file)) return ['crs'];
  if (file.startsWith('reference/ms/')) return ['ms'];
  if (file.startsWith('reference/client/')) return ['client'];
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

async function main(): Promise<number> {
  const root = process.cwd();
  const id = process.env.__STRYKER_ACTIVE_MUTANT__;
  const seed = Number(process.env.IMSP_KIT_MUTATION_KIT_SEED ?? 1);
  const runs = Number(process.env.IMSP_KIT_MUTATION_RUNS ?? 3);
  const timeoutMs = Number(process.env.IMSP_KIT_MUTATION_TIMEOUT ?? 4000);
  const file = id === undefined ? undefined : fileOfMutant(root, id);
  // The initial (dry) run, with no mutant active, proves the set-up on the CRS role only: the
  // per-mutant time limit is set generously by run.ts rather than from this run.
  const roles: RoleName[] = id === undefined ? ['crs'] : file ? rolesFor(file) : ['crs', 'ms', 'client'];
  const t0 = Date.now();
  let verdict = 'survived';
  let detail = '';
  for (const role of roles) {
    const o = await selftestRole(role, {
      root,
      roles: [role],
      runs,
      seed,
      timeoutMs: role === 'client' ? timeoutMs * 4 : timeoutMs,
      quiet: true,
      failFast: true,
      out: () => undefined,
    });
    const failed = o.results.filter((r) => r.verdict === 'FAIL' && !KNOWN_REFERENCE_DEVIATIONS[r.id]);
    if (o.error || failed.length) {
      verdict = 'killed';
      const f = failed[0];
      const finding = f?.findings.find((x) => x.verdict === 'FAIL');
      detail = o.error
        ? `${role}: setup: ${o.error.split('\n')[0]}`
        : `${f!.id} [${finding?.req ?? ''}] ${(finding?.text ?? '').split('\n')[0]!.slice(0, 200)}`;
      break;
    }
  }
  const log = process.env[LOG_ENV];
  if (log)
    appendFileSync(
      log,
      `${JSON.stringify({ id: id ?? 'dry-run', file, roles, verdict, detail, ms: Date.now() - t0 })}\n`,
    );
  process.stdout.write(`mutant ${id ?? '(none)'} ${file ?? ''} ${roles.join(',')}: ${verdict} ${detail}\n`);
  return verdict === 'killed' ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = await main();
