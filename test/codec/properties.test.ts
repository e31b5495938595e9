// fast-check properties of the codec (bounded runs; `make fuzz` runs millions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decode,
  decodeWithGrammar,
  encode,
  parseRecords,
  parseRecordsWithGrammar,
  encodeRecords,
  ImspError,
} from '../../codec/index.js';
import {
  message,
  stream,
  nearValid,
  chunking,
  smallLimits,
  fastOutcome,
  headerName,
  headerValue,
} from './arbitraries.js';

const RUNS = Number(process.env.IMSP_PROP_RUNS ?? 300);

test('[WIRE-1] encode then decode returns the same message', () => {
  fc.assert(
    fc.property(message, (m) => {
      assert.deepEqual(decode(encode(m)), [m]);
    }),
    { numRuns: RUNS },
  );
});

test('[WIRE-12] any chunking of the input gives the same output', () => {
  fc.assert(
    fc.property(nearValid, chunking, (wire, sizes) => {
      assert.deepEqual(fastOutcome(wire, sizes), fastOutcome(wire, []));
      assert.deepEqual(fastOutcome(wire, sizes, smallLimits), fastOutcome(wire, [], smallLimits));
    }),
    { numRuns: RUNS },
  );
});

test('[WIRE-2] fast path == grammar (peggy) on valid and near-valid input', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        stream.map((s) => s.wire),
        nearValid,
      ),
      chunking,
      (wire, sizes) => {
        for (const limits of [undefined, smallLimits]) {
          const ref = decodeWithGrammar(wire, { limits });
          const fast = fastOutcome(wire, sizes, limits);
          assert.deepEqual(fast, {
            messages: ref.messages,
            error: ref.error && { code: ref.error.code, offset: ref.error.offset },
          });
        }
      },
    ),
    { numRuns: RUNS },
  );
});

test('[WIRE-9] bad input never throws anything but ImspError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), chunking, (bytes, sizes) => {
      const wire = Buffer.from(bytes);
      const ref = decodeWithGrammar(wire);
      const fast = fastOutcome(wire, sizes);
      assert.deepEqual(fast.error, ref.error && { code: ref.error.code, offset: ref.error.offset });
    }),
    { numRuns: RUNS },
  );
});

test('[REC-2] records: fast parser == grammar, and encodeRecords round-trips', () => {
  const records = fc.array(fc.array(fc.tuple(headerName, headerValue), { minLength: 1, maxLength: 4 }), {
    maxLength: 4,
  });
  fc.assert(
    fc.property(records, (rs) => {
      const body = encodeRecords(rs);
      assert.deepEqual(parseRecords(body), rs);
      assert.deepEqual(parseRecordsWithGrammar(body), rs);
    }),
    { numRuns: RUNS },
  );
  const mutated = fc
    .tuple(records, fc.nat(), fc.constantFrom('\r', '\n', '\r\n', ' ', ':', '\x80', ''))
    .map(([rs, at, ins]) => {
      const s = encodeRecords(rs).toString('latin1');
      const i = s.length ? at % s.length : 0;
      return Buffer.from(s.slice(0, i) + ins + s.slice(i + (ins === '' ? 1 : 0)), 'latin1');
    });
  fc.assert(
    fc.property(mutated, (body) => {
      const run = (f: () => unknown): unknown => {
        try {
          return f();
        } catch (e) {
          assert.ok(e instanceof ImspError && e.code === 'ERR_BAD_RECORDS', String(e));
          return 'ERR_BAD_RECORDS';
        }
      };
      assert.deepEqual(
        run(() => parseRecords(body)),
        run(() => parseRecordsWithGrammar(body)),
      );
    }),
    { numRuns: RUNS },
  );
});
