// [WIRE-20] A peer that half-closes inside a message (its direction ended, ours can still be written)
// is answered 400 ERR_TRUNCATED with its Offset before the close, by the CRS (inside the first
// message, while it is telling an MS from a client [CONN-1]) and by the MS. Found by the kit's fixture
// case (crs/wire/30, ms/wire/30 warned "End of input inside the head"; notes4/fuzz.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, ImspError } from '../../codec/index.js';
import { startCluster } from '../helpers/cluster.js';
import { rawExchange } from '../helpers/proto-client.js';

/** The codec's error for these octets ended where they end: what the answer must say. */
function truncation(octets: string): { code: string; offset: number } {
  try {
    decode(Buffer.from(octets, 'latin1'));
  } catch (e) {
    if (e instanceof ImspError) return { code: e.code, offset: e.offset };
  }
  throw new Error('the octets decode');
}

function answerOf(text: string): { status: string; code?: string; offset?: string } {
  const head = text.split('\r\n\r\n', 1)[0] ?? '';
  return {
    status: head.slice(0, 3),
    ...(/\r\nError-code: (\S+)/.exec(head) ? { code: /\r\nError-code: (\S+)/.exec(head)![1] } : {}),
    ...(/\r\nOffset: (\d+)/.exec(head) ? { offset: /\r\nOffset: (\d+)/.exec(head)![1] } : {}),
  };
}

test('[WIRE-20] the CRS and the MS answer a half-close inside a message 400 ERR_TRUNCATED with its Offset, then close', async (t) => {
  const cluster = await startCluster({ ms: 1 });
  t.after(() => cluster.dispose());
  const cases: [string, string][] = [
    [cluster.crsAddress, 'LOCATE\r\nImsp-version: 1\r\n'], // inside the CRS's first message (sniffing)
    [cluster.crsAddress, 'LOCATE\r\nImsp-ver'], // inside a header line
    [cluster.crsAddress, 'ENROLL\r\nMs-id: a\r\nContent-length: 5\r\n\r\nab'], // inside a body
    [cluster.ms[0]!.address, 'LOGIN\r\nUser: a\r\n'], // the MS's link
    [cluster.ms[0]!.address, 'LOGIN\r\nImsp-version: 1\r\nContent-length: 9\r\n\r\nabc'],
  ];
  for (const [address, octets] of cases) {
    const want = truncation(octets);
    assert.equal(want.code, 'ERR_TRUNCATED', `the codec reads ${JSON.stringify(octets)} as truncated`);
    // rawExchange resolves when the server closes: no answer before the close would leave ''.
    const got = answerOf(await rawExchange(address, octets, { end: true }));
    assert.deepEqual(
      got,
      { status: '400', code: 'ERR_TRUNCATED', offset: String(want.offset) },
      `${JSON.stringify(octets)} then a half-close at ${address}`,
    );
  }
});

test('[WIRE-20] a half-close after nothing, or after a whole first message, still ends the connection', async (t) => {
  const cluster = await startCluster({ ms: 1 });
  t.after(() => cluster.dispose());
  assert.equal(await rawExchange(cluster.crsAddress, '', { end: true }), '');
  const loc = await rawExchange(cluster.crsAddress, 'LOCATE\r\nImsp-version: 1\r\n\r\n', { end: true });
  assert.match(loc, /^(200|503) /, 'a whole LOCATE before the half-close is answered');
  assert.equal(await rawExchange(cluster.ms[0]!.address, '', { end: true }), '');
});
