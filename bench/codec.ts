// Codec benchmark (`make bench`, compiled by tsc: never run through tsx).
//
// Workload: a realistic mix, per 10 messages 1 LOGIN, 5 PRESENCE pushes, 3 MSG with a
// 100-octet body and 1 MSG with a 4 KiB body, fed in 64 KiB chunks. A run decodes --messages
// messages (50,000): a corpus of --corpus of them (2,000: ~1.2 MB) fed again and again, so that
// both parsers read octets that are in the CPU caches, as a server's parser reads a chunk the
// socket just copied in; the same run also gives the ratio on the whole stream fresh from memory
// (--corpus = --messages), printed as "cold". The cases:
//   - decode: the production decoder (generated table-driven fast path);
//   - peggy: the grammar's peggy parser on each head (indexOf framing, Content-length skip);
//   - llhttp: Node's own HTTP parser (HTTPParser from _http_common) on HTTP/1.1 requests of
//     the same shape (same headers and bodies, `POST /METHOD HTTP/1.1` start lines), also
//     in 64 KiB chunks;
//   - encode: the encoder over the same messages.
// Each case runs in a process of its own, as a parser runs in a server (Appendix A.8): round after
// round, one child process per case (`--child CASE`), which builds the corpus, warms the case up
// and times --reps runs of it; the order of the cases rotates each round. A run is timed in process
// CPU time (user + system of every thread: the garbage collector's helper threads work for the
// parser too; other load on a shared machine matters less than in wall time); a case's figure in a
// round is the median of its child's runs, each figure printed is the median over the rounds, and
// each ratio the median of the per-round ratios, so that a ratio compares runs made under the same
// load. Why not one process: there the cases change each other's speed. In one process llhttp ran
// 607,000 messages/s alone and 674,000-799,000 beside any one other case, decode 2.4-2.5 M alone
// and 1.7-1.8 M beside llhttp (2026-12-07, load 3-4); why is not known (not the young generation's
// size, not background GC threads alone: the main thread's CPU time shows it too). The one-process
// figures are printed too (--no-one-process skips them).
// Usage: node dist/bench/codec.js [--messages N] [--corpus N] [--runs R] [--reps K] [--no-one-process] [--json]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Decoder, encode, parseHeadWithGrammar, request, type Message } from '../codec/index.js';

const require = createRequire(import.meta.url);

interface Args {
  messages: number;
  corpus: number;
  runs: number;
  reps: number;
  oneProcess: boolean;
  json: boolean;
  /** The case a child process times (`--child NAME`), or null in the parent. */
  child: CaseName | null;
}

/** The cases, in the order of the table; a child process times one of them. */
const CASE_NAMES = ['decode', 'llhttp', 'peggy', 'encode', 'decode-cold', 'llhttp-cold'] as const;
type CaseName = (typeof CASE_NAMES)[number];
const LABELS: Record<CaseName, string> = {
  decode: 'decode (fast path)',
  llhttp: 'llhttp (same shape)',
  peggy: 'peggy heads + indexOf',
  encode: 'encode',
  'decode-cold': 'decode, cold',
  'llhttp-cold': 'llhttp, cold',
};
const isCaseName = (s: string | undefined): s is CaseName => (CASE_NAMES as readonly string[]).includes(s ?? '');

function parseArgs(argv: string[]): Args {
  const a: Args = { messages: 50_000, corpus: 2000, runs: 9, reps: 3, oneProcess: true, json: false, child: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--messages') a.messages = Math.max(10, Number(argv[++i]));
    else if (argv[i] === '--corpus') a.corpus = Math.max(10, Number(argv[++i]));
    else if (argv[i] === '--runs') a.runs = Math.max(1, Number(argv[++i]));
    else if (argv[i] === '--reps') a.reps = Math.max(1, Number(argv[++i]));
    else if (argv[i] === '--no-one-process') a.oneProcess = false;
    else if (argv[i] === '--json') a.json = true;
    else if (argv[i] === '--child') {
      const name = argv[++i];
      if (!isCaseName(name)) throw new Error(`--child: one of ${CASE_NAMES.join(', ')}`);
      a.child = name;
    }
  }
  return a;
}

const b64 = (n: number, seed: number): string =>
  Buffer.alloc(n, seed)
    .toString('base64url')
    .slice(0, Math.ceil((n * 4) / 3));
const KEY = `${b64(32, 1)}.${b64(32, 2)}`;

/** The mix, cycled: 1 LOGIN, 5 PRESENCE, 3 MSG (100 octets), 1 MSG (4 KiB) per 10. */
export function workload(n: number): Message[] {
  const small = Buffer.alloc(100, 0x61);
  const large = Buffer.alloc(4096, 0x62);
  const out: Message[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    const user = `user${i % 997}`;
    if (k === 0) {
      out.push(
        request('LOGIN', {
          'Imsp-version': 1,
          User: user,
          Nonce: b64(18, i & 255),
          'Key-share': b64(32, 3),
          Address: '10.1.2.3:7200',
          Tag: `t${i}`,
        }),
      );
    } else if (k <= 5) {
      out.push(request('PRESENCE', { User: user, Status: 'online', Address: '10.1.2.3:7200', 'Public-key': KEY }));
    } else {
      const body = k === 9 ? large : small;
      out.push(
        request(
          'MSG',
          {
            From: user,
            To: 'alice',
            'Content-type': 'text/plain; charset=utf-8',
            Tag: `m${i}`,
            'Content-length': body.length,
          },
          body,
        ),
      );
    }
  }
  return out;
}

/** The same messages as HTTP/1.1 requests: `POST /METHOD HTTP/1.1`, same headers and body. */
function httpEquivalent(msgs: readonly Message[]): Buffer {
  return Buffer.concat(
    msgs.map((m) => {
      if (m.kind !== 'request') throw new Error('requests only');
      let head = `POST /${m.method} HTTP/1.1\r\n`;
      let hasLength = false;
      for (const [n, v] of m.headers) {
        head += `${n}: ${v}\r\n`;
        if (n.toLowerCase() === 'content-length') hasLength = true;
      }
      if (!hasLength) head += 'Content-Length: 0\r\n';
      return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), m.body]);
    }),
  );
}

function chunks(buf: Buffer, size = 65536): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Decodes the chunks `times` times over, as one stream. */
function decodeRun(cs: readonly Buffer[], times: number): number {
  const d = new Decoder();
  let n = 0;
  for (let t = 0; t < times; t++) for (const c of cs) n += d.push(c).length;
  d.end();
  return n;
}

/** The peggy head parser with indexOf framing (bodies skipped by Content-length). */
function peggyRun(wire: Buffer, times: number): number {
  let n = 0;
  for (let t = 0; t < times; t++) n += peggyOnce(wire);
  return n;
}

function peggyOnce(wire: Buffer): number {
  let pos = 0;
  let n = 0;
  while (pos < wire.length) {
    const end = wire.indexOf('\r\n\r\n', pos, 'latin1');
    const head = parseHeadWithGrammar(wire.toString('latin1', pos, end + 4));
    const cl = head.headers.find((h) => h.name.toLowerCase() === 'content-length');
    pos = end + 4 + (cl ? Number(cl.value) : 0);
    n++;
  }
  return n;
}

interface HttpParserCtor {
  new (): HttpParser;
  REQUEST: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnHeaders: number;
}
interface HttpParser {
  initialize(type: number, resource: object): void;
  execute(b: Buffer): number | Error;
  finish(): void;
  [k: number]: unknown;
}

function llhttpRun(cs: readonly Buffer[], times: number): number {
  const { HTTPParser } = require('_http_common') as { HTTPParser: HttpParserCtor };
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {});
  let n = 0;
  let bodyBytes = 0;
  p[HTTPParser.kOnHeaders] = () => undefined;
  p[HTTPParser.kOnHeadersComplete] = () => 0;
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    bodyBytes += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    n++;
  };
  for (let t = 0; t < times; t++)
    for (const c of cs) {
      const r = p.execute(c);
      if (r instanceof Error) throw r;
    }
  p.finish();
  return bodyBytes >= 0 ? n : -1;
}

function encodeRun(msgs: readonly Message[], times: number): number {
  let bytes = 0;
  for (let t = 0; t < times; t++) for (const m of msgs) bytes += encode(m).length;
  return bytes;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  name: string;
  msgsPerSec: number;
  mbPerSec: number;
}

interface Case {
  name: string;
  bytes: number;
  fn: () => number;
}

/** CPU seconds (user + system) of one call; checks the message count. */
function timeOnce(c: Case, messages: number): number {
  const c0 = process.cpuUsage();
  const n = c.fn();
  const d = process.cpuUsage(c0);
  if (n !== messages) throw new Error(`${c.name}: ${n} messages, expected ${messages}`);
  return (d.user + d.system) / 1e6;
}

/** A corpus of n messages: the IMSP wire, its HTTP equivalent, both in 64 KiB chunks. */
function corpus(n: number): { msgs: Message[]; wire: Buffer; http: Buffer; cs: Buffer[]; hcs: Buffer[] } {
  const msgs = workload(n);
  const wire = Buffer.concat(msgs.map((m) => encode(m)));
  const http = httpEquivalent(msgs);
  return { msgs, wire, http, cs: chunks(wire), hcs: chunks(http) };
}

/** The sizes of a run: the corpus, how often it is fed, and the messages per run. */
function sizes(args: Args): { size: number; times: number; messages: number } {
  const size = Math.min(args.corpus, args.messages);
  const times = Math.ceil(args.messages / size);
  return { size, times, messages: size * times };
}

/** The named cases over corpora built here (the cold corpus only when a cold case is asked for). */
function buildCases(args: Args, names: readonly CaseName[]): Case[] {
  const { size, times, messages } = sizes(args);
  const warm = corpus(size);
  const needCold = names.some((n) => n.endsWith('-cold'));
  const cold = size === messages || !needCold ? warm : corpus(messages);
  const all: Record<CaseName, Omit<Case, 'name'>> = {
    decode: { bytes: warm.wire.length * times, fn: () => decodeRun(warm.cs, times) },
    llhttp: { bytes: warm.http.length * times, fn: () => llhttpRun(warm.hcs, times) },
    peggy: { bytes: warm.wire.length * times, fn: () => peggyRun(warm.wire, times) },
    encode: { bytes: warm.wire.length * times, fn: () => (encodeRun(warm.msgs, times), messages) },
    'decode-cold': { bytes: cold.wire.length, fn: () => decodeRun(cold.cs, 1) },
    'llhttp-cold': { bytes: cold.http.length, fn: () => llhttpRun(cold.hcs, 1) },
  };
  return names.map((n) => ({ name: LABELS[n], ...all[n] }));
}

/** What a child process prints: its case's bytes per run and the CPU seconds of each timed run. */
interface ChildResult {
  bytes: number;
  seconds: number[];
}

/** In a child process: warm the one case up, time --reps runs of it, print them as JSON. */
function childMain(args: Args, name: CaseName): void {
  const { messages } = sizes(args);
  const [c] = buildCases(args, [name]);
  c!.fn();
  c!.fn();
  const seconds = Array.from({ length: args.reps }, () => timeOnce(c!, messages));
  const out: ChildResult = { bytes: c!.bytes, seconds };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Runs one case in a fresh child process of this script; its median run and its bytes per run. */
function inChild(args: Args, name: CaseName): { seconds: number; bytes: number } {
  const out = execFileSync(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      '--child',
      name,
      '--messages',
      String(args.messages),
      '--corpus',
      String(args.corpus),
      '--reps',
      String(args.reps),
    ],
    { encoding: 'utf8', timeout: 300_000 },
  );
  const r = JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
  return { seconds: median(r.seconds), bytes: r.bytes };
}

/** Per-case times over the rounds (seconds, round by round) and the table rows from their medians. */
interface Measured {
  rows: Row[];
  times: number[][];
  /** Octets per run of each case. */
  bytes: number[];
}

function rowsOf(names: readonly string[], bytes: readonly number[], times: number[][], messages: number): Row[] {
  return names.map((name, i) => {
    const t = median(times[i]!);
    return { name, msgsPerSec: messages / t, mbPerSec: bytes[i]! / t / 1e6 };
  });
}

/**
 * A process per case (Appendix A.8): round after round, each case in a fresh child process, the
 * order rotating each round so that no case always starts right after the same other one.
 */
function measureInChildren(args: Args): Measured {
  const { messages } = sizes(args);
  const times: number[][] = CASE_NAMES.map(() => []);
  const bytes: number[] = CASE_NAMES.map(() => 0);
  for (let r = 0; r < args.runs; r++)
    for (let j = 0; j < CASE_NAMES.length; j++) {
      const i = (r + j) % CASE_NAMES.length;
      const got = inChild(args, CASE_NAMES[i]!);
      times[i]!.push(got.seconds);
      bytes[i] = got.bytes;
    }
  return {
    rows: rowsOf(
      CASE_NAMES.map((n) => LABELS[n]),
      bytes,
      times,
      messages,
    ),
    times,
    bytes,
  };
}

/**
 * Every case in this one process, interleaved round after round (the method before session 10,
 * printed for comparison): each case warmed up, then one run per case per round, the order rotating.
 */
function measureInOneProcess(args: Args): Measured {
  const { messages } = sizes(args);
  const cases = buildCases(args, CASE_NAMES);
  for (const c of cases) {
    c.fn();
    c.fn();
  }
  const times: number[][] = cases.map(() => []);
  for (let r = 0; r < args.runs; r++)
    for (let j = 0; j < cases.length; j++) {
      const i = (r + j) % cases.length; // each round starts one case later
      times[i]!.push(timeOnce(cases[i]!, messages));
    }
  return {
    rows: rowsOf(
      cases.map((c) => c.name),
      cases.map((c) => c.bytes),
      times,
      messages,
    ),
    times,
    bytes: cases.map((c) => c.bytes),
  };
}

/** Ratios of messages/s within each round (time of theirs / time of ours), then the median. */
function ratios(t: number[][]): { ratio: number; peggyRatio: number; coldRatio: number } {
  const at = (n: CaseName): number[] => t[CASE_NAMES.indexOf(n)]!;
  const roundRatio = (theirs: CaseName, ours: CaseName): number => median(at(theirs).map((x, r) => x / at(ours)[r]!));
  return {
    ratio: roundRatio('llhttp', 'decode'),
    peggyRatio: roundRatio('llhttp', 'peggy'),
    coldRatio: roundRatio('llhttp-cold', 'decode-cold'),
  };
}

export function main(argv: string[]): void {
  const args = parseArgs(argv);
  if (args.child !== null) {
    childMain(args, args.child);
    return;
  }
  const { size, times, messages } = sizes(args);
  const own = measureInChildren(args);
  const { ratio, peggyRatio, coldRatio } = ratios(own.times);
  const one = args.oneProcess ? measureInOneProcess(args) : null;
  const oneRatios = one ? ratios(one.times) : null;
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({
        messages,
        corpus: size,
        runs: args.runs,
        reps: args.reps,
        method: 'a process per case',
        rows: own.rows,
        ratio,
        peggyRatio,
        coldRatio,
        ...(one && oneRatios ? { oneProcess: { rows: one.rows, ...oneRatios } } : {}),
      })}\n`,
    );
    return;
  }
  const fmt = (n: number, d = 0): string =>
    n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const table = (rows: Row[]): string[] => [
    `${'codec'.padEnd(26)}${'messages/s'.padStart(14)}${'MB/s'.padStart(10)}`,
    ...rows.map((r) => `${r.name.padEnd(26)}${fmt(r.msgsPerSec).padStart(14)}${fmt(r.mbPerSec, 1).padStart(10)}`),
  ];
  const lines = [
    `IMSP codec benchmark: ${fmt(messages)} messages per run (per 10: 1 LOGIN, 5 PRESENCE, 3 MSG 100 B, 1 MSG 4 KiB),`,
    `a corpus of ${fmt(size)} (${fmt(own.bytes[0]! / times / 1e6, 2)} MB IMSP) fed ${times} times, 64 KiB chunks; cold: all ${fmt(messages)} at once;`,
    `${args.runs} rounds, each case in a process of its own (median of ${args.reps} runs after 2 warm-ups), process CPU time, node ${process.version}`,
    '',
    ...table(own.rows),
    '',
    `decode / llhttp (messages/s): ${fmt(ratio, 2)}x   (goal >= 3x, issue 15; median of the per-round ratios)`,
    `decode / llhttp, cold:        ${fmt(coldRatio, 2)}x   (the whole stream fresh from memory)`,
    `peggy  / llhttp (messages/s): ${fmt(peggyRatio, 2)}x`,
  ];
  if (one && oneRatios)
    lines.push(
      '',
      'The same cases interleaved in one process (the method before session 10; there the cases change',
      "each other's speed, Appendix A.8):",
      ...table(one.rows),
      `decode / llhttp: ${fmt(oneRatios.ratio, 2)}x, cold ${fmt(oneRatios.coldRatio, 2)}x`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/')))
  main(process.argv.slice(2));
