// `make model-mutants` (issue 18): plants faults in the model and expects Spin to find each one.
// A mutant is either a changed state machine (spec/machines/*.json as the generator reads it, so the
// generated model changes as a spec change would change it) or a rule switched off in the template
// (a -D flag). Each names the property that must catch it; a mutant Spin does not catch fails the run.
//
//   node --import tsx spec/model/mutants.ts [--record] [--only <id>]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promelaModel } from '../../grammar/codegen/gen-model.js';
import type { MachineSpec } from '../../grammar/codegen/gen-machines.js';
import { MODEL_MACHINES } from '../../grammar/codegen/model/steps.js';
import { ensureSpin, runSpin, type SpinResult, type SpinRun } from './spin.js';
import { line } from './check.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ModelMutant {
  id: string;
  text: string;
  /** Changes the machines before the model is generated. */
  machines?: (ms: Map<string, MachineSpec>) => void;
  run: SpinRun;
  /** The property Spin must report. */
  expect: string;
}

function transition(ms: Map<string, MachineSpec>, machine: string, name: string): MachineSpec['transitions'][number] {
  const t = ms.get(machine)?.transitions.find((x) => x.name === name);
  if (!t) throw new Error(`mutant: no transition ${machine}/${name}`);
  return t;
}

export const MUTANTS: ModelMutant[] = [
  {
    id: 'fencing-off',
    text: 'The CRS does not check the Epoch and holder (user-record: the guard fenced removed from unlock, online, status and offline).',
    machines: (ms) => {
      for (const n of ['unlock', 'online', 'status', 'offline']) delete transition(ms, 'user-record', n).guard;
    },
    run: {
      id: 'mut-fencing-off',
      properties: ['INV-8'],
      cfg: 2,
      defines: ['-DF_CRASH=0', '-DF_MS_LEASE=0', '-DF_CRS_RESTART=0', '-DF_HANG=0'],
      mode: 'safety',
    },
    expect: 'INV-8',
  },
  {
    id: 'lease-never-expires',
    text: 'The lock lease never runs out (the lockLease timer is gone).',
    run: {
      id: 'mut-lease',
      properties: ['INV-2'],
      cfg: 2,
      defines: ['-DMUT_LEASE_NEVER_RUNS_OUT', '-DF_CRASH=0', '-DF_MS_LEASE=0', '-DF_CRS_RESTART=0', '-DF_VANISH=0'],
      mode: 'ltl',
      ltl: 'inv2_orphan',
    },
    expect: 'INV-2',
  },
  {
    id: 'presence-before-fix',
    text: 'The bundle/push ordering of the reference before the presence fix: the client applies the bundle after opening the key blob, drops a PRESENCE about a user not yet in its list meanwhile, then loads the older bundle over it.',
    run: {
      id: 'mut-presence',
      properties: ['INV-3'],
      cfg: 1,
      defines: ['-DCLIENT_RULE=1', '-DFAULTS=0'],
      mode: 'safety',
    },
    expect: 'INV-3',
  },
  {
    id: 'grant-one-sided',
    text: 'A grant makes only the requester a buddy (buddy-relation: grant leads to none).',
    machines: (ms) => {
      transition(ms, 'buddy-relation', 'grant').to = 'none';
    },
    run: { id: 'mut-grant', properties: ['INV-9'], cfg: 3, defines: [], mode: 'safety' },
    expect: 'INV-9',
  },
  {
    id: 'bundle-without-adds',
    text: 'The login bundle leaves out the pending ADDs.',
    run: {
      id: 'mut-bundle-adds',
      properties: ['INV-4'],
      cfg: 3,
      defines: ['-DMUT_BUNDLE_WITHOUT_ADDS'],
      mode: 'safety',
    },
    expect: 'INV-4',
  },
  {
    id: 'ms-ignores-contact',
    text: 'The MS forwards CONTACT without applying it to its copy of the contact list (CONTACT-1), so it filters later PRESENCE with a stale list.',
    run: { id: 'mut-ms-contact', properties: ['INV-3'], cfg: 3, defines: ['-DMUT_MS_IGNORES_CONTACT'], mode: 'safety' },
    expect: 'INV-3',
  },
];

export function mutantModel(mut: ModelMutant): string {
  const files = Object.keys(MODEL_MACHINES).map((n) => `spec/machines/${n}.json`);
  const ms = new Map<string, MachineSpec>();
  for (const f of files) {
    const m = JSON.parse(readFileSync(join(ROOT, f), 'utf8')) as MachineSpec;
    ms.set(m.name, m);
  }
  mut.machines?.(ms);
  return promelaModel([...ms.values()], { lenient: true });
}

/** Which property a failed run reports: the Monitor prints VIOLATION INV-n; INV-8 is an assert; an LTL run's cycle is its property. */
export function caughtAs(r: SpinResult): string | null {
  if (r.errors === 0) return null;
  const v = r.trail?.map((l) => /VIOLATION (INV-\d+)/.exec(l)?.[1]).find((x) => x);
  if (v) return v;
  if (r.error && /g_live|g_ep/.test(r.error)) return 'INV-8';
  if (r.mode === 'ltl') return 'INV-2';
  return r.error;
}

async function main(argv: string[]): Promise<number> {
  ensureSpin((s) => process.stdout.write(`model-mutants: ${s}\n`));
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
  const out: Array<{ mutant: string; text: string; expect: string; caughtAs: string | null; result: SpinResult }> = [];
  let missed = 0;
  for (const mut of MUTANTS) {
    if (only && mut.id !== only) continue;
    const r = runSpin(mutantModel(mut), mut.run);
    const as = caughtAs(r);
    const ok = as === mut.expect;
    if (!ok) missed++;
    out.push({ mutant: mut.id, text: mut.text, expect: mut.expect, caughtAs: as, result: r });
    process.stdout.write(
      `model-mutants: ${mut.id.padEnd(22)} ${ok ? 'caught' : 'MISSED'} as ${as ?? '-'} (expected ${mut.expect}); ${line(r)}\n`,
    );
  }
  process.stdout.write(`model-mutants: ${out.length - missed}/${out.length} caught\n`);
  if (argv.includes('--record')) {
    writeFileSync(join(ROOT, 'spec/model/mutants.json'), `${JSON.stringify({ mutants: out }, null, 1)}\n`);
    process.stdout.write('model-mutants: wrote spec/model/mutants.json\n');
  }
  return missed > 0 ? 1 : 0;
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
