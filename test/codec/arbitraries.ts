// fast-check arbitraries for IMSP wire messages: valid ones, near-valid ones (valid pieces
// with wire-breaking octets inserted, replaced or removed), and split points. Shared by the
// property tests and test/codec/fuzz-long.ts.
import fc from 'fast-check';
import {
  HEADERS,
  METHODS,
  encode,
  Decoder,
  ImspError,
  type Header,
  type Message,
  type WireLimits,
} from '../../codec/index.js';

const upper = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const nameChars = `${upper}abcdefghijklmnopqrstuvwxyz0123456789-`;
const vchars = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join('');

/** Strings over an alphabet, generated as octets mapped into it (much faster than per-char units). */
const str = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((a) => {
    let out = '';
    for (const b of a) out += alphabet[b % alphabet.length];
    return out;
  });

/**
 * A registered name, or one a single step away from it (the decoder's fast path matches the
 * registered spellings octet for octet): one more character, one less, one changed, case flipped.
 */
const nearName = (names: readonly string[], alphabet: string, flipCase: boolean): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...names) },
    fc
      .tuple(fc.constantFrom(...names), fc.nat(), fc.constantFrom(...alphabet), fc.nat(flipCase ? 3 : 2))
      .map(([n, at, c, op]) => {
        // The first character stays (a method's first must be a letter).
        const i = n.length > 1 ? 1 + (at % (n.length - 1)) : 0;
        if (i === 0) return n + c;
        if (op === 0) return n + c;
        if (op === 1) return n.length > 1 ? n.slice(0, -1) : n;
        if (op === 2) return n.slice(0, i) + c + n.slice(i + 1);
        return (
          n.slice(0, i) + (n[i] === n[i]!.toLowerCase() ? n[i]!.toUpperCase() : n[i]!.toLowerCase()) + n.slice(i + 1)
        );
      }),
  );

export const method = fc.oneof(
  nearName(Object.keys(METHODS), `${upper}0123456789-`, false),
  fc.tuple(str(upper, 1, 1), str(`${upper}0123456789-`, 0, 12)).map(([a, b]) => a + b),
);
export const headerName = fc.oneof(
  fc.constantFrom('User', 'From', 'To', 'Tag', 'Status', 'Content-type', 'X-Trace', 'content-LENGTH'),
  nearName(Object.keys(HEADERS), nameChars, true),
  str(nameChars, 1, 20),
);
/** A value: visible characters with single interior spaces or tabs (never at the ends). */
export const headerValue = fc.oneof(
  fc.constant(''),
  str(vchars, 100, 250),
  fc
    .array(str(vchars, 1, 12), { minLength: 1, maxLength: 4 })
    .chain((words) =>
      fc
        .array(fc.constantFrom(' ', '\t', '  '), { minLength: words.length - 1, maxLength: words.length - 1 })
        .map((seps) => words.map((w, i) => (i === 0 ? w : seps[i - 1] + w)).join('')),
    ),
);
const reason = fc.array(str(vchars, 1, 10), { minLength: 1, maxLength: 3 }).map((w) => w.join(' '));
const body = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
);

const headerList = fc
  .array(fc.tuple(headerName, headerValue), { maxLength: 8 })
  .map((hs) => hs.filter(([n]) => n.toLowerCase() !== 'content-length') as Header[]);

/** A valid message whose Content-length header (when the body is not empty) is already right. */
export const message: fc.Arbitrary<Message> = fc
  .tuple(fc.boolean(), method, fc.integer({ min: 100, max: 999 }), reason, headerList, body, fc.nat(8))
  .map(([isReq, m, status, r, hs, b, clAt]) => {
    const headers: Header[] = [...hs];
    if (b.length > 0) headers.splice(Math.min(clAt, headers.length), 0, ['Content-length', String(b.length)]);
    return isReq
      ? { kind: 'request', method: m, headers, body: b }
      : { kind: 'response', status, reason: r, headers, body: b };
  });

export const stream = fc
  .array(message, { minLength: 1, maxLength: 4 })
  .map((ms) => ({ ms, wire: Buffer.concat(ms.map(encode)) }));

const nasty = [13, 10, 32, 9, 58, 0x80, 0xff, 0, 127, 97, 65, 48, 45, 1];
/** One edit of the wire: insert, replace or delete octets, or repeat a slice (long lines). */
const edit = fc.oneof(
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.array(fc.constantFrom(...nasty), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    op: fc.constant('replace' as const),
    at: fc.nat(),
    bytes: fc.array(fc.constantFrom(...nasty), { minLength: 1, maxLength: 2 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    op: fc.constant('repeat' as const),
    at: fc.nat(),
    n: fc.integer({ min: 1, max: 40 }),
    times: fc.integer({ min: 2, max: 120 }),
  }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc
      .constantFrom(
        'Content-length: 2000\r\n',
        'Content-length: 00012\r\n',
        'content-LENGTH:\t7 \r\n',
        'Content-length: 1x\r\n',
        `X-Pad: ${'p'.repeat(240)}\r\n`,
      )
      .map((t) => [...Buffer.from(t, 'latin1')]),
  }),
);
export type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

export function applyEdit(wire: Buffer, e: Edit): Buffer {
  const at = wire.length === 0 ? 0 : e.at % (wire.length + 1);
  switch (e.op) {
    case 'insert':
      return Buffer.concat([wire.subarray(0, at), Buffer.from(e.bytes), wire.subarray(at)]);
    case 'replace':
      return Buffer.concat([wire.subarray(0, at), Buffer.from(e.bytes), wire.subarray(at + e.bytes.length)]);
    case 'delete':
      return Buffer.concat([wire.subarray(0, at), wire.subarray(at + e.n)]);
    case 'repeat': {
      const piece = wire.subarray(at, at + e.n);
      return Buffer.concat([wire.subarray(0, at), ...Array<Buffer>(e.times).fill(piece), wire.subarray(at + e.n)]);
    }
  }
}

/** A wire that is valid, or valid with 1 to 3 edits. */
export const nearValid = fc
  .tuple(stream, fc.array(edit, { maxLength: 3 }))
  .map(([s, edits]) => edits.reduce(applyEdit, s.wire));

/** Split points of a buffer of length n, as chunk sizes. */
export const chunking = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 64 }) },
    { weight: 1, arbitrary: fc.integer({ min: 65, max: 3000 }) },
  ),
  {
    minLength: 1,
    maxLength: 20,
  },
);

/** Small limits within the registry's bounds, so that limit paths are reached. */
export const smallLimits: Partial<WireLimits> = {
  maxLineLength: 256,
  maxHeaders: 16,
  maxHeadSize: 1024,
  maxBodySize: 1024,
};

export interface Outcome {
  messages: Message[];
  error: { code: string; offset: number } | null;
}

/** Runs the fast decoder over wire split by sizes (cycled); never lets a non-ImspError pass. */
export function fastOutcome(wire: Buffer, sizes: readonly number[], limits?: Partial<WireLimits>): Outcome {
  const d = new Decoder({ limits });
  const messages: Message[] = [];
  let pos = 0;
  let k = 0;
  try {
    while (pos < wire.length) {
      const n = sizes.length ? sizes[k++ % sizes.length]! : wire.length;
      messages.push(...d.push(wire.subarray(pos, pos + n)));
      pos += n;
    }
    d.end();
  } catch (e) {
    if (!(e instanceof ImspError)) throw e;
    messages.push(...e.messages);
    return { messages, error: { code: e.code, offset: e.offset } };
  }
  return { messages, error: null };
}
