// The fast path's four-octet scan (codec/decoder.ts fastMessage, issue 15) steps straight to the
// first octet that is not printable in a word. One octet outside text_octet, at any offset of an
// otherwise valid head and so at every position within a word, must give exactly what the
// grammar gives: the same error at the same offset, or the same messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Decoder, decodeWithGrammar, encode, request } from '../../codec/index.js';
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

// The fast path trims a value's whitespace with a shortcut for the usual single SP after the colon
// (codec/decoder.ts fastMessage): every spelling of up to two SP / HTAB before and after a value,
// for a registered and an unregistered name, must give what the grammar gives.
test('[WIRE-7] whitespace around a header value, every spelling: fast path == grammar', () => {
  const ws = ['', ' ', '\t', '  ', ' \t', '\t ', '\t\t'];
  for (const name of ['User', 'X-user'])
    for (const before of ws)
      for (const after of ws)
        for (const value of ['alice', 'a', '10.1.2.3:7200', ''])
          same(Buffer.from(`PRESENCE\r\n${name}:${before}${value}${after}\r\nTag: t1\r\n\r\nPING\r\n\r\n`, 'latin1'));
});

// A head the fast path takes whole while its body is still to come leaves the decoder in the state
// the general path would (phase BODY): the message must come out the same at every split.
test('[WIRE-1] a head whole in one push, its body in the next, at every split: fast path == grammar', () => {
  const wire = Buffer.concat([
    encode(request('MSG', { From: 'alice', To: 'bob', 'Content-length': 40 }, Buffer.alloc(40, 0x61))),
    encode(request('PING', { Tag: 'x' })),
    encode(request('MSG', { Tag: 'y', 'Content-length': 3 }, Buffer.from('abc'))),
  ]);
  const ref = decodeWithGrammar(wire);
  assert.equal(ref.error, null);
  for (let at = 1; at < wire.length; at++) {
    const d = new Decoder();
    const got = [...d.push(wire.subarray(0, at)), ...d.push(wire.subarray(at))];
    d.end();
    assert.deepEqual(got, ref.messages, `split at ${at}`);
  }
});
