// Codec benchmark (`make bench`, compiled by tsc: never run through tsx).
//
// Workload: a realistic mix, per 10 messages 1 LOGIN, 5 PRESENCE pushes, 3 MSG with a
// 100-octet body and 1 MSG with a 4 KiB body, fed in 64 KiB chunks. A run decodes --messages
// messages (50,000): a corpus of --corpus of them (2,000: ~1.2 MB) fed again and again, so that
// both parsers read octets that are in the CPU caches, as a server's parser reads a chunk the
// socket just copied in; the same run also gives the ratio on the whole stream fresh from memory
// (--corpus = --messages), printed as "cold". In the same process:
//   - decode: the production decoder (generated table-driven fast path);
//   - peggy: the grammar's peggy parser on each head (indexOf framing, Content-length skip);
//   - llhttp: Node's own HTTP parser (HTTPParser from _http_common) on HTTP/1.1 requests of
//     the same shape (same headers and bodies, `POST /METHOD HTTP/1.1` start lines), also
//     in 64 KiB chunks;
//   - encode: the encoder over the same messages.
// The cases run interleaved, round after round, timed in process CPU time (user + system, so
// other load on a shared machine matters less), each warmed up first; each round starts at the
// next case (the order rotates), so that no case always runs right after the same other one (the
// one after llhttp ran ~10% slower in a fixed order); each figure is the median over the rounds
// and each ratio the median of the per-round ratios.
// The run grows the process's young generation to its maximum (each scavenge frees ~16 MB), so
// decode runs there: what it allocates per message (the head's latin1 string, a [name, value]
// array and a value string per header, the message, the body view) costs more than in the small
// young generation of a decode-only process (codec/decoder.ts fastMessage).
// Usage: node dist/bench/codec.js [--messages N] [--corpus N] [--runs R] [--json]
import { createRequire } from 'node:module';
import { Decoder, encode, parseHeadWithGrammar, request, type Message } from '../codec/index.js';

const require = createRequire(import.meta.url);

interface Args {
  messages: number;
  corpus: number;
  runs: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { messages: 50_000, corpus: 2000, runs: 9, json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--messages') a.messages = Math.max(10, Number(argv[++i]));
    else if (argv[i] === '--corpus') a.corpus = Math.max(10, Number(argv[++i]));
    else if (argv[i] === '--runs') a.runs = Math.max(1, Number(argv[++i]));
    else if (argv[i] === '--json') a.json = true;
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

/**
 * Runs the cases interleaved, round after round, so that each round's ratio compares runs
 * made under the same load; returns per-case medians and the median of per-round ratios.
 */
function measure(cases: Case[], runs: number, messages: number): { rows: Row[]; ratios: number[][] } {
  for (const c of cases) {
    c.fn();
    c.fn();
  }
  const times: number[][] = cases.map(() => []);
  for (let r = 0; r < runs; r++)
    for (let j = 0; j < cases.length; j++) {
      const i = (r + j) % cases.length; // each round starts one case later
      times[i]!.push(timeOnce(cases[i]!, messages));
    }
  const rows = cases.map((c, i) => {
    const t = median(times[i]!);
    return { name: c.name, msgsPerSec: messages / t, mbPerSec: c.bytes / t / 1e6 };
  });
  return { rows, ratios: times };
}

/** A corpus of n messages: the IMSP wire, its HTTP equivalent, both in 64 KiB chunks. */
function corpus(n: number): { msgs: Message[]; wire: Buffer; http: Buffer; cs: Buffer[]; hcs: Buffer[] } {
  const msgs = workload(n);
  const wire = Buffer.concat(msgs.map((m) => encode(m)));
  const http = httpEquivalent(msgs);
  return { msgs, wire, http, cs: chunks(wire), hcs: chunks(http) };
}

export function main(argv: string[]): void {
  const args = parseArgs(argv);
  const size = Math.min(args.corpus, args.messages);
  const times = Math.ceil(args.messages / size);
  const messages = size * times;
  const warm = corpus(size);
  const cold = size === messages ? warm : corpus(messages);
  const { rows, ratios: t } = measure(
    [
      { name: 'decode (fast path)', bytes: warm.wire.length * times, fn: () => decodeRun(warm.cs, times) },
      { name: 'llhttp (same shape)', bytes: warm.http.length * times, fn: () => llhttpRun(warm.hcs, times) },
      { name: 'peggy heads + indexOf', bytes: warm.wire.length * times, fn: () => peggyRun(warm.wire, times) },
      { name: 'encode', bytes: warm.wire.length * times, fn: () => (encodeRun(warm.msgs, times), messages) },
      { name: 'decode, cold', bytes: cold.wire.length, fn: () => decodeRun(cold.cs, 1) },
      { name: 'llhttp, cold', bytes: cold.http.length, fn: () => llhttpRun(cold.hcs, 1) },
    ],
    args.runs,
    messages,
  );
  // Ratios of messages/s within each round (time of llhttp / time of ours), then the median.
  const roundRatio = (theirs: number, ours: number): number => median(t[theirs]!.map((x, r) => x / t[ours]![r]!));
  const ratio = roundRatio(1, 0);
  const peggyRatio = roundRatio(1, 2);
  const coldRatio = roundRatio(5, 4);
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({ messages, corpus: size, octets: warm.wire.length * times, httpOctets: warm.http.length * times, runs: args.runs, rows, ratio, peggyRatio, coldRatio })}\n`,
    );
    return;
  }
  const fmt = (n: number, d = 0): string =>
    n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const lines = [
    `IMSP codec benchmark: ${fmt(messages)} messages per run (per 10: 1 LOGIN, 5 PRESENCE, 3 MSG 100 B, 1 MSG 4 KiB),`,
    `a corpus of ${fmt(size)} (${fmt(warm.wire.length / 1e6, 2)} MB IMSP / ${fmt(warm.http.length / 1e6, 2)} MB HTTP) fed ${times} times, 64 KiB chunks;`,
    `cold: all ${fmt(messages)} at once (${fmt(cold.wire.length / 1e6, 1)} MB / ${fmt(cold.http.length / 1e6, 1)} MB); median of ${args.runs} rounds (process CPU time), node ${process.version}`,
    '',
    `${'codec'.padEnd(26)}${'messages/s'.padStart(14)}${'MB/s'.padStart(10)}`,
    ...rows.map((r) => `${r.name.padEnd(26)}${fmt(r.msgsPerSec).padStart(14)}${fmt(r.mbPerSec, 1).padStart(10)}`),
    '',
    `decode / llhttp (messages/s): ${fmt(ratio, 2)}x   (goal >= 3x, issue 15; median of the per-round ratios)`,
    `decode / llhttp, cold:        ${fmt(coldRatio, 2)}x   (the whole stream fresh from memory)`,
    `peggy  / llhttp (messages/s): ${fmt(peggyRatio, 2)}x`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/')))
  main(process.argv.slice(2));
