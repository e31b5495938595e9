// [§6 Cryptography and Link Protection], CRS side: the SEALED envelope on an enrolled MS link.
import { encode, request } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { sealBody } from '../../lib/crypto.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

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
];
