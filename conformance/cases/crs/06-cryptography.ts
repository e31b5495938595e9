// [§6 Cryptography and Link Protection], CRS side: the SEALED envelope on an enrolled MS link.
import { encode, header, request, type Message, type ResponseMessage } from '../../../codec/index.js';
import { enrollOn } from '../../lib/as-ms.js';
import type { CaseDef } from '../../lib/case.js';
import type { Conn } from '../../lib/conn.js';
import { sealBody } from '../../lib/crypto.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

/** Was this response (the n-th received on the connection) carried inside SEALED? */
const sealedFlag = (c: Conn, r: ResponseMessage): boolean | undefined => c.received.find((e) => e.msg === r)?.sealed;

const ping = (tag: string): Message => request('PING', [['Tag', tag]]);

export const crsCryptoCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/seal/1',
    section: 'seal',
    title: 'a SEALED envelope with a skipped sequence number is refused 450 ERR_REPLAY and the link closed',
    reqs: ['SEAL-3', 'ERR-1'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      const s = ms.conn.sealing!;
      const inner = encode(request('PING', []));
      const body = sealBody(s.send, s.sendSeq + 1, inner);
      ms.conn.writeRaw(
        Buffer.concat([Buffer.from(`SEALED\r\nSeq: ${s.sendSeq + 1}\r\nContent-length: ${body.length}\r\n\r\n`), body]),
      );
      const r = await ms.conn.nextResponse(ctx.timeout, 'an answer to the out-of-order envelope');
      if (r) checkError(ctx, r, 'ERR_REPLAY', 'a skipped Seq');
      ctx.must(await ms.conn.closedWithin(ctx.timeout), 'SEAL-3', 'the CRS must close the link after a bad Seq');
    },
  },
  {
    id: 'crs/seal/2',
    section: 'seal',
    title: 'a SEALED envelope that fails to authenticate is refused 401 ERR_DECRYPT and the link closed',
    reqs: ['SEAL-4', 'ERR-1'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      const s = ms.conn.sealing!;
      const body = sealBody(s.send, s.sendSeq, encode(request('PING', [])));
      body[0] = body[0]! ^ 1;
      ms.conn.writeRaw(
        Buffer.concat([Buffer.from(`SEALED\r\nSeq: ${s.sendSeq}\r\nContent-length: ${body.length}\r\n\r\n`), body]),
      );
      const r = await ms.conn.nextResponse(ctx.timeout, 'an answer to the tampered envelope');
      if (r) checkError(ctx, r, 'ERR_DECRYPT', 'a tampered envelope');
      ctx.must(
        await ms.conn.closedWithin(ctx.timeout),
        'SEAL-4',
        'the CRS must close the link after an envelope that does not authenticate',
      );
    },
  },
  {
    id: 'crs/seal/3',
    section: 'seal',
    title: 'a clear request on a sealed MS link is not acted on',
    reqs: ['SEAL-7'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      const u = ctx.makeUser();
      ms.conn.writeRaw(encode(request('REGISTER', ctx.registerHeaders(u))));
      await ms.conn.nextResponse(ctx.timeout, 'an answer').catch(() => null);
      const prov = await ctx.provisioner();
      const r = await prov.req('REGISTER', ctx.registerHeaders(u));
      ctx.must(
        r.status === 201,
        'SEAL-7',
        `a clear REGISTER on a sealed link must not be acted on (registering the same user again got ${r.status})`,
      );
    },
  },
  {
    id: 'crs/seal/4',
    section: 'seal',
    title:
      'an envelope that holds an envelope is a decryption failure: 401 ERR_DECRYPT in clear, its records not acted on, and the link closed',
    reqs: ['SEAL-6', 'SEAL-9', 'SEAL-4', 'ERR-1'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      const u = ctx.makeUser();
      // The inner envelope is well formed and sealed under the right key for its Seq: only its nesting is wrong.
      const s = ms.conn.sealing!;
      const inner = encode(request('REGISTER', ctx.registerHeaders(u)));
      const innerBody = sealBody(s.send, s.sendSeq + 1, inner);
      const nested = Buffer.concat([
        Buffer.from(`SEALED\r\nSeq: ${s.sendSeq + 1}\r\nContent-length: ${innerBody.length}\r\n\r\n`),
        innerBody,
      ]);
      ms.conn.sendBatch([], { plain: nested, note: 'SEALED holding a SEALED envelope (REGISTER inside)' });
      s.sendSeq += 1;
      const r = await ms.conn.nextResponse(ctx.timeout, 'an answer to an envelope inside an envelope');
      checkError(ctx, r, 'ERR_DECRYPT', 'an envelope inside an envelope', 'SEAL-6');
      ctx.must(
        r !== null && sealedFlag(ms.conn, r) === false,
        'SEAL-9',
        'the answer to an envelope inside an envelope must be sent in clear (the peer keys may be wrong)',
      );
      ctx.must(
        await ms.conn.closedWithin(ctx.timeout),
        'SEAL-4',
        'the CRS must close the link after an envelope that is a decryption failure',
      );
      const again = await (await ctx.provisioner()).req('REGISTER', ctx.registerHeaders(u));
      ctx.must(
        again.status === 201,
        'SEAL-6',
        `the REGISTER inside the nested envelope must not be acted on (registering the same user again got ${again.status})`,
      );
    },
  },
  {
    id: 'crs/seal/5',
    section: 'seal',
    title:
      'an envelope of more than maxRecordsPerEnvelope records is refused 413 ERR_LIMIT inside SEALED, an empty one 400 ERR_TRUNCATED, one ending inside a message with its framing error; none of their records is acted on and the link closes',
    reqs: ['SEAL-11', 'SEAL-9', 'ERR-1', 'WIRE-22'],
    async run(ctx: CrsContext) {
      const max = ctx.limits.get('maxRecordsPerEnvelope');
      const prov = await ctx.provisioner();
      const variants: { what: string; code: string; records: (u: Message) => { msgs: Message[]; plain?: Buffer } }[] = [
        {
          what: `an envelope of ${max + 1} records (maxRecordsPerEnvelope ${max})`,
          code: 'ERR_LIMIT',
          records: (reg) => ({ msgs: [reg, ...Array.from({ length: max }, (_, i) => ping(`p${i}`))] }),
        },
        {
          what: 'an envelope with no record',
          code: 'ERR_TRUNCATED',
          records: () => ({ msgs: [], plain: Buffer.alloc(0) }),
        },
        {
          what: 'an envelope whose plaintext ends inside its second message',
          code: 'ERR_TRUNCATED',
          records: (reg) => ({ msgs: [reg], plain: Buffer.concat([encode(reg), Buffer.from('PING\r\nTag: cut\r\n')]) }),
        },
      ];
      for (const v of variants) {
        const ms = await ctx.enroll({}, false);
        const u = ctx.makeUser();
        const reg = request('REGISTER', ctx.registerHeaders(u));
        const { msgs, plain } = v.records(reg);
        const seen = ms.conn.received.length;
        ms.conn.sendBatch(msgs, { ...(plain ? { plain } : {}), note: v.what });
        const r = await ms.conn.nextResponse(ctx.timeout, `an answer to ${v.what}`).catch(() => null);
        checkError(ctx, r, v.code, v.what, 'SEAL-11');
        ctx.must(
          r && sealedFlag(ms.conn, r) === true,
          'SEAL-9',
          `${v.what}: the refusal must travel inside SEALED (the keys are intact)`,
        );
        ctx.must(
          await ms.conn.closedWithin(ctx.timeout),
          'SEAL-11',
          `${v.what}: the CRS must close the link after refusing the envelope`,
        );
        const answered = ms.conn.received.slice(seen).filter((e) => e.msg.kind === 'response').length;
        ctx.must(answered === 1, 'SEAL-11', `${v.what}: no record may be acted on, yet ${answered - 1} were answered`);
        if (msgs.length === 0) continue;
        const again = await prov.req('REGISTER', ctx.registerHeaders(u));
        ctx.must(
          again.status === 201,
          'SEAL-11',
          `${v.what}: its REGISTER must not be acted on (registering the same user again got ${again.status})`,
        );
      }
    },
  },
  {
    id: 'crs/seal/6',
    section: 'seal',
    title:
      "the records of one envelope are acted on in order, each answered on its own (an error in one is that record's, answered inside SEALED, and the link goes on); an envelope of maxRecordsPerEnvelope records is accepted; answers ready together should share envelopes",
    reqs: ['SEAL-12', 'SEAL-13', 'SEAL-9', 'SEAL-14', 'ERR-1', 'REG-9', 'WIRE-22'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      ms.conn.sendBatch([ping('a'), request('FROBNICATE', [['Tag', 'b']]), ping('c')]);
      const got: ResponseMessage[] = [];
      for (const tag of ['a', 'b', 'c']) {
        const r = await ms.conn.nextResponse(ctx.timeout, `the answer tagged ${tag}`);
        ctx.must(r, 'SEAL-12', `every record of an envelope must be answered on its own: none for ${tag}`);
        ctx.must(
          header(r, 'Tag') === tag,
          'SEAL-12',
          `records must be answered in their order: expected Tag ${tag}, got ${header(r, 'Tag')}`,
        );
        got.push(r);
      }
      ctx.must(got[0]!.status === 200 && got[2]!.status === 200, 'SEAL-12', 'PING records must be answered 200');
      checkError(ctx, got[1]!, 'ERR_UNKNOWN_METHOD', 'an unknown method as the second record of an envelope', 'REG-9');
      ctx.must(
        sealedFlag(ms.conn, got[1]!) === true,
        'SEAL-9',
        'on a sealed link the error answer to a record must travel inside SEALED',
      );
      const max = ctx.limits.get('maxRecordsPerEnvelope');
      const before = ms.conn.envelopesIn.length;
      ms.conn.sendBatch(Array.from({ length: max }, (_, i) => ping(`m${i}`)));
      for (let i = 0; i < max; i++) {
        const r = await ms.conn.nextResponse(ctx.timeout, `the answer to record ${i + 1} of ${max}`);
        ctx.must(
          r?.status === 200 && header(r, 'Tag') === `m${i}`,
          'SEAL-13',
          `an envelope of ${max} records (maxRecordsPerEnvelope) must be accepted and each record answered in order: record ${i + 1} got ${r ? `${r.status} Tag ${header(r, 'Tag')}` : 'no answer'}`,
        );
      }
      const envelopes = ms.conn.envelopesIn.length - before;
      ctx.should(
        envelopes < max,
        'SEAL-14',
        `${max} answers ready in one turn should be sealed into as few envelopes as the limits allow; they came in ${envelopes}`,
      );
    },
  },
  {
    id: 'crs/seal/7',
    section: 'seal',
    title:
      'each direction has its own key: an envelope the CRS sealed, sent back to it at the Seq it expects, does not authenticate (401 ERR_DECRYPT, link closed)',
    reqs: ['SEAL-2', 'SEAL-4', 'ERR-1', 'SEAL-5', 'HB-3'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      const raw: Buffer[] = [];
      const capture = (d: Buffer): void => {
        raw.push(d);
      };
      ms.conn.socket.on('data', capture);
      const s = ms.conn.sealing!;
      // The CRS sealed its 200 to PROOF as its record 0; our first record is 0, so its answer is its record 1,
      // which is the Seq the CRS expects from us next.
      const r = await ms.req('PING', [['Tag', 'reflect']]);
      ms.conn.socket.off('data', capture);
      ctx.pre(r.status === 200, 'HB-3', `PING must be answered 200, got ${r.status}`);
      const envelope = Buffer.concat(raw);
      const seq = /^SEALED\r\nSeq: (\d+)\r\n/.exec(envelope.toString('latin1'))?.[1];
      ctx.pre(seq !== undefined, 'SEAL-5', 'the answer to PING must come as one SEALED envelope');
      ctx.pre(Number(seq) === s.sendSeq, 'SEAL-5', `the CRS's answer has Seq ${seq}; ours is due at ${s.sendSeq}`);
      ms.conn.writeRaw(envelope, `the CRS's own envelope (Seq ${seq}) sent back to it`);
      s.sendSeq += 1;
      const back = await ms.conn.nextResponse(ctx.timeout, 'an answer to a reflected envelope').catch(() => null);
      checkError(ctx, back, 'ERR_DECRYPT', 'an envelope sealed with the CRS-to-MS key, sent MS-to-CRS', 'SEAL-2');
      ctx.must(await ms.conn.closedWithin(ctx.timeout), 'SEAL-4', 'the CRS must close the link after ERR_DECRYPT');
    },
  },
  {
    id: 'crs/seal/8',
    section: 'seal',
    title: 'every enrollment handshake gets a fresh ephemeral Key-share from the CRS',
    reqs: ['SEAL-1', 'ENROLL-2'],
    async run(ctx: CrsContext) {
      const shares = new Set<string>();
      const n = 3;
      for (let i = 0; i < n; i++) {
        const conn = await ctx.connect('ms');
        const out = await enrollOn(conn, ctx.env.msKey, ctx.msParams(), ctx.timeout);
        const share = out.challenge ? header(out.challenge, 'Key-share') : undefined;
        ctx.pre(share !== undefined, 'ENROLL-2', 'ENROLL must be answered 300 with a Key-share');
        shares.add(share);
        if (out.result?.status === 200) conn.send(request('LEAVE', []));
      }
      ctx.must(
        shares.size === n,
        'SEAL-1',
        `each handshake must use a fresh ephemeral X25519 key pair: ${n} enrollments got ${shares.size} distinct Key-shares`,
      );
    },
  },
  {
    id: 'crs/seal/9',
    section: 'seal',
    title:
      'a handshake message (ENROLL, PROOF) inside SEALED after the handshake is answered 425 ERR_OUT_OF_STATE inside SEALED, and the link goes on',
    reqs: ['REG-15', 'SEAL-9', 'ERR-1', 'STATE-1'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      const msgs: Message[] = [
        request('ENROLL', [
          ['Imsp-version', '1'],
          ['Ms-id', ms.msId],
          ['Incarnation', String(ms.params.incarnation + 1)],
          ['Nonce', 'A'.repeat(24)],
          ['Key-share', 'A'.repeat(43)],
          ['Listen', ms.params.listen],
          ['Capacity', '1'],
        ]),
        request('PROOF', [['Proof', 'A'.repeat(43)]]),
      ];
      for (const m of msgs) {
        const what = `${(m as { method: string }).method} inside SEALED after the handshake`;
        ms.conn.send(m);
        const r = await ms.conn.nextResponse(ctx.timeout, `an answer to ${what}`).catch(() => null);
        checkError(ctx, r, 'ERR_OUT_OF_STATE', what, 'REG-15');
        ctx.must(r && sealedFlag(ms.conn, r) === true, 'SEAL-9', `${what}: the 425 must travel inside SEALED`);
        const p = await ms.conn.request(request('PING', [['Tag', 'after']]), ctx.timeout).catch(() => null);
        ctx.must(
          p?.status === 200,
          'REG-15',
          `${what}: the link must go on (a PING after it got ${p?.status ?? 'no answer'})`,
        );
      }
    },
  },
];
