// `make model-check` (issue 18): verifies generated/model/imsp.pml with Spin, in the configurations
// and for the properties below, within a bounded time (make test runs it). Prints one line per run
// with states, depth, memory and CPU time; exits 1 when a property fails or a search is incomplete.
//
//   node --import tsx spec/model/check.ts [--record] [--only <id>]
//
// --record writes each run's result to spec/model/results/<id>.json, which the site's model pages show.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSpin, generatedModel, runSpin, type SpinResult, type SpinRun } from './spin.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The properties, as the site names them. */
export const PROPERTIES: Record<string, string> = {
  'INV-1': 'At most one session per user: at most one MS with a live CRS link holds an active session for a user.',
  'INV-2':
    'No lock held forever: every lock ends, and every record held for a session that no longer exists ends (LTL, weak fairness).',
  'INV-3':
    'Presence converges: when nothing is in flight, every logged-in client sees each buddy as the CRS records it.',
  'INV-4':
    'Pending ADDs are delivered until answered: when nothing is in flight, every logged-in client has been given every deliverable ADD to it.',
  'INV-8':
    'A stale holder never acts: every write the CRS does for an MS is for the live grant of the lock (its epoch, its MS incarnation, its lease).',
  'INV-9': 'Buddy relations are mutual, in every state.',
};

const SAFETY = ['INV-1', 'INV-3', 'INV-4', 'INV-8', 'INV-9'];

/** The runs of make model-check. */
export const CHECK_RUNS: SpinRun[] = [
  { id: 'presence', properties: SAFETY, cfg: 1, defines: [], mode: 'safety' },
  { id: 'lock', properties: SAFETY, cfg: 2, defines: [], mode: 'safety' },
  { id: 'contacts', properties: SAFETY, cfg: 3, defines: [], mode: 'safety' },
  { id: 'contacts-2', properties: SAFETY, cfg: 5, defines: [], mode: 'safety' },
  {
    id: 'inv2-lock',
    properties: ['INV-2'],
    cfg: 2,
    defines: ['-DF_CRASH=0', '-DF_MS_LEASE=0', '-DF_CRS_RESTART=0'],
    mode: 'ltl',
    ltl: 'inv2_lock',
  },
  { id: 'inv2-orphan', properties: ['INV-2'], cfg: 2, defines: ['-DF_CRS_RESTART=0'], mode: 'ltl', ltl: 'inv2_orphan' },
  { id: 'cluster-3x3', properties: SAFETY, cfg: 4, defines: [], mode: 'bitstate', minutes: 2 },
];

export function line(r: SpinResult): string {
  const verdict = r.errors > 0 ? `FAIL (${r.error})` : r.complete ? 'ok' : 'INCOMPLETE';
  const cov = r.hashFactor !== null ? `, hash factor ${r.hashFactor}` : '';
  return `${r.id.padEnd(14)} ${r.properties.join(',').padEnd(28)} cfg ${r.cfg} ${r.mode.padEnd(8)} ${verdict.padEnd(10)} states ${r.states}, depth ${r.depth}, ${r.memoryMB} MB, pan ${r.panSeconds} s, CPU ${r.cpuSeconds} s${cov}`;
}

async function main(argv: string[]): Promise<number> {
  ensureSpin((s) => process.stdout.write(`model-check: ${s}\n`));
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
  const model = generatedModel(ROOT);
  const results: SpinResult[] = [];
  let failed = 0;
  for (const run of CHECK_RUNS) {
    if (only && run.id !== only) continue;
    const r = runSpin(model, run);
    results.push(r);
    process.stdout.write(`model-check: ${line(r)}\n`);
    if (r.errors > 0 || (!r.complete && r.mode !== 'bitstate')) failed++;
    if (r.trail) process.stdout.write(r.trail.map((l) => `    ${l}\n`).join(''));
  }
  const cpu = results.reduce((s, r) => s + r.cpuSeconds, 0);
  process.stdout.write(`model-check: ${results.length} runs, ${failed} failed, ${Math.round(cpu)} s CPU\n`);
  if (argv.includes('--record')) {
    mkdirSync(join(ROOT, 'spec/model/results'), { recursive: true });
    for (const r of results)
      writeFileSync(join(ROOT, `spec/model/results/${r.id}.json`), `${JSON.stringify(r, null, 1)}\n`);
    process.stdout.write(`model-check: wrote ${results.map((r) => `spec/model/results/${r.id}.json`).join(', ')}\n`);
  }
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
