// The MS's login bundle and push paths (reference/ms/mod-presence.ts, mod-session.ts): the contact list taken from the CRS's
// ONLINE records, and the pushes that arrive while ONLINE is in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { anyHeader, parseRecords, type Header, type RequestMessage, type ResponseMessage } from '../../codec/index.js';
import { bundleContacts, MsServer } from '../../reference/ms/ms.js';
import { Link } from '../../reference/net/link.js';
import { b64, unb64 } from '../../reference/crypto/b64.js';
import { generateIdentity, generateKeyShare, x25519 } from '../../reference/crypto/keys.js';
import { sealKeyBlob } from '../../reference/crypto/key-blob.js';
import {
  makeVerifier,
  makeNonce,
  enrollAuthMessage,
  msProof,
  crsProof,
  verifyProof,
  enrollLinkKeys,
} from '../../reference/crypto/scram.js';
import { req, ok, records } from '../../reference/proto/messages.js';
import { ProtoClient, h, recordsOf } from '../helpers/proto-client.js';

/** What the MS took from a bundle before bundleContacts: the first User and Relation of each record, names in any case. */
function viaParseRecords(body: Buffer): Array<[string | undefined, string | undefined]> {
  return parseRecords(body).map((rec) => {
    const h = (n: string): string | undefined => rec.find(([k]) => k.toLowerCase() === n)?.[1];
    return [h('user'), h('relation')];
  });
}

const names = [
  'User',
  'user',
  'USER',
  'uSeR',
  'Relation',
  'relation',
  'RELATION',
  'Status',
  'Public-key',
  'Address',
  'Users',
  'Use',
  'Relations',
  'X-user',
  'Userx',
];
const value = fc.stringMatching(/^([!-~]([ -~\t]{0,12}[!-~])?)?$/);
const wsp = fc.constantFrom('', ' ', '  ', '\t', ' \t ');
const field = fc
  .tuple(fc.constantFrom(...names), wsp, value, wsp)
  .map(([n, pre, v, post]) => `${n}:${pre}${v}${post}\r\n`);
const body = fc
  .array(fc.array(field, { minLength: 1, maxLength: 6 }), { maxLength: 6 })
  .map((recs) => Buffer.from(recs.map((r) => r.join('')).join('\r\n'), 'latin1'));

test('[REC-2] bundleContacts gives what parseRecords gives for every valid records body (first User and Relation per record, any case, spaces trimmed)', () => {
  fc.assert(
    fc.property(body, (b) => {
      let expected: Array<[string | undefined, string | undefined]>;
      try {
        expected = viaParseRecords(b);
      } catch {
        fc.pre(false); // not a valid body: the Link refuses it before the MS looks at it
        return;
      }
      assert.deepEqual(bundleContacts(b), expected);
    }),
    { numRuns: 2000 },
  );
});

test('[REC-2] bundleContacts on a bundle as the CRS writes it', () => {
  const b = Buffer.from(
    'User: alice\r\nRelation: buddy\r\nStatus: online\r\nAddress: 127.0.0.1:7200\r\n\r\n' +
      'Relation: pending\r\nUser: bob\r\nStatus: offline\r\n\r\n' +
      'user:carol\r\nrelation:\tblocked \r\n\r\n' +
      'User: dave\r\nRelation: buddy\r\nRelation: pending\r\nUser: eve\r\n',
    'latin1',
  );
  assert.deepEqual(bundleContacts(b), [
    ['alice', 'buddy'],
    ['bob', 'pending'],
    ['carol', 'blocked'],
    ['dave', 'buddy'],
  ]);
  assert.deepEqual(bundleContacts(b), viaParseRecords(b));
  assert.deepEqual(bundleContacts(Buffer.alloc(0)), []);
});

// ---------------------------------------------------------------------------------------------
// Pushes while the login's ONLINE is in flight, against a scripted CRS that holds the ONLINE answer.

interface FakeCrs {
  address: string;
  /** The enrolled MS's link (pushes go here). */
  link: () => Link;
  /** Resolves when the held user's ONLINE arrives; answer it with release(). Other users' ONLINE get `bundles` at once. */
  online: Promise<{ user: string; release: (records: Header[][]) => void }>;
  close: () => void;
}

async function fakeCrs(
  msKey: Buffer,
  held: string,
  password: string,
  bundles: Record<string, Header[][]>,
): Promise<FakeCrs> {
  const verifier = makeVerifier(password, { iterations: 4096 });
  const identity = generateIdentity();
  const blobs = new Map<string, string>();
  const keyBlob = (user: string): string => {
    if (!blobs.has(user)) blobs.set(user, sealKeyBlob(password, user, identity, { log2N: 10 }));
    return blobs.get(user)!;
  };
  let msLink: Link | null = null;
  let arrived!: (v: { user: string; release: (records: Header[][]) => void }) => void;
  const online = new Promise<{ user: string; release: (records: Header[][]) => void }>((r) => (arrived = r));
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let enroll: { auth: string; shared: Buffer } | null = null;
    const link = new Link(socket, {
      local: 'crs',
      remote: 'ms',
      handler: async (m: RequestMessage): Promise<ResponseMessage> => {
        switch (m.method) {
          case 'ENROLL': {
            const share = generateKeyShare();
            const cnonce = makeNonce();
            const eR = b64(share.publicKey);
            const auth = enrollAuthMessage({
              msId: anyHeader(m, 'Ms-id')!,
              incarnation: anyHeader(m, 'Incarnation')!,
              listen: anyHeader(m, 'Listen')!,
              capacity: anyHeader(m, 'Capacity')!,
              mnonce: anyHeader(m, 'Nonce')!,
              cnonce,
              eM: anyHeader(m, 'Key-share')!,
              eR,
            });
            enroll = { auth, shared: x25519(share.privateKey, unb64(anyHeader(m, 'Key-share')!)) };
            return ok(300, { Nonce: cnonce, 'Key-share': eR });
          }
          case 'PROOF': {
            const e = enroll!;
            assert.ok(verifyProof(msProof(msKey, e.auth), unb64(anyHeader(m, 'Proof')!)));
            link.enableSealing(enrollLinkKeys('crs', e.shared, msKey, e.auth));
            msLink = link;
            return ok(200, { 'Server-proof': b64(crsProof(msKey, e.auth)), Lease: 60_000, Heartbeat: 30_000 });
          }
          case 'LOCK':
            return ok(200, {
              Epoch: 7,
              Lease: 10_000,
              Salt: verifier.salt,
              Iterations: verifier.iterations,
              'Stored-key': verifier.storedKey,
              'Server-key': verifier.serverKey,
            });
          case 'ONLINE': {
            const user = anyHeader(m, 'User')!;
            const bundle = (list: Header[][]): ResponseMessage => {
              const rec = records(list);
              return ok(
                200,
                { 'Key-blob': keyBlob(user), 'Public-key': identity.publicKey, 'Content-type': rec.contentType },
                rec.body,
              );
            };
            if (user !== held) return bundle(bundles[user] ?? []);
            return new Promise<ResponseMessage>((resolve) =>
              arrived({ user, release: (list) => resolve(bundle(list)) }),
            );
          }
          default:
            return ok(200); // PING, OFFLINE, UNLOCK
        }
      },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    link: () => msLink!,
    online,
    close: () => {
      msLink?.close();
      server.close();
    },
  };
}

const pk = generateIdentity().publicKey;
const presence = (user: string, status: string): RequestMessage =>
  req('PRESENCE', { User: user, Status: status, Address: '127.0.0.1:7300', 'Public-key': pk });
const summary = (m: RequestMessage): string =>
  `${m.method} ${h(m, 'User') ?? h(m, 'From')} ${(m.method === 'CONTACT' ? h(m, 'Relation') : h(m, 'Status')) ?? ''}`.trim();

test('[PRESENCE-4] [PRESENCE-8] [CONTACT-1] pushes that arrive while ONLINE is in flight follow the login bundle: only those the contact list allows, in order; later pushes go by the updated list', {
  timeout: 20_000,
}, async (t) => {
  const msKey = randomBytes(32);
  const crs = await fakeCrs(msKey, 'alice', 'pw', {
    dan: [
      [
        ['User', 'zed'],
        ['Relation', 'buddy'],
        ['Status', 'online'],
      ],
    ],
  });
  t.after(() => crs.close());
  const ms = await MsServer.start({ crs: crs.address, msKey, msId: 'ms-push', host: '127.0.0.1', port: 0 });
  t.after(() => ms.kill());
  await ms.ready();
  const client = await ProtoClient.connect(ms.address);
  t.after(() => client.destroy());
  const pushesBefore = await pushCount(ms);

  const login = client.login('alice', 'pw');
  const online = await crs.online;
  assert.equal(online.user, 'alice');
  // While ONLINE is in flight: untargeted PRESENCE about a buddy, a pending contact and a stranger,
  // and a push targeted at alice.
  const link = crs.link();
  link.notify(presence('bob', 'online'));
  link.notify(presence('pat', 'online'));
  link.notify(presence('zed', 'online'));
  link.notify(req('ADD', { From: 'carol', To: 'alice', Time: 1_700_000_000 }));
  link.notify(presence('bob', 'busy'));
  // The ONLINE answer follows them on the same ordered link: the MS has them all before it.
  online.release([
    [
      ['User', 'bob'],
      ['Relation', 'buddy'],
      ['Status', 'offline'],
    ],
    [
      ['User', 'pat'],
      ['Relation', 'pending'],
      ['Status', 'offline'],
    ],
  ]);
  const outcome = await login;
  assert.ok(outcome.ok, 'login succeeded');
  assert.deepEqual(
    recordsOf(outcome.result!).map((r) => r['User']),
    ['bob', 'pat'],
    'the bundle is forwarded as the CRS sent it',
  );
  await client.waitFor('PRESENCE', (m) => h(m, 'Status') === 'busy');
  assert.deepEqual(client.pushes.map(summary), ['PRESENCE bob online', 'ADD carol', 'PRESENCE bob busy']);

  // After the login: a CONTACT makes zed a buddy, so zed's next PRESENCE is forwarded; pat's is not.
  // dan, another session here, has zed as a buddy from his bundle: each of zed's PRESENCE goes to both.
  const dan = await ProtoClient.connect(ms.address);
  t.after(() => dan.destroy());
  assert.ok((await dan.login('dan', 'pw')).ok, 'dan logged in');
  link.notify(presence('pat', 'away'));
  link.notify(req('CONTACT', { To: 'alice', User: 'zed', Relation: 'buddy', Status: 'online' }));
  link.notify(presence('zed', 'away'));
  link.notify(req('CONTACT', { To: 'alice', User: 'bob', Relation: 'none', Status: 'offline' }));
  link.notify(presence('bob', 'online'));
  link.notify(presence('zed', 'busy'));
  await client.waitFor('PRESENCE', (m) => h(m, 'User') === 'zed' && h(m, 'Status') === 'busy');
  assert.deepEqual(client.pushes.slice(3).map(summary), [
    'CONTACT zed buddy',
    'PRESENCE zed away',
    'CONTACT bob none',
    'PRESENCE zed busy',
  ]);
  await dan.waitFor('PRESENCE', (m) => h(m, 'User') === 'zed' && h(m, 'Status') === 'busy');
  assert.deepEqual(dan.pushes.map(summary), ['PRESENCE zed away', 'PRESENCE zed busy']);
  // [METRICS-1] every push forwarded is counted once, by method.
  const after = await pushCount(ms);
  assert.equal((after.PRESENCE ?? 0) - (pushesBefore.PRESENCE ?? 0), 6);
  assert.equal((after.ADD ?? 0) - (pushesBefore.ADD ?? 0), 1);
  assert.equal((after.CONTACT ?? 0) - (pushesBefore.CONTACT ?? 0), 2);
});

async function pushCount(ms: MsServer): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await ms.metrics.pushes.get()).values) out[String(v.labels.method)] = v.value;
  return out;
}
