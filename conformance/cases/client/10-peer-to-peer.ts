// Section "peer to peer" [§10 Peer-to-Peer Sessions], client side: INIT/INIT-ACK both ways, every refusal, MSG, SEALED on peer sessions, no session key after logout.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode, header, request, response, type Header, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ControlledClient } from '../../lib/control.js';
import type { Conn } from '../../lib/conn.js';
import { newIdentity } from '../../lib/crypto.js';
import { buildInit, buildInitAck, openInit, openInitAck, textMsg, type OpenedInit } from '../../lib/p2p.js';
import { errorSpec } from '../../lib/registry.js';
import { expectInitRefusal, type ClientContext, type KitAccount, type Peer } from '../../lib/client-context.js';

const tagOf = (m: RequestMessage): Header[] => (header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : []);

// ---------------------------------------------------------------------------------------------------
// Several messages per SEALED envelope and batched answers [§6.4 The SEALED Envelope] [§10.2.1 Batches: Several MSGs per Envelope, One 200 for Several MSGs] (issue 15)

/** The texts the client reported as received messages, in order. */
const delivered = (c: { events: { event: string; text?: unknown }[] }): string[] =>
  c.events.filter((e) => e.event === 'message').map((e) => String(e.text));

/** The refusal of an envelope: `code`'s status (the kit reads a clear or a sealed answer), then the close. */
async function expectEnvelopeRefusal(
  ctx: ClientContext,
  conn: Conn,
  code: string,
  req: string,
  what: string,
): Promise<void> {
  const e = errorSpec(code);
  const r = await conn.nextResponse(ctx.timeout, `the refusal of ${what}`).catch(() => null);
  if (r) {
    ctx.must(
      r.status === e.status,
      req,
      `${what}: expected ${e.status} ${code}, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
    );
    ctx.should(
      header(r, 'Error-code') === code,
      req,
      `${what}: expected Error-code ${code}, got ${header(r, 'Error-code')}`,
    );
  }
  ctx.must(await conn.closedWithin(ctx.timeout), req, `${what}: the client must close the session`);
}

/** The client under test opens a session to kit peer `p` (its `send`/`sendfile` command is running): INIT answered. */
async function acceptSession(ctx: ClientContext, p: Peer, a: KitAccount): Promise<Conn> {
  const conn = await ctx.inboundTo(p, ctx.timeout);
  ctx.pre(conn, 'P2P-1', "the client did not connect to the buddy's Address");
  ctx.conns.push(conn);
  const init = await conn.waitEvent((m) => m.method === 'INIT', ctx.timeout);
  ctx.pre(init, 'P2P-1', 'the client must open the session with INIT');
  const o = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
  ctx.pre(!('error' in o), 'P2P-1', `INIT: ${'error' in o ? o.error : ''}`);
  const { msg, keys } = buildInitAck(o, p.identity);
  conn.send(msg);
  conn.sealing = { send: keys.r2i, recv: keys.i2r, sendSeq: 0, recvSeq: 0 };
  return conn;
}

/** The client's `sessions` result: users with a live peer session and the session keys held. */
async function sessionsOf(ctx: ClientContext, c: ControlledClient): Promise<{ users: string[]; keys: number }> {
  const r = await c.command('sessions', ctx.timeout);
  ctx.pre(r?.event === 'ok', 'CTL-2', `sessions failed: ${JSON.stringify(r)}`);
  return { users: (r.sessions as string[] | undefined) ?? [], keys: Number(r.keys ?? 0) };
}

/** The client's INIT to kit peer `p` while its `send` runs: the connection, the opened INIT. */
async function initTo(ctx: ClientContext, p: Peer, a: KitAccount): Promise<{ conn: Conn; o: OpenedInit }> {
  const conn = await ctx.inboundTo(p, ctx.timeout * 2);
  ctx.pre(conn, 'P2P-1', "the client did not connect to the buddy's Address");
  ctx.conns.push(conn);
  const init = await conn.waitEvent((m) => m.method === 'INIT', ctx.timeout);
  ctx.pre(init, 'P2P-1', 'the client must open the session with INIT');
  const o = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
  ctx.pre(!('error' in o), 'P2P-1', `INIT: ${'error' in o ? o.error : ''}`);
  return { conn, o };
}

/** Requests the client sent on `conn` after the kit's INIT-ACK or refusal (index `after` in `received`). */
const sentAfter = (conn: Conn, after: number): string[] =>
  conn.received.slice(after).map((m) => (m.msg.kind === 'request' ? m.msg.method : `${m.msg.status}`));

export const clientP2pCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/p2p/1',
    section: 'p2p',
    title:
      'a valid INIT from a buddy is answered with an INIT-ACK that opens and verifies; a SEALED MSG is answered 200 and delivered',
    reqs: ['P2P-9', 'MSG-1'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
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
      await expectInitRefusal(ctx, conn, 'ERR_NOT_BUDDY', 'an INIT from a non-buddy');
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
      await expectInitRefusal(ctx, conn, 'ERR_BAD_SIGNATURE', 'an INIT with a forged signature');
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
      await expectInitRefusal(ctx, again, 'ERR_REPLAY', 'a replayed INIT');
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
      await expectInitRefusal(ctx, conn, 'ERR_REPLAY', 'an INIT with an old Time');
    },
  },
  {
    id: 'client/p2p/6',
    section: 'p2p',
    title:
      'after the client logs out, its old session key is no longer accepted: a MSG on the old session is not delivered',
    reqs: ['INV-5', 'P2P-14', 'LOGOUT-4', 'LOGOUT-1', 'MSG-1', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
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
      const { p, a, c } = await ctx.withBuddy();
      const text = `hi ${randomBytes(3).toString('hex')}`;
      const sent = c.command(`send ${p.name} ${text}`, ctx.timeout * 3);
      const conn = await ctx.inboundTo(p, ctx.timeout);
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
      await expectInitRefusal(ctx, conn, 'ERR_FORBIDDEN', 'an INIT addressed to another user');
    },
  },
  {
    id: 'client/p2p/9',
    section: 'p2p',
    title: 'when the MS reports a peer offline, the client ends its session with that peer (BYE, close)',
    reqs: ['P2P-13', 'INV-5', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, conn } = await ctx.buddySession();
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
      const { a, c, conn } = await ctx.buddySession();
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
      const { conn } = await ctx.buddySession();
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

export const clientBatchCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/p2p/12',
    section: 'p2p',
    title:
      'an envelope of three MSGs is acted on in order, each MSG answered (alone or within a Count); the next envelope carries Seq 3',
    reqs: ['SEAL-5', 'SEAL-12', 'SEAL-13', 'MSG-1', 'MSG-7', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const tag = randomBytes(3).toString('hex');
      const texts = ['one', 'two', 'three', 'four'].map((t) => `${t}-${tag}`);
      conn.sendBatch(texts.slice(0, 3).map((t) => textMsg(p.name, a.name, t)));
      for (let i = 0; i < 3; i++) {
        const r = await conn.nextResponse(ctx.timeout, `the answer to MSG ${i + 1} of the envelope`);
        ctx.must(r, 'SEAL-12', `the client closed the session on an envelope of 3 MSGs (answered ${i})`);
        ctx.must(
          r.status === 200,
          'MSG-1',
          `MSG ${i + 1} of the envelope: expected 200, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
        );
      }
      conn.sendBatch([textMsg(p.name, a.name, texts[3]!)]); // Seq 3: the envelope before held 3 records
      const r4 = await conn.nextResponse(ctx.timeout, 'the answer to the MSG in the envelope at Seq 3');
      ctx.must(
        r4,
        'SEAL-5',
        'an envelope at Seq 3 after an envelope of 3 records at Seq 0 must be accepted, the client closed',
      );
      ctx.must(
        r4.status === 200,
        'SEAL-5',
        `the MSG at Seq 3: expected 200, got ${r4.status} ${header(r4, 'Error-code') ?? ''}`,
      );
      ctx.must(
        await c.waitFor((e) => e.event === 'message' && e.text === texts[3], ctx.timeout),
        'SEAL-12',
        'the four messages must be delivered',
      );
      const got = delivered(c).filter((t) => t.endsWith(tag));
      ctx.must(
        JSON.stringify(got) === JSON.stringify(texts),
        'SEAL-12',
        `the records must be delivered once each, in order: ${JSON.stringify(got)}`,
      );
    },
  },
  {
    id: 'client/p2p/13',
    section: 'p2p',
    title:
      'a replayed envelope of several MSGs is refused 450 ERR_REPLAY, the session closed, and no MSG delivered twice',
    reqs: ['SEAL-3', 'SEAL-5', 'SEAL-12', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const tag = randomBytes(3).toString('hex');
      const texts = [`a-${tag}`, `b-${tag}`];
      const wire = conn.sendBatch(texts.map((t) => textMsg(p.name, a.name, t)));
      for (let i = 0; i < 2; i++) {
        const r = await conn.nextResponse(ctx.timeout, `the answer to MSG ${i + 1}`);
        ctx.pre(r && r.status === 200, 'SEAL-12', 'the original envelope of 2 MSGs must be answered 200, 200');
      }
      conn.writeRaw(wire, `SEALED Seq 0 again: the same ${wire.length} octets (a replay)`);
      await expectEnvelopeRefusal(ctx, conn, 'ERR_REPLAY', 'SEAL-3', 'a replayed envelope');
      await c.waitFor((e) => e.event === 'message' && e.text === texts[1], 200);
      const got = delivered(c).filter((t) => t.endsWith(tag));
      ctx.must(got.length === 2, 'SEAL-3', `a replayed envelope must not be delivered again: ${JSON.stringify(got)}`);
    },
  },
  {
    id: 'client/p2p/14',
    section: 'p2p',
    title:
      'Seq counts records: after an envelope of 3 records at Seq 0, an envelope at Seq 1 is refused 450 ERR_REPLAY and not delivered',
    reqs: ['SEAL-5', 'SEAL-3', 'SEAL-12', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const tag = randomBytes(3).toString('hex');
      conn.sendBatch(['x', 'y', 'z'].map((t) => textMsg(p.name, a.name, `${t}-${tag}`)));
      for (let i = 0; i < 3; i++) {
        const r = await conn.nextResponse(ctx.timeout, `the answer to MSG ${i + 1}`);
        ctx.pre(r && r.status === 200, 'SEAL-12', 'the envelope of 3 MSGs must be answered');
      }
      const late = `renumbered-${tag}`;
      conn.sendBatch([textMsg(p.name, a.name, late)], { seq: 1 });
      await expectEnvelopeRefusal(ctx, conn, 'ERR_REPLAY', 'SEAL-5', 'an envelope at Seq 1 where Seq 3 was due');
      ctx.must(
        !(await c.waitFor((e) => e.event === 'message' && e.text === late, 200)),
        'SEAL-5',
        'the MSG of an envelope with the wrong Seq must not be delivered',
      );
    },
  },
  {
    id: 'client/p2p/15',
    section: 'p2p',
    title: 'two envelopes delivered in swapped order are refused 450 ERR_REPLAY; no record of either is delivered',
    reqs: ['SEAL-3', 'SEAL-5', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const tag = randomBytes(3).toString('hex');
      // the second envelope (Seq 2) first, then the first (Seq 0, two records)
      conn.sendBatch([textMsg(p.name, a.name, `third-${tag}`)], { seq: 2 });
      conn.sendBatch(
        ['first', 'second'].map((t) => textMsg(p.name, a.name, `${t}-${tag}`)),
        { seq: 0 },
      );
      await expectEnvelopeRefusal(ctx, conn, 'ERR_REPLAY', 'SEAL-3', 'an envelope ahead of its turn');
      ctx.must(
        !(await c.waitFor((e) => e.event === 'message' && String(e.text).endsWith(tag), 200)),
        'SEAL-3',
        `no record of reordered envelopes may be delivered: ${JSON.stringify(delivered(c))}`,
      );
    },
  },
  {
    id: 'client/p2p/16',
    section: 'p2p',
    title:
      'an envelope of several MSGs with a forged tag is refused 401 ERR_DECRYPT, the session closed, none delivered',
    reqs: ['SEAL-4', 'SEAL-11', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const tag = randomBytes(3).toString('hex');
      conn.sendBatch(
        ['m1', 'm2', 'm3'].map((t) => textMsg(p.name, a.name, `${t}-${tag}`)),
        {
          tamper: (body) => {
            body[body.length - 1]! ^= 0x01; // the last octet of the GCM tag
          },
        },
      );
      await expectEnvelopeRefusal(ctx, conn, 'ERR_DECRYPT', 'SEAL-4', 'an envelope with a forged tag');
      ctx.must(
        !(await c.waitFor((e) => e.event === 'message' && String(e.text).endsWith(tag), 200)),
        'SEAL-11',
        'no record of an envelope that does not authenticate may be delivered',
      );
    },
  },
  {
    id: 'client/p2p/17',
    section: 'p2p',
    title:
      'an envelope of maxRecordsPerEnvelope + 1 MSGs is refused 413 ERR_LIMIT and the session closed, none delivered; an empty one 400 ERR_TRUNCATED',
    reqs: ['SEAL-11', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const tag = randomBytes(3).toString('hex');
      const n = ctx.env.opts.limits.get('maxRecordsPerEnvelope') + 1;
      conn.sendBatch(
        Array.from({ length: n }, (_, i) => textMsg(p.name, a.name, `r${i}-${tag}`)),
        { note: `SEALED Seq 0 with ${n} MSG records (one over maxRecordsPerEnvelope)` },
      );
      await expectEnvelopeRefusal(ctx, conn, 'ERR_LIMIT', 'SEAL-11', `an envelope of ${n} records`);
      ctx.must(
        !(await c.waitFor((e) => e.event === 'message' && String(e.text).endsWith(tag), 200)),
        'SEAL-11',
        `no record of an envelope over maxRecordsPerEnvelope may be acted on: ${delivered(c).length} delivered`,
      );
      const empty = await ctx.initFrom(p, a);
      empty.sendBatch([], { plain: Buffer.alloc(0), note: 'SEALED Seq 0 with an empty plaintext (no record)' });
      await expectEnvelopeRefusal(ctx, empty, 'ERR_TRUNCATED', 'SEAL-11', 'an envelope with no record');
    },
  },
  {
    id: 'client/p2p/18',
    section: 'p2p',
    title: 'the client takes one 200 with Count: n as the answer to its n MSGs in flight (a file of 3 chunks)',
    reqs: ['MSG-8', 'MSG-9'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const chunk = ctx.env.opts.limits.get('fileChunkSize');
      const dir = mkdtempSync(join(tmpdir(), 'imsp-kit-'));
      const path = join(dir, 'three-chunks.bin');
      writeFileSync(path, randomBytes(2 * chunk + 1000));
      try {
        const sent = c.command(`sendfile ${p.name} ${path}`, ctx.timeout * 6);
        const conn = await acceptSession(ctx, p, a);
        let answered = 0;
        let counted = 0;
        while (answered < 3) {
          const first = await conn.waitEvent((m) => m.method === 'MSG', ctx.timeout);
          ctx.must(
            first,
            'MSG-8',
            `chunk ${answered + 1} of 3 never came (the client did not take the Count before it)`,
          );
          const run = [first];
          // the chunks the client has in flight: those that arrive before it waits for an answer
          while (answered + run.length < 3) {
            const more = await conn.waitEvent((m) => m.method === 'MSG', 300);
            if (!more) break;
            run.push(more);
          }
          if (run.some((m) => header(m, 'Tag') !== undefined)) for (const m of run) conn.send(response(200, tagOf(m)));
          else {
            conn.send(response(200, [['Count', String(run.length)]]));
            counted = Math.max(counted, run.length);
          }
          answered += run.length;
        }
        const done = await sent;
        ctx.must(done?.event === 'ok', 'MSG-8', `a file answered with Count must be sent: ${JSON.stringify(done)}`);
        ctx.should(
          counted > 1,
          'MSG-8',
          'the client kept only one chunk in flight: a Count over several MSGs was not exercised',
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    id: 'client/p2p/19',
    section: 'p2p',
    title: 'a 200 with a Count greater than the MSGs in flight fails the MSG and the client closes the session',
    reqs: ['MSG-8', 'MSG-1'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const sent = c.command(`send ${p.name} over-${randomBytes(3).toString('hex')}`, ctx.timeout * 3);
      const conn = await acceptSession(ctx, p, a);
      const m = await conn.waitEvent((x) => x.method === 'MSG', ctx.timeout);
      ctx.pre(m, 'MSG-1', 'the client must send its MSG on the session it opened');
      conn.send(response(200, [...tagOf(m), ['Count', '2']]));
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'MSG-8',
        'a Count over more MSGs than in flight must close the session',
      );
      const done = await sent;
      ctx.must(
        done?.event === 'error',
        'MSG-8',
        `the MSG answered by an invalid Count must fail: ${JSON.stringify(done)}`,
      );
    },
  },
  {
    id: 'client/p2p/31',
    section: 'p2p',
    title:
      "a 200 with Count: 1 answering the client's INIT (a request that is not a MSG): the INIT fails with ERR_BAD_VALUE and the client closes the connection",
    reqs: ['MSG-8', 'REG-10', 'CTL-3', 'P2P-1'],
    async run(ctx: ClientContext) {
      const { p, c } = await ctx.withBuddy();
      const opened = c.command(`init ${p.name}`, ctx.timeout * 3);
      const conn = await ctx.inboundTo(p, ctx.timeout * 2);
      ctx.pre(conn, 'P2P-1', "the client did not connect to the buddy's Address");
      ctx.conns.push(conn);
      const init = await conn.waitEvent((m) => m.method === 'INIT', ctx.timeout);
      ctx.pre(init, 'P2P-1', 'the client must open the session with INIT');
      // Count answers the n oldest unanswered requests, each of which must be a MSG without Tag [MSG-8].
      conn.send(response(200, [['Count', '1']]));
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'REG-10',
        'a 200 with Count answering an INIT is an invalid response: the client must close the connection',
      );
      const done = await opened;
      const bad = errorSpec('ERR_BAD_VALUE');
      ctx.must(
        done?.event === 'error' && done.code === 'ERR_BAD_VALUE' && done.status === bad.status,
        'MSG-8',
        `a Count covering a request that is not a MSG fails that request with ERR_BAD_VALUE ${bad.status} (CTL-3), init reported ${JSON.stringify(done)}`,
      );
    },
  },
  {
    id: 'client/p2p/20',
    section: 'p2p',
    title: 'a MSG still unanswered when the session is cut is reported as not delivered',
    reqs: ['MSG-9', 'MSG-1'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const sent = c.command(`send ${p.name} cut-${randomBytes(3).toString('hex')}`, ctx.timeout * 3);
      const conn = await acceptSession(ctx, p, a);
      const m = await conn.waitEvent((x) => x.method === 'MSG', ctx.timeout);
      ctx.pre(m, 'MSG-1', 'the client must send its MSG on the session it opened');
      conn.destroy(); // the session is cut before the MSG is answered
      const done = await sent;
      ctx.must(
        done?.event === 'error',
        'MSG-9',
        `a MSG never answered must not be reported as sent: ${JSON.stringify(done)}`,
      );
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// The session's own rules, both ways: clear messages after INIT-ACK, handshake methods inside SEALED, BYE,
// INIT after logout, the initiator given a refusal or a bad INIT-ACK, nonces kept past the session, and
// no attempt to reach an offline buddy (issue 12: the client backlog of spec/exceptions.json).

export const clientSessionRuleCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/p2p/21',
    section: 'p2p',
    title: 'a message in clear after INIT-ACK: the client closes the peer connection',
    reqs: ['P2P-16', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { conn } = await ctx.buddySession();
      conn.writeRaw(encode(request('PING', [['Tag', 'clear']])), 'PING in clear after INIT-ACK');
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'P2P-16',
        'after INIT-ACK only SEALED envelopes may come: the client must close the connection on a PING in clear',
      );
      ctx.must(
        !conn.received.some(
          (m) => m.msg.kind === 'response' && header(m.msg, 'Tag') === 'clear' && m.msg.status === 200,
        ),
        'P2P-16',
        'the client answered 200 to a PING in clear on a sealed session',
      );
    },
  },
  {
    id: 'client/p2p/22',
    section: 'p2p',
    title:
      'an INIT inside SEALED on an open session is answered 425 ERR_OUT_OF_STATE inside SEALED, and the session goes on',
    reqs: ['REG-15', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, conn } = await ctx.buddySession();
      conn.send(buildInit(p.name, p.identity, a.name, a.identity.publicKey).msg);
      const r = await conn.nextResponse(ctx.timeout, 'the answer to INIT inside SEALED').catch(() => null);
      ctx.must(r, 'REG-15', 'an INIT inside SEALED must be answered 425 ERR_OUT_OF_STATE, got nothing');
      ctx.must(
        r.status === 425,
        'REG-15',
        `an INIT inside SEALED must be answered 425 ERR_OUT_OF_STATE, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
      );
      ctx.should(header(r, 'Error-code') === 'ERR_OUT_OF_STATE', 'REG-15', `Error-code ${header(r, 'Error-code')}`);
      const ping = await conn.request(request('PING', [['Tag', 'after']]), ctx.timeout).catch(() => null);
      ctx.must(
        ping?.status === 200,
        'REG-15',
        'after the 425 the session must go on: a sealed PING was not answered 200',
      );
    },
  },
  {
    id: 'client/p2p/23',
    section: 'p2p',
    title: 'BYE from the peer: the client closes the connection and holds no key of that session',
    reqs: ['P2P-12', 'P2P-9', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, c, conn } = await ctx.buddySession();
      const before = await sessionsOf(ctx, c);
      ctx.pre(
        before.users.includes(p.name),
        'CTL-2',
        `sessions does not list the open session: ${JSON.stringify(before)}`,
      );
      conn.send(request('BYE', [['Reason', 'kit']]), 'drop');
      ctx.must(await conn.closedWithin(ctx.timeout), 'P2P-12', 'the receiver of a BYE must close the connection');
      const after = await sessionsOf(ctx, c);
      ctx.must(
        !after.users.includes(p.name) && after.keys === 0,
        'P2P-12',
        `the receiver of a BYE must forget the session keys; sessions reports ${JSON.stringify(after)}`,
      );
    },
  },
  {
    id: 'client/p2p/24',
    section: 'p2p',
    title: 'the client says BYE: it holds no key of that session once sent',
    reqs: ['P2P-12', 'P2P-9', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, c, conn } = await ctx.buddySession();
      const r = await c.command(`bye ${p.name}`, ctx.timeout * 2);
      ctx.pre(r?.event === 'ok', 'CTL-2', `bye failed: ${JSON.stringify(r)}`);
      const bye = await conn.waitEvent((m) => m.method === 'BYE', ctx.timeout);
      ctx.must(bye, 'P2P-12', 'bye: the client must send BYE on the session');
      const after = await sessionsOf(ctx, c);
      ctx.must(
        !after.users.includes(p.name) && after.keys === 0,
        'P2P-12',
        `the sender of a BYE must forget the session keys once it is sent; sessions reports ${JSON.stringify(after)}`,
      );
    },
  },
  {
    id: 'client/p2p/25',
    section: 'p2p',
    title: 'after logout the client answers no INIT on its old address',
    reqs: ['P2P-5', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const addr = ctx.clientAddress(a);
      const r = await c.command('logout', ctx.timeout * 2);
      ctx.pre(r?.event === 'ok', 'CTL-2', `logout failed: ${JSON.stringify(r)}`);
      let conn: Conn;
      try {
        conn = await ctx.connect(addr, 'peer-after-logout');
      } catch {
        return; // nobody listens any more: nothing answers an INIT
      }
      conn.send(buildInit(p.name, p.identity, a.name, a.identity.publicKey).msg);
      const ack = await conn.waitEvent((m) => m.method === 'INIT-ACK', ctx.timeout);
      ctx.must(!ack, 'P2P-5', 'a client that logged out must not answer INIT, it sent INIT-ACK');
    },
  },
  {
    id: 'client/p2p/26',
    section: 'p2p',
    title: 'the peer refuses the INIT (403 ERR_NOT_BUDDY): the client closes, reports the error and keeps no key',
    reqs: ['P2P-11', 'P2P-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const sent = c.command(`send ${p.name} hello`, ctx.timeout * 4);
      const { conn } = await initTo(ctx, p, a);
      const mark = conn.received.length;
      conn.send(response(403, [['Error-code', 'ERR_NOT_BUDDY']]));
      ctx.must(await conn.closedWithin(ctx.timeout), 'P2P-11', 'an INIT answered 403 must make the initiator close');
      const r = await sent;
      ctx.must(
        r?.event === 'error',
        'P2P-11',
        `the initiator must report the refusal of its INIT; send reported ${JSON.stringify(r)}`,
      );
      ctx.must(
        sentAfter(conn, mark).length === 0,
        'P2P-11',
        `after the refusal the client sent ${sentAfter(conn, mark).join(', ')}`,
      );
      const s = await sessionsOf(ctx, c);
      ctx.must(
        s.keys === 0,
        'P2P-11',
        `the initiator must forget the handshake's keys; sessions reports ${JSON.stringify(s)}`,
      );
    },
  },
  {
    id: 'client/p2p/27',
    section: 'p2p',
    title: "an INIT-ACK signed with another key than the buddy's: the client closes without sending anything further",
    reqs: ['P2P-10', 'P2P-1'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const sent = c.command(`send ${p.name} hello`, ctx.timeout * 4);
      const { conn, o } = await initTo(ctx, p, a);
      const mark = conn.received.length;
      conn.send(buildInitAck(o, newIdentity()).msg);
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'P2P-10',
        "an INIT-ACK whose Signature does not verify under the buddy's key must make the initiator close",
      );
      ctx.must(
        sentAfter(conn, mark).length === 0,
        'P2P-10',
        `after a bad INIT-ACK the client must send nothing further, it sent ${sentAfter(conn, mark).join(', ')}`,
      );
      const r = await sent;
      ctx.must(r?.event === 'error', 'P2P-10', `send must fail after a bad INIT-ACK, it reported ${JSON.stringify(r)}`);
    },
  },
  {
    id: 'client/p2p/28',
    section: 'p2p',
    title: 'an INIT replayed after its session ended with BYE is still refused (its nonce is remembered)',
    reqs: ['P2P-7', 'P2P-9', 'P2P-12'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      await ctx.startLoggedIn(a);
      const { msg, state } = buildInit(p.name, p.identity, a.name, a.identity.publicKey);
      const first = await ctx.connect(ctx.clientAddress(a), 'peer');
      first.send(msg);
      const ack = await first.waitEvent((m) => m.method === 'INIT-ACK', ctx.timeout);
      ctx.pre(ack, 'P2P-9', 'the original INIT must be accepted');
      const o = openInitAck(state, ack, a.identity.publicKey);
      ctx.pre('keys' in o, 'P2P-9', 'INIT-ACK does not open');
      first.sealing = { send: o.keys.i2r, recv: o.keys.r2i, sendSeq: 0, recvSeq: 0 };
      first.send(request('BYE', []), 'drop');
      ctx.pre(await first.closedWithin(ctx.timeout), 'P2P-12', 'the client did not close the session after BYE');
      const again = await ctx.connect(ctx.clientAddress(a), 'replayer');
      again.send(msg);
      const replayAck = await again.waitEvent((m) => m.method === 'INIT-ACK', ctx.timeout);
      ctx.must(
        !replayAck,
        'P2P-7',
        'an INIT replayed after its session ended (well within 2 x maxClockSkew) was accepted: its nonce must be remembered',
      );
    },
  },
  {
    id: 'client/p2p/29',
    section: 'p2p',
    title: 'a buddy the MS shows offline: the client does not try to reach him',
    reqs: ['MSG-6', 'PRESENCE-11'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      ctx.ms(a).send(
        request('PRESENCE', [
          ['User', p.name],
          ['Status', 'offline'],
        ]),
      );
      const seen = await c.waitFor(
        (e) => e.event === 'presence' && e.user === p.name && e.status === 'offline',
        ctx.timeout,
      );
      ctx.pre(seen, 'PRESENCE-11', 'the client did not report the buddy offline');
      const r = await c.command(`send ${p.name} hello`, ctx.timeout * 2);
      ctx.must(
        p.inbound.length === 0,
        'MSG-6',
        'the MS shows the buddy offline: the client must not try to reach him, and it connected to his old Address',
      );
      ctx.must(r?.event === 'error', 'MSG-6', `send to an offline buddy must fail, it reported ${JSON.stringify(r)}`);
    },
  },
  {
    id: 'client/p2p/32',
    section: 'p2p',
    title:
      'a buddy answers MSG 429 ERR_RATE_LIMITED with Retry-after: send still gets its one result, and the MSG is not sent again before Retry-after',
    reqs: ['RATE-6', 'CTL-2', 'P2P-1'],
    async run(ctx: ClientContext) {
      const retry = 600;
      const { p, a, c } = await ctx.withBuddy();
      const sent = c.command(`send ${p.name} slow down ${randomBytes(3).toString('hex')}`, retry + ctx.timeout * 4);
      const conn = await ctx.acceptFrom(p, a);
      ctx.must(conn, 'P2P-1', 'the client did not connect to the buddy to send the text');
      // [RATE-7] a client may rate-limit its peer sessions: the kit peer refuses the first MSG.
      const msgAt: number[] = [];
      conn.auto = (req) => {
        if (req.method === 'PING') return response(200, tagOf(req));
        if (req.method !== 'MSG') return undefined;
        msgAt.push(Date.now());
        if (msgAt.length > 1) return response(200, tagOf(req));
        return response(429, [...tagOf(req), ['Error-code', 'ERR_RATE_LIMITED'], ['Retry-after', String(retry)]]);
      };
      const done = await sent;
      ctx.must(
        done?.event === 'ok' || done?.event === 'error',
        'CTL-2',
        `send must get its one result line after a MSG answered 429 (Retry-after ${retry} ms): none within ${retry + ctx.timeout * 4} ms`,
      );
      ctx.must(msgAt.length > 0, 'P2P-1', 'the client sent no MSG');
      if (msgAt.length > 1) ctx.mustHoldBack('the MSG sent again', msgAt[1]!, msgAt[0]!, retry, 'a 429');
    },
  },
];
