// [§14 Error Handling], client side: the client as the receiver of error statuses from its MS (an Error-code it
// does not know, a 4xx it must not repeat), what follows an error that closes on its peer links (nothing behind the
// offending message is read), an error that must not tell a blocked buddy of the block, and a request the MS
// never answers [CONN-5].
import { randomBytes } from 'node:crypto';
import {
  encode,
  header,
  response,
  type Header,
  type RequestMessage,
  type ResponseMessage,
} from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext, KitAccount } from '../../lib/client-context.js';
import type { Conn } from '../../lib/conn.js';
import type { ControlledClient } from '../../lib/control.js';
import { envelopeOctets, sealBody } from '../../lib/crypto.js';
import { buildInit, textMsg } from '../../lib/p2p.js';
import { errorSpec } from '../../lib/registry.js';

const tagOf = (m: RequestMessage): Header[] => (header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : []);

/**
 * A logged-in client whose kit MS answers its STATUS with `answer(req)`, or as usual where that gives
 * undefined; the kit MS still records every request.
 */
async function answeringStatus(
  ctx: ClientContext,
  answer: (req: RequestMessage) => ResponseMessage | undefined,
): Promise<{ a: KitAccount; c: ControlledClient; ms: Conn }> {
  const a = ctx.account([], { sessionTimeout: 60_000 });
  const c = await ctx.startLoggedIn(a);
  const ms = ctx.ms(a);
  const kit = ms.auto;
  ms.auto = (req, conn) => {
    const def = kit?.(req, conn); // the kit MS records every request
    return (req.method === 'STATUS' ? answer(req) : undefined) ?? def;
  };
  return { a, c, ms };
}

export const clientErrorCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/errors/20',
    section: 'errors',
    title:
      'a 422 with an Error-code the client does not know is acted on by its status: the request failed, the session goes on',
    reqs: ['ERR-2', 'CTL-2'],
    async run(ctx: ClientContext) {
      const code = `ERR_KIT_FUTURE_${randomBytes(2).toString('hex').toUpperCase()}`;
      const { a, c, ms } = await answeringStatus(ctx, (req) =>
        header(req, 'Status') === 'busy' ? response(422, [...tagOf(req), ['Error-code', code]]) : undefined,
      );
      const r = await c.command('status busy', ctx.timeout * 2);
      ctx.must(
        r?.event === 'error',
        'ERR-2',
        `STATUS answered 422 ${code} must fail (a 422 is a failed request whatever its code): ${JSON.stringify(r)}`,
      );
      ctx.must(!ms.closed, 'ERR-2', `a 422 leaves the session open (Section 14.2); the client closed its MS link`);
      const next = await c.command('status away', ctx.timeout * 2);
      ctx.must(
        next?.event === 'ok' && ctx.msRequests(a, 'STATUS').some((x) => header(x.msg, 'Status') === 'away'),
        'ERR-2',
        `after a 422 with an unknown Error-code the session goes on: the next STATUS failed ${JSON.stringify(next)}`,
      );
    },
  },
  {
    id: 'client/errors/21',
    section: 'errors',
    title: 'a STATUS refused 422 ERR_BAD_VALUE is not sent again unchanged',
    reqs: ['ERR-3', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { a, c } = await answeringStatus(ctx, (req) =>
        response(422, [...tagOf(req), ['Error-code', 'ERR_BAD_VALUE']]),
      );
      await c.command('status busy', ctx.timeout * 2);
      // Long enough for any retry loop, backoff included, that a client could run inside one command.
      await new Promise((res) => setTimeout(res, ctx.timeout));
      const sent = ctx.msRequests(a, 'STATUS').filter((x) => header(x.msg, 'Status') === 'busy');
      ctx.must(
        sent.length === 1,
        'ERR-3',
        `a request refused with a 4xx (422) must not be sent again unchanged: the kit MS got ${sent.length} STATUS busy`,
      );
    },
  },
  {
    id: 'client/errors/22',
    section: 'errors',
    title:
      'after an error that closes, nothing behind the offending message is read: an INIT behind a MSG in clear gets no INIT-ACK; a MSG behind a forged envelope is not delivered',
    reqs: ['ERR-5', 'STATE-5', 'SEAL-4', 'CONN-16', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const pre = await ctx.connect(ctx.clientAddress(a), `peer-${p.name}-pre`);
      const early = encode(textMsg(p.name, a.name, 'before INIT'));
      const init = buildInit(p.name, p.identity, a.name, a.identity.publicKey).msg;
      pre.writeRaw(Buffer.concat([early, encode(init)]), 'a MSG in clear, then a valid INIT, in one write');
      const r = await pre.nextResponse(ctx.timeout, 'the answer to a MSG before INIT').catch(() => null);
      ctx.must(
        r?.status === 425,
        'STATE-5',
        `a MSG before INIT must be answered 425 ERR_OUT_OF_STATE: got ${r ? r.status : 'nothing'}`,
      );
      ctx.must(await pre.closedWithin(ctx.timeout), 'ERR-5', 'after 425 before the handshake the client must close');
      ctx.must(
        !pre.received.some((m) => m.msg.kind === 'request' && m.msg.method === 'INIT-ACK'),
        'ERR-5',
        'the INIT behind the refused MSG must not be read: the client answered it INIT-ACK',
      );
      const conn = await ctx.initFrom(p, a);
      const s = conn.sealing!;
      const tag = randomBytes(3).toString('hex');
      const seq = s.sendSeq++;
      const bad = sealBody(s.send, seq, encode(textMsg(p.name, a.name, `forged-${tag}`)));
      bad[bad.length - 1]! ^= 0x01;
      const next = s.sendSeq++;
      const good = sealBody(s.send, next, encode(textMsg(p.name, a.name, `after-${tag}`)));
      conn.writeRaw(
        Buffer.concat([envelopeOctets(seq, bad), envelopeOctets(next, good)]),
        'a forged envelope, then a good MSG',
      );
      ctx.must(await conn.closedWithin(ctx.timeout), 'SEAL-4', 'the client must close after a forged envelope');
      ctx.must(
        !(await c.waitFor((e) => e.event === 'message' && String(e.text).endsWith(tag), 300)),
        'ERR-5',
        'the MSG behind a forged envelope, in the same write, must not be acted on: the client delivered it',
      );
      ctx.must(
        !conn.received.some((m) => m.msg.kind === 'response' && m.msg.status === 200),
        'ERR-5',
        'the MSG behind a forged envelope must not be answered',
      );
    },
  },
  {
    id: 'client/errors/23',
    section: 'errors',
    title:
      'a buddy the client has just blocked learns nothing of the block from an error: a MSG on the old session gets no ERR_BLOCKED',
    reqs: ['ERR-6', 'CTL-2', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const r = await c.command(`block ${p.name}`, ctx.timeout * 2);
      ctx.pre(r?.event === 'ok', 'CTL-2', `block failed: ${JSON.stringify(r)}`);
      conn.send(textMsg(p.name, a.name, 'after the block'));
      const answer = await conn.nextResponse(ctx.timeout, 'an answer to a MSG after the block').catch(() => null);
      ctx.must(
        !answer || header(answer, 'Error-code') !== 'ERR_BLOCKED',
        'ERR-6',
        `no error may tell a blocked user of the block except ERR_BLOCKED to an INIT: a MSG got ${answer?.status} ERR_BLOCKED`,
      );
    },
  },
  {
    id: 'client/errors/24',
    section: 'errors',
    title: 'a STATUS the MS never answers: the client should give it up after requestTimeout and close the connection',
    reqs: ['CONN-5', 'CTL-2'],
    async run(ctx: ClientContext) {
      const rt = ctx.limits.get('requestTimeout');
      const a = ctx.account([], { sessionTimeout: 120_000 });
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      // Answers come in request order: from the STATUS on, the kit MS answers nothing (PINGs included).
      let silent = false;
      const kit = ms.auto;
      ms.auto = (req, conn) => {
        const def = kit?.(req, conn); // the kit MS records every request
        silent ||= req.method === 'STATUS';
        return silent ? undefined : def;
      };
      const t0 = Date.now();
      const slack = Math.max(1000, ctx.timeout / 2);
      const r = await c.command('status busy', rt + slack + 2 * ctx.timeout);
      const closed = await ms.closedWithin(ctx.timeout);
      const after = Date.now() - t0;
      ctx.should(
        closed,
        'CONN-5',
        `a STATUS with no answer for ${after} ms (requestTimeout ${rt}): the client should consider it failed and close the connection ${JSON.stringify(r)}`,
      );
      ctx.should(
        after <= rt + slack + ctx.timeout,
        'CONN-5',
        `the client gave up a STATUS ${after} ms after sending it, requestTimeout is ${rt}`,
      );
      ctx.should(r?.event === 'error', 'CONN-5', `the unanswered STATUS should fail: ${JSON.stringify(r)}`);
    },
  },
  {
    id: 'client/errors/25',
    section: 'errors',
    title:
      "a 200 with Count: 1 answering the client's STATUS on its MS link (a request that is not a MSG): the command fails with 422 ERR_BAD_VALUE and the client closes the link",
    reqs: ['MSG-8', 'REG-10', 'CTL-3', 'CTL-2'],
    async run(ctx: ClientContext) {
      // Count answers the n oldest unanswered requests, each of which must be a MSG without Tag [MSG-8].
      const { a, c, ms } = await answeringStatus(ctx, (req) => response(200, [...tagOf(req), ['Count', '1']]));
      const r = await c.command('status away', ctx.timeout * 2);
      ctx.pre(ctx.msRequests(a, 'STATUS').length === 1, 'CTL-2', 'status away sent no STATUS');
      const bad = errorSpec('ERR_BAD_VALUE');
      ctx.must(
        r?.event === 'error' && r.code === 'ERR_BAD_VALUE' && r.status === bad.status,
        'MSG-8',
        `a Count covering a request that is not a MSG fails that request with ERR_BAD_VALUE ${bad.status} (CTL-3), status away reported ${JSON.stringify(r)}`,
      );
      ctx.must(
        await ms.closedWithin(ctx.timeout),
        'MSG-8',
        'a 200 with Count answering a STATUS is an invalid response: the client must close its MS link (REG-10)',
      );
    },
  },
];
