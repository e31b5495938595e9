// Properties of the link layer under any chunking and any corruption of its input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fc from 'fast-check';
import { anyHeader, ImspError, request, response, type Message } from '../../codec/index.js';
import { Link } from '../../reference/net/index.js';
import { duplexPair, RawPeer } from './helpers.js';

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);

/**
 * A client-side byte stream: PROOF in clear, then n sealed STATUS requests (Seq 0..n-1), as a client
 * that pipelines right after its proof would send it.
 */
function clientStream(n: number): Buffer {
  const [a] = duplexPair();
  const p = new RawPeer(a);
  p.sendKey = K2;
  const parts = [p.bytes(request('PROOF', { Proof: 'B'.repeat(43), Tag: 'proof' }))];
  for (let i = 0; i < n; i++) parts.push(p.bytes(request('STATUS', { Status: 'away', Tag: `s${i}` }), true));
  return Buffer.concat(parts);
}

/** An MS-side Link that turns sealing on when it answers PROOF; resolves with what the peer read and the close reason. */
async function serve(
  chunks: Buffer[],
  expect: number,
  end: boolean,
): Promise<{ got: Message[]; reason: ImspError | undefined | 'open' }> {
  const [a, b] = duplexPair();
  const peer = new RawPeer(b);
  peer.receiveKey = K1;
  const link = new Link(a, {
    local: 'ms',
    remote: 'client',
    // an envelope held for a handshake that a corrupted PROOF never completes is refused quickly
    handshakeTimeout: 20,
    handler: (req) => {
      if (req.method === 'PROOF') link.enableSealing({ send: Buffer.from(K1), receive: Buffer.from(K2) });
      return response(200);
    },
  });
  const closed = once(link, 'close').then(([r]) => r as ImspError | undefined);
  for (const c of chunks) peer.write(c);
  if (end) peer.stream.end();
  const got = end ? (await closed, peer.messages) : await peer.waitFor(expect);
  const reason = end ? await closed : 'open';
  if (!end) link.close();
  return { got, reason };
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  out.push(buf.subarray(last));
  return out.filter((c) => c.length > 0);
}

test('[SEAL-3] any chunking of a clear handshake followed by pipelined envelopes gives the same answers', async () => {
  const stream = clientStream(4);
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(), { maxLength: 12 }), async (cuts) => {
      const { got } = await serve(split(stream, cuts), 5, false);
      assert.deepEqual(
        got.map((m) => anyHeader(m, 'Tag')),
        ['proof', 's0', 's1', 's2', 's3'],
      );
      assert.ok(got.every((m) => m.kind === 'response' && m.status === 200));
    }),
    { numRuns: 60 },
  );
});

test('[SEAL-4] any single corrupted octet ends in answers, then a typed close: never a crash or a hang', async () => {
  const stream = clientStream(3);
  await fc.assert(
    fc.asyncProperty(
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      async (at, flip, cuts) => {
        const bad = Buffer.from(stream);
        bad[at % bad.length]! ^= flip;
        const { got, reason } = await serve(split(bad, cuts), 0, true);
        assert.ok(reason === undefined || reason instanceof ImspError);
        // every answer is a well-formed response; never more answers than requests
        assert.ok(got.length <= 4);
        for (const m of got) assert.equal(m.kind, 'response');
        // what was answered before the corruption is answered in order
        const order = ['proof', 's0', 's1', 's2'];
        const idx = got
          .map((m) => anyHeader(m, 'Tag'))
          .filter((t) => t !== undefined && order.includes(t))
          .map((t) => order.indexOf(t!));
        assert.deepEqual(
          idx,
          [...idx].sort((x, y) => x - y),
        );
        assert.equal(new Set(idx).size, idx.length);
      },
    ),
    { numRuns: 150 },
  );
});
