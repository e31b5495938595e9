// The kit's fuzzers driven at scale (issue 14, `make fuzz-roles`): hostile inputs drawn from the wire
// fuzzer (lib/wire-fuzz.ts: valid, near-valid, mutated and octet-class inputs, split writes, FIN and
// reset) and from a state fuzzer that pipelines random sequences of registered requests, in any order
// and any state, on one connection; delivered over many concurrent loopback connections in batches.
// Judged here: the target never crashes (its process stays up), never hangs (every connection is
// answered or closed, and a probe connection is served all along), and its memory stays bounded.
// Correctness of each answer is the kit cases' business (crs/fuzz/1, ms/fuzz/1, ...).
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Decoder, decode, encode, request, type Header, type Message } from '../../codec/index.js';
import { b64 } from './crypto.js';
import { HEADER_LIST, METHOD_LIST, type Limits } from './registry.js';
import { wireInput } from './wire-fuzz.js';
import type { WireTarget } from './wire-target.js';

/** One connection's worth of hostile input. */
export interface Job {
  /** Octets per write. */
  writes: Buffer[];
  /** How many hostile inputs the job carries (1 for a wire input, one per message for a sequence). */
  inputs: number;
  after: 'fin' | 'reset';
  kind: 'sequence' | 'pipeline';
  /** The job opens with the target's harmless first message (its answer is not a hostile input's). */
  first?: boolean;
}

const tokenUnit = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split(''));
const value = (names: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: tokenUnit, minLength: 1, maxLength: 16 }),
    fc.nat({ max: 2 ** 31 }).map(String),
    fc.constantFrom('0', '-1', '18446744073709551616', 'online', 'away', 'busy', 'offline', 'grant', 'deny', '', ' '),
    fc.uint8Array({ minLength: 1, maxLength: 48 }).map((u) => b64(Buffer.from(u))),
    fc.constantFrom(...names),
  );

/**
 * The state fuzzer at scale: the target's harmless first message (or not), then 1..12 requests of
 * any registered method that some peer may send to the target's role, with their required and
 * optional headers (each dropped now and then) and values of every shape, plus SEALED envelopes with
 * random octets; pipelined on one connection, so every handshake and session state sees every event.
 */
export function sequenceInput(t: WireTarget, names: string[]): fc.Arbitrary<Job> {
  const methods = METHOD_LIST.filter((m) => m.links.some((l) => l.to === t.role));
  const reqArb: fc.Arbitrary<Message> = fc.oneof(
    fc
      .tuple(
        fc.constantFrom(...methods),
        fc.array(fc.tuple(fc.boolean(), value(names)), { maxLength: 12 }),
        fc.option(fc.nat({ max: 999 }), { nil: undefined }),
      )
      .map(([m, vals, tag]) => {
        const link = m.links.find((l) => l.to === t.role) ?? m.links[0]!;
        const names0 = [...link.required, ...link.optional].filter((n) => n !== 'Content-length');
        const hs: Header[] = [];
        names0.forEach((n, i) => {
          const [keep, v] = vals[i % Math.max(1, vals.length)] ?? [true, 'x'];
          if (keep || link.required.includes(n)) hs.push([n, v.trim() || 'x']);
        });
        if (tag !== undefined) hs.push(['Tag', String(tag)]);
        return request(m.name, hs);
      }),
    fc
      .tuple(fc.nat({ max: 3 }), fc.uint8Array({ maxLength: 96 }))
      .map(([seq, body]) => request('SEALED', [['Seq', String(seq)]], Buffer.from(body))),
  );
  return fc
    .tuple(fc.boolean(), fc.array(reqArb, { minLength: 1, maxLength: 12 }), fc.boolean())
    .map(([withFirst, msgs, reset]) => {
      const all = withFirst ? [t.first(), ...msgs] : msgs;
      return {
        writes: [Buffer.concat(all.map((m) => safeEncode(m)))],
        inputs: all.length,
        after: reset ? 'reset' : 'fin',
        kind: 'sequence',
      } satisfies Job;
    });
}

/** Encode, or when the encoder refuses a value (it checks [WIRE-7]) put the octets together by hand. */
function safeEncode(m: Message): Buffer {
  try {
    return encode(m);
  } catch {
    if (m.kind !== 'request') return Buffer.alloc(0);
    const head = [m.method, ...m.headers.map(([n, v]) => `${n}: ${v}`)].join('\r\n');
    return Buffer.from(`${head}\r\n\r\n`, 'latin1');
  }
}

/** Does the codec read these octets as whole messages (so the target answers and goes on)? */
function whole(b: Buffer): boolean {
  try {
    return decode(b).length > 0;
  } catch {
    return false;
  }
}

/**
 * An endless stream of jobs, drawn in batches (each batch its own fast-check seed: reproducible).
 * A job is one connection: the target's harmless first message (or not), then a pipeline of 1..32
 * hostile inputs the codec reads as whole messages (the wire fuzzer's valid, near-valid, octet-class
 * and mutated inputs, and the state fuzzer's requests in any order), which a target answers one by
 * one while the connection goes on; it ends with a framing-error input (the wire fuzzer's, which
 * closes the connection), a reset, or a FIN. Only answers count as inputs (see drive).
 */
export function* jobs(t: WireTarget, limits: Limits, seed: number, names: string[], batch = 400): Generator<Job> {
  const wires = wireInput(t, limits);
  const seqs = sequenceInput(t, names);
  const shape = fc.record({
    // Mostly without the harmless first message: after it a server is in a new state (a CRS takes one
    // LOCATE per connection, an MS waits for PROOF) and refuses most of what follows by closing.
    withFirst: fc.constantFrom(true, false, false, false, false),
    n: fc.integer({ min: 1, max: 32 }),
    end: fc.constantFrom(...(['framing', 'framing', 'framing', 'fin', 'fin', 'fin', 'fin', 'reset'] as const)),
  });
  for (let b = 0; ; b++) {
    const ws = fc.sample(wires, { seed: seed + b, numRuns: batch * 12 });
    const ss = fc.sample(seqs, { seed: seed + b + 0x5eed, numRuns: batch * 2 });
    const shapes = fc.sample(shape, { seed: seed + b + 0xbeef, numRuns: batch });
    const wholeW = ws.filter((w) => w.after !== 'reset' && whole(w.bytes));
    const broken = ws.filter((w) => !whole(w.bytes));
    let wi = 0;
    let si = 0;
    let bi = 0;
    for (const sh of shapes) {
      const parts: Buffer[] = sh.withFirst ? [encode(t.first())] : [];
      let inputs = 0;
      while (inputs < sh.n) {
        if ((wi + si) % 3 === 2 && ss.length) {
          const q = ss[si++ % ss.length]!;
          parts.push(...q.writes);
          inputs += q.inputs;
        } else if (wholeW.length) {
          parts.push(wholeW[wi++ % wholeW.length]!.bytes);
          inputs++;
        } else break;
      }
      let after: 'fin' | 'reset' = sh.end === 'reset' ? 'reset' : 'fin';
      if (sh.end === 'framing' && broken.length) {
        const f = broken[bi++ % broken.length]!;
        parts.push(f.bytes);
        inputs++;
        if (f.after === 'reset') after = 'reset';
      }
      yield { writes: [Buffer.concat(parts)], inputs, after, kind: 'pipeline', first: sh.withFirst };
    }
  }
}

/** Resident set size of a process, in KiB (Linux /proc), or NaN. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export interface DriveOptions {
  target: { host: string; port: number };
  count: number;
  maxMs: number;
  concurrency: number;
  /** A connection neither answered nor closed within this long is a hang. */
  hangMs: number;
  /** The target process is still alive. */
  alive: () => boolean;
  /** Every so often: one fresh connection with the harmless first message must be answered. */
  probe: () => Promise<string | null>;
  probeEveryMs: number;
  onProgress?: (s: DriveStats) => void;
}

export interface DriveStats {
  /** Hostile inputs the target answered (each answer proves one input was read and judged). */
  inputs: number;
  /** Hostile inputs written (some are never read: the target closes after a refusal, or the kit resets). */
  written: number;
  connections: number;
  /** Answers per status class ('4xx' ...), and per connection end ('closed', 'reset', 'hang'). */
  outcomes: Record<string, number>;
  hangs: number;
  connectErrors: number;
  probes: number;
  probeFailures: string[];
  crashed: boolean;
  ms: number;
  stoppedBy: 'count' | 'time' | 'crash';
}

/** Deliver jobs over `concurrency` connections at once until `count` inputs or `maxMs`. */
export async function drive(src: Iterator<Job>, o: DriveOptions): Promise<DriveStats> {
  const s: DriveStats = {
    inputs: 0,
    written: 0,
    connections: 0,
    outcomes: {},
    hangs: 0,
    connectErrors: 0,
    probes: 0,
    probeFailures: [],
    crashed: false,
    ms: 0,
    stoppedBy: 'count',
  };
  const t0 = Date.now();
  const done = (): boolean => s.inputs >= o.count || Date.now() - t0 > o.maxMs || s.crashed;
  let probing = false;
  const probeTimer = setInterval(() => {
    if (probing) return;
    probing = true;
    void o.probe().then((err) => {
      s.probes++;
      if (err && s.probeFailures.length < 20) s.probeFailures.push(err);
      probing = false;
    });
  }, o.probeEveryMs);
  const one = (job: Job): Promise<void> =>
    new Promise<void>((resolve) => {
      const sock = net.connect({ host: o.target.host, port: o.target.port });
      let first = true;
      let settled = false;
      const finish = (outcome: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (outcome) s.outcomes[outcome] = (s.outcomes[outcome] ?? 0) + 1;
        sock.destroy();
        resolve();
      };
      const timer = setTimeout(() => {
        s.hangs++;
        finish('hang');
      }, o.hangMs);
      sock.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED') s.connectErrors++;
        finish(job.after === 'reset' ? 'reset' : 'error');
      });
      // Count the answers: each decoded response is one input judged (the first message's is not hostile).
      const dec = new Decoder();
      let skip = job.first ? 1 : 0;
      let broken = false;
      sock.on('data', (d: Buffer) => {
        first = false;
        if (broken) return;
        let msgs: Message[];
        try {
          msgs = dec.push(d);
        } catch {
          broken = true;
          s.outcomes['undecodable answer'] = (s.outcomes['undecodable answer'] ?? 0) + 1;
          return;
        }
        for (const m of msgs) {
          if (m.kind !== 'response') continue;
          if (skip > 0) {
            skip--;
            continue;
          }
          s.inputs++;
          const k = `${String(m.status)[0]}xx`;
          s.outcomes[k] = (s.outcomes[k] ?? 0) + 1;
        }
      });
      sock.on('close', () => finish(first ? (job.after === 'reset' ? 'reset' : 'closed') : null));
      sock.on('connect', () => {
        s.connections++;
        s.written += job.inputs;
        for (const w of job.writes) sock.write(w);
        if (job.after === 'reset') sock.resetAndDestroy();
        else sock.end();
      });
    });
  let lastProgress = Date.now();
  const worker = async (): Promise<void> => {
    while (!done()) {
      const n = src.next();
      if (n.done) break;
      await one(n.value);
      if (!o.alive()) s.crashed = true;
      if (o.onProgress && Date.now() - lastProgress > 10_000) {
        lastProgress = Date.now();
        s.ms = Date.now() - t0;
        o.onProgress(s);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  clearInterval(probeTimer);
  while (probing) await new Promise((r) => setTimeout(r, 20));
  s.ms = Date.now() - t0;
  s.stoppedBy = s.crashed ? 'crash' : s.inputs >= o.count ? 'count' : 'time';
  return s;
}

/** Names a message can carry: known users on the target so sequences reach real state. */
export const headerNames = (): string[] => HEADER_LIST.map((h) => h.name);

/** A probe: the harmless first message on a fresh connection is answered within `ms`. */
export async function probeOnce(
  target: { host: string; port: number },
  msg: () => Message,
  ms: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = net.connect(target);
    const dec = new Decoder();
    const t = setTimeout(() => {
      sock.destroy();
      resolve(`probe: no answer within ${ms} ms`);
    }, ms);
    sock.on('error', (e) => {
      clearTimeout(t);
      resolve(`probe: ${e.message}`);
    });
    sock.on('connect', () => sock.write(encode(msg())));
    sock.on('data', (d: Buffer) => {
      try {
        const out = dec.push(d);
        if (out.length) {
          clearTimeout(t);
          sock.destroy();
          resolve(null);
        }
      } catch (e) {
        clearTimeout(t);
        sock.destroy();
        resolve(`probe: undecodable answer: ${(e as Error).message}`);
      }
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolve(`probe: closed without an answer`);
    });
  });
}
