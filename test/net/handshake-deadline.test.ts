// [CONN-13] The connecting side gives up a handshake its listener leaves unanswered: the reference
// client logging in (LOGIN, PROOF) and the reference MS enrolling (ENROLL) fail with ERR_TIMEOUT naming
// handshakeTimeout and close the connection, though requestTimeout (10 s here) has not run out.
// Before [CONN-13] each request waited its own requestTimeout and the error named the request: these
// tests then failed on the message (and ran into the test's own timeout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { anyHeader, type RequestMessage, type ResponseMessage } from '../../codec/index.js';
import { ImspClient } from '../../reference/client/client.js';
import { b64 } from '../../reference/crypto/b64.js';
import { generateKeyShare } from '../../reference/crypto/keys.js';
import { MsServer } from '../../reference/ms/ms.js';
import { Link } from '../../reference/net/link.js';
import { ok } from '../../reference/proto/messages.js';

const HANDSHAKE = 300;
const REQUEST = 10_000;

/** A listener that answers what `answer` gives and leaves the rest unanswered; resolves each close. */
async function silentListener(
  local: 'ms' | 'crs',
  remote: 'client' | 'ms',
  answer: (m: RequestMessage) => ResponseMessage | null,
): Promise<{ address: string; seen: string[]; closed: Promise<void>; stop(): Promise<void> }> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  let closedOnce!: () => void;
  const closed = new Promise<void>((r) => (closedOnce = r));
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      closedOnce();
    });
    new Link(socket, {
      local,
      remote,
      requestTimeout: REQUEST,
      handshakeTimeout: 60_000,
      handler: (m: RequestMessage) => {
        seen.push(m.method);
        const res = answer(m);
        return res ? Promise.resolve(res) : new Promise<ResponseMessage>(() => undefined);
      },
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    seen,
    closed,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const timedOut = (e: unknown): boolean => {
  const x = e as { code?: string; message?: string };
  return x.code === 'ERR_TIMEOUT' && /handshakeTimeout \(300 ms\)/.test(x.message ?? '');
};

const client = (ms: string): ImspClient =>
  new ImspClient({
    user: 'alice',
    password: 'pw-alice',
    ms,
    reconnect: false,
    limits: { handshakeTimeout: HANDSHAKE, requestTimeout: REQUEST },
  });

test('[CONN-13] a client gives up a LOGIN its MS leaves unanswered at handshakeTimeout, not requestTimeout', async () => {
  const ms = await silentListener('ms', 'client', () => null);
  const c = client(ms.address);
  try {
    await assert.rejects(c.login(), timedOut);
    await ms.closed;
    assert.deepEqual(ms.seen, ['LOGIN']);
  } finally {
    await c.close();
    await ms.stop();
  }
});

test('[CONN-13] a client gives up a PROOF its MS leaves unanswered, counting from the connection opening', async () => {
  const ms = await silentListener('ms', 'client', (m) =>
    m.method === 'LOGIN'
      ? ok(300, {
          Nonce: `${anyHeader(m, 'Nonce')}${b64(randomBytes(18))}`,
          Salt: b64(randomBytes(16)),
          Iterations: 4096,
          'Key-share': b64(generateKeyShare().publicKey),
        })
      : null,
  );
  const c = client(ms.address);
  try {
    await assert.rejects(c.login(), timedOut);
    await ms.closed;
    assert.deepEqual(ms.seen, ['LOGIN', 'PROOF']);
  } finally {
    await c.close();
    await ms.stop();
  }
});

test('[CONN-13] an MS gives up an ENROLL its CRS leaves unanswered at handshakeTimeout', async () => {
  const crs = await silentListener('crs', 'ms', () => null);
  const ms = await MsServer.start({
    crs: crs.address,
    msKey: randomBytes(32),
    msId: 'ms-deadline',
    host: '127.0.0.1',
    port: 0,
    limits: { handshakeTimeout: HANDSHAKE, requestTimeout: REQUEST },
    reconnectDelay: 60_000,
  });
  try {
    const reason = await new Promise<string>((r) => ms.once('enroll-failed', r));
    assert.match(reason, /handshakeTimeout \(300 ms\)/);
    await crs.closed;
    assert.deepEqual(crs.seen, ['ENROLL']);
  } finally {
    await ms.stop();
    await crs.stop();
  }
});
