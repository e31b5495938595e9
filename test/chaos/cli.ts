// `make chaos` (issue 14): the fault campaign of chaos.ts from the command line.
//
//   node --import tsx test/chaos/cli.ts [--minutes N] [--seed S] [--short] [--stores sqlite,postgres]
//                                       [--users N] [--source] [--out DIR]
//
// Prints progress, then the table per fault kind; writes DIR/chaos-<seed>.json and .md (default DIR
// reports/). Exit status 0 when there was no violation, 1 otherwise, 130 after SIGINT. Every process
// it started is stopped on every exit path.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos, table, type StoreKind } from './chaos.js';
import { killAll } from './procs.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '20' },
    seed: { type: 'string' },
    short: { type: 'boolean', default: false },
    stores: { type: 'string', default: 'sqlite,postgres' },
    users: { type: 'string' },
    source: { type: 'boolean', default: false },
    out: { type: 'string', default: 'reports' },
  },
});

const minutes = Number(values.minutes);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const stores = values.stores!.split(',').filter(Boolean) as StoreKind[];
if (
  !Number.isFinite(minutes) ||
  minutes <= 0 ||
  !Number.isInteger(seed) ||
  stores.some((s) => s !== 'sqlite' && s !== 'postgres')
) {
  process.stderr.write(
    'usage: chaos [--minutes N>0] [--seed INT] [--short] [--stores sqlite,postgres] [--users N] [--source] [--out DIR]\n',
  );
  process.exit(2);
}

// a closed stdout (`| head`) must not end the run before it has stopped what it started
process.stdout.on('error', () => undefined);
const abort = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) {
    killAll();
    process.exit(130);
  }
  interrupted = true;
  process.stderr.write('chaos: interrupted, stopping everything (again to force)\n');
  abort.abort();
});
process.on('SIGTERM', () => abort.abort());

const t = (): string => new Date().toISOString().slice(11, 19);
process.stdout.write(
  `chaos: seed ${seed}, ${values.short ? 'short' : `${minutes} min`}, stores ${stores.join(', ')}\n`,
);
const report = await runChaos({
  minutes,
  seed,
  short: values.short,
  stores,
  users: values.users !== undefined ? Number(values.users) : undefined,
  compiled: !values.source,
  signal: abort.signal,
  log: (line) => process.stdout.write(`${t()} ${line}\n`),
});
const md = [
  `# make chaos: seed ${seed}, ${report.short ? 'short' : `${minutes} min`}, ${report.startedAt} to ${report.endedAt}`,
  '',
  `Load average at start ${report.loadavg.start.map((x) => x.toFixed(2)).join(' ')}, at end ${report.loadavg.end.map((x) => x.toFixed(2)).join(' ')}.`,
  `Bounds: reconnect ${report.bounds.reconnectMs} ms, converge ${report.bounds.convergeMs} ms.`,
  '',
  table(report.rows),
  '',
  ...Object.entries(report.perStore).flatMap(([k, rows]) => [`${k}:`, '', table(rows), '']),
  `Workload: ${JSON.stringify(report.workload)}`,
  '',
  `Violations: ${report.violations.length}`,
  ...report.violations.map((v) => `- ${v}`),
  '',
].join('\n');
mkdirSync(values.out!, { recursive: true });
writeFileSync(join(values.out!, `chaos-${seed}.json`), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(join(values.out!, `chaos-${seed}.md`), md);
process.stdout.write(`\n${md}\nwritten: ${join(values.out!, `chaos-${seed}.json`)} and .md\n`);
process.exit(interrupted ? 130 : report.violations.length === 0 ? 0 : 1);
