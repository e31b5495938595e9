// The generated matchers of the decoder's fast path (generated/internal/fast-names.ts, from
// grammar/codegen/gen-fast-names.ts): each registered name is found, spelled as in the registry,
// and nothing else is (issue 15). The decoder's output is checked against the grammar elsewhere
// (properties.test.ts); this checks that the fast path is really taken for registered names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FAST_CONTENT_LENGTH,
  FAST_HEADERS,
  FAST_METHODS,
  matchHeader,
  matchMethod,
} from '../../generated/internal/fast-names.js';
import { HEADERS, METHODS } from '../../generated/registry.js';

/** A head ending with the given line, as the fast path sees it: [s, e) is the line, e its CR. */
function line(text: string, before = 'MSG\r\n'): { v: DataView; s: number; e: number } {
  const b = Buffer.from(`${before}${text}\r\n\r\n`, 'latin1');
  return { v: new DataView(b.buffer, b.byteOffset, b.length), s: before.length, e: before.length + text.length };
}

test('[WIRE-6] matchHeader finds every registered header name followed by a colon, whatever the value', () => {
  assert.deepEqual([...FAST_HEADERS].sort(), Object.keys(HEADERS).sort());
  assert.equal(FAST_HEADERS[FAST_CONTENT_LENGTH], 'Content-length');
  fc.assert(
    fc.property(
      fc.constantFrom(...FAST_HEADERS),
      fc.stringMatching(/^[ \t]{0,2}[!-~]{0,12}$/),
      fc.constantFrom('', 'LOGIN\r\nUser: a\r\n'),
      (name, value, extra) => {
        const { v, s, e } = line(`${name}:${value}`, `MSG\r\n${extra}`);
        assert.equal(FAST_HEADERS[matchHeader(v, s, e)], name);
      },
    ),
    { numRuns: 400 },
  );
});

test('[WIRE-6] matchHeader refuses other spellings, near misses and a name without its colon', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...FAST_HEADERS),
      fc.nat(),
      fc.constantFrom('case', 'octet', 'short', 'long', 'nocolon'),
      (name, at, how) => {
        const i = at % name.length;
        let wire: string;
        if (how === 'case') {
          const c = name[i]!;
          const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
          if (flipped === c) return;
          wire = `${name.slice(0, i)}${flipped}${name.slice(i + 1)}: x`;
        } else if (how === 'octet') wire = `${name.slice(0, i)}${name[i] === 'Q' ? 'R' : 'Q'}${name.slice(i + 1)}: x`;
        else if (how === 'short') wire = `${name.slice(0, i)}: x`;
        else if (how === 'long') wire = `${name.slice(0, i + 1)}x${name.slice(i + 1)}: x`;
        else wire = `${name} x`;
        if (FAST_HEADERS.some((n) => wire.startsWith(`${n}:`))) return; // became another registered name
        const { v, s, e } = line(wire);
        assert.equal(matchHeader(v, s, e), -1, wire);
      },
    ),
    { numRuns: 600 },
  );
  // The colon must lie inside the line: a line that is only the name is not matched.
  for (const name of FAST_HEADERS) {
    const b = Buffer.from(`MSG\r\n${name}\r\n\r\n`, 'latin1');
    assert.equal(matchHeader(new DataView(b.buffer, b.byteOffset, b.length), 5, 5 + name.length), -1, name);
  }
});

test('[WIRE-4] matchMethod finds exactly the registered methods as a whole start line', () => {
  assert.deepEqual([...FAST_METHODS].sort(), Object.keys(METHODS).sort());
  for (const [k, m] of FAST_METHODS.entries()) {
    const b = Buffer.from(`${m}\r\nTag: 1\r\n\r\n`, 'latin1');
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    assert.equal(matchMethod(v, 0, m.length), k, m);
    // A longer or shorter start line, or another case, is not this method.
    const longer = Buffer.from(`${m}X\r\n\r\n`, 'latin1');
    assert.equal(matchMethod(new DataView(longer.buffer, longer.byteOffset, longer.length), 0, m.length + 1), -1);
    const lower = Buffer.from(`${m.toLowerCase()}\r\n\r\n`, 'latin1');
    assert.equal(matchMethod(new DataView(lower.buffer, lower.byteOffset, lower.length), 0, m.length), -1);
    if (m.length > 3) {
      const cut = Buffer.from(`${m.slice(0, -1)}\r\n\r\n\r\n`, 'latin1');
      const got = matchMethod(new DataView(cut.buffer, cut.byteOffset, cut.length), 0, m.length - 1);
      assert.ok(got === -1 || FAST_METHODS[got] === m.slice(0, -1), m);
    }
  }
});
