// Section "SEALED" [§6 Cryptography and Link Protection], on the client link of an MS.
import { encode, header, LIMITS, request } from '../../../codec/index.js';
import { envelopeOctets, sealBody } from '../../lib/crypto.js';
import { loginOn } from '../../lib/as-client.js';
import { msWireTarget } from '../../lib/wire-target.js';
import type { CaseDef } from '../../lib/case.js';
import type { MsContext } from '../../lib/ms-context.js';
import { checkBatchCoalesced, checkError, keylessSealedRefused } from '../../lib/wire-target.js';

export const msSealCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/seal/1',
    section: 'seal',
    title: 'a client envelope with a replayed sequence number is refused 450 ERR_REPLAY and the session closed',
    reqs: ['SEAL-3', 'ERR-1'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      c.send(request('PING', []));
      await c.nextResponse(ctx.timeout);
      c.sealing!.sendSeq -= 1;
      c.send(request('PING', []));
      const r = await c.nextResponse(ctx.timeout, 'an answer to the replayed envelope');
      if (r) checkError(ctx, r, 'ERR_REPLAY', 'a replayed Seq');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-3', 'the MS must close after a bad Seq');
    },
  },
  {
    id: 'ms/seal/2',
    section: 'seal',
    title:
      'an envelope that does not authenticate is refused 401 ERR_DECRYPT in clear and the session closed; a PING pipelined behind it is not answered',
    reqs: ['SEAL-4', 'SEAL-9', 'CONN-16', 'ERR-1'],
    async run(ctx: MsContext) {
      const c = await ctx.login(ctx.user());
      const s = c.sealing!;
      const seq = s.sendSeq++;
      const body = sealBody(s.send, seq, encode(request('PING', [])));
      body[body.length - 1]! ^= 0x01;
      const bad = envelopeOctets(seq, body);
      const next = s.sendSeq++;
      const ping = envelopeOctets(next, sealBody(s.send, next, encode(request('PING', [['Tag', 'after']]))));
      c.writeRaw(Buffer.concat([bad, ping]), `SEALED Seq ${seq} with a flipped tag octet, then a good SEALED PING`);
      const r = await c.nextResponse(ctx.timeout, 'the answer to the forged envelope');
      checkError(ctx, r, 'ERR_DECRYPT', 'an envelope that does not authenticate', 'SEAL-4');
      ctx.must(!c.received.at(-1)?.sealed, 'SEAL-9', 'the answer to ERR_DECRYPT must be sent in clear');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-4', 'the MS must close the connection after ERR_DECRYPT');
      ctx.must(
        !c.received.some((x) => x.msg.kind === 'response' && header(x.msg, 'Tag') === 'after'),
        'CONN-16',
        'the PING pipelined after the forged envelope must not be answered',
      );
    },
  },
  {
    id: 'ms/seal/3',
    section: 'seal',
    title:
      'a clear request on a sealed client link is refused ERR_METHOD_NOT_ALLOWED inside SEALED and the connection closed',
    reqs: ['SEAL-7', 'SEAL-9', 'ERR-1', 'WIRE-22'],
    async run(ctx: MsContext) {
      const c = await ctx.login(ctx.user());
      c.writeRaw(encode(request('PING', [])), 'PING in clear on the sealed link');
      const r = await c.nextResponse(ctx.timeout, 'the answer to a clear PING');
      checkError(ctx, r, 'ERR_METHOD_NOT_ALLOWED', 'a clear PING after the handshake', 'SEAL-7');
      ctx.must(c.received.at(-1)?.sealed, 'SEAL-9', 'the refusal of a clear message must travel inside SEALED');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-7', 'the MS must close the connection after the refusal');
    },
  },
  {
    id: 'ms/seal/4',
    section: 'seal',
    title: 'a SEALED envelope inside an envelope is treated as a decryption failure: 401 ERR_DECRYPT in clear, closed',
    reqs: ['SEAL-6', 'SEAL-9', 'ERR-1'],
    async run(ctx: MsContext) {
      const c = await ctx.login(ctx.user());
      const s = c.sealing!;
      const innerSeq = s.sendSeq;
      const inner = envelopeOctets(innerSeq + 1, sealBody(s.send, innerSeq + 1, encode(request('PING', []))));
      const seq = s.sendSeq++;
      c.writeRaw(envelopeOctets(seq, sealBody(s.send, seq, inner)), `SEALED Seq ${seq} holding another SEALED`);
      const r = await c.nextResponse(ctx.timeout, 'the answer to a nested envelope');
      checkError(ctx, r, 'ERR_DECRYPT', 'an envelope inside an envelope', 'SEAL-6');
      ctx.must(!c.received.at(-1)?.sealed, 'SEAL-9', 'the answer to a nested envelope must be sent in clear');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-6', 'the MS must close the connection after a nested envelope');
    },
  },
  {
    id: 'ms/seal/5',
    section: 'seal',
    title:
      'LOGIN or PROOF inside SEALED after the handshake is answered 425 ERR_OUT_OF_STATE inside SEALED and the session goes on',
    reqs: ['REG-15', 'ERR-1'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const login = msWireTarget().first();
      for (const m of [login, request('PROOF', [['Proof', 'A'.repeat(43)]])]) {
        const r = await c.request(m as never, ctx.timeout);
        checkError(
          ctx,
          r,
          'ERR_OUT_OF_STATE',
          `${(m as { method: string }).method} inside SEALED after login`,
          'REG-15',
        );
        ctx.must(c.received.at(-1)?.sealed, 'REG-15', 'the 425 must travel inside SEALED');
      }
      const p = await c.request(request('PING', []), ctx.timeout);
      ctx.must(p.status === 200, 'REG-15', `the session must go on after the 425: PING got ${p.status}`);
    },
  },
  {
    id: 'ms/seal/6',
    section: 'seal',
    title: "the MS's envelopes on a client link start at Seq 0 and go up by one, answers and pushes alike",
    reqs: ['SEAL-5', 'SEAL-9'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const c = await ctx.login(
        ctx.user([
          [
            ['User', bob],
            ['Relation', 'buddy'],
            ['Status', 'offline'],
          ],
        ]),
      );
      for (let i = 0; i < 3; i++) await c.request(request('PING', []), ctx.timeout);
      ctx.crs.push('PRESENCE', [
        ['User', bob],
        ['Status', 'offline'],
      ]);
      await c.waitEvent((m) => m.method === 'PRESENCE', ctx.timeout);
      await c.request(request('PING', []), ctx.timeout);
      const sealed = c.received.filter((x) => x.sealed).length;
      // The kit's Conn checks every Seq as it arrives (a wrong one is a violation of [SEAL-5]); here the count.
      ctx.must(
        c.sealing && c.sealing.recvSeq === sealed && sealed >= 6,
        'SEAL-5',
        `${sealed} envelopes received, the next Seq due is ${c.sealing?.recvSeq}`,
      );
      const afterHandshake = c.received.slice(c.received.findIndex((x) => x.sealed));
      ctx.must(
        afterHandshake.every((x) => x.sealed),
        'SEAL-9',
        'every message after the 200 to PROOF must travel inside SEALED',
      );
    },
  },
  {
    id: 'ms/seal/7',
    section: 'seal',
    title:
      'an envelope of three records is acted on record by record (three answers in order, each with its Tag); the next envelope counts Seq on by three',
    reqs: ['SEAL-13', 'SEAL-12', 'SEAL-5'],
    async run(ctx: MsContext) {
      const c = await ctx.login(ctx.user());
      const s0 = c.sealing!.sendSeq;
      c.sendBatch([
        request('PING', [['Tag', 'a']]),
        request('STATUS', [
          ['Status', 'busy'],
          ['Tag', 'b'],
        ]),
        request('PING', [['Tag', 'c']]),
      ]);
      const tags: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await c.nextResponse(ctx.timeout, `answer ${i + 1} of 3 to one envelope`).catch(() => null);
        if (!r) break;
        tags.push(`${header(r, 'Tag') ?? '-'}:${r.status}`);
      }
      ctx.must(
        tags.join(',') === 'a:200,b:200,c:200',
        'SEAL-13',
        `the three records of one envelope must each be answered, in order: got ${tags.join(',') || 'nothing'}`,
      );
      ctx.must(c.sealing!.sendSeq === s0 + 3, 'SEAL-5', 'the kit numbered the batch wrong');
      const p = await c.request(request('PING', [['Tag', 'd']]), ctx.timeout).catch(() => null);
      ctx.must(
        p?.status === 200,
        'SEAL-5',
        `the envelope after a batch of three carries Seq ${s0 + 3}; the MS must accept it, got ${p ? `${p.status} ${header(p, 'Error-code') ?? ''}` : 'a close'}`,
      );
    },
  },
  {
    id: 'ms/seal/8',
    section: 'seal',
    title:
      "an error in one record of an envelope is that record's error: PING, LOGIN (425, the session goes on), PING are answered 200, 425, 200",
    reqs: ['SEAL-12', 'REG-15'],
    async run(ctx: MsContext) {
      const c = await ctx.login(ctx.user());
      const login = msWireTarget().first();
      c.sendBatch([request('PING', [['Tag', 'a']]), login as never, request('PING', [['Tag', 'c']])]);
      const got: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await c.nextResponse(ctx.timeout, `answer ${i + 1} of 3`).catch(() => null);
        if (!r) break;
        got.push(`${r.status}`);
      }
      ctx.must(
        got.join(',') === '200,425,200',
        'SEAL-12',
        `PING, LOGIN, PING in one envelope must be answered 200, 425, 200; got ${got.join(',') || 'nothing'}`,
      );
    },
  },
  {
    id: 'ms/seal/9',
    section: 'seal',
    title:
      'an envelope of maxRecordsPerEnvelope + 1 records is refused 413 ERR_LIMIT inside SEALED with none acted on; an empty one 400 ERR_TRUNCATED; both close',
    reqs: ['SEAL-11', 'ERR-1'],
    async run(ctx: MsContext) {
      const max = LIMITS.maxRecordsPerEnvelope;
      const c = await ctx.login(ctx.user());
      c.sendBatch(Array.from({ length: max + 1 }, (_, i) => request('PING', [['Tag', `t${i}`]])));
      const r = await c.nextResponse(ctx.timeout, 'the answer to an envelope of too many records').catch(() => null);
      checkError(ctx, r, 'ERR_LIMIT', `an envelope of ${max + 1} records`, 'SEAL-11');
      ctx.must(c.received.at(-1)?.sealed, 'SEAL-11', 'the 413 to an authenticated envelope must travel inside SEALED');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-11', 'the MS must close after an envelope of too many records');
      ctx.must(
        !c.received.some((x) => x.msg.kind === 'response' && /^t\d+$/.test(header(x.msg, 'Tag') ?? '')),
        'SEAL-11',
        'none of the records of a refused envelope may be acted on: a PING of it was answered 200',
      );
      const d = await ctx.login(ctx.user());
      d.sendBatch([], { plain: Buffer.alloc(0), note: 'SEALED envelope with an empty plaintext' });
      const e = await d.nextResponse(ctx.timeout, 'the answer to an empty envelope').catch(() => null);
      checkError(ctx, e, 'ERR_TRUNCATED', 'an envelope with no record', 'SEAL-11');
      ctx.must(await d.closedWithin(ctx.timeout), 'SEAL-11', 'the MS must close after an empty envelope');
    },
  },
  {
    id: 'ms/seal/10',
    section: 'seal',
    title: 'every login handshake gets a fresh ephemeral Key-share from the MS, for known and unknown users alike',
    reqs: ['SEAL-1'],
    async run(ctx: MsContext) {
      const shares = new Set<string>();
      const names = [ctx.user().name, ctx.user().name, ctx.uniq('ghost'), ctx.uniq('ghost')];
      for (const name of names) {
        const c = await ctx.connect('ks');
        const out = await loginOn(c, name, 'not-the-password', '127.0.0.1:9', ctx.timeout);
        const share = out.challenge?.status === 300 ? header(out.challenge, 'Key-share') : undefined;
        ctx.must(
          share,
          'SEAL-1',
          `LOGIN must be answered 300 with a Key-share, got ${out.challenge?.status ?? 'close'}`,
        );
        shares.add(share);
        c.destroy();
      }
      ctx.must(
        shares.size === names.length,
        'SEAL-1',
        `each handshake must use a fresh ephemeral X25519 key pair: ${names.length} logins got ${shares.size} distinct Key-shares`,
      );
    },
  },
  {
    id: 'ms/seal/11',
    section: 'seal',
    title:
      'each direction has its own key: an envelope the MS sealed, sent back to it at the Seq it expects, does not authenticate (401 ERR_DECRYPT in clear, connection closed)',
    reqs: ['SEAL-2', 'SEAL-4', 'ERR-1'],
    async run(ctx: MsContext) {
      const c = await ctx.login(ctx.user());
      c.auto = () => undefined; // answer nothing on our own, so that our next Seq stays 1
      const raw: Buffer[] = [];
      const capture = (d: Buffer): void => {
        raw.push(d);
      };
      c.socket.on('data', capture);
      const r = await c.request(request('PING', [['Tag', 'reflect']]), ctx.timeout);
      c.socket.off('data', capture);
      ctx.must(r.status === 200, 'SEAL-2', `PING must be answered 200, got ${r.status}`);
      const env = Buffer.concat(raw);
      const seq = /^SEALED\r\nSeq: (\d+)\r\n/.exec(env.toString('latin1'))?.[1];
      const s = c.sealing!;
      if (seq === undefined || Number(seq) !== s.sendSeq || env.length > 4096)
        ctx.skip(
          `the answer to PING came as Seq ${seq ?? 'none'} where ours is due at ${s.sendSeq} (an MS PING in between)`,
        );
      c.writeRaw(env, `the MS's own envelope (Seq ${seq}) sent back to it`);
      s.sendSeq += 1;
      const back = await c.nextResponse(ctx.timeout, 'an answer to a reflected envelope').catch(() => null);
      checkError(ctx, back, 'ERR_DECRYPT', 'an envelope sealed with the MS-to-client key, sent client-to-MS', 'SEAL-2');
      ctx.must(await c.closedWithin(ctx.timeout), 'SEAL-4', 'the MS must close the connection after ERR_DECRYPT');
    },
  },
  {
    id: 'ms/seal/12',
    section: 'seal',
    title:
      'answers ready in one turn (maxRecordsPerEnvelope PINGs in one envelope) should be sealed into as few envelopes as the limits allow',
    reqs: ['SEAL-14'],
    async run(ctx: MsContext) {
      await checkBatchCoalesced(ctx, await ctx.login(ctx.user()), ctx.timeout);
    },
  },
  {
    id: 'ms/seal/13',
    section: 'seal',
    title:
      'a SEALED without Seq before the link has its keys is answered with its validation error (422 ERR_MISSING_HEADER) and the connection goes on: a login on it then succeeds',
    reqs: ['REG-9', 'REG-3', 'ERR-1', 'WIRE-22', 'LOGIN-7'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.connect('cl');
      // [REG-9] the MS goes on reading, so a login on the same connection works.
      const code = await keylessSealedRefused(ctx, c, { from: 'client', to: 'ms' }, 'MS');
      const out = await loginOn(c, u.name, u.password, `127.0.0.1:${41000 + (ctx.env.counter++ % 9000)}`, ctx.timeout);
      ctx.must(
        out.challenge?.status === 300,
        'REG-9',
        `after ${code} the connection must go on: LOGIN on it must get 300 Challenge, got ${out.challenge?.status ?? 'close'}`,
      );
      ctx.must(
        out.result?.status === 200,
        'LOGIN-7',
        `a correct PROOF on the same connection must be answered 200, got ${out.result?.status ?? 'close'} ${out.result ? (header(out.result, 'Error-code') ?? '') : ''}`,
      );
    },
  },
];
