// Hostile input at the servers' front doors [STATE-1] [CONN-8]: random and mutated messages sent
// raw to an MS (before login) and to the CRS. Every answer must be a registered status whose
// Error-code is the registry's for that status, the connection must end once the sender half-closes
// (no hang), and the servers must keep serving real logins afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERRORS, STATUS_CODES } from '../../codec/index.js';
import { startCluster } from '../helpers/cluster.js';
import { rawExchange, ProtoClient } from '../helpers/proto-client.js';

const METHODS = ['LOGIN', 'PROOF', 'ENROLL', 'LOCATE', 'LOCK', 'PING', 'SEALED', 'ADD', 'FOO', 'login', ''];
const HEADERS = [
  'Imsp-version',
  'User',
  'Nonce',
  'Key-share',
  'Address',
  'Proof',
  'Seq',
  'Content-length',
  'X-Junk',
  'Bad Name',
  '',
];
const VALUES = [
  '1',
  '2',
  'alice',
  'A'.repeat(43),
  'x'.repeat(24),
  '127.0.0.1:1',
  '-1',
  '99999999999',
  '\u00e9',
  '',
  ' ',
  'a\tb',
];

const message = fc
  .record(
    {
      method: fc.constantFrom(...METHODS),
      headers: fc.array(fc.tuple(fc.constantFrom(...HEADERS), fc.constantFrom(...VALUES)), { maxLength: 6 }),
      body: fc.string({ maxLength: 20 }),
      eol: fc.constantFrom('\r\n', '\n', '\r'),
      cut: fc.option(fc.nat({ max: 200 }), { nil: undefined }),
    },
    { noNullPrototype: true },
  )
  .map(({ method, headers, body, eol, cut }) => {
    let text =
      method + eol + headers.map(([n, v]) => `${n}: ${v}`).join(eol) + (headers.length ? eol : '') + eol + body;
    if (cut !== undefined) text = text.slice(0, cut);
    return text;
  });

const junk = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a));

function checkAnswers(text: string): void {
  for (const m of text.matchAll(/(?:^|\r\n\r\n)(\d{3}) ([^\r\n]*)\r\n((?:[^\r\n]+\r\n)*)/g)) {
    const status = Number(m[1]);
    assert.ok(String(status) in STATUS_CODES, `registered status ${status}`);
    const code = /(?:^|\r\n)Error-code: (\S+)/.exec('\r\n' + m[3])?.[1];
    if (status >= 400) {
      assert.ok(code, `error ${status} carries Error-code`);
      const e = (ERRORS as Record<string, { status: number }>)[code!];
      assert.ok(e, `registered Error-code ${code}`);
      assert.equal(e.status, status, `${code} is answered with its registry status`);
    }
  }
}

test('[STATE-1] hostile input at an MS and at the CRS: registry errors only, no hang, still serving', async (t) => {
  const cluster = await startCluster({ ms: 1, users: ['hank'] });
  t.after(() => cluster.dispose());
  const targets = [cluster.ms[0]!.address, cluster.crsAddress];
  await fc.assert(
    fc.asyncProperty(fc.oneof(message, junk), fc.constantFrom(0, 1), async (input, which) => {
      const text = await rawExchange(targets[which]!, input, { end: true });
      checkAnswers(text);
    }),
    { numRuns: 150 },
  );
  const c = await ProtoClient.connect(cluster.ms[0]!.address);
  t.after(() => c.destroy());
  const out = await c.login('hank', 'pw-hank');
  assert.equal(out.result?.status, 200, 'the MS still serves logins');
  const loc = await rawExchange(cluster.crsAddress, 'LOCATE\r\n\r\n', { untilHead: true });
  assert.match(loc, /^200 /, 'the CRS still serves LOCATE');
});
