// Wire fuzzing (fast-check): valid, near-valid and mutated messages generated from the registries,
// octets drawn from every octet class of the grammar and next to each class boundary, oversized fields, slow and split writes, abrupt closes. The oracle is the generated codec (the
// grammar's executable form) plus the registry validator: a framing error must be answered with its
// status and Error-code and the connection closed, a validation error answered, a valid message served;
// and after every input the target must still answer a fresh connection. A failure is shrunk by
// fast-check to a minimal input, replayed once to record its wire transcript, and printed with the
// command line that replays it (--seed S --path P --only ID).
import { replayBase } from './model-fuzz.js';
import fc from 'fast-check';
import {
  decode,
  encode,
  header,
  ImspError,
  validate,
  type Header,
  type Message,
  type ResponseMessage,
  type Role,
} from '../../codec/index.js';
import { type Conn, Transcript } from './conn.js';
import { classInput } from './octet-classes.js';
import { brokenValueRule, METHOD_VALUE_RULES } from './value-rules.js';
import { ERROR_LIST, errorSpec, HEADER_LIST, METHOD_LIST, type Limits } from './registry.js';
import type { WireCtx, WireTarget } from './wire-target.js';

export interface FuzzCtx extends WireCtx {
  connectWith(tr: Transcript, name: string): Promise<Conn>;
  readonly opts: { seed: number; runs: number; path?: string; commandLine: string };
  readonly caseDef: { id: string };
}

/** One fuzz input: octets, how they are written, whether the writer then closes. */
export interface WireInput {
  kind: 'valid' | 'near-valid' | 'mutated' | 'octet-class';
  bytes: Buffer;
  /** Sizes of successive writes; the rest goes in one write. */
  chunks: number[];
  /** After writing: keep open, half-close (FIN), or reset. */
  after: 'wait' | 'fin' | 'reset';
  label: string;
}

const tokenChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-';
const token = fc.string({ unit: fc.constantFrom(...tokenChars.split('')), minLength: 1, maxLength: 24 });
const extName = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')), minLength: 1, maxLength: 12 })
  .map((s) => `X-${s}`);
const printable = fc
  .string({
    unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))),
    maxLength: 40,
  })
  .map((s) => s.trim());
const caseVariant = (name: string): fc.Arbitrary<string> =>
  fc.constantFrom(name, name.toLowerCase(), name.toUpperCase());

function valid(t: WireTarget): fc.Arbitrary<{ msg: Message; label: string }> {
  return fc
    .record({
      tag: fc.option(token, { nil: undefined }),
      ext: fc.array(fc.tuple(extName, printable), { maxLength: 4 }),
      tagName: caseVariant('Tag'),
    })
    .map(({ tag, ext, tagName }) => {
      const base = t.first();
      const hs: Header[] = [...base.headers, ...ext.map(([n, v]) => [n, v] as Header)];
      if (tag !== undefined) hs.push([tagName, tag]);
      return {
        msg: { ...base, headers: hs } as Message,
        label: `valid ${t.start}${tag ? ' tagged' : ''} with ${ext.length} extension header(s)`,
      };
    });
}

/** One targeted fault in an otherwise valid message: each breaks one wire or registry rule. */
type Near = { bytes: Buffer; label: string };
const insertAt = (s: string, pos: number, what: string): string => s.slice(0, pos) + what + s.slice(pos);
const headEnd = (s: string): number => s.indexOf('\r\n\r\n');

/** Stray octets inserted in a valid head: bare LF, bare CR, octets above 0x7f, control octets. */
function strayOctets(base: () => string): fc.Arbitrary<Near>[] {
  return [
    fc.nat().map((p) => {
      const s = base();
      const i = p % Math.max(1, headEnd(s));
      return { bytes: Buffer.from(insertAt(s, i, '\n'), 'latin1'), label: 'bare LF inserted in the head' };
    }),
    fc.nat().map((p) => {
      const s = base();
      const i = p % Math.max(1, headEnd(s));
      return { bytes: Buffer.from(insertAt(s, i, '\r'), 'latin1'), label: 'bare CR inserted in the head' };
    }),
    fc.tuple(fc.nat(), fc.integer({ min: 0x80, max: 0xff })).map(([p, o]) => {
      const s = base();
      const i = 1 + (p % Math.max(1, headEnd(s) - 1));
      return {
        bytes: Buffer.from(insertAt(s, i, String.fromCharCode(o)), 'latin1'),
        label: `octet 0x${o.toString(16)} inserted in the head`,
      };
    }),
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0x1f })).map(([p, o]) => {
      const s = base();
      const i = 1 + (p % Math.max(1, headEnd(s) - 1));
      return {
        bytes: Buffer.from(insertAt(s, i, String.fromCharCode(o)), 'latin1'),
        label: `control octet 0x${o.toString(16)} inserted in the head`,
      };
    }),
  ];
}

/** Heads over the size limits: a line over maxLineLength, more than maxHeaders lines, a head over maxHeadSize. */
function overLimits(base: () => string, limits: Limits): fc.Arbitrary<Near>[] {
  const maxLine = limits.get('maxLineLength');
  const maxHeaders = limits.get('maxHeaders');
  const maxHead = limits.get('maxHeadSize');
  return [
    fc.integer({ min: 1, max: 3 }).map((k) => ({
      bytes: Buffer.from(base().replace('\r\n', `\r\nX-long: ${'x'.repeat(maxLine * k)}\r\n`), 'latin1'),
      label: `header line ${k}x maxLineLength`,
    })),
    fc.integer({ min: 1, max: 50 }).map((k) => ({
      bytes: Buffer.from(base().replace('\r\n', `\r\n${'X-h: v\r\n'.repeat(maxHeaders + k)}`), 'latin1'),
      label: `${maxHeaders + k} header lines`,
    })),
    fc.integer({ min: 1, max: 4 }).map((k) => {
      const line = `X-big: ${'y'.repeat(Math.min(maxLine - 16, 4000))}\r\n`;
      const n = Math.ceil(maxHead / line.length) + k;
      return {
        bytes: Buffer.from(base().replace('\r\n', `\r\n${line.repeat(n)}`), 'latin1'),
        label: `head of ${n} long lines (above maxHeadSize)`,
      };
    }),
  ];
}

/** Names and framing: registered headers added, bare and unregistered methods, Content-length without a body or twice, a folded line. */
function namesAndFraming(base: () => string): fc.Arbitrary<Near>[] {
  const registered = HEADER_LIST.map((h) => h.name).filter(
    (n) => !['Content-length', 'Tag', 'Imsp-version'].includes(n),
  );
  const methods = METHOD_LIST.map((m) => m.name);
  return [
    fc.constantFrom(...registered).chain((name) =>
      printable.map((v) => ({
        bytes: Buffer.from(base().replace('\r\n', `\r\n${name}: ${v || 'v'}\r\n`), 'latin1'),
        label: `registered header ${name} added`,
      })),
    ),
    fc
      .constantFrom(...methods)
      .map((m) => ({ bytes: Buffer.from(`${m}\r\n\r\n`, 'latin1'), label: `bare ${m} with no headers` })),
    fc
      .string({
        unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789'.split('')),
        minLength: 1,
        maxLength: 20,
      })
      .map((m) => ({ bytes: Buffer.from(`Q${m}\r\n\r\n`, 'latin1'), label: `unregistered method Q${m}` })),
    fc.bigInt({ min: 0n, max: 99999999999n }).map((n) => ({
      bytes: Buffer.from(base().replace('\r\n\r\n', `\r\nContent-length: ${n}\r\n\r\n`), 'latin1'),
      label: `Content-length ${n} with no body`,
    })),
    fc.constant({
      bytes: Buffer.from(base().replace('\r\n', '\r\nContent-length: 0\r\nContent-length: 0\r\n'), 'latin1'),
      label: 'Content-length twice',
    }),
    fc.constant({
      bytes: Buffer.from(base().replace('\r\n', '\r\nX-a: b\r\n folded\r\n'), 'latin1'),
      label: 'folded header line',
    }),
  ];
}

function nearValid(t: WireTarget, limits: Limits): fc.Arbitrary<Near> {
  const base = (): string => encode(t.first()).toString('latin1');
  return fc.oneof(...strayOctets(base), ...overLimits(base, limits), ...namesAndFraming(base));
}

/** Random edits of a valid message's octets. */
function mutated(t: WireTarget): fc.Arbitrary<{ bytes: Buffer; label: string }> {
  const edit = fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), v: fc.constant(0) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    const b = [...encode(t.first())];
    for (const e of edits) {
      const i = e.at % (b.length + (e.op === 'insert' ? 1 : 0));
      if (e.op === 'flip') b[i] = e.v;
      else if (e.op === 'insert') b.splice(i, 0, e.v);
      else if (b.length > 1) b.splice(i, 1);
    }
    return { bytes: Buffer.from(b), label: `${edits.length} random edit(s)` };
  });
}

export function wireInput(t: WireTarget, limits: Limits): fc.Arbitrary<WireInput> {
  const content = fc.oneof(
    { weight: 2, arbitrary: valid(t).map((v) => ({ kind: 'valid' as const, bytes: encode(v.msg), label: v.label })) },
    { weight: 4, arbitrary: nearValid(t, limits).map((v) => ({ kind: 'near-valid' as const, ...v })) },
    { weight: 3, arbitrary: mutated(t).map((v) => ({ kind: 'mutated' as const, ...v })) },
    // [WIRE-4] [WIRE-5] [WIRE-6] [WIRE-7] every octet class of the grammar, at and next to its boundaries (lib/octet-classes.ts).
    {
      weight: 3,
      arbitrary: classInput(() => encode(t.first())).map((v) => ({
        kind: 'octet-class' as const,
        bytes: v.bytes,
        label: v.label,
      })),
    },
  );
  return fc
    .record({
      c: content,
      chunks: fc.oneof(
        { weight: 3, arbitrary: fc.constant([] as number[]) },
        { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: 16 }), { maxLength: 12 }) },
      ),
      after: fc.constantFrom('wait' as const, 'wait' as const, 'wait' as const, 'fin' as const, 'reset' as const),
    })
    .map(({ c, chunks, after }) => ({ kind: c.kind, bytes: c.bytes, label: c.label, chunks, after }));
}

export type Expectation =
  | { kind: 'framing'; code: string; status: number; offset: number }
  | { kind: 'validation'; code: string; status: number; alts: { code: string; status: number }[]; req?: string }
  | { kind: 'served' }
  | { kind: 'any' };

/** What the spec says the target must do with these octets (as the first message of a connection). */
export function expectationFor(bytes: Buffer, t: WireTarget, limits: Limits): Expectation {
  let msgs: Message[];
  try {
    msgs = decode(bytes, { limits: limits.codec() });
  } catch (e) {
    if (!(e instanceof ImspError)) throw e;
    // Messages completed before the framing error are answered first (the error comes after them).
    if (e.messages.length === 0) return { kind: 'framing', code: e.code, status: e.status, offset: e.offset };
    msgs = e.messages.slice(0, 1);
  }
  if (msgs.length !== 1) return { kind: 'any' };
  const m = msgs[0]!;
  // [REG-10] [ERR-8] an error found in a response cannot be answered (situation *response* of the
  // error table): a receiver may close without an answer. Octet-class inputs send status lines.
  if (m.kind === 'response') return { kind: 'any' };
  // Where the first message decides the sender's role (a CRS), the message is judged on every link
  // it could open; a refusal valid on any of them is accepted.
  const senders =
    m.kind === 'request' && t.senderFor
      ? [...new Set([t.senderFor(m.method), ...(t.firstMessageDecides ? (['client', 'ms'] as Role[]) : [])])]
      : [t.from];
  const errs = senders.map((from) => validate(m, { from, to: t.role }));
  if (errs.every((e) => e !== null)) {
    const alts = errs.map((e) => ({ code: e!.code, status: e!.status }));
    return { kind: 'validation', code: alts[0]!.code, status: alts[0]!.status, alts };
  }
  // A rule of the text that the registry's value types cannot carry (lib/value-rules.ts): the
  // receiver refuses with 422 ERR_BAD_VALUE, citing that rule's requirement (e.g. [AUTH-15]).
  const rule = brokenValueRule(m, t.role);
  if (rule)
    return {
      kind: 'validation',
      code: 'ERR_BAD_VALUE',
      status: 422,
      alts: [{ code: 'ERR_BAD_VALUE', status: 422 }],
      req: rule.req,
    };
  if (m.kind === 'request' && m.method === t.start) return { kind: 'served' };
  return { kind: 'any' };
}

interface Outcome {
  ok: boolean;
  req: string;
  why: string;
}

/** Writes the input in its chunks, a turn of the event loop after each, then the rest in one write. */
async function writeInput(c: Conn, input: WireInput): Promise<void> {
  let off = 0;
  for (const n of input.chunks) {
    if (off >= input.bytes.length) break;
    c.writeRaw(input.bytes.subarray(off, off + n));
    off += n;
    await new Promise<void>((res) => setImmediate(res));
  }
  if (off < input.bytes.length) c.writeRaw(input.bytes.subarray(off));
}

/** No answer in time: acceptable only for an incomplete message on an open connection. */
function judgeSilence(exp: Expectation, input: WireInput, timeoutMs: number): Outcome | null {
  if (exp.kind === 'framing' && exp.code === 'ERR_TRUNCATED')
    return input.after === 'fin'
      ? { ok: false, req: 'WIRE-12', why: 'a message cut by the end of input got neither an answer nor a close' }
      : null;
  return {
    ok: false,
    req:
      exp.kind === 'validation' && exp.req
        ? exp.req
        : exp.kind === 'framing' || exp.kind === 'validation'
          ? errorSpec(exp.code).req
          : 'CONN-9',
    why: `no answer within ${timeoutMs} ms`,
  };
}

/** Closed without an answer: a clean close is acceptable for a cut message only. */
function judgeClose(exp: Expectation, input: WireInput): Outcome | null {
  if (exp.kind === 'any' || (exp.kind === 'framing' && exp.code === 'ERR_TRUNCATED') || input.after === 'fin')
    return null;
  return {
    ok: false,
    req:
      exp.kind === 'served'
        ? 'CONN-9'
        : exp.kind === 'validation' && exp.req
          ? exp.req
          : errorSpec((exp as { code: string }).code).req,
    why: `the target closed without answering (expected ${JSON.stringify(exp)})`,
  };
}

/** An error answer: the status (and, for inputs built to one error, the Error-code) the expectation allows; a framing error closes. */
async function judgeRefusal(
  ctx: FuzzCtx,
  exp: Extract<Expectation, { kind: 'framing' | 'validation' }>,
  input: WireInput,
  c: Conn,
  r: ResponseMessage,
): Promise<Outcome | null> {
  const e = exp.kind === 'validation' && exp.req ? { req: exp.req } : errorSpec(exp.code);
  const alts = exp.kind === 'validation' ? exp.alts : [{ code: exp.code, status: exp.status }];
  const want = alts.map((a) => `${a.status} ${a.code}`).join(' or ');
  if (!alts.some((a) => a.status === r.status))
    return { ok: false, req: e.req, why: `expected ${want}, got ${r.status} ${header(r, 'Error-code') ?? ''}` };
  if (!header(r, 'Error-code')) return { ok: false, req: e.req, why: 'an error response without Error-code' };
  if (
    (input.kind === 'near-valid' || input.kind === 'octet-class') &&
    !alts.some((a) => a.code === header(r, 'Error-code'))
  )
    return { ok: false, req: e.req, why: `expected Error-code ${want}, got ${header(r, 'Error-code')}` };
  if (exp.kind === 'framing' && input.after === 'wait' && !(await c.closedWithin(ctx.timeout)))
    return {
      ok: false,
      req: errorSpec(exp.code).req,
      why: `the connection stayed open after a framing error (${exp.code})`,
    };
  return null;
}

/** The answer (or its absence) to the input, judged against the expectation; null when it is right. */
async function judge(
  ctx: FuzzCtx,
  t: WireTarget,
  input: WireInput,
  exp: Expectation,
  c: Conn,
): Promise<Outcome | null> {
  if (input.after === 'fin') c.socket.end();
  const r: ResponseMessage | null = await c
    .nextResponse(ctx.timeout, 'an answer')
    .catch(() => undefined as unknown as ResponseMessage | null);
  if (c.violations.length) return { ok: false, req: c.violations[0]!.req, why: c.violations[0]!.text };
  if (r === undefined) return judgeSilence(exp, input, ctx.timeout);
  if (r === null) return judgeClose(exp, input);
  // [CONN-1] a CRS may refuse any first message other than ENROLL/LOCATE as out of state.
  if (
    exp.kind === 'validation' &&
    t.firstMessageDecides &&
    r.status === 425 &&
    header(r, 'Error-code') === 'ERR_OUT_OF_STATE'
  )
    return null;
  if (exp.kind === 'framing' || exp.kind === 'validation') return judgeRefusal(ctx, exp, input, c, r);
  if (exp.kind === 'served' && !t.firstOk(r))
    return { ok: false, req: 'CONN-9', why: `a valid ${t.start} got ${r.status} ${header(r, 'Error-code') ?? ''}` };
  return null;
}

/** After the input, the target keeps serving: a new connection's valid first message is answered as it should be [CONN-8]. */
async function probeAfter(ctx: FuzzCtx, t: WireTarget, tr: Transcript): Promise<Outcome> {
  const probe = await ctx.connectWith(tr, 'probe').catch((e: Error) => e);
  if (probe instanceof Error)
    return { ok: false, req: 'CONN-8', why: `the target stopped accepting connections: ${probe.message}` };
  try {
    const r = await probe.request(t.first() as never, ctx.timeout).catch((e: Error) => e);
    if (r instanceof Error) return { ok: false, req: 'CONN-8', why: `the target stopped answering: ${r.message}` };
    if (!t.firstOk(r)) return { ok: false, req: 'CONN-8', why: `a valid ${t.start} after the input got ${r.status}` };
  } finally {
    probe.destroy();
  }
  return { ok: true, req: '', why: '' };
}

async function runOne(ctx: FuzzCtx, t: WireTarget, input: WireInput, tr: Transcript): Promise<Outcome> {
  const exp = expectationFor(input.bytes, t, ctx.limits);
  tr.note(
    `input: ${input.label} (${input.kind}); writes ${input.chunks.length ? input.chunks.join('+') + '+rest' : 'one'}; then ${input.after}; expected: ${JSON.stringify(exp)}`,
  );
  const c = await ctx.connectWith(tr, 'fuzz');
  try {
    await writeInput(c, input);
    if (input.after === 'reset') c.socket.resetAndDestroy();
    else {
      const bad = await judge(ctx, t, input, exp, c);
      if (bad) return bad;
    }
  } finally {
    c.destroy();
  }
  return probeAfter(ctx, t, tr);
}

/** Every requirement a wire-fuzzing finding can name: the framing and validation errors' own, and the serving rules. */
export function wireFuzzReqs(t: WireTarget): string[] {
  const codes = ERROR_LIST.filter((e) => e.status === 400 || e.status === 405 || e.status === 413 || e.status === 422)
    .map((e) => e.req)
    .filter((r) => /^(WIRE|REG|HDR|CONN)-/.test(r));
  return [
    ...new Set([
      'WIRE-1',
      'REG-9',
      'ERR-1',
      'CONN-8',
      'CONN-9',
      'WIRE-12',
      'WIRE-14',
      'WIRE-20',
      'WIRE-21',
      'WIRE-22',
      ...(t.firstMessageDecides ? [t.firstMessageDecides] : []),
      ...METHOD_VALUE_RULES.filter((r) => r.method === t.start && r.to === t.role).map((r) => r.req),
      ...codes,
    ]),
  ];
}

/** Run the wire-fuzzing property of case `id` against `t`, failing the case on a counterexample. */
export async function runWireFuzz<C extends FuzzCtx>(ctx: C, t: WireTarget, limits: Limits, id: string): Promise<void> {
  const arb = wireInput(t, limits);
  let last: Outcome = { ok: true, req: '', why: '' };
  const prop = fc.asyncProperty(arb, async (input) => {
    last = await runOne(ctx, t, input, new Transcript(200));
    return last.ok;
  });
  const details = await fc.check(prop, {
    seed: ctx.opts.seed,
    numRuns: ctx.opts.runs,
    ...(ctx.opts.path ? { path: ctx.opts.path, endOnFailure: true } : {}),
  });
  (ctx as unknown as { meta: { seed?: number; path?: string; replay?: string } }).meta.seed = details.seed;
  ctx.note(`fast-check: ${details.numRuns} runs, seed ${details.seed}`);
  if (details.failed && details.counterexample) {
    const [input] = details.counterexample;
    // Replay the shrunk input once, recording its wire transcript in the case's log.
    ctx.note(
      `shrunk counterexample after ${details.numShrinks} shrinks: ${input.label}; octets: ${JSON.stringify(input.bytes.toString('latin1'))}`,
    );
    const out = await runOne(ctx, t, input, ctx.tr);
    const final = out.ok ? last : out;
    const meta = (ctx as unknown as { meta: { seed?: number; path?: string; replay?: string } }).meta;
    meta.path = details.counterexamplePath ?? undefined;
    meta.replay = `${replayBase(ctx.opts.commandLine)} --only ${id} --seed ${details.seed} --path '${details.counterexamplePath}'`;
    ctx.must(false, final.req || 'WIRE-1', `${final.why} [input: ${input.label}]`);
  }
}
