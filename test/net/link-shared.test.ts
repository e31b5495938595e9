// Memory per connection (issue 15): what a Link puts on its socket is shared by every link, not made
// per connection (a server holds 15,000 of them per MS). The behaviour of those listeners is tested
// by link.test.ts and loopback.test.ts; this checks they are not closures of one link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Link } from '../../reference/net/link.js';
import { duplexPair } from './helpers.js';

test("two links share their socket listeners (data, end, error, close) and each still gets its own socket's events", async () => {
  const [a1, b1] = duplexPair();
  const [a2, b2] = duplexPair();
  const l1 = new Link(a1, { local: 'ms', remote: 'client' });
  const l2 = new Link(a2, { local: 'ms', remote: 'client' });
  for (const ev of ['data', 'end', 'error', 'close'] as const) {
    const f1 = a1.listeners(ev).at(-1);
    const f2 = a2.listeners(ev).at(-1);
    assert.equal(typeof f1, 'function', ev);
    assert.equal(f1, f2, `${ev}: one function for both links`);
  }
  // Each link still reads its own socket: a PING on the second answers on the second only.
  const got1: Buffer[] = [];
  const got2: Buffer[] = [];
  b1.on('data', (c: Buffer) => got1.push(c));
  b2.on('data', (c: Buffer) => got2.push(c));
  const answered = new Promise<void>((resolve) => b2.once('data', () => resolve()));
  b2.write('PING\r\n\r\n');
  await answered;
  assert.equal(got1.length, 0, 'nothing written to the first link');
  assert.match(Buffer.concat(got2).toString('latin1'), /^\d{3} /);
  const closed = [new Promise((r) => l1.once('close', r)), new Promise((r) => l2.once('close', r))];
  l1.close();
  l2.close();
  b1.end();
  b2.end();
  await Promise.all(closed);
});
