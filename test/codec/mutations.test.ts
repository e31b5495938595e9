// Every mutation that breaks a wire rule is rejected with that rule's code, at the octet
// the rule names. Each mutator takes a valid message and returns the broken wire and the
// expected (code, offset); both decoders must report exactly that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode, decodeWithGrammar, type Message, type ErrorCode } from '../../codec/index.js';
import { message, fastOutcome, chunking, smallLimits } from './arbitraries.js';

const RUNS = Number(process.env.IMSP_PROP_RUNS ?? 150);

interface Broken {
  wire: Buffer;
  code: ErrorCode;
  offset: number;
  limits?: typeof smallLimits;
}
type Mutator = (wire: Buffer, pick: number) => Broken | null;

/** Offsets of the line starts of the head (the start line first, the empty line last). */
function lineStarts(wire: Buffer): number[] {
  const headEnd = wire.indexOf('\r\n\r\n') + 4;
  const out = [0];
  for (let i = wire.indexOf('\n'); i !== -1 && i + 1 < headEnd; i = wire.indexOf('\n', i + 1)) out.push(i + 1);
  return out;
}
const headEnd = (wire: Buffer): number => wire.indexOf('\r\n\r\n') + 4;
const splice = (w: Buffer, at: number, del: number, ins: string | Buffer): Buffer =>
  Buffer.concat([w.subarray(0, at), typeof ins === 'string' ? Buffer.from(ins, 'latin1') : ins, w.subarray(at + del)]);
const headerLines = (w: Buffer): number[] => lineStarts(w).slice(1, -1);

const MUTATORS: Record<string, { req: string; mutate: Mutator }> = {
  bareCR: {
    req: '[WIRE-3]',
    mutate: (w, k) => {
      const cands = [...Array(headEnd(w)).keys()].filter((p) => p > 0 && w[p - 1] !== 13);
      const p = cands[k % cands.length]!;
      return { wire: splice(w, p, 0, '\r'), code: 'ERR_BARE_CR', offset: p };
    },
  },
  bareLF: {
    req: '[WIRE-3]',
    mutate: (w, k) => {
      const cands = [...Array(headEnd(w)).keys()].filter((p) => p > 0 && w[p - 1] !== 13);
      const p = cands[k % cands.length]!;
      return { wire: splice(w, p, 0, '\n'), code: 'ERR_BARE_LF', offset: p };
    },
  },
  nonAscii: {
    req: '[WIRE-9]',
    mutate: (w, k) => {
      const cands = [...Array(headEnd(w)).keys()].filter((p) => w[p] !== 13 && w[p] !== 10);
      const p = cands[k % cands.length]!;
      return {
        wire: splice(w, p, 1, Buffer.from([[0x80, 0xff, 0x00, 0x7f, 0x1b][k % 5]!])),
        code: 'ERR_NON_ASCII',
        offset: p,
      };
    },
  },
  folded: {
    req: '[WIRE-8]',
    mutate: (w, k) => {
      const ls = headerLines(w);
      if (ls.length === 0) return null;
      const p = ls[k % ls.length]!;
      return { wire: splice(w, p, 0, k % 2 ? ' ' : '\t'), code: 'ERR_FOLDED_HEADER', offset: p };
    },
  },
  spaceBeforeColon: {
    req: '[WIRE-6]',
    mutate: (w, k) => {
      const ls = headerLines(w);
      if (ls.length === 0) return null;
      const p = w.indexOf(':', ls[k % ls.length]!);
      return { wire: splice(w, p, 0, ' '), code: 'ERR_BAD_HEADER_NAME', offset: p };
    },
  },
  missingColon: {
    req: '[WIRE-6]',
    mutate: (w, k) => {
      const ls = headerLines(w);
      if (ls.length === 0) return null;
      const s = ls[k % ls.length]!;
      const lineEnd = w.indexOf('\r\n', s);
      const line = w.subarray(s, lineEnd).toString('latin1').replace(':', '');
      const n = /^[A-Za-z0-9-]*/.exec(line)![0].length;
      return {
        wire: splice(w, s, lineEnd - s, line),
        code: line.includes(':') || n === 0 ? 'ERR_BAD_HEADER_NAME' : 'ERR_MISSING_COLON',
        offset: s + n,
      };
    },
  },
  badMethod: {
    req: '[WIRE-4]',
    mutate: (w, k) => {
      if (w[0]! < 65 || w[0]! > 90) return null;
      const end = w.indexOf('\r\n');
      const p = k % (end + 1);
      return { wire: splice(w, p, 0, ['a', ' ', '_', '.'][k % 4]!), code: 'ERR_BAD_METHOD', offset: p };
    },
  },
  badStatusLine: {
    req: '[WIRE-5]',
    mutate: (w, k) => {
      if (w[0]! < 48 || w[0]! > 57) return null;
      const eol = w.indexOf('\r\n');
      // [insert at, text, offset of the error]: a double space, a tab, four digits, a trailing space.
      const cases: [number, string, number][] = [
        [3, ' ', 4],
        [3, '\t', 3],
        [0, '1', 3],
        [eol, ' ', eol + 1],
      ];
      const [p, ins, offset] = cases[k % cases.length]!;
      return { wire: splice(w, p, 0, ins), code: 'ERR_BAD_STATUS_LINE', offset };
    },
  },
  emptyStartLine: {
    req: '[WIRE-4]',
    mutate: (w) => ({ wire: splice(w, 0, 0, '\r\n'), code: 'ERR_EMPTY_START_LINE', offset: 0 }),
  },
  badContentLength: {
    req: '[WIRE-10]',
    mutate: (w, k) => {
      const s = lineStarts(w)[1]!;
      const v = ['', '-1', '1 2', '12345678901', '0x10', '+5'][k % 6]!;
      return { wire: splice(w, s, 0, `Content-length: ${v}\r\n`), code: 'ERR_BAD_CONTENT_LENGTH', offset: s + 16 };
    },
  },
  duplicateContentLength: {
    req: '[WIRE-11]',
    mutate: (w) => {
      const ls = lineStarts(w);
      const e = ls[ls.length - 1]!;
      const w2 = splice(w, 1 === ls.length ? e : ls[1]!, 0, 'Content-length: 0\r\n');
      const ls2 = lineStarts(w2);
      return {
        wire: splice(w2, ls2[ls2.length - 1]!, 0, 'content-length: 0\r\n'),
        code: 'ERR_DUPLICATE_CONTENT_LENGTH',
        offset: ls2[ls2.length - 1]!,
      };
    },
  },
  truncated: {
    req: '[WIRE-12]',
    mutate: (w, k) => {
      const n = k % w.length;
      // A cut inside the start line or a header line may leave it malformed-looking but
      // syntax is not judged before the line ends: only octet errors could come first.
      return { wire: w.subarray(0, n === 0 ? 1 : n), code: 'ERR_TRUNCATED', offset: n === 0 ? 1 : n };
    },
  },
  lineTooLong: {
    req: '[WIRE-LIMIT-1]',
    mutate: (w) => {
      const s = lineStarts(w)[1]!;
      return {
        wire: splice(w, s, 0, `X-Long: ${'x'.repeat(300)}\r\n`),
        code: 'ERR_LINE_TOO_LONG',
        offset: s + 256,
        limits: smallLimits,
      };
    },
  },
  tooManyHeaders: {
    req: '[WIRE-LIMIT-2]',
    mutate: (w) => {
      if (headEnd(w) > 800) return null;
      const s = lineStarts(w)[1]!;
      // 17 header lines inserted first: the 17th is beyond maxHeaders = 16.
      return {
        wire: splice(w, s, 0, 'X-A: 1\r\n'.repeat(17)),
        code: 'ERR_TOO_MANY_HEADERS',
        offset: s + 8 * 16,
        limits: smallLimits,
      };
    },
  },
  headTooLarge: {
    req: '[WIRE-LIMIT-3]',
    mutate: (w) => {
      const s = lineStarts(w)[1]!;
      if (headEnd(w) > 400) return null;
      return {
        wire: splice(w, s, 0, `X-P: ${'p'.repeat(240)}\r\n`.repeat(5)),
        code: 'ERR_HEAD_TOO_LARGE',
        offset: 1024,
        limits: smallLimits,
      };
    },
  },
  bodyTooLarge: {
    req: '[WIRE-LIMIT-4]',
    mutate: (w) => {
      const s = lineStarts(w)[1]!;
      return {
        wire: splice(w, s, 0, 'Content-length: 1025\r\n'),
        code: 'ERR_BODY_TOO_LARGE',
        offset: s + 16,
        limits: smallLimits,
      };
    },
  },
};

const noContentLength = (m: Message): boolean => !m.headers.some(([n]) => n.toLowerCase() === 'content-length');

for (const [name, { req, mutate }] of Object.entries(MUTATORS)) {
  test(`${req} mutation ${name} is rejected with its rule's code and offset`, () => {
    fc.assert(
      fc.property(message, fc.nat(), chunking, (m, k, sizes) => {
        if (['badContentLength', 'duplicateContentLength', 'bodyTooLarge'].includes(name) && !noContentLength(m))
          return;
        const wire = encode(m);
        const b = mutate(wire, k);
        if (b === null) return;
        const want = { code: b.code, offset: b.offset };
        const ref = decodeWithGrammar(b.wire, { limits: b.limits });
        assert.deepEqual(
          ref.error && { code: ref.error.code, offset: ref.error.offset },
          want,
          `grammar on ${JSON.stringify(b.wire.toString('latin1'))}`,
        );
        assert.deepEqual(
          fastOutcome(b.wire, sizes, b.limits).error,
          want,
          `fast path on ${JSON.stringify(b.wire.toString('latin1'))}`,
        );
      }),
      { numRuns: RUNS },
    );
  });
}
