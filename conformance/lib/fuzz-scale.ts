// The kit's fuzzers driven at scale (issue 14, `make fuzz-roles`). Hostile inputs come from a corpus
// drawn once per run (fast-check, seeded) from the wire fuzzer (lib/wire-fuzz.ts: valid, near-valid,
// mutated and octet-class inputs, the octets read from the generated tables) and from a state fuzzer
// (registered requests of every method some peer may send to the role, any order, dropped headers,
// odd values, SEALED envelopes with random octets), then reused with seeded byte mutations. Each input
// carries its own verdict, computed by the generated codec and the registry's error table
// (codec/error-rules.ts) before it is sent: a framing error must be answered with its status and
// Error-code and the connection closed [WIRE-12] [ERR-8]; a validation error whose rule is `answer`
// must be answered and the connection goes on [REG-9], so many of them share one connection; an input
// the codec and the registry accept depends on the target's state and may be answered with any
// well-formed response (an error carries Error-code [ERR-1]) or a close.
// Judged here: every answer against its input's verdict, in order; the target never crashes (its
// process stays up), never hangs (every connection is answered and closed, and a probe connection is
// served all along), and its memory stays bounded. Only inputs whose answer (or allowed close) was
// read and judged count.
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  Decoder,
  decode,
  encode,
  errorRule,
  header,
  ImspError,
  request,
  validate,
  type ErrorCode,
  type Header,
  type Message,
  type ResponseMessage,
} from '../../codec/index.js';
import { b64 } from './crypto.js';
import { METHOD_LIST, METHODS_BY_NAME, type Limits } from './registry.js';
import { expectationFor, wireInput } from './wire-fuzz.js';
import type { WireTarget } from './wire-target.js';

/** What the target must do with one input, computed before it is sent. */
export type Verdict =
  /** A validation error whose rule is `answer`: this answer, and the connection goes on [REG-9] [ERR-8]. */
  | { kind: 'answer'; alts: Alt[]; exactCode: boolean }
  /** A framing error, or a validation error whose rule closes: this answer, then a close [WIRE-12] [ERR-8]. */
  | { kind: 'answer-close'; alts: Alt[]; exactCode: boolean; mayCloseSilently: boolean }
  /** State-dependent: any well-formed response (an error with Error-code [ERR-1]), or a close. */
  | { kind: 'any' }
  /** A notification on this link, or a response: never answered, not even with an error [CONN-11] [REG-10]; the kit ends its side after it. */
  | { kind: 'silent' };

export interface Alt {
  status: number;
  code: string;
}

export interface Input {
  bytes: Buffer;
  verdict: Verdict;
  /** Where it came from (wire-fuzz kind, 'sequence', 'mutated corpus'), for the report. */
  source: string;
}

/**
 * One connection's worth of hostile input. The kit writes the first message (when there is one) and
 * the body inputs at once, pipelined [CONN-12]; once each is answered it writes the terminal input, and
 * then ends its side (FIN). A reset job resets right after writing: nothing of it is judged.
 */
export interface Job {
  /** The target's harmless first message leads (its answer is checked with firstOk, not counted). */
  first: boolean;
  /** Inputs answered with the connection going on. */
  inputs: Input[];
  /** An input that closes or may close, written after the body's answers. */
  terminal?: Input;
  after: 'fin' | 'reset';
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
 * The state fuzzer's requests: any registered method that some peer may send to the target's role,
 * with its required and optional headers (each dropped now and then) and values of every shape, and
 * SEALED envelopes with random octets. Sent in any order and any state.
 */
export function requestArb(t: WireTarget, names: string[]): fc.Arbitrary<Message> {
  const methods = METHOD_LIST.filter((m) => m.links.some((l) => l.to === t.role));
  return fc.oneof(
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

/**
 * The verdict on `bytes` sent after the target's first message (the sender's role is then settled:
 * t.from), by the generated codec and the registry: null when the octets hold more than one message
 * or a message followed by a framing error (the kit then cannot tell the target's answers apart).
 * `exactCode`: the Error-code must match too (inputs with one planted fault); random edits may hold
 * several faults, and which one a receiver reports first is its own business, so only the status counts.
 */
export function judge(bytes: Buffer, t: WireTarget, limits: Limits, exactCode: boolean): Verdict | null {
  let msgs: Message[];
  try {
    msgs = decode(bytes, { limits: limits.codec() });
  } catch (e) {
    if (!(e instanceof ImspError)) throw e;
    if (e.messages.length > 0) return null;
    // [WIRE-20] a message cut by the end of input is a SHOULD: a close without the answer is allowed.
    return {
      kind: 'answer-close',
      alts: [{ status: e.status, code: e.code }],
      exactCode,
      mayCloseSilently: e.code === 'ERR_TRUNCATED',
    };
  }
  if (msgs.length !== 1) return null;
  const m = msgs[0]!;
  // [REG-10] a response is never answered (an error found in one cannot be): the kit ends its side after it.
  if (m.kind === 'response') return { kind: 'silent' };
  // [CONN-11] [CONN-17] a method registered on this link with no responses is never answered.
  const link = METHODS_BY_NAME.get(m.method)?.links.find((l) => l.from === t.from && l.to === t.role);
  const kind = METHODS_BY_NAME.get(m.method)?.kind;
  if (link && kind !== 'envelope' && Object.keys(link.responses ?? {}).length === 0) return { kind: 'silent' };
  const err = validate(m, { from: t.from, to: t.role });
  if (!err) return { kind: 'any' };
  const rule = errorRule(err.code as ErrorCode, { method: m.method });
  const alts = [{ status: err.status, code: err.code }];
  return rule.action === 'answer'
    ? { kind: 'answer', alts, exactCode }
    : { kind: 'answer-close', alts, exactCode, mayCloseSilently: rule.action === 'close' };
}

/** A small seeded PRNG (mulberry32): the hot path draws from the corpus without fast-check. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Corpus {
  /** Inputs answered without closing: many share one connection. */
  body: Input[];
  /** Inputs that close or may close (framing errors, closing refusals, state-dependent requests). */
  terminal: Input[];
  /** Single first messages for a target whose first message decides the connection (CRS), judged by the wire fuzzer's rules. */
  lone: { bytes: Buffer; source: string }[];
  /** Every distinct input, for the mutator. */
  all: Buffer[];
}

/** Draw the corpus: `n` wire-fuzzer inputs and `n` state-fuzzer requests, each judged once. */
export function buildCorpus(t: WireTarget, limits: Limits, seed: number, names: string[], n = 3000): Corpus {
  const c: Corpus = { body: [], terminal: [], lone: [], all: [] };
  const add = (bytes: Buffer, source: string, exact: boolean): void => {
    if (bytes.length === 0) return;
    c.all.push(bytes);
    c.lone.push({ bytes, source });
    const v = judge(bytes, t, limits, exact);
    if (!v) return;
    (v.kind === 'answer' ? c.body : c.terminal).push({ bytes, verdict: v, source });
  };
  for (const w of fc.sample(wireInput(t, limits), { seed, numRuns: n }))
    add(w.bytes, w.kind, w.kind === 'near-valid' || w.kind === 'octet-class');
  for (const m of fc.sample(requestArb(t, names), { seed: seed + 0x5eed, numRuns: n }))
    add(safeEncode(m), 'sequence', false);
  return c;
}

/** 1..3 random edits (flip, insert, delete) of some corpus octets, judged afresh. */
function mutate(b: Buffer, rnd: () => number): Buffer {
  let a = b;
  const k = 1 + Math.floor(rnd() * 3);
  for (let j = 0; j < k; j++) {
    const op = rnd();
    const i = Math.floor(rnd() * (a.length + 1));
    const v = Math.floor(rnd() * 256);
    if (op < 0.4 && i < a.length) {
      a = Buffer.from(a);
      a[i] = v;
    } else if (op < 0.7) a = Buffer.concat([a.subarray(0, i), Buffer.of(v), a.subarray(i)]);
    else if (a.length > 1) {
      const d = Math.min(i, a.length - 1);
      a = Buffer.concat([a.subarray(0, d), a.subarray(d + 1)]);
    }
  }
  return a;
}

export interface JobShape {
  /** Most inputs on one connection (MS: under its per-connection burst, [RATE-1]). */
  maxPipeline: number;
  /** The role's first message decides the connection ([CONN-1], CRS): hostile pipelines follow the harmless first message. */
  needsFirst: boolean;
  /** Otherwise, the share of connections that open with it (0 where it starts a handshake that changes every later answer: a client's INIT). */
  firstShare: number;
}

/**
 * An endless, reproducible stream of jobs. A job is one connection: the harmless first message where
 * the role needs it (or, now and then, a lone hostile first message), then 1..maxPipeline inputs that
 * must be answered with the connection going on, then an ending: an input that closes or may close
 * (framing error, closing refusal, state-dependent request), a FIN, or a reset. A quarter of the inputs
 * are corpus octets with fresh random edits, judged before they are sent.
 */
export function* jobs(t: WireTarget, limits: Limits, corpus: Corpus, shape: JobShape, seed: number): Generator<Job> {
  const rnd = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  for (;;) {
    const r = rnd();
    if (shape.needsFirst && r < 0.1) {
      // A lone hostile first message, judged by the wire fuzzer's rules for first messages.
      const l = pick(corpus.lone);
      const e = expectationFor(l.bytes, t, limits);
      const exact = l.source === 'near-valid' || l.source === 'octet-class';
      const verdict: Verdict =
        e.kind === 'framing'
          ? {
              kind: 'answer-close',
              alts: [{ status: e.status, code: e.code }],
              exactCode: exact,
              mayCloseSilently: e.code === 'ERR_TRUNCATED',
            }
          : e.kind === 'validation'
            ? {
                kind: 'answer-close',
                // [CONN-1] a CRS may refuse a first message other than ENROLL/LOCATE as out of state.
                alts: [...e.alts, ...(t.firstMessageDecides ? [{ status: 425, code: 'ERR_OUT_OF_STATE' }] : [])],
                exactCode: exact,
                mayCloseSilently: false,
              }
            : { kind: 'any' };
      yield { first: false, inputs: [], terminal: { bytes: l.bytes, verdict, source: l.source }, after: 'fin' };
      continue;
    }
    const first = shape.needsFirst || rnd() < shape.firstShare;
    const reset = rnd() < 0.05;
    const n = reset ? 1 + Math.floor(rnd() * 3) : 1 + Math.floor(rnd() * shape.maxPipeline);
    const inputs: Input[] = [];
    let ending: Input | undefined;
    while (inputs.length < n) {
      if (rnd() < 0.25) {
        const bytes = mutate(pick(corpus.all), rnd);
        const v = judge(bytes, t, limits, false);
        if (!v) continue;
        if (v.kind === 'answer') inputs.push({ bytes, verdict: v, source: 'mutated corpus' });
        else if (!ending) ending = { bytes, verdict: v, source: 'mutated corpus' };
      } else inputs.push(pick(corpus.body));
    }
    const e = rnd();
    const terminal = !reset && e < 0.6 ? (ending && e < 0.2 ? ending : pick(corpus.terminal)) : undefined;
    yield { first, inputs, ...(terminal ? { terminal } : {}), after: reset ? 'reset' : 'fin' };
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

/** CPU seconds (user + system) a process has used (Linux /proc), or NaN. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export interface DriveOptions {
  target: () => { host: string; port: number };
  t: WireTarget;
  count: number;
  maxMs: number;
  concurrency: number;
  /** A connection neither answered in full nor closed within this long is a hang. */
  hangMs: number;
  /** The target process is still alive. */
  alive: () => boolean;
  /** Every so often: one fresh connection with the harmless first message must be answered. */
  probe: () => Promise<string | null>;
  probeEveryMs: number;
  onProgress?: (s: DriveStats) => void;
}

export interface DriveStats {
  /** Hostile inputs whose answer (or allowed close) was read and judged. */
  inputs: number;
  /** Hostile inputs written (some are never judged: after a reset, or after the target ended the connection with a NOTICE). */
  written: number;
  connections: number;
  /** Judged answers per status class ('4xx' ...) and per allowed close ('closed'). */
  outcomes: Record<string, number>;
  /** Answers that broke their input's verdict. */
  wrong: number;
  /** The first few wrong answers, described. */
  wrongExamples: string[];
  hangs: number;
  connectErrors: number;
  probes: number;
  probeFailures: string[];
  crashed: boolean;
  ms: number;
  /** Summed milliseconds from connect to the last body answer, and from there to the close (where the time goes). */
  phaseMs: { body: number; rest: number };
  stoppedBy: 'count' | 'time' | 'crash';
}

export function emptyStats(): DriveStats {
  return {
    inputs: 0,
    written: 0,
    connections: 0,
    outcomes: {},
    wrong: 0,
    wrongExamples: [],
    hangs: 0,
    connectErrors: 0,
    probes: 0,
    probeFailures: [],
    crashed: false,
    ms: 0,
    phaseMs: { body: 0, rest: 0 },
    stoppedBy: 'count',
  };
}

const show = (b: Buffer): string => JSON.stringify(b.subarray(0, 120).toString('latin1'));
const want = (alts: Alt[]): string => alts.map((a) => `${a.status} ${a.code}`).join(' or ');

/** Does response `r` keep the verdict of its input? null when it does, else why not. */
export function check(v: Verdict, r: ResponseMessage): string | null {
  const code = header(r, 'Error-code');
  // [ERR-1] every error response carries its Error-code.
  if (r.status >= 400 && !code) return `${r.status} without Error-code`;
  if (v.kind === 'any') return null;
  if (v.kind === 'silent')
    return `a notification or a response was answered ${r.status} ${code ?? ''} [CONN-11] [REG-10]`;
  // [RATE-1] an MS may refuse any request of a connection whose bucket is empty.
  if (r.status === 429 && code === 'ERR_RATE_LIMITED') return null;
  if (!v.alts.some((a) => a.status === r.status)) return `expected ${want(v.alts)}, got ${r.status} ${code ?? ''}`;
  if (v.exactCode && !v.alts.some((a) => a.code === code))
    return `expected Error-code ${want(v.alts)}, got ${r.status} ${code ?? ''}`;
  return null;
}

/** A client's refusal of a new peer connection at its limit of open sessions [P2P-7]. */
function isCapacityRefusal(m: Message): boolean {
  return m.kind === 'response' && m.status === 503 && header(m, 'Error-code') === 'ERR_UNAVAILABLE';
}

/** Counts into the stats: outcomes by kind, and wrong answers with the first few described. */
class Tally {
  constructor(readonly s: DriveStats) {}

  count(k: string): void {
    this.s.outcomes[k] = (this.s.outcomes[k] ?? 0) + 1;
  }

  wrong(job: Job, i: Input | undefined, why: string): void {
    const s = this.s;
    s.wrong++;
    if (s.wrongExamples.length < 10)
      s.wrongExamples.push(
        `${why} [input: ${i ? `${i.source} ${show(i.bytes)}` : 'none'}; connection: ${show(Buffer.concat(job.inputs.map((x) => x.bytes)))}]`,
      );
  }
}

/**
 * One fuzz connection: writes the job's inputs (after the harmless first message when the job has
 * one), judges each answer against its input's verdict, then sends the terminal input or ends its
 * side; `done` resolves when the connection is over (closed, reset, or a hang after hangMs).
 */
class FuzzConnection {
  readonly done: Promise<void>;
  private resolve: () => void = () => undefined;
  private readonly s: DriveStats;
  private readonly sock: net.Socket;
  private readonly all: Input[];
  private readonly timer: NodeJS.Timeout;
  private readonly dec = new Decoder();
  private settled = false;
  private next = 0;
  private expectFirst: boolean;
  private phase: 'body' | 'terminal' | 'closing' = 'body';
  private noticed = false;
  private broken = false;
  private tBody = 0;
  private tConnect = Date.now();

  constructor(
    private readonly job: Job,
    private readonly o: DriveOptions,
    private readonly tally: Tally,
  ) {
    this.s = tally.s;
    this.done = new Promise<void>((resolve) => {
      this.resolve = resolve;
    });
    this.sock = net.connect(o.target());
    this.all = job.terminal ? [...job.inputs, job.terminal] : job.inputs;
    this.expectFirst = job.first;
    this.timer = setTimeout(() => this.hang(), o.hangMs);
    this.sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') this.s.connectErrors++;
    });
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('close', () => this.onClose());
    this.tConnect = Date.now();
    this.sock.on('connect', () => this.onConnect());
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.tBody) {
      this.s.phaseMs.body += this.tBody - this.tConnect;
      this.s.phaseMs.rest += Date.now() - this.tBody;
    }
    clearTimeout(this.timer);
    this.sock.destroy();
    this.resolve();
  }

  private hang(): void {
    const { s, all, next } = this;
    s.hangs++;
    this.tally.count('hang');
    if (s.wrongExamples.length < 10)
      s.wrongExamples.push(
        `hang in phase ${this.phase} at input ${next} of ${all.length} [input: ${all[next] ? `${all[next]!.source} ${show(all[next]!.bytes)} ${JSON.stringify(all[next]!.verdict)}` : 'none'}]`,
      );
    this.finish();
  }

  /** Every body input answered: the terminal input, or the end of the kit's side. */
  private advance(): void {
    this.tBody = Date.now();
    if (this.phase === 'body' && this.job.terminal) {
      this.phase = 'terminal';
      this.s.written++;
      this.sock.write(this.job.terminal.bytes);
      // [WIRE-12] a message cut short shows as one only at the end of input.
      const v = this.job.terminal.verdict;
      if ((v.kind === 'answer-close' && v.mayCloseSilently) || v.kind === 'silent') this.sock.end();
    } else {
      this.phase = 'closing';
      this.sock.end();
    }
  }

  private onData(d: Buffer): void {
    if (this.broken || this.settled) return;
    let msgs: Message[];
    try {
      msgs = this.dec.push(d);
    } catch (e) {
      this.broken = true;
      this.tally.wrong(this.job, this.all[this.next], `an answer that does not decode: ${(e as Error).message}`);
      return;
    }
    for (const m of msgs) if (this.onMessage(m) === 'stop') return;
  }

  /** Judges one message from the target; 'stop' when nothing more on this connection is judged. */
  private onMessage(m: Message): 'stop' | undefined {
    const { job, o, all } = this;
    if (m.kind !== 'response') {
      if (m.method === 'INIT-ACK' && this.phase === 'terminal' && all[this.next]?.verdict.kind === 'any') {
        // A well-formed INIT got its handshake reply: judged (state-dependent), the kit ends its side.
        this.next++;
        this.s.inputs++;
        this.tally.count('handshake');
        this.phase = 'closing';
        this.sock.end();
        return undefined;
      }
      // A NOTICE (rate limit, timeout, shutdown): the target may end the connection after it.
      this.noticed = true;
      return undefined;
    }
    if (o.t.role === 'client' && this.next === 0 && !this.expectFirst && isCapacityRefusal(m)) {
      // [P2P-7] a client at its limit of open peer sessions refuses the connection itself, in
      // clear, and closes: not an answer to the input it meets. Nothing on it is judged.
      this.tally.count('busy');
      this.broken = true;
      this.sock.end();
      return 'stop';
    }
    if (this.expectFirst) {
      this.expectFirst = false;
      if (!o.t.firstOk(m))
        this.tally.wrong(job, undefined, `the harmless ${o.t.start} got ${m.status} ${header(m, 'Error-code') ?? ''}`);
    } else {
      const i = all[this.next++];
      if (!i) {
        this.tally.wrong(
          job,
          undefined,
          `an answer ${m.status} ${header(m, 'Error-code') ?? ''} with no input left to answer`,
        );
        return undefined;
      }
      const why = check(i.verdict, m);
      if (why) this.tally.wrong(job, i, why);
      this.s.inputs++;
      this.tally.count(`${String(m.status)[0]}xx`);
    }
    if (this.phase === 'body' && this.next === job.inputs.length) this.advance();
    else if (this.phase === 'terminal' && this.next === all.length) {
      this.phase = 'closing';
      this.sock.end();
    }
    return undefined;
  }

  private onClose(): void {
    if (this.settled) return;
    // The connection ended: the input it stopped at may allow a close without an answer.
    const i = this.phase === 'closing' ? undefined : this.all[this.next];
    if (this.job.after === 'fin' && !this.noticed && !this.broken) {
      if (this.expectFirst)
        this.tally.wrong(
          this.job,
          undefined,
          `the harmless ${this.o.t.start} got no answer before the close, ${Date.now() - this.tConnect} ms after the connect`,
        );
      else if (i) {
        const v = i.verdict;
        if (v.kind === 'any' || v.kind === 'silent' || (v.kind === 'answer-close' && v.mayCloseSilently)) {
          this.s.inputs++;
          this.tally.count('closed');
        } else this.tally.wrong(this.job, i, `closed without answering (expected ${want(v.alts)})`);
      }
    }
    this.finish();
  }

  private onConnect(): void {
    const { job, s } = this;
    this.tConnect = Date.now();
    s.connections++;
    s.written += job.inputs.length;
    const parts = job.inputs.map((i) => i.bytes);
    if (job.first) parts.unshift(encode(this.o.t.first()));
    if (parts.length) this.sock.write(Buffer.concat(parts));
    if (job.after === 'reset') {
      this.sock.resetAndDestroy();
      this.tally.count('reset');
      this.finish();
      return;
    }
    if (!job.first && job.inputs.length === 0) this.advance();
  }
}

/** Deliver jobs over `concurrency` connections at once until `count` judged inputs or `maxMs`. */
export async function drive(src: Iterator<Job>, o: DriveOptions, s: DriveStats = emptyStats()): Promise<DriveStats> {
  const t0 = Date.now();
  const ms0 = s.ms;
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
  const tally = new Tally(s);
  let lastProgress = Date.now();
  const worker = async (): Promise<void> => {
    while (!done()) {
      const n = src.next();
      if (n.done) break;
      await new FuzzConnection(n.value, o, tally).done;
      if (!o.alive()) s.crashed = true;
      if (o.onProgress && Date.now() - lastProgress > 10_000) {
        lastProgress = Date.now();
        s.ms = ms0 + Date.now() - t0;
        o.onProgress(s);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  clearInterval(probeTimer);
  while (probing) await new Promise((r) => setTimeout(r, 20));
  s.ms = ms0 + Date.now() - t0;
  s.stoppedBy = s.crashed ? 'crash' : s.inputs >= o.count ? 'count' : 'time';
  return s;
}

/** A probe: the harmless first message on a fresh connection is answered within `ms`, and as firstOk says. */
export async function probeOnce(
  target: { host: string; port: number },
  msg: () => Message,
  ms: number,
  ok: (r: ResponseMessage) => boolean = () => true,
): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = net.connect(target);
    const dec = new Decoder();
    let done = false;
    const end = (v: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(t);
      sock.destroy();
      resolve(v);
    };
    const t = setTimeout(() => end(`probe: no answer within ${ms} ms`), ms);
    sock.on('error', (e) => end(`probe: ${e.message}`));
    sock.on('connect', () => sock.write(encode(msg())));
    sock.on('data', (d: Buffer) => {
      try {
        for (const m of dec.push(d)) {
          if (m.kind === 'response')
            return end(ok(m) ? null : `probe: answered ${m.status} ${header(m, 'Error-code') ?? ''}`);
          return end(null);
        }
      } catch (e) {
        end(`probe: undecodable answer: ${(e as Error).message}`);
      }
    });
    sock.on('close', () => end(`probe: closed without an answer`));
  });
}
