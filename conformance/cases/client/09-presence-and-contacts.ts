// Section "presence" [§9 Presence, Contacts and the User's Data], client side.
import { randomBytes } from 'node:crypto';
import { encodeRecords, header, request, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { expectInitRefusal, type ClientContext, type KitAccount } from '../../lib/client-context.js';
import type { ControlledClient } from '../../lib/control.js';
import type { Conn } from '../../lib/conn.js';
import { buildInit } from '../../lib/p2p.js';

const tagOf = (m: RequestMessage): [string, string][] => (header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : []);

/**
 * The kit MS answers the next LIST with the login bundle's records, after pushing `method` with `headers`
 * first (the push was committed after the MS read those records); then the client's view of `user`.
 */
async function listBehindPush(
  ctx: ClientContext,
  a: KitAccount,
  c: ControlledClient,
  user: string,
  method: 'PRESENCE' | 'CONTACT',
  headers: [string, string][],
): Promise<{ user: string; status: string; relation: string } | undefined> {
  const ms = ctx.ms(a);
  const prev = ms.auto;
  ms.auto = (req, link) => {
    if (req.method !== 'LIST') return prev?.(req, link);
    link.send(request(method, headers));
    return response(200, [...tagOf(req), ['Content-type', 'application/imsp-records']], encodeRecords(a.bundle));
  };
  const r = await c.command('list', ctx.timeout * 2);
  ctx.must(r?.event === 'ok', 'CTL-2', `list failed: ${JSON.stringify(r)}`);
  const view = await c.command('contacts', ctx.timeout);
  return (view?.contacts as { user: string; status: string; relation: string }[] | undefined)?.find(
    (x) => x.user === user,
  );
}

/** A kit peer's INIT to the client: INIT-ACK, or the refusal. */
async function initAnswer(ctx: ClientContext, conn: Conn): Promise<'ack' | number | null> {
  const first = await conn
    .waitUntil(() => conn.received.find((m) => m.msg.kind === 'response' || m.msg.method === 'INIT-ACK'), ctx.timeout)
    .catch(() => undefined);
  if (!first) return null;
  return first.msg.kind === 'response' ? first.msg.status : 'ack';
}

export const clientPresenceCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/presence/1',
    section: 'presence',
    title: 'a PRESENCE push for a buddy is reported by the client',
    reqs: ['PRESENCE-7'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy(false);
      ctx.svc.sessions.get(a.name)!.send(
        request('PRESENCE', [
          ['User', p.name],
          ['Status', 'busy'],
          ['Address', p.address],
          ['Public-key', p.identity.publicKey],
        ]),
      );
      const ev = await c.waitFor(
        (e) => e.event === 'presence' && e.user === p.name && e.status === 'busy',
        ctx.timeout,
      );
      ctx.must(ev, 'PRESENCE-7', 'the client must take the PRESENCE push (no presence event seen)');
    },
  },
  {
    id: 'client/presence/2',
    section: 'presence',
    title: "a CONTACT push making a new user a buddy applies: the client reports it and accepts that user's INIT",
    reqs: ['PRESENCE-11', 'P2P-9'],
    async run(ctx: ClientContext) {
      const q = await ctx.peer();
      const a = ctx.account([]);
      const c = await ctx.startLoggedIn(a);
      ctx.ms(a).send(
        request('CONTACT', [
          ['User', q.name],
          ['Relation', 'buddy'],
          ['Status', 'online'],
          ['Address', q.address],
          ['Public-key', q.identity.publicKey],
        ]),
      );
      const ev = await c.waitFor(
        (e) => e.event === 'contact' && e.user === q.name && e.relation === 'buddy',
        ctx.timeout,
      );
      ctx.must(ev, 'PRESENCE-11', 'a CONTACT always applies: the new buddy was not reported');
      await ctx.initFrom(q, a);
    },
  },
  {
    id: 'client/presence/3',
    section: 'presence',
    title: 'a CONTACT with Relation none for a buddy in session ends that session (BYE, close)',
    reqs: ['CONTACT-2', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, conn } = await ctx.buddySession();
      ctx.ms(a).send(
        request('CONTACT', [
          ['User', p.name],
          ['Relation', 'none'],
          ['Status', 'online'],
        ]),
      );
      const bye = await conn.waitEvent((m) => m.method === 'BYE', ctx.timeout);
      ctx.should(bye, 'CONTACT-2', 'the client should say BYE to a peer that is no longer a buddy');
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'CONTACT-2',
        'the client must end the session with a user whose relation became none',
      );
    },
  },
  {
    id: 'client/presence/4',
    section: 'presence',
    title: "a PRESENCE about a user who is not a buddy is ignored: that user's INIT is still refused 403 ERR_NOT_BUDDY",
    reqs: ['PRESENCE-11', 'P2P-3'],
    async run(ctx: ClientContext) {
      const buddy = await ctx.peer();
      const stranger = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(buddy)]);
      const c = await ctx.startLoggedIn(a);
      ctx.ms(a).send(
        request('PRESENCE', [
          ['User', stranger.name],
          ['Status', 'online'],
          ['Address', stranger.address],
          ['Public-key', stranger.identity.publicKey],
        ]),
      );
      // A PRESENCE about the buddy behind it: once that one is reported, the first was taken or ignored.
      ctx.ms(a).send(
        request('PRESENCE', [
          ['User', buddy.name],
          ['Status', 'away'],
          ['Address', buddy.address],
          ['Public-key', buddy.identity.publicKey],
        ]),
      );
      await c.waitFor((e) => e.event === 'presence' && e.user === buddy.name, ctx.timeout);
      ctx.must(
        !c.events.some((e) => e.event === 'presence' && e.user === stranger.name),
        'PRESENCE-11',
        'a PRESENCE about a user who is not a buddy must be ignored (the client reported it)',
      );
      const conn = await ctx.connect(ctx.clientAddress(a), 'stranger');
      conn.send(buildInit(stranger.name, stranger.identity, a.name, a.identity.publicKey).msg);
      const r = await initAnswer(ctx, conn);
      ctx.must(r !== 'ack', 'PRESENCE-11', 'a PRESENCE made a stranger a buddy: his INIT was accepted');
      await expectInitRefusal(ctx, conn, 'ERR_NOT_BUDDY', 'an INIT from a non-buddy announced by PRESENCE');
    },
  },
  {
    id: 'client/presence/5',
    section: 'presence',
    title:
      'block: the client sends BLOCK; once the CONTACT Relation blocked arrives, an INIT from that user is refused 403 ERR_BLOCKED',
    reqs: ['BLOCK-3', 'P2P-19', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const r = await c.command(`block ${p.name}`, ctx.timeout * 2);
      ctx.must(r?.event === 'ok', 'CTL-2', `block failed: ${JSON.stringify(r)}`);
      const sent = ctx.msRequests(a, 'BLOCK')[0];
      ctx.must(
        sent && header(sent.msg, 'User') === p.name,
        'CTL-2',
        'the client must send BLOCK User: the blocked user',
      );
      ctx.ms(a).send(
        request('CONTACT', [
          ['User', p.name],
          ['Relation', 'blocked'],
          ['Status', 'offline'],
        ]),
      );
      ctx.pre(
        await c.waitFor((e) => e.event === 'contact' && e.user === p.name && e.relation === 'blocked', ctx.timeout),
        'CTL-2',
        'the client did not report the CONTACT Relation blocked',
      );
      const conn = await ctx.connect(ctx.clientAddress(a), 'blocked');
      conn.send(buildInit(p.name, p.identity, a.name, a.identity.publicKey).msg);
      await expectInitRefusal(ctx, conn, 'ERR_BLOCKED', 'an INIT from a blocked user');
    },
  },
  {
    id: 'client/presence/6',
    section: 'presence',
    title: 'an ADD push is shown as a request and can be answered: ANSWER carries User and Decision',
    reqs: ['PRESENCE-9', 'CTL-2'],
    async run(ctx: ClientContext) {
      const q = ctx.uniq('asker');
      const a = ctx.account([]);
      const c = await ctx.startLoggedIn(a);
      ctx.ms(a).send(
        request('ADD', [
          ['From', q],
          ['Time', String(Date.now())],
        ]),
        'drop',
      );
      const ev = await c.waitFor((e) => e.event === 'request' && e.from === q, ctx.timeout);
      ctx.must(ev, 'PRESENCE-9', 'the client dropped an ADD push (no request event)');
      const r = await c.command(`answer ${q} grant`, ctx.timeout * 2);
      ctx.must(r?.event === 'ok', 'CTL-2', `answer failed: ${JSON.stringify(r)}`);
      const ans = ctx.msRequests(a, 'ANSWER')[0];
      ctx.must(
        ans && header(ans.msg, 'User') === q && header(ans.msg, 'Decision') === 'grant',
        'CTL-2',
        `the client must send ANSWER User: ${q}, Decision: grant`,
      );
    },
  },
  {
    id: 'client/presence/7',
    section: 'presence',
    title:
      'add, then the grant (CONTACT before ANSWER): the client reports the answer and reaches the new buddy at the address CONTACT gave',
    reqs: ['PRESENCE-9', 'P2P-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const q = await ctx.peer();
      const a = ctx.account([]);
      const c = await ctx.startLoggedIn(a);
      const r = await c.command(`add ${q.name}`, ctx.timeout * 2);
      ctx.must(r?.event === 'ok', 'CTL-2', `add failed: ${JSON.stringify(r)}`);
      ctx.must(
        header(ctx.msRequests(a, 'ADD')[0]?.msg ?? request('X'), 'To') === q.name,
        'CTL-2',
        `the client must send ADD To: ${q.name}`,
      );
      const ms = ctx.ms(a);
      ms.send(
        request('CONTACT', [
          ['User', q.name],
          ['Relation', 'buddy'],
          ['Status', 'online'],
          ['Address', q.address],
          ['Public-key', q.identity.publicKey],
        ]),
      );
      ms.send(
        request('ANSWER', [
          ['From', q.name],
          ['Decision', 'grant'],
        ]),
        'drop',
      );
      ctx.must(
        await c.waitFor((e) => e.event === 'answer' && e.from === q.name && e.decision === 'grant', ctx.timeout),
        'PRESENCE-9',
        'the client dropped the ANSWER push (no answer event)',
      );
      const text = `hello ${randomBytes(3).toString('hex')}`;
      const sent = c.command(`send ${q.name} ${text}`, ctx.timeout * 3);
      const conn = await ctx.acceptFrom(q, a);
      ctx.must(conn, 'P2P-1', 'the client did not reach the new buddy at the Address its CONTACT gave');
      const done = await sent;
      ctx.must(done?.event === 'ok', 'CTL-2', `send failed: ${JSON.stringify(done)}`);
    },
  },
  {
    id: 'client/presence/8',
    section: 'presence',
    title:
      'a PRESENCE written right behind the 200 to PROOF is applied after the login bundle, not dropped or overwritten',
    reqs: ['PRESENCE-9', 'P2P-9'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p, false)], {
        pushAfterLogin: [
          request('PRESENCE', [
            ['User', p.name],
            ['Status', 'online'],
            ['Address', p.address],
            ['Public-key', p.identity.publicKey],
          ]),
        ],
      });
      const c = await ctx.startLoggedIn(a);
      await c.waitFor((e) => e.event === 'presence' && e.user === p.name, ctx.timeout);
      const view = await c.command('contacts', ctx.timeout);
      const entry = (view?.contacts as { user: string; status: string }[] | undefined)?.find((x) => x.user === p.name);
      ctx.must(
        entry?.status === 'online',
        'PRESENCE-9',
        `the bundle said offline, the PRESENCE behind it online: the view must say online, it says ${entry?.status ?? 'nothing'}`,
      );
      await ctx.initFrom(p, a);
    },
  },
  {
    id: 'client/presence/9',
    section: 'presence',
    title: 'a PRESENCE that arrives between LIST and its response is applied again after the LIST records',
    reqs: ['PRESENCE-10', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      // The CRS's record changed after the MS built this LIST: the push goes first, the stale records after.
      const entry = await listBehindPush(ctx, a, c, p.name, 'PRESENCE', [
        ['User', p.name],
        ['Status', 'away'],
        ['Address', p.address],
        ['Public-key', p.identity.publicKey],
      ]);
      ctx.must(
        entry?.status === 'away',
        'PRESENCE-10',
        `a PRESENCE received after LIST was sent must be applied again after its records: the view says ${entry?.status ?? 'nothing'}, not away`,
      );
    },
  },
  {
    id: 'client/presence/10',
    section: 'presence',
    title:
      'a CONTACT that arrives between LIST and its response (the buddy removed) is applied again after the LIST records',
    reqs: ['PRESENCE-10', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      // The buddy REMoved us after the MS built this LIST: its records still list him as a buddy.
      const entry = await listBehindPush(ctx, a, c, p.name, 'CONTACT', [
        ['User', p.name],
        ['Relation', 'none'],
        ['Status', 'offline'],
      ]);
      ctx.must(
        !entry || entry.relation === 'none',
        'PRESENCE-10',
        `a CONTACT Relation none received after LIST was sent must be applied again after its records: the view still has ${p.name} as ${entry?.relation}`,
      );
    },
  },
];
