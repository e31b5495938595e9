// Section "SEALED", client side [§6 Cryptography and Link Protection]: the kit plays the client's MS (and a buddy)
// and looks at the client's side of the sealed links: a fresh ephemeral key per login, one key per direction,
// a nested envelope and a message in clear refused as the error table says, answers of one turn sealed together.
import { encode, header, request, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';
import { envelopeOctets, sealBody } from '../../lib/crypto.js';
import { checkBatchCoalesced, checkError } from '../../lib/wire-target.js';

/** The whole SEALED envelope with Seq `seq` in `octets` (the client's raw stream), or undefined. */
function findEnvelope(octets: Buffer, seq: number): Buffer | undefined {
  const text = octets.toString('latin1');
  const head = /SEALED\r\n((?:[^\r\n]+\r\n)*)\r\n/g;
  for (let m = head.exec(text); m; m = head.exec(text)) {
    const lines = m[1]!.split('\r\n');
    const value = (name: string): string | undefined =>
      lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.replace(/^[^:]+:[ \t]*/, '');
    const len = Number(value('Content-length'));
    const end = m.index + m[0].length + len;
    if (value('Seq') === String(seq) && Number.isInteger(len) && end <= octets.length)
      return octets.subarray(m.index, end);
  }
  return undefined;
}

const loginShare = (m: RequestMessage): string | undefined => header(m, 'Key-share');

export const clientSealCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/seal/1',
    section: 'seal',
    title: 'each login of the client carries a fresh ephemeral Key-share (log in, log out, log in again)',
    reqs: ['SEAL-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const c = await ctx.startLoggedIn(a);
      const out = await c.command('logout', ctx.timeout * 2);
      ctx.pre(out?.event === 'ok', 'CTL-2', `logout failed: ${JSON.stringify(out)}`);
      const again = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.pre(again?.event === 'ok', 'CTL-2', `the second login failed: ${JSON.stringify(again)}`);
      const shares = ctx.svc.handshakes
        .filter((h) => h.method === 'LOGIN' && h.user === a.name)
        .map((h) => loginShare(h.msg));
      ctx.must(shares.length === 2 && shares.every((s) => s), 'SEAL-1', `expected two LOGINs with a Key-share`);
      ctx.must(
        shares[0] !== shares[1],
        'SEAL-1',
        'the client sent the same Key-share in two logins: each handshake needs a fresh ephemeral X25519 key pair',
      );
    },
  },
  {
    id: 'client/seal/2',
    section: 'seal',
    title:
      "each direction has its own key: the client's own envelope, sent back to it at the Seq it expects, does not authenticate (401 ERR_DECRYPT in clear, connection closed)",
    reqs: ['SEAL-2', 'SEAL-4', 'SEAL-9', 'ERR-1'],
    async run(ctx: ClientContext) {
      // The kit MS answers nothing, so that the client's idle PINGs count its Seq up to the kit's own.
      const a = ctx.account([], { heartbeat: 200, sessionTimeout: 60_000 });
      await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      ms.auto = () => undefined;
      const raw: Buffer[] = [];
      ms.socket.on('data', (d: Buffer) => raw.push(d));
      const want = ms.sealing!.sendSeq;
      const deadline = Date.now() + ctx.timeout * 4;
      let env: Buffer | undefined;
      while (!(env = findEnvelope(Buffer.concat(raw), want)) && Date.now() < deadline && !ms.closed)
        await new Promise((r) => setTimeout(r, 20));
      if (!env) ctx.skip(`the client sent no envelope with Seq ${want} (its PINGs at Heartbeat 200 ms) to reflect`);
      ms.writeRaw(env, `the client's own envelope (Seq ${want}) sent back to it`);
      ms.sealing!.sendSeq += 1;
      const r = await ms.nextResponse(ctx.timeout, 'an answer to a reflected envelope').catch(() => null);
      checkError(ctx, r, 'ERR_DECRYPT', 'an envelope sealed with the client-to-MS key, sent MS-to-client', 'SEAL-2');
      ctx.must(!ms.received.at(-1)?.sealed, 'SEAL-9', 'the answer to ERR_DECRYPT must be sent in clear');
      ctx.must(await ms.closedWithin(ctx.timeout), 'SEAL-4', 'the client must close the connection after ERR_DECRYPT');
    },
  },
  {
    id: 'client/seal/3',
    section: 'seal',
    title:
      'a SEALED envelope inside an envelope from the MS is a decryption failure: 401 ERR_DECRYPT in clear, connection closed',
    reqs: ['SEAL-6', 'SEAL-9', 'ERR-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { sessionTimeout: 60_000 });
      await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      const s = ms.sealing!;
      const seq = s.sendSeq++;
      const inner = envelopeOctets(
        seq + 1,
        sealBody(
          s.send,
          seq + 1,
          encode(
            request('NOTICE', [
              ['Error-code', 'ERR_RATE_LIMITED'],
              ['Reason', 'kit: inner'],
            ]),
          ),
        ),
      );
      ms.writeRaw(envelopeOctets(seq, sealBody(s.send, seq, inner)), `SEALED Seq ${seq} holding another SEALED`);
      const r = await ms.nextResponse(ctx.timeout, 'the answer to a nested envelope').catch(() => null);
      checkError(ctx, r, 'ERR_DECRYPT', 'an envelope inside an envelope', 'SEAL-6');
      ctx.must(!ms.received.at(-1)?.sealed, 'SEAL-9', 'the answer to a nested envelope must be sent in clear');
      ctx.must(
        await ms.closedWithin(ctx.timeout),
        'SEAL-6',
        'the client must close the connection after a nested envelope',
      );
    },
  },
  {
    id: 'client/seal/4',
    section: 'seal',
    title:
      'a request in clear on an open peer session is refused ERR_METHOD_NOT_ALLOWED inside SEALED and the connection closed; a push in clear on the MS link closes it',
    reqs: ['SEAL-7', 'SEAL-9', 'ERR-1', 'P2P-9', 'WIRE-22'],
    async run(ctx: ClientContext) {
      const { a, conn } = await ctx.buddySession();
      conn.writeRaw(encode(request('PING', [['Tag', 'clear']])), 'PING in clear on the sealed peer session');
      const r = await conn.nextResponse(ctx.timeout, 'the answer to a clear PING').catch(() => null);
      checkError(ctx, r, 'ERR_METHOD_NOT_ALLOWED', 'a clear PING after INIT-ACK', 'SEAL-7');
      ctx.must(conn.received.at(-1)?.sealed, 'SEAL-9', 'the refusal of a clear message must travel inside SEALED');
      ctx.must(await conn.closedWithin(ctx.timeout), 'SEAL-7', 'the client must close the peer connection after it');
      const ms = ctx.ms(a);
      ms.writeRaw(
        encode(
          request('NOTICE', [
            ['Error-code', 'ERR_RATE_LIMITED'],
            ['Retry-after', '1'],
          ]),
        ),
        'NOTICE in clear on the sealed MS link',
      );
      ctx.must(
        await ms.closedWithin(ctx.timeout),
        'SEAL-7',
        'a message in clear on the sealed MS link must be refused and the connection closed',
      );
    },
  },
  {
    id: 'client/seal/5',
    section: 'seal',
    title:
      'answers ready in one turn (PINGs in one envelope of a peer session) should be sealed into as few envelopes as the limits allow',
    reqs: ['SEAL-14', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { conn } = await ctx.buddySession();
      await checkBatchCoalesced(ctx, conn, ctx.timeout);
    },
  },
  {
    id: 'client/seal/6',
    section: 'seal',
    title:
      'Content-length: 0 on a PING inside a peer session and on a PRESENCE push (registry entries with no Content-length) is accepted as no body',
    reqs: ['WIRE-19', 'P2P-9', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const r = await conn
        .request(
          request('PING', [
            ['Tag', 'z'],
            ['Content-length', '0'],
          ]),
          ctx.timeout,
        )
        .catch(() => null);
      ctx.must(
        r?.status === 200,
        'WIRE-19',
        `a PING with Content-length: 0 must not be refused under REG-4 or REG-7: got ${r ? `${r.status} ${header(r, 'Error-code') ?? ''}` : 'a close'}`,
      );
      ctx.ms(a).send(
        request('PRESENCE', [
          ['User', p.name],
          ['Status', 'busy'],
          ['Address', p.address],
          ['Public-key', p.identity.publicKey],
          ['Content-length', '0'],
        ]),
      );
      const ev = await c.waitFor(
        (e) => e.event === 'presence' && e.user === p.name && e.status === 'busy',
        ctx.timeout,
      );
      ctx.must(
        ev && !ctx.ms(a).closed,
        'WIRE-19',
        'a PRESENCE push with Content-length: 0 must be applied like one without (no presence event, or the link closed)',
      );
    },
  },
];
