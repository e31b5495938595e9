// `make fuzz [ARGS="--runs N --seed S --workers W"]`: the long differential fuzz of the codec.
// Runs the production decoder (random chunking, default and small limits) against the
// reference decoder built from grammar/imsp.peggy on generated valid, near-valid (mutated)
// and random inputs, N cases in total (default 1,000,000), and the records parsers likewise.
// Any disagreement, or any error that is not an ImspError, is printed with its seed and path
// (fast-check shrinks it) and the exit status is 1.
//
// Started through tsx (as `make fuzz` does), it first compiles itself with tsc into
// dist/fuzz/ and runs W compiled workers (default: one per CPU) with seeds S, S+1, ...:
// code run through tsx is several times slower, the peggy parser most of all.
import fc from 'fast-check';
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import {
  decodeWithGrammar,
  encodeRecords,
  parseRecords,
  parseRecordsWithGrammar,
  ImspError,
} from '../../codec/index.js';
import { stream, nearValid, chunking, smallLimits, fastOutcome, headerName, headerValue } from './arbitraries.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
}

const runs = arg('--runs', 1_000_000);
const seed = arg('--seed', Date.now() & 0x7fffffff);
const workers = Math.max(1, arg('--workers', availableParallelism()));
const counts = new Map<string, number>();

const input = fc.oneof(
  { weight: 2, arbitrary: stream.map((s) => s.wire) },
  { weight: 6, arbitrary: nearValid },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
);

const wireProperty = fc.property(input, chunking, fc.boolean(), (wire, sizes, small) => {
  const limits = small ? smallLimits : undefined;
  const ref = decodeWithGrammar(wire, { limits });
  const fast = fastOutcome(wire, sizes, limits);
  const want = { messages: ref.messages, error: ref.error && { code: ref.error.code, offset: ref.error.offset } };
  const key = fast.error?.code ?? 'ok';
  counts.set(key, (counts.get(key) ?? 0) + 1);
  return isDeepStrictEqual(fast, want);
});

const records = fc.array(fc.array(fc.tuple(headerName, headerValue), { minLength: 1, maxLength: 4 }), { maxLength: 4 });
const recordsInput = fc.oneof(
  records.map((r) => encodeRecords(r)),
  fc.tuple(records, fc.nat(), fc.constantFrom('\r', '\n', '\r\n', ' ', ':', '\x80', '\t', '')).map(([rs, at, ins]) => {
    const s = encodeRecords(rs).toString('latin1');
    const i = s.length ? at % s.length : 0;
    return Buffer.from(s.slice(0, i) + ins + s.slice(i + (ins === '' ? 1 : 0)), 'latin1');
  }),
);
const outcome = (f: () => unknown): unknown => {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof ImspError)) throw e;
    return e.code;
  }
};
const recordsProperty = fc.property(recordsInput, (body) =>
  isDeepStrictEqual(
    outcome(() => parseRecords(body)),
    outcome(() => parseRecordsWithGrammar(body)),
  ),
);

function run(name: string, prop: fc.IRawProperty<unknown, false>, n: number): boolean {
  const t0 = Date.now();
  const r = fc.check(prop, { numRuns: n, seed });
  const secs = (Date.now() - t0) / 1000;
  if (r.failed) {
    process.stderr.write(
      `${name}: FAILED after ${r.numRuns} runs (seed ${r.seed}, path ${r.counterexamplePath ?? ''})\n`,
    );
    process.stderr.write(`${fc.stringify(r.counterexample)}\n${r.errorInstance ? String(r.errorInstance) : ''}\n`);
    return false;
  }
  process.stdout.write(
    `${name}: ${n.toLocaleString('en-US')} cases agree (seed ${seed}, ${secs.toFixed(1)} s, ${Math.round(n / secs).toLocaleString('en-US')}/s)\n`,
  );
  return true;
}

function fuzzHere(): void {
  const okWire = run('fast path == grammar (messages)', wireProperty, runs);
  process.stdout.write(
    `  outcomes: ${[...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}\n`,
  );
  const okRecords = run('fast path == grammar (records)', recordsProperty, Math.max(1, Math.floor(runs / 10)));
  process.exitCode = okWire && okRecords ? 0 : 1;
}

/** Compiles this file with tsc into dist/fuzz and runs the workers there. */
async function compileAndRun(): Promise<void> {
  const out = 'dist/fuzz';
  process.stdout.write(`compiling the fuzzer into ${out}/ ...\n`);
  const tsc = spawnSync(
    process.execPath,
    [
      'node_modules/typescript/bin/tsc',
      '--target',
      'ES2022',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--lib',
      'ES2023',
      '--types',
      'node',
      '--strict',
      '--skipLibCheck',
      '--rootDir',
      '.',
      '--outDir',
      out,
      'test/codec/fuzz-long.ts',
    ],
    { stdio: 'inherit' },
  );
  if (tsc.status !== 0) {
    process.exitCode = 1;
    return;
  }
  writeFileSync(`${out}/package.json`, '{"type": "module"}\n');
  const per = Math.ceil(runs / workers);
  process.stdout.write(
    `${workers} workers x ${per.toLocaleString('en-US')} cases, seeds ${seed}..${seed + workers - 1}\n`,
  );
  const codes = await Promise.all(
    Array.from(
      { length: workers },
      (_, k) =>
        new Promise<number>((resolve) => {
          const child = spawn(
            process.execPath,
            [`${out}/test/codec/fuzz-long.js`, '--runs', String(per), '--seed', String(seed + k)],
            {
              stdio: 'inherit',
              env: { ...process.env, IMSP_FUZZ_WORKER: '1' },
            },
          );
          child.on('close', (code) => resolve(code ?? 1));
        }),
    ),
  );
  process.exitCode = codes.every((c) => c === 0) ? 0 : 1;
}

if (process.env.IMSP_FUZZ_WORKER === '1' || process.argv.includes('--here')) fuzzHere();
else await compileAndRun();
