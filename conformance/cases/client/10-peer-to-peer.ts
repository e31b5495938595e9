// Section "peer to peer" (spec 10), client side: INIT/INIT-ACK both ways, every refusal, MSG, SEALED on peer sessions, no session key after logout.
import { randomBytes } from 'node:crypto';
import { header, request, response, type Header, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { Conn } from '../../lib/conn.js';
import { newIdentity } from '../../lib/crypto.js';
import { buildInit, buildInitAck, openInit } from '../../lib/p2p.js';
import { errorSpec } from '../../lib/registry.js';
import type { ClientContext } from '../../lib/client-context.js';

const tagOf = (m: RequestMessage): Header[] => (header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : []);

export async function expectRefusal(ctx: ClientContext, conn: Conn, code: string, what: string): Promise<void> {
  const e = errorSpec(code);
  const r = await conn.nextResponse(ctx.timeout, `the refusal of ${what}`).catch(() => null);
  const ack = conn.received.find((m) => m.msg.kind === 'request' && m.msg.method === 'INIT-ACK');
  ctx.must(!ack, e.req, `${what} must be refused, the client answered INIT-ACK`);
  ctx.must(r, e.req, `${what} must be answered ${e.status} ${code}, got nothing`);
  ctx.must(
    r.status === e.status,
    e.req,
    `${what}: expected ${e.status} ${code}, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
  );
  ctx.should(
    header(r, 'Error-code') === code,
    e.req,
    `${what}: expected Error-code ${code}, got ${header(r, 'Error-code')}`,
  );
  ctx.must(await conn.closedWithin(ctx.timeout), e.req, `${what}: the client must close the connection after refusing`);
}

export const clientP2pCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/p2p/1',
    section: 'p2p',
    title:
      'a valid INIT from a buddy is answered with an INIT-ACK that opens and verifies; a SEALED MSG is answered 200 and delivered',
    reqs: ['P2P-9', 'MSG-1'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      const text = `hello ${randomBytes(4).toString('hex')}`;
      const r = await conn.request(
        request(
          'MSG',
          [
            ['From', p.name],
            ['To', a.name],
            ['Content-type', 'text/plain; charset=utf-8'],
          ],
          Buffer.from(text),
        ),
        ctx.timeout,
      );
      ctx.must(r.status === 200, 'MSG-1', `MSG must be answered 200, got ${r.status} ${header(r, 'Error-code') ?? ''}`);
      ctx.must(
        await c.waitFor((e) => e.event === 'message' && e.text === text, ctx.timeout),
        'MSG-1',
        'the message must be delivered to the user',
      );
    },
  },
  {
    id: 'client/p2p/2',
    section: 'p2p',
    title: 'an INIT from a user who is not a buddy is refused 403 ERR_NOT_BUDDY and the connection closed',
    reqs: ['P2P-3', 'INV-6'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const stranger = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'stranger');
      conn.send(buildInit(stranger.name, stranger.identity, a.name, a.identity.publicKey).msg);
      await expectRefusal(ctx, conn, 'ERR_NOT_BUDDY', 'an INIT from a non-buddy');
    },
  },
  {
    id: 'client/p2p/3',
    section: 'p2p',
    title: 'an INIT claiming to be from a buddy but signed with another key is refused 401 ERR_BAD_SIGNATURE',
    reqs: ['P2P-6'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'forger');
      conn.send(buildInit(buddy.name, buddy.identity, a.name, a.identity.publicKey, { signWith: newIdentity() }).msg);
      await expectRefusal(ctx, conn, 'ERR_BAD_SIGNATURE', 'an INIT with a forged signature');
    },
  },
  {
    id: 'client/p2p/4',
    section: 'p2p',
    title: 'a replayed INIT (same octets on a new connection) is refused 450 ERR_REPLAY',
    reqs: ['P2P-8', 'P2P-9', 'SEAL-3'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const { msg } = buildInit(buddy.name, buddy.identity, a.name, a.identity.publicKey);
      const first = await ctx.connect(ctx.clientAddress(a), 'peer');
      first.send(msg);
      ctx.must(
        await first.waitEvent((m) => m.method === 'INIT-ACK', ctx.timeout),
        'P2P-9',
        'the original INIT must be accepted',
      );
      const again = await ctx.connect(ctx.clientAddress(a), 'replayer');
      again.send(msg);
      await expectRefusal(ctx, again, 'ERR_REPLAY', 'a replayed INIT');
    },
  },
  {
    id: 'client/p2p/5',
    section: 'p2p',
    title: 'an INIT whose Time is outside maxClockSkew is refused 450 ERR_REPLAY',
    reqs: ['P2P-8', 'SEAL-3'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'peer');
      conn.send(
        buildInit(buddy.name, buddy.identity, a.name, a.identity.publicKey, {
          time: Date.now() - 2 * ctx.env.opts.limits.get('maxClockSkew'),
        }).msg,
      );
      await expectRefusal(ctx, conn, 'ERR_REPLAY', 'an INIT with an old Time');
    },
  },
  {
    id: 'client/p2p/6',
    section: 'p2p',
    title:
      'after the client logs out, its old session key is no longer accepted: a MSG on the old session is not delivered',
    reqs: ['INV-5', 'P2P-14', 'LOGOUT-4', 'LOGOUT-1', 'MSG-1', 'P2P-9'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      const r1 = await conn.request(
        request(
          'MSG',
          [
            ['From', p.name],
            ['To', a.name],
            ['Content-type', 'text/plain; charset=utf-8'],
          ],
          Buffer.from('before'),
        ),
        ctx.timeout,
      );
      ctx.must(r1.status === 200, 'MSG-1', 'MSG before logout must be answered 200');
      const out = await c.command('logout', ctx.timeout * 2);
      ctx.must(out?.event === 'ok', 'LOGOUT-1', `logout failed: ${JSON.stringify(out)}`);
      const secret = `after-logout-${randomBytes(3).toString('hex')}`;
      if (!conn.closed)
        conn.send(
          request(
            'MSG',
            [
              ['From', p.name],
              ['To', a.name],
              ['Content-type', 'text/plain; charset=utf-8'],
            ],
            Buffer.from(secret),
          ),
        );
      const r2 = conn.closed ? null : await conn.nextResponse(ctx.timeout, 'an answer').catch(() => null);
      ctx.must(
        !r2 || r2.status !== 200,
        'INV-5',
        'a MSG sealed under a session key of a logged-out user must not be accepted',
      );
      ctx.must(
        !(await c.waitFor((e) => e.event === 'message' && e.text === secret, 300)),
        'INV-5',
        'a MSG after logout must not be delivered',
      );
    },
  },
  {
    id: 'client/p2p/7',
    section: 'p2p',
    title: 'the client opens a session to a buddy with a valid, signed INIT and sends the text sealed',
    reqs: ['P2P-1', 'P2P-2', 'MSG-1'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const text = `hi ${randomBytes(3).toString('hex')}`;
      const sent = c.command(`send ${p.name} ${text}`, ctx.timeout * 3);
      const deadline = Date.now() + ctx.timeout;
      while (p.inbound.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const conn = p.inbound[0];
      ctx.must(conn, 'P2P-1', "the client did not connect to the buddy's Address");
      ctx.conns.push(conn);
      const init = await conn.waitEvent((m) => m.method === 'INIT', ctx.timeout);
      ctx.must(init, 'P2P-1', 'the client must open the session with INIT');
      const o = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
      ctx.must(!('error' in o), 'P2P-1', `INIT: ${'error' in o ? o.error : ''}`);
      ctx.must(
        o.from === a.name && o.to === p.name,
        'P2P-2',
        `INIT record From/To must be ${a.name}/${p.name}, got ${o.from}/${o.to}`,
      );
      ctx.must(o.signatureOk, 'P2P-2', "the INIT signature must verify under the sender's Public-key");
      const { msg, keys } = buildInitAck(o, p.identity);
      conn.send(msg);
      conn.sealing = { send: keys.r2i, recv: keys.i2r, sendSeq: 0, recvSeq: 0 };
      conn.auto = (req) =>
        req.method === 'MSG'
          ? response(200, tagOf(req))
          : req.method === 'PING'
            ? response(200, tagOf(req))
            : undefined;
      const done = await sent;
      ctx.must(done?.event === 'ok', 'MSG-1', `send failed: ${JSON.stringify(done)}`);
      const m = conn.received.find((x) => x.msg.kind === 'request' && x.msg.method === 'MSG');
      ctx.must(
        m && m.sealed && m.msg.body.toString('utf8') === text,
        'MSG-1',
        'the MSG must arrive sealed with the text',
      );
      ctx.must(
        header(m.msg, 'From') === a.name && header(m.msg, 'To') === p.name,
        'MSG-1',
        'MSG must carry From and To',
      );
    },
  },
  {
    id: 'client/p2p/8',
    section: 'p2p',
    title: 'an INIT addressed to another user is refused 403 ERR_FORBIDDEN',
    reqs: ['P2P-4', 'PROFILE-3'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.connect(ctx.clientAddress(a), 'misdirected');
      // Encrypted to the client's key, but To names someone else.
      conn.send(buildInit(buddy.name, buddy.identity, ctx.uniq('other'), a.identity.publicKey).msg);
      await expectRefusal(ctx, conn, 'ERR_FORBIDDEN', 'an INIT addressed to another user');
    },
  },
  {
    id: 'client/p2p/9',
    section: 'p2p',
    title: 'when the MS reports a peer offline, the client ends its session with that peer (BYE, close)',
    reqs: ['P2P-13', 'INV-5', 'P2P-9'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      ctx.svc.sessions.get(a.name)!.send(
        request('PRESENCE', [
          ['User', p.name],
          ['Status', 'offline'],
        ]),
      );
      const bye = await conn.waitEvent((m) => m.method === 'BYE', ctx.timeout);
      ctx.should(bye, 'P2P-13', 'the client should say BYE on the session with a peer reported offline');
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'P2P-13',
        'the client must close the session with a peer reported offline',
      );
    },
  },
  {
    id: 'client/p2p/10',
    section: 'p2p',
    title: "a MSG whose From is not the session's peer is refused 403 ERR_FORBIDDEN",
    reqs: ['MSG-2', 'P2P-9'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      const r = await conn.request(
        request(
          'MSG',
          [
            ['From', ctx.uniq('mallory')],
            ['To', a.name],
            ['Content-type', 'text/plain; charset=utf-8'],
          ],
          Buffer.from('forged'),
        ),
        ctx.timeout,
      );
      ctx.must(
        r.status === 403,
        'MSG-2',
        `a MSG with a forged From must be refused 403, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
      );
      ctx.should(
        header(r, 'Error-code') === 'ERR_FORBIDDEN',
        'MSG-2',
        `expected Error-code ERR_FORBIDDEN, got ${header(r, 'Error-code')}`,
      );
      ctx.must(
        !(await c.waitFor((e) => e.event === 'message' && e.text === 'forged', 200)),
        'MSG-2',
        'a refused MSG must not be delivered',
      );
    },
  },
  {
    id: 'client/p2p/11',
    section: 'p2p',
    title: 'a SEALED envelope out of sequence on a peer session is refused 450 ERR_REPLAY and the session closed',
    reqs: ['SEAL-3', 'P2P-9'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      await ctx.startLoggedIn(a);
      const conn = await ctx.initFrom(p, a);
      conn.sealing!.sendSeq = 5;
      conn.send(request('PING', []));
      const r = await conn.nextResponse(ctx.timeout, 'an answer to the out-of-order envelope').catch(() => null);
      if (r) {
        ctx.must(r.status === 450, 'SEAL-3', `an envelope out of sequence must be refused 450, got ${r.status}`);
        ctx.should(
          header(r, 'Error-code') === 'ERR_REPLAY',
          'SEAL-3',
          `expected ERR_REPLAY, got ${header(r, 'Error-code')}`,
        );
      }
      ctx.must(await conn.closedWithin(ctx.timeout), 'SEAL-3', 'the client must close the session after a bad Seq');
    },
  },
];
