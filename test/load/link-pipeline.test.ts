// The Link's `concurrency` option (added for the CRS's MS links, issue 8): handlers overlap, answers
// keep the arrival order [CONN-9]. Out-of-order completion is forced with promises, never with sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { anyHeader, request, response, type ResponseMessage } from '../../codec/index.js';
import { Link } from '../../reference/net/index.js';

async function pair(t: { after: (f: () => void) => void }): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const c = net.connect(port, '127.0.0.1');
  const s = await accepted;
  t.after(() => {
    c.destroy();
    s.destroy();
    server.close();
  });
  return [c, s];
}

test('[CONN-9] with concurrency > 1 the handlers overlap and the responses keep arrival order', async (t) => {
  const [a, b] = await pair(t);
  const gates: Array<(v: ResponseMessage) => void> = [];
  let started = 0;
  let allStarted: () => void = () => undefined;
  const everyoneIn = new Promise<void>((r) => (allStarted = r));
  const server = new Link(b, {
    local: 'crs',
    remote: 'client',
    concurrency: 8,
    handler: (req) =>
      new Promise<ResponseMessage>((resolve) => {
        const i = Number(anyHeader(req, 'Tag'));
        gates[i] = resolve;
        if (++started === 5) allStarted();
      }),
  });
  const client = new Link(a, { local: 'client', remote: 'crs' });
  t.after(() => {
    client.close();
    server.close();
  });
  const replies = [0, 1, 2, 3, 4].map((i) =>
    client.request(request('LOCATE', { 'Imsp-version': 1 }), { tag: String(i) }),
  );
  // All five handlers run at once (one at a time would deadlock here).
  await everyoneIn;
  // Finish them in reverse order: the answers still come in request order.
  for (const i of [4, 3, 2, 1, 0]) gates[i]!(response(200, { Server: `127.0.0.1:${7100 + i}` }));
  const rs = await Promise.all(replies);
  assert.deepEqual(
    rs.map((r) => anyHeader(r, 'Tag')),
    ['0', '1', '2', '3', '4'],
  );
  assert.deepEqual(
    rs.map((r) => anyHeader(r, 'Server')),
    [0, 1, 2, 3, 4].map((i) => `127.0.0.1:${7100 + i}`),
  );
});

test('[CONN-9] concurrency bounds the handlers in flight; a throwing handler is answered 500 in its place', async (t) => {
  const [a, b] = await pair(t);
  let running = 0;
  let peak = 0;
  const server = new Link(b, {
    local: 'crs',
    remote: 'client',
    concurrency: 3,
    handler: async (req) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      if (anyHeader(req, 'Tag') === '5') throw new Error('boom');
      return response(200, { Server: '127.0.0.1:7100' });
    },
  });
  const client = new Link(a, { local: 'client', remote: 'crs' });
  t.after(() => {
    client.close();
    server.close();
  });
  const rs = await Promise.all(
    Array.from({ length: 12 }, (_, i) => client.request(request('LOCATE', { 'Imsp-version': 1 }), { tag: String(i) })),
  );
  assert.deepEqual(
    rs.map((r) => anyHeader(r, 'Tag')),
    Array.from({ length: 12 }, (_, i) => String(i)),
  );
  assert.equal(rs[5]!.status, 500);
  assert.ok(rs.every((r, i) => i === 5 || r.status === 200));
  assert.ok(peak <= 3 && peak >= 2, `peak ${peak}`);
});
