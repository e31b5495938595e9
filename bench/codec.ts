// Codec benchmark (`make bench`, compiled by tsc: never run through tsx).
//
// Workload: a realistic mix, per 10 messages 1 LOGIN, 5 PRESENCE pushes, 3 MSG with a
// 100-octet body and 1 MSG with a 4 KiB body, fed in 64 KiB chunks. In the same process:
//   - decode: the production decoder (generated table-driven fast path);
//   - peggy: the grammar's peggy parser on each head (indexOf framing, Content-length skip);
//   - llhttp: Node's own HTTP parser (HTTPParser from _http_common) on HTTP/1.1 requests of
//     the same shape (same headers and bodies, `POST /METHOD HTTP/1.1` start lines), also
//     in 64 KiB chunks;
//   - encode: the encoder over the same messages.
// The cases run interleaved, round after round, timed in process CPU time (user + system, so
// other load on a shared machine matters less); each figure is the median over the rounds and
// each ratio the median of the per-round ratios.
// Usage: node dist/bench/codec.js [--messages N] [--runs R] [--json]
import { createRequire } from 'node:module';
import { Decoder, encode, parseHeadWithGrammar, request, type Message } from '../codec/index.js';

const require = createRequire(import.meta.url);

interface Args {
  messages: number;
  runs: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { messages: 50_000, runs: 7, json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--messages') a.messages = Math.max(10, Number(argv[++i]));
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

function decodeRun(cs: readonly Buffer[]): number {
  const d = new Decoder();
  let n = 0;
  for (const c of cs) n += d.push(c).length;
  d.end();
  return n;
}

/** The peggy head parser with indexOf framing (bodies skipped by Content-length). */
function peggyRun(wire: Buffer): number {
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

function llhttpRun(cs: readonly Buffer[]): number {
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
  for (const c of cs) {
    const r = p.execute(c);
    if (r instanceof Error) throw r;
  }
  p.finish();
  return bodyBytes >= 0 ? n : -1;
}

function encodeRun(msgs: readonly Message[]): number {
  let bytes = 0;
  for (const m of msgs) bytes += encode(m).length;
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
  for (let r = 0; r < runs; r++) cases.forEach((c, i) => times[i]!.push(timeOnce(c, messages)));
  const rows = cases.map((c, i) => {
    const t = median(times[i]!);
    return { name: c.name, msgsPerSec: messages / t, mbPerSec: c.bytes / t / 1e6 };
  });
  return { rows, ratios: times };
}

export function main(argv: string[]): void {
  const args = parseArgs(argv);
  const msgs = workload(args.messages);
  const wire = Buffer.concat(msgs.map((m) => encode(m)));
  const http = httpEquivalent(msgs);
  const cs = chunks(wire);
  const hcs = chunks(http);
  const { rows, ratios: times } = measure(
    [
      { name: 'decode (fast path)', bytes: wire.length, fn: () => decodeRun(cs) },
      { name: 'llhttp (same shape)', bytes: http.length, fn: () => llhttpRun(hcs) },
      { name: 'peggy heads + indexOf', bytes: wire.length, fn: () => peggyRun(wire) },
      { name: 'encode', bytes: wire.length, fn: () => (encodeRun(msgs), msgs.length) },
    ],
    args.runs,
    msgs.length,
  );
  // Ratios of messages/s within each round (time of llhttp / time of ours), then the median.
  const roundRatio = (ours: number): number => median(times[1]!.map((t, r) => t / times[ours]![r]!));
  const ratio = roundRatio(0);
  const peggyRatio = roundRatio(2);
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({ messages: msgs.length, octets: wire.length, httpOctets: http.length, runs: args.runs, rows, ratio, peggyRatio })}\n`,
    );
    return;
  }
  const fmt = (n: number, d = 0): string =>
    n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const lines = [
    `IMSP codec benchmark: ${fmt(msgs.length)} messages per run (per 10: 1 LOGIN, 5 PRESENCE, 3 MSG 100 B, 1 MSG 4 KiB),`,
    `${fmt(wire.length / 1e6, 1)} MB IMSP / ${fmt(http.length / 1e6, 1)} MB HTTP, 64 KiB chunks, median of ${args.runs} runs (process CPU time), node ${process.version}`,
    '',
    `${'codec'.padEnd(26)}${'messages/s'.padStart(14)}${'MB/s'.padStart(10)}`,
    ...rows.map((r) => `${r.name.padEnd(26)}${fmt(r.msgsPerSec).padStart(14)}${fmt(r.mbPerSec, 1).padStart(10)}`),
    '',
    `decode / llhttp (messages/s): ${fmt(ratio, 2)}x   (goal >= 3x, issue 15; median of the per-round ratios)`,
    `peggy  / llhttp (messages/s): ${fmt(peggyRatio, 2)}x`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/')))
  main(process.argv.slice(2));
