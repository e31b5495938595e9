// The link layer and the crypto together over real loopback TCP sockets: a miniature MS that runs the
// login handshake of [§6.2 Login Proof] (without a CRS) and then serves sealed requests and pushes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import {
  anyHeader,
  errorResponse,
  headerOf,
  isRequestOf,
  request,
  requiredHeaderOf,
  response,
  type ImspError,
  type RequestMessage,
} from '../../codec/index.js';
import {
  b64,
  unb64,
  makeVerifier,
  makeNonce,
  generateKeyShare,
  x25519,
  loginAuthMessage,
  clientLogin,
  verifyClientProof,
  serverProof,
  verifyServerProof,
  loginLinkKeys,
  checkChallenge,
  generateIdentity,
  sealKeyBlob,
  openKeyBlob,
} from '../../reference/crypto/index.js';
import { Link } from '../../reference/net/index.js';
import { makePeer, closePeers } from '../client/p2p-harness.js';
import { rawExchange } from '../helpers/proto-client.js';

const USER = 'alice';
const PASSWORD = 'correct horse battery staple';
const verifier = makeVerifier(PASSWORD);
const identity = generateIdentity();
const blob = sealKeyBlob(PASSWORD, USER, identity, { log2N: 10 });

/** A one-user MS: LOGIN -> 300, PROOF -> sealed 200 or clear 401 and close; then PING and STATUS. */
async function miniMs(t: {
  after: (fn: () => Promise<void> | void) => void;
}): Promise<{ port: number; links: Link[] }> {
  const links: Link[] = [];
  const server = net.createServer((socket) => {
    let login: { auth: string; eS: Buffer; eC: Buffer } | undefined;
    const link: Link = new Link(socket, {
      local: 'ms',
      remote: 'client',
      handler: (req: RequestMessage) => {
        if (isRequestOf(req, 'LOGIN')) {
          const eS = generateKeyShare();
          const cnonce = requiredHeaderOf(req, 'Nonce');
          const nonce = cnonce + makeNonce();
          const eC = requiredHeaderOf(req, 'Key-share');
          login = {
            auth: loginAuthMessage({
              user: requiredHeaderOf(req, 'User'),
              cnonce,
              nonce,
              salt: verifier.salt,
              iterations: verifier.iterations,
              eC,
              eS: b64(eS.publicKey),
              address: requiredHeaderOf(req, 'Address'),
            }),
            eS: eS.privateKey,
            eC: unb64(eC, 32),
          };
          return response(300, {
            Nonce: nonce,
            Salt: verifier.salt,
            Iterations: verifier.iterations,
            'Key-share': b64(eS.publicKey),
          });
        }
        if (isRequestOf(req, 'PROOF') && login) {
          const ck = verifyClientProof(unb64(verifier.storedKey), login.auth, unb64(requiredHeaderOf(req, 'Proof')));
          if (!ck) {
            link.notify(errorResponse('ERR_AUTH_FAILED')); // [AUTH-8] in clear, then close
            link.close();
            return undefined;
          }
          link.enableSealing(loginLinkKeys('ms', x25519(login.eS, login.eC), ck, login.auth));
          return response(200, {
            'Server-proof': b64(serverProof(unb64(verifier.serverKey), login.auth)),
            Session: 's-1',
            Heartbeat: 30000,
            'Key-blob': blob,
            'Public-key': identity.publicKey,
            Status: 'online',
          });
        }
        return response(200);
      },
    });
    links.push(link);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const l of links) l.close();
    server.close();
    await once(server, 'close');
  });
  return { port: (server.address() as net.AddressInfo).port, links };
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  return s;
}

/** The client's side of the login [§6.2 Login Proof]; returns the response to PROOF. */
async function login(link: Link, password: string) {
  const eC = generateKeyShare();
  const cnonce = makeNonce();
  const address = '127.0.0.1:7200';
  const ch = await link.request(
    request('LOGIN', {
      'Imsp-version': 1,
      User: USER,
      Nonce: cnonce,
      'Key-share': b64(eC.publicKey),
      Address: address,
    }),
  );
  assert.equal(ch.status, 300);
  const nonce = requiredHeaderOf(ch, 'Nonce');
  const iterations = Number(headerOf(ch, 'Iterations'));
  assert.equal(checkChallenge(cnonce, nonce, iterations), null);
  const eS = requiredHeaderOf(ch, 'Key-share');
  const auth = loginAuthMessage({
    user: USER,
    cnonce,
    nonce,
    salt: requiredHeaderOf(ch, 'Salt'),
    iterations,
    eC: b64(eC.publicKey),
    eS,
    address,
  });
  const c = clientLogin(password, unb64(requiredHeaderOf(ch, 'Salt')), iterations, auth);
  const reply = link.request(request('PROOF', { Proof: b64(c.proof) }));
  // the switch point: right after the last clear request; the 200 comes sealed, a 401 in clear
  link.enableSealing(loginLinkKeys('client', x25519(eC.privateKey, unb64(eS, 32)), c.clientKey, auth));
  const res = await reply;
  return { res, auth, serverKey: c.serverKey };
}

test('[AUTH-11] [SEAL-5] login over loopback TCP, then sealed pipelined requests both ways', async (t) => {
  const { port, links } = await miniMs(t);
  const socket = await connect(port);
  const wire: Buffer[] = [];
  socket.on('data', (c: Buffer) => wire.push(c));
  const client = new Link(socket, { local: 'client', remote: 'ms', handler: () => response(200) });
  t.after(() => client.close());
  const { res, auth, serverKey } = await login(client, PASSWORD);
  assert.equal(res.status, 200);
  assert.ok(verifyServerProof(serverKey, auth, unb64(requiredHeaderOf(res, 'Server-proof'))));
  assert.deepEqual(
    openKeyBlob(PASSWORD, USER, requiredHeaderOf(res, 'Key-blob'), headerOf(res, 'Public-key')),
    identity,
  );
  const rs = await Promise.all(
    Array.from({ length: 20 }, (_, i) => client.request(request('STATUS', { Status: 'away' }), { tag: `s${i}` })),
  );
  assert.deepEqual(
    rs.map((r) => anyHeader(r, 'Tag')),
    Array.from({ length: 20 }, (_, i) => `s${i}`),
  );
  // the MS's requests to the client go the other way on the same link
  const pushed = once(client, 'notification');
  links[0]!.notify(request('PRESENCE', { User: 'bob', Status: 'busy' }));
  assert.equal(anyHeader(((await pushed) as [RequestMessage])[0], 'Status'), 'busy');
  assert.equal((await links[0]!.request(request('PING'))).status, 200);
  // after the 300 Challenge, nothing readable: the 200 and everything after is SEALED
  const text = Buffer.concat(wire).toString('latin1');
  const afterChallenge = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.ok(afterChallenge.startsWith('SEALED\r\nSeq: 0\r\n'));
  assert.ok(
    !afterChallenge.includes('Server-proof') &&
      !afterChallenge.includes('PRESENCE') &&
      !afterChallenge.includes(identity.publicKey),
  );
  // an orderly close on one end closes both, with no error
  const serverClosed = once(links[0]!, 'close');
  client.close();
  assert.equal(((await serverClosed) as [ImspError | undefined])[0], undefined);
});

test('[AUTH-8] a wrong password gets a clear 401 and the connection is closed', async (t) => {
  const { port } = await miniMs(t);
  const client = new Link(await connect(port), { local: 'client', remote: 'ms' });
  const closed = once(client, 'close');
  const { res } = await login(client, 'wrong password');
  assert.equal(res.status, 401);
  assert.equal(anyHeader(res, 'Error-code'), 'ERR_AUTH_FAILED');
  await closed;
  assert.equal(client.isClosed, true);
});

test('[WIRE-14] garbage from a raw TCP client is answered and the connection closed; the server keeps serving', async (t) => {
  const { port, links } = await miniMs(t);
  const raw = await connect(port);
  const chunks: Buffer[] = [];
  raw.on('data', (c: Buffer) => chunks.push(c));
  raw.write('LOGIN\r\nUser alice\r\n\r\n');
  await once(raw, 'close');
  const text = Buffer.concat(chunks).toString('latin1');
  assert.match(text, /^400 [^\r]*\r\nError-code: ERR_MISSING_COLON\r\nOffset: \d+\r\n/);
  const closed = (await once(links[0]!, 'close')) as [ImspError];
  void closed;
  const client = new Link(await connect(port), { local: 'client', remote: 'ms' });
  t.after(() => client.close());
  const { res } = await login(client, PASSWORD);
  assert.equal(res.status, 200);
});

test('a connection reset closes the link with ERR_UNAVAILABLE and rejects pending requests', async (t) => {
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const link = new Link(await connect((server.address() as net.AddressInfo).port), { local: 'client', remote: 'crs' });
  const closed = once(link, 'close');
  const pending: Promise<unknown> = link.request(request('LOCATE')).catch((e: unknown) => e);
  const [reason] = (await closed) as [ImspError | undefined];
  assert.ok(reason === undefined || reason.code === 'ERR_UNAVAILABLE');
  assert.equal(((await pending) as ImspError).code, 'ERR_UNAVAILABLE');
});

test('[CONN-2] the reference client answers an INIT with Imsp-version 2 with 400 ERR_VERSION and closes', async (t) => {
  const vic = await makePeer('vic');
  t.after(() => closePeers(vic));
  const text = await rawExchange(
    vic.client.address!,
    `INIT\r\nImsp-version: 2\r\nKey-share: ${'A'.repeat(43)}\r\nNonce: ${'N'.repeat(24)}\r\nContent-length: 1\r\n\r\nx`,
  );
  // rawExchange resolves when the client closes the connection.
  assert.match(text, /^400 [^\r]*\r\n(.*\r\n)*Error-code: ERR_VERSION\r\n/);
});
