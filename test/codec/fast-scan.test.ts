// The fast path's four-octet scan (codec/decoder.ts fastMessage, issue 15) steps straight to the
// first octet that is not printable in a word. One octet outside text_octet, at any offset of an
// otherwise valid head and so at every position within a word, must give exactly what the
// grammar gives: the same error at the same offset, or the same messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeWithGrammar, encode, request } from '../../codec/index.js';
import { fastOutcome, message } from './arbitraries.js';

/** Octets the scan must stop at: controls, CR, LF, tab (valid), DEL and above. */
const ODD = [0x00, 0x01, 0x08, 0x09, 0x0a, 0x0b, 0x0d, 0x1f, 0x7f, 0x80, 0xc3, 0xff];

function same(wire: Buffer): void {
  const ref = decodeWithGrammar(wire);
  const want = { messages: ref.messages, error: ref.error && { code: ref.error.code, offset: ref.error.offset } };
  assert.deepEqual(fastOutcome(wire, []), want, JSON.stringify(wire.toString('latin1')));
  assert.deepEqual(fastOutcome(wire, [7]), want, 'in 7-octet chunks');
}

test('[WIRE-3] [WIRE-9] one odd octet at every offset of a head: fast path == grammar', () => {
  const m = request('PRESENCE', {
    User: 'alice',
    Status: 'online',
    Address: '10.1.2.3:7200',
    Tag: 't1',
  });
  const wire = Buffer.concat([encode(m), encode(request('PING', { Tag: 'x' }))]);
  const headLen = wire.indexOf('\r\n\r\n') + 4;
  for (let at = 0; at < headLen; at++)
    for (const o of ODD) {
      const w = Buffer.from(wire);
      w[at] = o;
      same(w);
    }
});

test('[WIRE-3] [WIRE-9] one odd octet anywhere in a generated message: fast path == grammar (property)', () => {
  fc.assert(
    fc.property(message, fc.nat(), fc.constantFrom(...ODD), (m, at, o) => {
      const w = Buffer.from(encode(m));
      w[at % w.length] = o;
      same(w);
    }),
    { numRuns: 300 },
  );
});
