// Streaming behaviour: limits are enforced as the octets arrive, buffering stays bounded,
// bodies and messages split anywhere come out whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder, ImspError, LIMITS, encode, request } from '../../codec/index.js';

test('[WIRE-LIMIT-6] a line without end fails as soon as it can no longer fit maxLineLength', () => {
  const d = new Decoder();
  let fed = 0;
  const one = Buffer.from('A');
  assert.throws(
    () => {
      for (; fed < 100_000; fed++) d.push(one);
    },
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_LINE_TOO_LONG' && e.offset === LIMITS.maxLineLength,
  );
  // With maxLineLength octets and no LF the line can no longer fit: the push of its last
  // allowed octet fails.
  assert.equal(fed, LIMITS.maxLineLength - 1);
});

test('[WIRE-LIMIT-3] a head of many short lines fails at maxHeadSize as the octets arrive', () => {
  const d = new Decoder({ limits: { maxHeadSize: 1024, maxHeaders: 10_000 } });
  const line = Buffer.from('X-A: 0123456789\r\n');
  let pushed = 0;
  assert.throws(
    () => {
      d.push(Buffer.from('PING\r\n'));
      for (pushed = 6; pushed < 100_000; pushed += line.length) d.push(line);
    },
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_HEAD_TOO_LARGE' && e.offset === 1024,
  );
  assert.ok(pushed <= 1024 + line.length, `buffered ${pushed} octets`);
});

test('[WIRE-LIMIT-4] a Content-length above maxBodySize fails before any body octet', () => {
  const d = new Decoder();
  assert.throws(
    () => d.push(Buffer.from(`MSG\r\nContent-length: ${LIMITS.maxBodySize + 1}\r\n`)),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_BODY_TOO_LARGE' && e.offset === 21,
  );
});

test('[WIRE-1] a large body split in many chunks comes out whole, and in-place bodies are intact', () => {
  const body = Buffer.alloc(LIMITS.maxBodySize, 7);
  for (let i = 0; i < body.length; i += 4099) body[i] = i & 255;
  const wire = Buffer.concat([
    encode(request('MSG', { From: 'a', To: 'b', 'Content-type': 'application/octet-stream' }, body)),
    encode(request('PING')),
  ]);
  const d = new Decoder();
  const out = [];
  for (let i = 0; i < wire.length; i += 65536) out.push(...d.push(wire.subarray(i, i + 65536)));
  d.end();
  assert.equal(out.length, 2);
  assert.ok(out[0]!.body.equals(body));
  assert.equal(out[1]!.kind === 'request' && out[1]!.method, 'PING');
});

test('[WIRE-12] messages completed before an error in the same chunk are not lost', () => {
  const d = new Decoder();
  const wire = Buffer.concat([encode(request('PING')), encode(request('PING')), Buffer.from('bad\r\n')]);
  try {
    d.push(wire);
    assert.fail('no error');
  } catch (e) {
    assert.ok(e instanceof ImspError);
    assert.equal(e.code, 'ERR_BAD_METHOD');
    assert.equal(e.offset, 16);
    assert.equal(e.messageOffset, 0);
    assert.equal(e.messages.length, 2);
  }
});

test('[WIRE-1] a long head split after a few octets is completed from the next chunk', () => {
  const long = request(
    'PING',
    Array.from({ length: 40 }, (_, i) => [`X-${i}`, 'v'.repeat(100)] as [string, string]),
  );
  const wire = Buffer.concat([encode(long), encode(request('PING')), encode(long)]);
  for (const first of [1, 3, 10, 600, 2000]) {
    const d = new Decoder();
    assert.equal(d.idle, true);
    const out = [...d.push(wire.subarray(0, first))];
    assert.equal(d.idle, false);
    out.push(...d.push(wire.subarray(first)));
    d.end();
    assert.equal(d.idle, true);
    assert.equal(d.offset, wire.length);
    assert.deepEqual(out, [long, request('PING'), long]);
  }
});

test('[WIRE-3] a bare CR in a partial line is reported as soon as the octet after it arrives', () => {
  const d = new Decoder();
  assert.deepEqual(d.push(Buffer.from('PING\r\n\r')), []);
  assert.throws(
    () => d.push(Buffer.from('X')),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_BARE_CR' && e.offset === 6,
  );
  const one = new Decoder();
  assert.throws(
    () => one.push(Buffer.from('PING\r\nTag: a\rb')),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_BARE_CR' && e.offset === 12,
  );
});

test('[WIRE-9] a non-ASCII octet in a partial line is reported at once; syntax waits for the line end', () => {
  const d = new Decoder();
  assert.throws(
    () => d.push(Buffer.from('PING\r\nTag: caf\xe9', 'latin1')),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_NON_ASCII' && e.offset === 14,
  );
  const s = new Decoder();
  assert.deepEqual(s.push(Buffer.from('LOG IN')), [], 'a later octet error in the line would come first');
  assert.throws(
    () => s.push(Buffer.from('\r\n')),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_BAD_METHOD' && e.offset === 3,
  );
});
