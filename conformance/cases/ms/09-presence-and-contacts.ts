// [§9 Presence, Contacts and the User's Data], MS side: presence forwarded only to buddies; From stamped on
// the requests the MS forwards for a user.
import { header, request, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { newIdentity } from '../../lib/crypto.js';
import { since, sentSince, type MsContext } from '../../lib/ms-context.js';
import { checkError } from '../../lib/wire-target.js';

export const msPresenceCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/presence/1',
    section: 'presence',
    title: 'a PRESENCE push reaches only local clients that have the user as a buddy',
    reqs: ['PRESENCE-4', 'INV-6'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const alice = ctx.user([
        [
          ['User', bob],
          ['Relation', 'buddy'],
          ['Status', 'offline'],
        ],
      ]);
      const carol = ctx.user([]);
      const ca = await ctx.login(alice);
      const cc = await ctx.login(carol);
      ctx.crs.push('PRESENCE', [
        ['User', bob],
        ['Status', 'online'],
        ['Address', '127.0.0.1:4242'],
        ['Public-key', newIdentity().publicKey],
      ]);
      const got = await ca.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, ctx.timeout);
      ctx.must(got, 'PRESENCE-4', "a buddy's PRESENCE must be forwarded to the client");
      const leaked = await cc.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, 300);
      ctx.must(!leaked, 'INV-6', 'PRESENCE of a user must not reach a client that does not have him as a buddy');
    },
  },
];

export const msAddCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/add/1',
    section: 'add',
    title: 'the MS stamps From from the session on requests it forwards, and refuses a client-supplied From',
    reqs: ['AUTH-10', 'REG-4', 'ADD-2', 'ERR-1', 'WIRE-22'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const n = since(ctx);
      const r = await c.request(request('ADD', [['To', 'someone']]), ctx.timeout);
      ctx.must(r.status < 400, 'ADD-2', `ADD must be forwarded, got ${r.status}`);
      const fwd = sentSince(ctx, n, 'ADD');
      ctx.must(
        fwd && header(fwd, 'From') === u.name,
        'AUTH-10',
        `the forwarded ADD must carry From: ${u.name}, carried ${fwd ? header(fwd, 'From') : 'nothing'}`,
      );
      const forged = await c.request(
        request('ADD', [
          ['To', 'someone'],
          ['From', 'mallory'],
        ]),
        ctx.timeout,
      );
      checkError(ctx, forged, 'ERR_HEADER_NOT_ALLOWED', 'ADD with a client-supplied From');
    },
  },
];

/** A contact record of a login bundle: `user` with this relation, offline. */
const rec = (user: string, relation: string): [string, string][] => [
  ['User', user],
  ['Relation', relation],
  ['Status', 'offline'],
];
/** The headers of a PRESENCE push about `user` (online states carry Address and Public-key [PRESENCE-6]). */
const presence = (user: string, status: string, to?: string): [string, string][] => [
  ...(to ? ([['To', to]] as [string, string][]) : []),
  ['User', user],
  ['Status', status],
  ...(status === 'offline'
    ? []
    : ([
        ['Address', '127.0.0.1:4243'],
        ['Public-key', newIdentity().publicKey],
      ] as [string, string][])),
];
const about = (method: string, user: string) => (m: RequestMessage) =>
  m.method === method && (header(m, 'User') === user || header(m, 'From') === user);

/** The MS answers no push of the kit CRS (a notification is never answered): no response arrived on the link. */
function noAnswerToPushes(ctx: MsContext, req: string): void {
  const n = ctx.crs.link?.unclaimedResponses() ?? 0;
  ctx.must(n === 0, req, `the MS answered ${n} push(es) of the CRS; a notification is never answered`);
}

export const msRoutingCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/presence/2',
    section: 'presence',
    title: 'a PRESENCE push with To reaches only that client, even when other local clients have the user as a buddy',
    reqs: ['PRESENCE-4', 'CONN-11'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const alice = ctx.user([rec(bob, 'buddy')]);
      const carol = ctx.user([rec(bob, 'buddy')]);
      const ca = await ctx.login(alice);
      const cc = await ctx.login(carol);
      ctx.crs.push('PRESENCE', presence(bob, 'offline', alice.name));
      ctx.must(
        await ca.waitEvent(about('PRESENCE', bob), ctx.timeout),
        'PRESENCE-4',
        'a PRESENCE with To: alice must be forwarded to alice',
      );
      ctx.must(
        !(await cc.waitEvent(about('PRESENCE', bob), 400)),
        'PRESENCE-4',
        'a PRESENCE with To: alice must reach no other client, even one that has the user as a buddy',
      );
      noAnswerToPushes(ctx, 'CONN-11');
    },
  },
  {
    id: 'ms/presence/3',
    section: 'presence',
    title: 'PRESENCE about a user is not forwarded to a client whose contact record for him is pending or blocked',
    reqs: ['PRESENCE-4', 'PRESENCE-1'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const pending = ctx.user([rec(bob, 'pending')]);
      const blocker = ctx.user([rec(bob, 'blocked')]);
      const buddy = ctx.user([rec(bob, 'buddy')]);
      const cp = await ctx.login(pending);
      const cb = await ctx.login(blocker);
      const cy = await ctx.login(buddy);
      ctx.crs.push('PRESENCE', presence(bob, 'online'));
      ctx.must(
        await cy.waitEvent(about('PRESENCE', bob), ctx.timeout),
        'PRESENCE-4',
        'the buddy must get the PRESENCE',
      );
      ctx.must(
        !(await cp.waitEvent(about('PRESENCE', bob), 300)),
        'PRESENCE-4',
        'a client whose ADD to the user is still pending must not get his PRESENCE',
      );
      ctx.must(
        !(await cb.waitEvent(about('PRESENCE', bob), 300)),
        'PRESENCE-1',
        'a client that blocks the user must not get his PRESENCE',
      );
    },
  },
  {
    id: 'ms/presence/4',
    section: 'presence',
    title: 'several PRESENCE pushes about one user are forwarded in the order received, with their own Status',
    reqs: ['PRESENCE-5', 'PRESENCE-4', 'CONN-11'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const alice = ctx.user([rec(bob, 'buddy')]);
      const ca = await ctx.login(alice);
      const order = ['online', 'away', 'busy', 'offline', 'online'];
      for (const s of order) ctx.crs.push('PRESENCE', presence(bob, s));
      const got: string[] = [];
      for (let i = 0; i < order.length; i++) {
        const m = await ca.waitEvent(about('PRESENCE', bob), ctx.timeout);
        if (!m) break;
        got.push(header(m, 'Status') ?? '?');
      }
      ctx.must(
        got.join(',') === order.join(','),
        'PRESENCE-5',
        `PRESENCE pushes must be forwarded in the order received: sent ${order.join(',')}, got ${got.join(',') || 'none'}`,
      );
      noAnswerToPushes(ctx, 'CONN-11');
    },
  },
  {
    id: 'ms/presence/5',
    section: 'presence',
    title:
      'a PRESENCE pushed while the ONLINE of a login is in flight is kept and forwarded after the 200 to PROOF, not dropped',
    reqs: ['PRESENCE-8', 'LOGIN-7', 'LOGIN-4', 'HB-11'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const alice = ctx.user([rec(bob, 'buddy')]);
      let pushed = false;
      ctx.crs.override = (m) => {
        if (m.method !== 'ONLINE' || header(m, 'User') !== alice.name || pushed) return undefined;
        pushed = true;
        // The ONLINE is in flight: the push goes first on the link, then the answer.
        setTimeout(() => {
          ctx.crs.push('PRESENCE', presence(bob, 'away'));
          setTimeout(() => ctx.crs.release(), 100);
        }, 100);
        return 'hold';
      };
      const ca = await ctx.login(alice);
      ctx.must(pushed, 'PRESENCE-8', 'the MS did not send ONLINE');
      const m = await ca.waitEvent(about('PRESENCE', bob), ctx.timeout);
      ctx.must(
        m && header(m, 'Status') === 'away',
        'PRESENCE-8',
        'a PRESENCE pushed while the ONLINE was in flight must be kept and forwarded once the login succeeds',
      );
      const i200 = ca.received.findIndex((r) => r.msg.kind === 'response' && r.msg.status === 200);
      const iPush = ca.received.findIndex((r) => r.msg === m);
      ctx.must(i200 >= 0 && iPush > i200, 'PRESENCE-8', 'the kept PRESENCE must come after the 200 to PROOF');
    },
  },
  {
    id: 'ms/contact/1',
    section: 'contact',
    title:
      'CONTACT is forwarded to its client and applied first: a new buddy gets later PRESENCE, a removed one (Relation none) no longer does',
    reqs: ['CONTACT-1', 'LOGIN-13', 'PRESENCE-4', 'CONN-3', 'CONN-11'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const { a: alice, ca, cb: cc } = await ctx.loginPair();
      ctx.crs.push('CONTACT', [['To', alice.name], ...rec(bob, 'buddy')]);
      ctx.crs.push('PRESENCE', presence(bob, 'online'));
      const c1 = await ca.waitEvent(about('CONTACT', bob), ctx.timeout);
      ctx.must(
        c1 && header(c1, 'Relation') === 'buddy',
        'CONN-3',
        'the CONTACT To: alice must be forwarded to her on her connection',
      );
      ctx.must(
        await ca.waitEvent(about('PRESENCE', bob), ctx.timeout),
        'CONTACT-1',
        'after CONTACT Relation buddy, the PRESENCE of the new buddy must be forwarded (the MS applies CONTACT to its copy first)',
      );
      ctx.must(
        !(await cc.waitEvent((m) => m.method === 'CONTACT' || m.method === 'PRESENCE', 300)),
        'PRESENCE-4',
        'the CONTACT and PRESENCE must not reach another client',
      );
      ctx.crs.push('CONTACT', [['To', alice.name], ...rec(bob, 'none')]);
      ctx.crs.push('PRESENCE', presence(bob, 'busy'));
      const c2 = await ca.waitEvent(about('CONTACT', bob), ctx.timeout);
      ctx.must(c2 && header(c2, 'Relation') === 'none', 'CONN-3', 'the CONTACT Relation none must be forwarded');
      ctx.must(
        !(await ca.waitEvent(about('PRESENCE', bob), 400)),
        'LOGIN-13',
        'after CONTACT Relation none, PRESENCE of that user must no longer be forwarded (the MS keeps its copy current)',
      );
      noAnswerToPushes(ctx, 'CONN-11');
    },
  },
  {
    id: 'ms/contact/2',
    section: 'contact',
    title:
      "a CONTACT Relation none about a user not on the client's list is still forwarded, and the MS goes on applying later CONTACTs",
    reqs: ['CONTACT-1', 'CONN-3', 'LOGIN-13'],
    async run(ctx: MsContext) {
      const stranger = ctx.uniq('str');
      const bob = ctx.uniq('bob');
      const { a: alice, ca } = await ctx.loginPair();
      // Hostile or late input from the CRS: a removal of somebody the MS's copy does not hold.
      ctx.crs.push('CONTACT', [['To', alice.name], ...rec(stranger, 'none')]);
      const c1 = await ca.waitEvent(about('CONTACT', stranger), ctx.timeout);
      ctx.must(
        c1 && header(c1, 'Relation') === 'none',
        'CONTACT-1',
        "a CONTACT Relation none about a user not on the client's list must still be applied (a no-op) and forwarded",
      );
      ctx.crs.push('CONTACT', [['To', alice.name], ...rec(bob, 'buddy')]);
      ctx.crs.push('PRESENCE', presence(bob, 'online'));
      ctx.must(await ca.waitEvent(about('CONTACT', bob), ctx.timeout), 'CONN-3', 'a later CONTACT must be forwarded');
      ctx.must(
        await ca.waitEvent(about('PRESENCE', bob), ctx.timeout),
        'LOGIN-13',
        "after it, the MS must still keep its copy current: the new buddy's PRESENCE must be forwarded",
      );
    },
  },
  {
    id: 'ms/add/2',
    section: 'add',
    title: 'an ADD push To a local user is forwarded to that client only, with From; the MS answers no push',
    reqs: ['ADD-2', 'CONN-3', 'CONN-17'],
    async run(ctx: MsContext) {
      const { a: alice, ca, cb: cc } = await ctx.loginPair();
      const mallory = ctx.uniq('mal');
      ctx.crs.push('ADD', [
        ['From', mallory],
        ['To', alice.name],
      ]);
      const m = await ca.waitEvent((x) => x.method === 'ADD', ctx.timeout);
      ctx.must(m, 'ADD-2', 'the ADD pushed To: alice must be forwarded to her client');
      ctx.must(header(m, 'From') === mallory, 'ADD-2', `the forwarded ADD must carry From: ${mallory}`);
      ctx.must(!(await cc.waitEvent((x) => x.method === 'ADD', 300)), 'ADD-2', 'the ADD must reach no other client');
      noAnswerToPushes(ctx, 'CONN-17');
    },
  },
  {
    id: 'ms/answer/1',
    section: 'answer',
    title:
      "an ANSWER push is forwarded to its client only; a client's ANSWER is forwarded with From stamped and the CRS's answer relayed",
    reqs: ['CONN-3', 'CONN-17', 'AUTH-10', 'ERR-1', 'LOCK-6'],
    async run(ctx: MsContext) {
      const { a: alice, b: carol, ca, cb: cc } = await ctx.loginPair();
      const bob = ctx.uniq('bob');
      ctx.crs.push('ANSWER', [
        ['From', bob],
        ['To', alice.name],
        ['Decision', 'grant'],
      ]);
      const m = await ca.waitEvent((x) => x.method === 'ANSWER', ctx.timeout);
      ctx.must(
        m && header(m, 'From') === bob && header(m, 'Decision') === 'grant',
        'CONN-3',
        'the ANSWER pushed To: alice must be forwarded to her with From and Decision',
      );
      ctx.must(
        !(await cc.waitEvent((x) => x.method === 'ANSWER', 300)),
        'CONN-3',
        'the ANSWER must reach no other client',
      );
      noAnswerToPushes(ctx, 'CONN-17');
      // The other direction: carol answers an ADD; the CRS (the kit) refuses it 404 ERR_NO_PENDING.
      ctx.crs.override = (x) =>
        x.method === 'ANSWER'
          ? response(404, [
              ...(header(x, 'Tag') ? ([['Tag', header(x, 'Tag')!]] as [string, string][]) : []),
              ['Error-code', 'ERR_NO_PENDING'],
            ])
          : undefined;
      const n = since(ctx);
      const r = await cc.request(
        request('ANSWER', [
          ['User', bob],
          ['Decision', 'deny'],
        ]),
        ctx.timeout,
      );
      const fwd = sentSince(ctx, n, 'ANSWER');
      ctx.must(
        fwd && header(fwd, 'From') === carol.name && header(fwd, 'To') === bob,
        'AUTH-10',
        `the ANSWER forwarded to the CRS must carry From: ${carol.name} (the session's user) and To: ${bob}`,
      );
      ctx.must(
        header(fwd, 'Epoch') === String(ctx.crs.records.get(carol.name)?.epoch),
        'LOCK-6',
        "the ANSWER forwarded to the CRS must carry the session's Epoch",
      );
      checkError(
        ctx,
        r,
        'ERR_NO_PENDING',
        "ANSWER refused by the CRS (the MS relays the CRS's status and code)",
        'ERR-1',
      );
    },
  },
  {
    id: 'ms/status/1',
    section: 'status',
    title:
      "STATUS is relayed to the CRS with the session's User and Epoch and the new Status; the client gets the CRS's 200",
    reqs: ['AUTH-10', 'LOCK-6'],
    async run(ctx: MsContext) {
      const u = ctx.user([]);
      const n0 = since(ctx);
      const c = await ctx.login(u);
      const lock = sentSince(ctx, n0, 'LOCK', u.name);
      const epoch = ctx.crs.records.get(u.name)?.epoch;
      ctx.must(lock && epoch !== undefined, 'LOCK-6', 'the MS must LOCK the user before the login');
      for (const status of ['busy', 'away', 'online']) {
        const n = since(ctx);
        const r = await c.request(request('STATUS', [['Status', status]]), ctx.timeout);
        const fwd = sentSince(ctx, n, 'STATUS');
        ctx.must(fwd, 'AUTH-10', `STATUS ${status} must be relayed to the CRS`);
        ctx.must(
          header(fwd, 'User') === u.name && header(fwd, 'Status') === status,
          'AUTH-10',
          `the relayed STATUS must carry User: ${u.name} and Status: ${status}, carried ${header(fwd, 'User')} ${header(fwd, 'Status')}`,
        );
        ctx.must(
          header(fwd, 'Epoch') === String(epoch),
          'LOCK-6',
          `the relayed STATUS must carry the session's Epoch ${epoch}, carried ${header(fwd, 'Epoch') ?? 'none'}`,
        );
        ctx.must(r.status === 200, 'AUTH-10', `the client's STATUS must get the CRS's 200, got ${r.status}`);
      }
    },
  },
];
