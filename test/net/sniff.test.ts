// The CRS's first-message sniffing (reference/net/server-link.ts sniffPeer): a first message completed
// before a framing error in the same write decides the connection and is answered first [CONN-9]
// [WIRE-14]. Found by the kit's wire fuzzer (issue 12: seed 3, crs/fuzz/1: a valid LOCATE followed by
// a stray NUL octet in the same write was answered 405, as if on an MS link).
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { sniffPeer, type FirstMessage } from '../../reference/net/server-link.js';

async function sniff(octets: string): Promise<FirstMessage | null> {
  const server = net.createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const { port } = server.address() as net.AddressInfo;
  try {
    const got = new Promise<FirstMessage | null>((res) =>
      server.once('connection', (s) => void sniffPeer(s, 5000).then((r) => (s.destroy(), res(r)))),
    );
    const c = net.connect(port, '127.0.0.1', () => c.write(Buffer.from(octets, 'latin1')));
    c.on('error', () => undefined);
    const r = await got;
    c.destroy();
    return r;
  } finally {
    server.close();
  }
}

test('[CONN-9] [WIRE-14] a complete first message followed by a framing error in the same write still decides the connection', async () => {
  assert.equal(await sniff('LOCATE\r\nImsp-version: 1\r\n\r\n\x00'), 'client');
  assert.equal(await sniff('ENROLL\r\nMs-id: a\r\n\r\nX\x00'), 'ms');
  assert.equal(await sniff('FOO\r\n\r\n\x00'), 'other');
  // A framing error inside the first message goes to the link, which answers it.
  assert.equal(await sniff('LOC\x00ATE\r\n\r\n'), 'ms');
});
