// The octet classes of the wire grammar (grammar/imsp.peggy's rules marked "table", as `make generate`
// writes them to generated/internal/tables.ts), read from the generated table rather than retyped, and
// the fuzz inputs drawn from them (issue 12, "wire fuzzing draws from every octet class"): for each
// position of a message head (method, status code, reason, header name, header value) an octet from the
// position's own class, from just outside or just inside each boundary of every class, or any octet.
// The expected outcome of an input is the generated codec's verdict (lib/wire-fuzz.ts), never a table here.
import fc from 'fast-check';
import {
  C_DIGIT,
  C_FIELD_VCHAR,
  C_METHOD_CHAR,
  C_METHOD_FIRST,
  C_NAME_CHAR,
  C_REASON_CHAR,
  C_TEXT_OCTET,
  C_WSP,
  CLASS,
} from '../../generated/internal/tables.js';

/** One grammar octet class: its rule name, bit in CLASS, and members. */
export interface OctetClass {
  rule: string;
  bit: number;
  octets: number[];
  /** The first and last octet of each run of the class and the octets on either side (0..255). */
  boundaries: number[];
}

const BITS: [string, number][] = [
  ['method_first', C_METHOD_FIRST],
  ['method_char', C_METHOD_CHAR],
  ['digit', C_DIGIT],
  ['reason_char', C_REASON_CHAR],
  ['name_char', C_NAME_CHAR],
  ['field_vchar', C_FIELD_VCHAR],
  ['WSP', C_WSP],
  ['text_octet', C_TEXT_OCTET],
];

function classOf(rule: string, bit: number): OctetClass {
  const octets: number[] = [];
  const boundaries = new Set<number>();
  for (let o = 0; o < 256; o++) {
    const inside = (CLASS[o]! & bit) !== 0;
    if (inside) octets.push(o);
    const prevInside = o > 0 && (CLASS[o - 1]! & bit) !== 0;
    if (inside !== prevInside && o > 0) {
      // A class edge between o-1 and o: both sides, and one further out on each side.
      for (const b of [o - 2, o - 1, o, o + 1]) if (b >= 0 && b < 256) boundaries.add(b);
    }
  }
  return { rule, bit, octets, boundaries: [...boundaries].sort((a, b) => a - b) };
}

/** Every octet class of the grammar, from the generated table. */
export const OCTET_CLASSES: readonly OctetClass[] = BITS.map(([r, b]) => classOf(r, b));

export const octetClass = (rule: string): OctetClass => {
  const c = OCTET_CLASSES.find((k) => k.rule === rule);
  if (!c) throw new Error(`no octet class ${rule}`);
  return c;
};

/** Every class boundary octet of every class, plus the framing octets CR, LF, NUL, 0x7F..0x80, 0xFF. */
export const ALL_BOUNDARIES: readonly number[] = [
  ...new Set([...OCTET_CLASSES.flatMap((c) => c.boundaries), 0x00, 0x0a, 0x0d, 0x7f, 0x80, 0xff]),
].sort((a, b) => a - b);

/** An octet for a position whose class is `own`: in the class, at a boundary of it or of any class, or any octet. */
export function octetFor(own: OctetClass): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...own.octets) },
    { weight: 3, arbitrary: fc.constantFrom(...own.boundaries) },
    { weight: 2, arbitrary: fc.constantFrom(...ALL_BOUNDARIES) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
}

/** The positions of a message head the fuzzer draws octets for, with the class each uses. */
export type Position = 'method' | 'status' | 'reason' | 'header name' | 'header value';

export interface ClassInput {
  bytes: Buffer;
  label: string;
  position: Position;
}

const L = (s: string): Buffer => Buffer.from(s, 'latin1');
const hex = (o: number): string => `0x${o.toString(16).padStart(2, '0')}`;

/**
 * Hostile inputs built around `firstHead` (the encoded harmless first message of the target, e.g.
 * "LOCATE\r\nImsp-version: 1\r\n\r\n"): one position's octets drawn from the grammar's classes.
 */
export function classInput(firstHead: () => Buffer): fc.Arbitrary<ClassInput> {
  const first = octetClass('method_first');
  const mchar = octetClass('method_char');
  const digit = octetClass('digit');
  const reason = octetClass('reason_char');
  const name = octetClass('name_char');
  const vchar = octetClass('field_vchar');
  const wsp = octetClass('WSP');
  const restOf = (): string => {
    const s = firstHead().toString('latin1');
    return s.slice(s.indexOf('\r\n'));
  };
  const startOf = (): string => {
    const s = firstHead().toString('latin1');
    return s.slice(0, s.indexOf('\r\n'));
  };
  const str = (a: fc.Arbitrary<number>, min: number, max: number): fc.Arbitrary<number[]> =>
    fc.array(a, { minLength: min, maxLength: max });
  const show = (os: number[]): string => os.map(hex).join(' ');
  const method = fc.tuple(octetFor(first), str(octetFor(mchar), 0, 12)).map(([f, rest]) => ({
    bytes: Buffer.concat([Buffer.from([f, ...rest]), L(restOf())]),
    label: `method octets ${show([f, ...rest])}`,
    position: 'method' as const,
  }));
  // One octet of the target's own method replaced: the edges of a known method.
  const methodEdit = fc.tuple(fc.nat(), octetFor(mchar)).map(([p, o]) => {
    const m = startOf();
    const i = p % m.length;
    const b = L(m);
    b[i] = o;
    return {
      bytes: Buffer.concat([b, L(restOf())]),
      label: `method ${m} with octet ${i} set to ${hex(o)}`,
      position: 'method' as const,
    };
  });
  const status = fc.tuple(str(octetFor(digit), 1, 4), fc.constantFrom('OK', 'Not found')).map(([ds, r]) => ({
    bytes: Buffer.concat([Buffer.from(ds), L(` ${r}\r\nTag: 1\r\n\r\n`)]),
    label: `status octets ${show(ds)}`,
    position: 'status' as const,
  }));
  const reasonIn = fc
    .tuple(str(octetFor(reason), 1, 8), fc.option(octetFor(wsp), { nil: undefined }))
    .map(([rs, sp]) => ({
      bytes: Buffer.concat([
        L('200 O'),
        Buffer.from(rs),
        sp === undefined ? L('') : Buffer.from([sp, 0x4b]),
        L('\r\n\r\n'),
      ]),
      label: `reason octets ${show(rs)}${sp === undefined ? '' : ` then ${hex(sp)} K`}`,
      position: 'reason' as const,
    }));
  const headerName = str(octetFor(name), 1, 10).map((ns) => {
    const s = firstHead().toString('latin1');
    const at = s.indexOf('\r\n') + 2;
    return {
      bytes: Buffer.concat([L(s.slice(0, at)), Buffer.from(ns), L(': v\r\n'), L(s.slice(at))]),
      label: `header name octets ${show(ns)}`,
      position: 'header name' as const,
    };
  });
  const headerValue = fc
    .tuple(str(octetFor(vchar), 0, 10), fc.option(octetFor(wsp), { nil: undefined }), str(octetFor(vchar), 0, 4))
    .map(([a, sp, b]) => {
      const s = firstHead().toString('latin1');
      const at = s.indexOf('\r\n') + 2;
      const v = [...a, ...(sp === undefined ? [] : [sp]), ...b];
      return {
        bytes: Buffer.concat([L(s.slice(0, at)), L('X-f: '), Buffer.from(v), L('\r\n'), L(s.slice(at))]),
        label: `header value octets ${show(v)}`,
        position: 'header value' as const,
      };
    });
  return fc.oneof(method, methodEdit, status, reasonIn, headerName, headerValue);
}
