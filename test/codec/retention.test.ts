// A header value the application keeps must retain at most its own head, never the chunk it
// arrived in (issue 15: the MS keeps values such as a session's Public-key and Address, and its
// memory goal per session is a few kB; a value sliced from a string of a whole 64 KiB chunk would
// keep that string alive). The decoder slices values from one latin1 string of exactly the head
// (codec/decoder.ts fastMessage); this test keeps one value per decoder, each from a chunk holding
// a large body after the head, and bounds the heap they hold together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder, encode, request } from '../../codec/index.js';
import { collectGarbage as gc } from '../../reference/load/cpu.js';

test('a kept header value retains no more than its own head, not its chunk', () => {
  const sessions = 400;
  const key = `${'A'.repeat(43)}.${'B'.repeat(43)}`;
  // A body the size of a socket read after the head: a latin1 string of the whole chunk would be ~60 kB.
  const filler = encode(request('MSG', { Tag: 'f', 'Content-length': 60_000 }, Buffer.alloc(60_000, 0x61)));
  const kept: string[] = [];
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < sessions; i++) {
    const chunk = Buffer.concat([encode(request('PRESENCE', { User: `user${i}`, 'Public-key': key })), filler]);
    const [presence] = new Decoder().push(chunk);
    const value = presence?.headers[1]?.[1];
    assert.equal(value, key);
    kept.push(value);
  }
  gc();
  const perValue = (process.memoryUsage().heapUsed - before) / sessions;
  assert.equal(kept.length, sessions);
  assert.ok(perValue < 4096, `each kept value holds ${Math.round(perValue)} octets of heap`);
});
