// Sections "presence", "ADD", "ANSWER", "REM", "BLOCK" [§9 Presence, Contacts and the User's Data], CRS side: what the CRS
// stores, what it pushes to every MS, and what each login bundle carries.
import { header, type Header, type RequestMessage, type ResponseMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { add, addFromBlocked, contactOf, isPresence, onUser, requestsFrom } from '../../lib/crs-contacts.js';
import { rec, type CrsContext, type Session } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

const contactCountNote = (n: number, max: number): string => `${n} of ${max} (under maxContacts)`;

export const contactCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/presence/1',
    section: 'presence',
    title:
      'a buddy logging in is pushed as PRESENCE online with Address and Public-key; its bundle lists the online buddy with Address and Public-key',
    reqs: ['PRESENCE-2', 'LOGIN-12'],
    async run(ctx: CrsContext) {
      const { a: alice, b: bob, m1, m2, sa, sb } = await ctx.onlinePair();
      await ctx.befriend(sa, sb);
      await ctx.logout(sb);
      m1.conn.takeEvents();
      const sb2 = await ctx.login(m2, bob!);
      const p = await m1.conn.waitEvent(isPresence(bob!.name, 'online'), ctx.timeout);
      ctx.must(p, 'PRESENCE-2', "a buddy's login must be pushed as PRESENCE to the MSs");
      ctx.must(
        header(p, 'Address') === sb2.address,
        'PRESENCE-2',
        `PRESENCE online must carry the Address given at ONLINE (${sb2.address}), got ${header(p, 'Address')}`,
      );
      ctx.must(header(p, 'Public-key') === bob!.publicKey, 'PRESENCE-2', 'PRESENCE online must carry the Public-key');
      const c = contactOf(sb2.records, alice!.name);
      ctx.must(c && rec(c, 'Relation') === 'buddy', 'LOGIN-12', 'the bundle must list the buddy');
      ctx.must(
        rec(c, 'Address') === sa.address && rec(c, 'Public-key') === alice!.publicKey,
        'LOGIN-12',
        'an online buddy in the bundle must carry Address and Public-key',
      );
    },
  },
  {
    id: 'crs/presence/2',
    section: 'presence',
    title: 'a STATUS change and a logout are pushed as PRESENCE',
    reqs: ['PRESENCE-3', 'LOGOUT-5', 'LOCK-6', 'ERR-1'],
    async run(ctx: CrsContext) {
      const { b: bob, m1, m2, sa, sb } = await ctx.onlinePair();
      await ctx.befriend(sa, sb);
      m1.conn.takeEvents();
      ctx.expectStatus(
        await m2.req('STATUS', [
          ['User', bob!.name],
          ['Epoch', sb.epoch],
          ['Status', 'busy'],
        ]),
        200,
        'PRESENCE-3',
        'STATUS busy',
      );
      ctx.must(
        await m1.conn.waitEvent(isPresence(bob!.name, 'busy'), ctx.timeout),
        'PRESENCE-3',
        'a STATUS change must be pushed as PRESENCE',
      );
      checkError(
        ctx,
        await m2.req('STATUS', [
          ['User', bob!.name],
          ['Epoch', String(Number(sb.epoch) + 5)],
          ['Status', 'away'],
        ]),
        'ERR_STALE_EPOCH',
        'STATUS with a wrong epoch',
      );
      await ctx.logout(sb);
      ctx.must(
        await m1.conn.waitEvent(isPresence(bob!.name, 'offline'), ctx.timeout),
        'LOGOUT-5',
        'a logout must be pushed as PRESENCE offline',
      );
    },
  },
  {
    id: 'crs/presence/3',
    section: 'presence',
    title: "a non-buddy's bundle and LIST never carry a user's Address",
    reqs: ['PRESENCE-1', 'LOGIN-12', 'INV-6'],
    async run(ctx: CrsContext) {
      const { a: alice, b: eve, m2, sa, sb: se } = await ctx.onlinePair();
      const leak = (rs: Header[][]): boolean =>
        rs.some((r) => rec(r, 'Address') === sa.address || rec(r, 'User') === alice!.name);
      ctx.must(!leak(se.records), 'INV-6', "a non-buddy's login bundle must not list the user");
      ctx.must(!leak(await ctx.list(se)), 'INV-6', "a non-buddy's LIST must not list the user");
      const pushes = m2.conn.takeEvents(
        (m) => m.method === 'PRESENCE' && header(m, 'User') === alice!.name && header(m, 'To') === eve!.name,
      );
      ctx.must(pushes.length === 0, 'INV-6', 'the CRS must not target PRESENCE of a user to a non-buddy');
    },
  },
  {
    id: 'crs/add/1',
    section: 'add',
    title: 'ADD to an offline user is stored (202) and delivered in every login bundle, exactly once, until answered',
    reqs: ['ADD-1', 'ADD-2', 'ADD-3', 'INV-4', 'ANSWER-3'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const m1 = await ctx.enroll();
      const m2 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      ctx.must((await add(sa, bob!.name)) === 202, 'ADD-2', 'ADD to an offline user must be answered 202 Stored');
      for (let i = 0; i < 2; i++) {
        const sb = await ctx.login(m2, bob!);
        const reqs = requestsFrom(sb.records, alice!.name);
        ctx.must(
          reqs.length === 1,
          'ADD-3',
          `login ${i + 1}: the bundle must carry the pending ADD exactly once, carried ${reqs.length}`,
        );
        await ctx.logout(sb);
      }
      const sb = await ctx.login(m2, bob!);
      ctx.expectStatus(
        await m2.req('ANSWER', [
          ['From', bob!.name],
          ['To', alice!.name],
          ['Decision', 'deny'],
          ['Epoch', sb.epoch],
        ]),
        200,
        'ANSWER-3',
        'ANSWER deny',
      );
      await ctx.logout(sb);
      const sb3 = await ctx.login(m2, bob!);
      ctx.must(
        requestsFrom(sb3.records, alice!.name).length === 0,
        'ADD-3',
        'an answered ADD must not be delivered again',
      );
      ctx.must(
        !contactOf(sb3.records, alice!.name) || rec(contactOf(sb3.records, alice!.name)!, 'Relation') !== 'buddy',
        'ANSWER-3',
        'a denied ADD must not make buddies',
      );
    },
  },
  {
    id: 'crs/add/2',
    section: 'add',
    title:
      "ADD to an online user is answered 200 and pushed to the target's MS; GRANT makes both buddies (CONTACT or ANSWER pushed)",
    reqs: ['ADD-2', 'ANSWER-2', 'INV-9'],
    async run(ctx: CrsContext) {
      const { a: alice, b: bob, m1, m2, sa, sb } = await ctx.onlinePair();
      ctx.must((await add(sa, bob!.name)) === 200, 'ADD-2', 'ADD to an online user must be answered 200');
      const push = await m2.conn.waitEvent(
        (m) => m.method === 'ADD' && header(m, 'From') === alice!.name && header(m, 'To') === bob!.name,
        ctx.timeout,
      );
      ctx.must(push, 'ADD-2', 'the ADD must be pushed to the MS of the online target');
      ctx.expectStatus(
        await m2.req('ANSWER', [
          ['From', bob!.name],
          ['To', alice!.name],
          ['Decision', 'grant'],
          ['Epoch', sb.epoch],
        ]),
        200,
        'ANSWER-2',
        'ANSWER grant',
      );
      const told = await m1.conn.waitEvent(
        (m) =>
          (m.method === 'ANSWER' && header(m, 'From') === bob!.name) ||
          (m.method === 'CONTACT' && header(m, 'User') === bob!.name),
        ctx.timeout,
      );
      ctx.must(told, 'ANSWER-2', "the requester's MS must be told of the grant (ANSWER or CONTACT push)");
      const la = contactOf(await ctx.list(sa), bob!.name);
      const lb = contactOf(await ctx.list(sb), alice!.name);
      ctx.must(
        la && rec(la, 'Relation') === 'buddy' && lb && rec(lb, 'Relation') === 'buddy',
        'INV-9',
        'after GRANT both must list each other as buddy',
      );
    },
  },
  {
    id: 'crs/add/3',
    section: 'add',
    title: 'ADD to an unknown user is 404; ADD between buddies or while pending is 409 ERR_ALREADY_BUDDY',
    reqs: ['ADD-4', 'USER-2', 'ADD-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const [alice, bob, carol] = await ctx.users(3);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const sb = await ctx.login(m1, bob!);
      checkError(
        ctx,
        await m1.req('ADD', [
          ['From', alice!.name],
          ['To', ctx.uniq('ghost')],
          ['Epoch', sa.epoch],
        ]),
        'ERR_UNKNOWN_USER',
        'ADD to an unknown user',
      );
      await ctx.befriend(sa, sb);
      checkError(
        ctx,
        await m1.req('ADD', [
          ['From', alice!.name],
          ['To', bob!.name],
          ['Epoch', sa.epoch],
        ]),
        'ERR_ALREADY_BUDDY',
        'ADD between buddies',
      );
      ctx.must((await add(sa, carol!.name)) === 202, 'ADD-2', 'ADD to an offline user is 202');
      checkError(
        ctx,
        await m1.req('ADD', [
          ['From', alice!.name],
          ['To', carol!.name],
          ['Epoch', sa.epoch],
        ]),
        'ERR_ALREADY_BUDDY',
        'a second ADD while one is pending',
      );
    },
  },
  {
    id: 'crs/rem/1',
    section: 'rem',
    title: 'REM removes the buddy relation in both directions and PRESENCE stops flowing',
    reqs: ['REM-1', 'INV-6', 'ERR-1', 'REM-2'],
    async run(ctx: CrsContext) {
      const { a: alice, b: bob, m2, sa, sb } = await ctx.onlinePair();
      await ctx.befriend(sa, sb);
      ctx.expectStatus(await onUser(sa, 'REM', bob!.name), 200, 'REM-1', 'REM of a buddy');
      const la = contactOf(await ctx.list(sa), bob!.name);
      const lb = contactOf(await ctx.list(sb), alice!.name);
      ctx.must(!la || rec(la, 'Relation') === 'none', 'REM-1', 'after REM the remover must not list the other');
      ctx.must(
        !lb || rec(lb, 'Relation') === 'none',
        'REM-1',
        'after REM the removed user must not list the remover (both directions)',
      );
      await ctx.logout(sb);
      const sb2 = await ctx.login(m2, bob!);
      ctx.must(
        !sb2.records.some((r) => rec(r, 'Address') === sa.address),
        'INV-6',
        "after REM a login bundle must not carry the other's Address",
      );
      checkError(ctx, await onUser(sa, 'REM', bob!.name), 'ERR_NOT_CONTACT', 'REM of someone not a contact');
    },
  },
  {
    id: 'crs/rem/2',
    section: 'rem',
    title: 'REM withdraws an unanswered ADD: it is not delivered at the next login',
    reqs: ['REM-3', 'ADD-3', 'ADD-2'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      ctx.must((await add(sa, bob!.name)) === 202, 'ADD-2', 'ADD to an offline user is 202');
      ctx.expectStatus(await onUser(sa, 'REM', bob!.name), 200, 'REM-3', 'REM of a pending ADD');
      const sb = await ctx.login(m1, bob!);
      ctx.must(requestsFrom(sb.records, alice!.name).length === 0, 'REM-3', 'a withdrawn ADD must not be delivered');
    },
  },
  {
    id: 'crs/rem/3',
    section: 'rem',
    title:
      "REM of a user on the sender's block list unblocks him as UNBLOCK does: 200, and he is no longer listed blocked",
    reqs: ['REM-4', 'BLOCK-1', 'ADD-3'],
    async run(ctx: CrsContext) {
      const { b: bob, sa } = await ctx.onlinePair();
      ctx.expectStatus(await onUser(sa, 'BLOCK', bob.name), 200, 'BLOCK-1', 'BLOCK of a stranger');
      const before = contactOf(await ctx.list(sa), bob.name);
      ctx.pre(before && rec(before, 'Relation') === 'blocked', 'BLOCK-1', 'LIST must show the blocked user as blocked');
      ctx.expectStatus(await onUser(sa, 'REM', bob.name), 200, 'REM-4', 'REM of a blocked user');
      const after = contactOf(await ctx.list(sa), bob.name);
      ctx.must(
        !after || rec(after, 'Relation') === 'none',
        'REM-4',
        `after REM of a blocked user he must no longer be blocked: LIST says Relation ${after && rec(after, 'Relation')}`,
      );
    },
  },
  {
    id: 'crs/block/1',
    section: 'block',
    title:
      'a blocked buddy sees the blocker offline: PRESENCE offline targeted to him, no Address in his bundle, no later PRESENCE',
    reqs: ['BLOCK-1', 'BLOCK-2', 'INV-6', 'PRESENCE-3'],
    async run(ctx: CrsContext) {
      const { a: alice, b: mallory, m1, m2, sa, sb: sm } = await ctx.onlinePair();
      await ctx.befriend(sa, sm);
      m2.conn.takeEvents();
      ctx.expectStatus(await onUser(sa, 'BLOCK', mallory!.name), 200, 'BLOCK-1', 'BLOCK');
      const off = await m2.conn.waitEvent(
        (m) =>
          (m.method === 'PRESENCE' && header(m, 'User') === alice!.name && header(m, 'Status') === 'offline') ||
          (m.method === 'CONTACT' && header(m, 'User') === alice!.name),
        ctx.timeout,
      );
      ctx.must(off, 'BLOCK-2', 'the blocked user must be told the blocker is offline');
      ctx.must(
        header(off, 'Address') === undefined,
        'BLOCK-2',
        "what the blocked user is told must not carry the blocker's Address",
      );
      m2.conn.takeEvents();
      ctx.expectStatus(
        await m1.req('STATUS', [
          ['User', alice!.name],
          ['Epoch', sa.epoch],
          ['Status', 'away'],
        ]),
        200,
        'PRESENCE-3',
        'STATUS away',
      );
      await ctx.logout(sm);
      const sm2 = await ctx.login(m2, mallory!);
      ctx.must(
        !sm2.records.some((r) => rec(r, 'Address') === sa.address),
        'BLOCK-2',
        "the blocked user's bundle must not carry the blocker's Address",
      );
      const c = contactOf(sm2.records, alice!.name);
      ctx.must(
        !c || rec(c, 'Status') === 'offline',
        'BLOCK-2',
        `the blocked user must see the blocker offline, sees ${c ? rec(c, 'Status') : ''}`,
      );
      const leaked = m2.conn.takeEvents(
        (m) =>
          m.method === 'PRESENCE' &&
          header(m, 'User') === alice!.name &&
          header(m, 'To') === mallory!.name &&
          header(m, 'Status') !== 'offline',
      );
      ctx.must(leaked.length === 0, 'INV-6', 'no PRESENCE of the blocker may be targeted to the blocked user');
    },
  },
  {
    id: 'crs/block/2',
    section: 'block',
    title: 'an ADD from a blocked user is answered 202 and never delivered',
    reqs: ['BLOCK-4', 'INV-6', 'BLOCK-1'],
    async run(ctx: CrsContext) {
      const { a: alice, b: mallory, m1, sa, sb: sm } = await ctx.onlinePair();
      ctx.expectStatus(await onUser(sa, 'BLOCK', mallory!.name), 200, 'BLOCK-1', 'BLOCK of a stranger');
      const blocked = await addFromBlocked(sm, sa, Math.min(ctx.timeout, 500));
      ctx.must(
        blocked.status === 202,
        'BLOCK-4',
        'ADD from a blocked user must be answered 202 (blocking is not revealed)',
      );
      ctx.must(!blocked.pushed, 'BLOCK-4', 'an ADD from a blocked user must not be pushed');
      await ctx.logout(sa);
      const sa2 = await ctx.login(m1, alice!);
      ctx.must(
        requestsFrom(sa2.records, mallory!.name).length === 0,
        'BLOCK-4',
        'an ADD from a blocked user must not be stored for delivery',
      );
    },
  },
  {
    id: 'crs/add/4',
    section: 'add',
    title:
      'ADD refusals: to an unregistered user 404, to oneself 403; ANSWER with no unanswered ADD 404 ERR_NO_PENDING',
    reqs: ['ADD-5', 'ADD-6', 'ADD-9', 'ADD-2', 'USER-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const sb = await ctx.login(m1, bob!);
      const nobody = ctx.uniq('nobody');
      const req = (s: Session, method: string, headers: [string, string][]) =>
        s.ms.req(method, [['From', s.user.name], ...headers, ['Epoch', s.epoch]]);
      checkError(
        ctx,
        await req(sa, 'ADD', [['To', nobody]]),
        'ERR_UNKNOWN_USER',
        'ADD to an unregistered user',
        'ADD-5',
      );
      checkError(ctx, await req(sa, 'ADD', [['To', alice!.name]]), 'ERR_FORBIDDEN', 'ADD to oneself', 'ADD-6');
      checkError(
        ctx,
        await req(sb, 'ANSWER', [
          ['To', alice!.name],
          ['Decision', 'grant'],
        ]),
        'ERR_NO_PENDING',
        'ANSWER grant with no ADD from that user',
        'ADD-9',
      );
      ctx.must((await add(sa, bob!.name)) === 200, 'ADD-2', 'ADD to an online user must be answered 200');
      ctx.expectStatus(
        await req(sb, 'ANSWER', [
          ['To', alice!.name],
          ['Decision', 'deny'],
        ]),
        200,
        'ADD-9',
        'ANSWER deny of the unanswered ADD',
      );
      checkError(
        ctx,
        await req(sb, 'ANSWER', [
          ['To', alice!.name],
          ['Decision', 'grant'],
        ]),
        'ERR_NO_PENDING',
        'a second ANSWER to an ADD already answered',
        'ADD-9',
      );
    },
  },
  {
    id: 'crs/add/5',
    section: 'add',
    title:
      "a grant pushes CONTACT buddy to both users' MSs, the requester's before its ANSWER, and both then see each other as online buddies",
    reqs: ['ANSWER-2', 'ANSWER-5', 'LOGIN-12', 'PRESENCE-6'],
    async run(ctx: CrsContext) {
      const { a: alice, b: bob, m1, m2, sa, sb } = await ctx.onlinePair();
      ctx.must((await add(sa, bob!.name)) === 200, 'ANSWER-2', 'ADD to an online user must be answered 200');
      m1.conn.takeEvents();
      ctx.expectStatus(
        await m2.req('ANSWER', [
          ['From', bob!.name],
          ['To', alice!.name],
          ['Decision', 'grant'],
          ['Epoch', sb.epoch],
        ]),
        200,
        'ANSWER-2',
        'ANSWER grant',
      );
      // Arrival order: the queue only grows at its end, so the order in which the predicate first
      // sees each pushed message is the order in which they arrived.
      const seen: RequestMessage[] = [];
      const isAnswer = (m: RequestMessage): boolean =>
        m.method === 'ANSWER' && header(m, 'To') === alice!.name && header(m, 'From') === bob!.name;
      const answer = await m1.conn.waitEvent((m) => {
        if (!seen.includes(m)) seen.push(m);
        return isAnswer(m);
      }, ctx.timeout);
      ctx.must(answer, 'ANSWER-2', "the grant must be pushed as ANSWER to the requester's MS");
      const isContact = (m: RequestMessage): boolean =>
        m.method === 'CONTACT' &&
        header(m, 'To') === alice!.name &&
        header(m, 'User') === bob!.name &&
        header(m, 'Relation') === 'buddy';
      const iAnswer = seen.indexOf(answer);
      const iContact = seen.findIndex(isContact);
      ctx.must(
        iContact >= 0 && iContact < iAnswer,
        'ANSWER-5',
        `the CONTACT Relation buddy for the requester must come before the ANSWER push (arrived: ${seen
          .map((m) => m.method)
          .join(', ')})`,
      );
      const c = seen[iContact] ?? (await m1.conn.waitEvent(isContact, ctx.timeout));
      ctx.must(
        c && header(c, 'Address') === sb.address && header(c, 'Public-key') === bob!.publicKey,
        'LOGIN-12',
        'the CONTACT of an online new buddy must carry its Address and Public-key',
      );
      const la = contactOf(await ctx.list(sa), bob!.name);
      ctx.must(
        la && rec(la, 'Relation') === 'buddy' && rec(la, 'Address') === sb.address,
        'LOGIN-12',
        "after the grant, the requester's LIST must show the online buddy with its Address",
      );
      m1.conn.takeEvents();
      await ctx.logout(sb);
      const off = await m1.conn.waitEvent(isPresence(bob!.name, 'offline'), ctx.timeout);
      ctx.must(off, 'PRESENCE-6', "a buddy's logout must be pushed as PRESENCE offline");
      ctx.must(
        header(off, 'Address') === undefined && header(off, 'Public-key') === undefined,
        'PRESENCE-6',
        'a PRESENCE with Status offline must not carry Address or Public-key',
      );
    },
  },
  {
    id: 'crs/add/6',
    section: 'add',
    title:
      'an ADD that would make the sender hold more than maxContacts contacts (buddies and unanswered ADDs sent) is refused 413 ERR_LIMIT',
    reqs: ['ADD-LIMIT-1', 'ADD-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const max = ctx.limits.get('maxContacts');
      const perMinute = ctx.limits.get('maxAddsPerMinute');
      if (max > 40 && !ctx.opts.slow)
        ctx.skip(`maxContacts is ${max}; pass --slow, or --set maxContacts=N matching a target configured lower`);
      if (max + 1 > perMinute)
        ctx.skip(
          `maxContacts + 1 (${max + 1}) ADDs exceed maxAddsPerMinute (${perMinute}): ADD-LIMIT-3 would refuse first`,
        );
      const [alice, ...others] = await ctx.users(max + 2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      // The targets are offline: each ADD is stored (202) and counts as a contact of the sender.
      for (const u of others.slice(0, max)) {
        const st = await add(sa, u.name);
        ctx.pre(st === 202 || st === 200, 'ADD-2', `ADD ${contactCountNote(others.indexOf(u) + 1, max)} got ${st}`);
      }
      const over = await sa.ms.req('ADD', [
        ['From', alice!.name],
        ['To', others[max]!.name],
        ['Epoch', sa.epoch],
      ]);
      checkError(
        ctx,
        over,
        'ERR_LIMIT',
        `ADD number ${max + 1} with ${max} unanswered ADDs sent (maxContacts ${max})`,
        'ADD-LIMIT-1',
      );
    },
  },
  {
    id: 'crs/block/3',
    section: 'block',
    title:
      'BLOCK of oneself 403, BLOCK twice 200 (no change), UNBLOCK of a user not blocked 404, an ADD to a blocked user 403, UNBLOCK 200 with CONTACT none',
    reqs: ['BLOCK-7', 'BLOCK-9', 'ADD-6', 'BLOCK-5', 'USER-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const req = (method: string, user: string) =>
        m1.req(method, [
          ['From', alice!.name],
          ['User', user],
          ['Epoch', sa.epoch],
        ]);
      checkError(ctx, await req('BLOCK', alice!.name), 'ERR_FORBIDDEN', 'BLOCK of oneself', 'BLOCK-7');
      checkError(ctx, await req('UNBLOCK', bob!.name), 'ERR_NOT_CONTACT', 'UNBLOCK of a user not blocked', 'BLOCK-9');
      checkError(
        ctx,
        await req('BLOCK', ctx.uniq('nobody')),
        'ERR_UNKNOWN_USER',
        'BLOCK of an unregistered user',
        'USER-2',
      );
      ctx.expectStatus(await req('BLOCK', bob!.name), 200, 'BLOCK-7', 'BLOCK');
      ctx.expectStatus(await req('BLOCK', bob!.name), 200, 'BLOCK-7', 'BLOCK of a user already blocked');
      checkError(
        ctx,
        await req('BLOCK', alice!.name),
        'ERR_FORBIDDEN',
        'BLOCK of oneself with a block list',
        'BLOCK-7',
      );
      checkError(
        ctx,
        await m1.req('ADD', [
          ['From', alice!.name],
          ['To', bob!.name],
          ['Epoch', sa.epoch],
        ]),
        'ERR_FORBIDDEN',
        "ADD to a user on one's own block list",
        'ADD-6',
      );
      const blocked = (await ctx.list(sa)).filter((r) => rec(r, 'User') === bob!.name);
      ctx.must(
        blocked.length === 1 && rec(blocked[0]!, 'Relation') === 'blocked',
        'BLOCK-7',
        `after BLOCK twice, LIST must show the user once as blocked, got ${JSON.stringify(blocked)}`,
      );
      m1.conn.takeEvents();
      ctx.expectStatus(await req('UNBLOCK', bob!.name), 200, 'BLOCK-5', 'UNBLOCK of a blocked user');
      const none = await m1.conn.waitEvent(
        (m) =>
          m.method === 'CONTACT' &&
          header(m, 'To') === alice!.name &&
          header(m, 'User') === bob!.name &&
          header(m, 'Relation') === 'none',
        ctx.timeout,
      );
      ctx.must(none, 'BLOCK-5', 'UNBLOCK must push CONTACT Relation none to the sender');
      checkError(ctx, await req('UNBLOCK', bob!.name), 'ERR_NOT_CONTACT', 'UNBLOCK again', 'BLOCK-9');
    },
  },
  {
    id: 'crs/block/4',
    section: 'block',
    title:
      'an ADD to a user who blocks the sender is answered 202 and never delivered while the block lasts; after UNBLOCK it is delivered at the next login',
    reqs: ['BLOCK-6', 'BLOCK-5', 'BLOCK-8', 'ADD-3'],
    async run(ctx: CrsContext) {
      const { a: alice, b: mallory, m1, sa, sb: sm } = await ctx.onlinePair();
      ctx.expectStatus(await onUser(sa, 'BLOCK', mallory!.name), 200, 'BLOCK-6', 'BLOCK');
      const blocked = await addFromBlocked(sm, sa, Math.min(ctx.timeout, 1000));
      ctx.must(blocked.status === 202, 'BLOCK-6', 'an ADD to a user who blocks the sender must be answered 202 Stored');
      ctx.must(!blocked.pushed, 'BLOCK-8', 'an ADD from a blocked user must not be pushed to the blocker');
      ctx.must(
        requestsFrom(await ctx.list(sa), mallory!.name).length === 0,
        'BLOCK-6',
        "an ADD from a blocked user must not show in the blocker's LIST",
      );
      ctx.expectStatus(await onUser(sa, 'UNBLOCK', mallory!.name), 200, 'BLOCK-5', 'UNBLOCK');
      await ctx.logout(sa);
      const sa2 = await ctx.login(m1, alice!);
      ctx.must(
        requestsFrom(sa2.records, mallory!.name).length === 1,
        'BLOCK-5',
        'after UNBLOCK, the withheld ADD must be delivered in the login bundle',
      );
    },
  },
  {
    id: 'crs/presence/4',
    section: 'presence',
    title: 'PRESENCE pushes about one user reach a buddy MS in the order the changes happened',
    reqs: ['PRESENCE-5', 'PRESENCE-3'],
    async run(ctx: CrsContext) {
      const { b: bob, m1, m2, sa, sb } = await ctx.onlinePair();
      await ctx.befriend(sa, sb);
      m1.conn.takeEvents();
      const order = ['away', 'busy', 'online', 'away', 'busy', 'online'];
      // Pipelined on bob's link, without waiting for the answers: the CRS acts on them in order [CONN-9].
      const answers = order.map((st) =>
        m2.req('STATUS', [
          ['User', bob!.name],
          ['Epoch', sb.epoch],
          ['Status', st],
        ]),
      );
      for (const r of await Promise.all(answers)) ctx.preStatus(r, 200, 'PRESENCE-3', 'STATUS');
      const seen: string[] = [];
      for (let i = 0; i < order.length; i++) {
        const p = await m1.conn.waitEvent(isPresence(bob!.name), ctx.timeout);
        if (!p) break;
        seen.push(header(p, 'Status') ?? '?');
      }
      ctx.must(
        seen.join(',') === order.join(','),
        'PRESENCE-5',
        `PRESENCE about ${bob!.name} must reach the buddy's MS in the order of the changes: sent ${order.join(',')}, pushed ${seen.join(',') || 'nothing'}`,
      );
    },
  },
  {
    id: 'crs/add/7',
    section: 'add',
    title:
      'an ANSWER to a requester who is offline is not stored as a push: at its next login the requester gets no ANSWER, its bundle shows the buddy',
    reqs: ['ANSWER-4', 'LOGIN-12', 'ADD-2', 'ANSWER-2', 'LOGOUT-5', 'LOCK-1', 'LOGIN-10'],
    async run(ctx: CrsContext) {
      const { a: alice, b: bob, m1, m2, sa, sb } = await ctx.onlinePair();
      const st = await add(sa, bob!.name);
      ctx.pre(st === 200 || st === 202, 'ADD-2', `ADD between strangers must be 200 or 202, got ${st}`);
      await ctx.logout(sa);
      const ans = await m2.req('ANSWER', [
        ['From', bob!.name],
        ['To', alice!.name],
        ['Decision', 'grant'],
        ['Epoch', sb.epoch],
      ]);
      ctx.preStatus(ans, 200, 'ANSWER-2', 'ANSWER grant to an offline requester');
      m1.conn.takeEvents();
      const sa2 = await ctx.login(m1, alice!);
      // A round trip on the same link after the login: a push stored for alice would have come before its answer.
      await ctx.list(sa2);
      const pushed = m1.conn.takeEvents((m) => m.method === 'ANSWER');
      ctx.must(
        pushed.length === 0,
        'ANSWER-4',
        `the CRS must not store an ANSWER push for an offline requester; ${pushed.length} ANSWER push(es) came at its next login`,
      );
      const c = contactOf(sa2.records, bob!.name);
      ctx.must(
        c && rec(c, 'Relation') === 'buddy',
        'ANSWER-4',
        'the requester learns the answer from its bundle: it must list the granting user as a buddy',
      );
    },
  },
  {
    id: 'crs/add/8',
    section: 'add',
    title: "an ADD that would make the target's stored unanswered ADDs exceed maxPendingAdds is refused 413 ERR_LIMIT",
    reqs: ['ADD-LIMIT-2', 'ADD-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const max = ctx.limitUpTo('maxPendingAdds', 20, '');
      // One offline target and max + 1 senders, each with one ADD (so no sender nears maxContacts or
      // maxAddsPerMinute): each ADD is stored, until the target holds max of them.
      const [target, ...senders] = await ctx.users(max + 2);
      const m1 = await ctx.enroll();
      const sessions: Session[] = [];
      for (const u of senders) sessions.push(await ctx.login(m1, u));
      for (const [i, s] of sessions.slice(0, max).entries()) {
        const st = await add(s, target!.name);
        ctx.pre(st === 202, 'ADD-2', `ADD ${i + 1} of ${max} to an offline user (under maxPendingAdds) got ${st}`);
      }
      const last = sessions[max]!;
      const over = await m1.req('ADD', [
        ['From', last.user.name],
        ['To', target!.name],
        ['Epoch', last.epoch],
      ]);
      checkError(
        ctx,
        over,
        'ERR_LIMIT',
        `ADD number ${max + 1} to a user holding ${max} stored ADDs (maxPendingAdds ${max})`,
        'ADD-LIMIT-2',
      );
    },
  },
  {
    id: 'crs/add/9',
    section: 'add',
    title:
      "one user's ADD after maxAddsPerMinute ADDs within a minute (answered 202 or 404 alike) is refused 429 ERR_RATE_LIMITED with a Retry-after of at most a minute, before the store sees it; another user's ADD is not",
    reqs: ['ADD-LIMIT-3', 'ADD-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const perMinute = ctx.limitUpTo('maxAddsPerMinute', 100, '');
      // [ADD-LIMIT-3] (Appendix A.4): every ADD the CRS does not refuse 429 counts, whatever its answer,
      // so ADDs of unknown users (404) fill the window without nearing maxContacts or maxPendingAdds.
      const [alice, bob, carol] = await ctx.users(3);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const t0 = Date.now();
      const first = await add(sa, carol!.name);
      ctx.pre(first === 202, 'ADD-2', `ADD to an offline stranger got ${first}`);
      for (let i = 1; i < perMinute; i++) {
        const st = await add(sa, ctx.uniq('nobody'));
        ctx.must(
          st !== 429,
          'ADD-LIMIT-3',
          `ADD ${i + 1} of maxAddsPerMinute ${perMinute} within a minute was refused 429: the limit allows ${perMinute}`,
        );
      }
      const over = await m1.req('ADD', [
        ['From', alice!.name],
        ['To', bob!.name],
        ['Epoch', sa.epoch],
      ]);
      const elapsed = Date.now() - t0;
      if (elapsed >= 60_000)
        ctx.skip(`the ${perMinute} ADDs took ${elapsed} ms, more than the minute the limit counts`);
      checkError(ctx, over, 'ERR_RATE_LIMITED', `ADD ${perMinute + 1} of one user within ${elapsed} ms`, 'ADD-LIMIT-3');
      const ra = Number(header(over, 'Retry-after'));
      ctx.must(
        Number.isInteger(ra) && ra >= 1 && ra <= 60_000,
        'ADD-LIMIT-3',
        `the 429 must carry a Retry-after of 1 to 60000 ms (until the oldest ADD is a minute old), got ${header(over, 'Retry-after') ?? 'none'}`,
      );
      const sb = await ctx.login(m1, bob!);
      // An incoming-request record names its sender in From [§4.8 Record Bodies].
      const stored = (await ctx.list(sb)).filter(
        (r) => rec(r, 'From') === alice!.name || rec(r, 'User') === alice!.name,
      );
      ctx.must(stored.length === 0, 'ADD-LIMIT-3', "the ADD refused 429 must not be stored: the target's LIST has it");
      const other = await add(sb, carol!.name);
      ctx.must(other === 202, 'ADD-LIMIT-3', `the limit is per user: another user's ADD must be taken, got ${other}`);
    },
  },
  {
    id: 'crs/block/5',
    section: 'block',
    title:
      'a BLOCK beyond maxBlocked users on one block list is refused 413 ERR_LIMIT; re-BLOCK of a listed user is not',
    reqs: ['BLOCK-LIMIT-1', 'BLOCK-7', 'ERR-1'],
    async run(ctx: CrsContext) {
      const max = ctx.limitUpTo('maxBlocked', 40, '');
      const [alice, ...others] = await ctx.users(max + 2);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      for (const [i, u] of others.slice(0, max).entries()) {
        const r = await onUser(sa, 'BLOCK', u.name);
        ctx.pre(r.status === 200, 'BLOCK-7', `BLOCK ${i + 1} of ${max} (under maxBlocked) got ${r.status}`);
      }
      checkError(
        ctx,
        await onUser(sa, 'BLOCK', others[max]!.name),
        'ERR_LIMIT',
        `BLOCK number ${max + 1} with ${max} users blocked (maxBlocked ${max})`,
        'BLOCK-LIMIT-1',
      );
      // The list did not grow: blocking one already on it changes nothing and is no limit breach.
      ctx.expectStatus(
        await onUser(sa, 'BLOCK', others[0]!.name),
        200,
        'BLOCK-7',
        'BLOCK of a user already on a full block list',
      );
    },
  },
  {
    id: 'crs/block/6',
    section: 'block',
    title:
      'no answer tells a blocked user of the block: its ADD, PROFILE, ANSWER and REM naming the blocker get what a stranger gets',
    reqs: ['ERR-6', 'BLOCK-6', 'BLOCK-7', 'LOGOUT-5'],
    async run(ctx: CrsContext) {
      const [alice, mallory, eve] = await ctx.users(3);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      const sm = await ctx.login(m1, mallory!);
      const se = await ctx.login(m1, eve!);
      ctx.preStatus(await onUser(sa, 'BLOCK', mallory!.name), 200, 'BLOCK-7', 'BLOCK');
      // The blocker goes offline, so a stranger's ADD is stored (202) as the blocked user's is [BLOCK-6].
      await ctx.logout(sa);
      const asks: [string, (s: Session) => [string, string][]][] = [
        [
          'ADD',
          (s) => [
            ['From', s.user.name],
            ['To', alice!.name],
            ['Epoch', s.epoch],
          ],
        ],
        [
          'PROFILE',
          (s) => [
            ['From', s.user.name],
            ['User', alice!.name],
            ['Epoch', s.epoch],
          ],
        ],
        [
          'ANSWER',
          (s) => [
            ['From', s.user.name],
            ['To', alice!.name],
            ['Decision', 'deny'],
            ['Epoch', s.epoch],
          ],
        ],
        [
          'REM',
          (s) => [
            ['From', s.user.name],
            ['User', alice!.name],
            ['Epoch', s.epoch],
          ],
        ],
      ];
      const show = (r: ResponseMessage): string => `${r.status} ${header(r, 'Error-code') ?? ''}`.trim();
      for (const [method, headers] of asks) {
        const blocked = await m1.req(method, headers(sm));
        const stranger = await m1.req(method, headers(se));
        ctx.must(
          show(blocked) === show(stranger),
          'ERR-6',
          `${method} naming the blocker: the blocked user got ${show(blocked)}, a stranger ${show(stranger)}; the answer must not tell the block`,
        );
        const reason = header(blocked, 'Reason') ?? '';
        ctx.must(
          !/block/i.test(reason),
          'ERR-6',
          `${method} naming the blocker: the blocked user's answer says "${reason}"`,
        );
      }
    },
  },
  {
    id: 'crs/add/10',
    section: 'add',
    title:
      'an ANSWER grant that would make the answerer hold more than maxContacts contacts is refused 413 ERR_LIMIT; the ADD stays stored and can be denied',
    reqs: ['ADD-LIMIT-4', 'ADD-LIMIT-1', 'ADD-2', 'ADD-3', 'ANSWER-3', 'ERR-1'],
    async run(ctx: CrsContext) {
      const max = ctx.limitUpTo('maxContacts', 40, '');
      if (max > ctx.limits.get('maxAddsPerMinute'))
        ctx.skip(`maxContacts (${max}) ADDs exceed maxAddsPerMinute: ADD-LIMIT-3 would refuse first`);
      const [alice, bob, ...others] = await ctx.users(max + 2);
      const m1 = await ctx.enroll();
      const sb = await ctx.login(m1, bob!);
      // bob's ADD is stored for alice (offline), then alice fills her list with ADDs to offline users.
      const st = await add(sb, alice!.name);
      ctx.pre(st === 202, 'ADD-2', `ADD to an offline user got ${st}`);
      const sa = await ctx.login(m1, alice!);
      for (const [i, u] of others.slice(0, max).entries()) {
        const r = await add(sa, u.name);
        ctx.pre(r === 202, 'ADD-LIMIT-1', `ADD ${contactCountNote(i + 1, max)} got ${r}`);
      }
      const grant = await m1.req('ANSWER', [
        ['From', alice!.name],
        ['To', bob!.name],
        ['Decision', 'grant'],
        ['Epoch', sa.epoch],
      ]);
      checkError(
        ctx,
        grant,
        'ERR_LIMIT',
        `ANSWER grant by a user holding ${max} contacts (maxContacts ${max})`,
        'ADD-LIMIT-4',
      );
      const list = await ctx.list(sa);
      ctx.must(
        requestsFrom(list, bob!.name).length === 1,
        'ADD-LIMIT-4',
        `after the refused grant the ADD must stay stored: alice's LIST carries ${requestsFrom(list, bob!.name).length} request(s) from bob`,
      );
      ctx.must(
        contactOf(list, bob!.name) === undefined,
        'ADD-LIMIT-4',
        "a refused grant must change nothing: bob must not be on alice's list",
      );
      // A deny is never refused for a limit.
      ctx.expectStatus(
        await m1.req('ANSWER', [
          ['From', alice!.name],
          ['To', bob!.name],
          ['Decision', 'deny'],
          ['Epoch', sa.epoch],
        ]),
        200,
        'ANSWER-3',
        'ANSWER deny by a user with a full contact list',
      );
    },
  },
  {
    id: 'crs/block/7',
    section: 'block',
    title:
      'BLOCK of a buddy pushes CONTACT Relation none (Status offline, no Address) about the blocker to the blocked user',
    reqs: ['BLOCK-2', 'BLOCK-4', 'BLOCK-1'],
    async run(ctx: CrsContext) {
      const { a: alice, b: mallory, m2, sa, sb: sm } = await ctx.onlinePair();
      await ctx.befriend(sa, sm);
      m2.conn.takeEvents();
      ctx.expectStatus(await onUser(sa, 'BLOCK', mallory!.name), 200, 'BLOCK-1', 'BLOCK of a buddy');
      const c = await m2.conn.waitEvent(
        (m) => m.method === 'CONTACT' && header(m, 'User') === alice!.name && header(m, 'To') === mallory!.name,
        ctx.timeout,
      );
      ctx.must(c, 'BLOCK-4', "the blocked buddy's MS must get CONTACT about the blocker, as a REM would push");
      ctx.must(
        header(c, 'Relation') === 'none',
        'BLOCK-4',
        `the CONTACT to the blocked buddy must carry Relation none, got ${header(c, 'Relation')}`,
      );
      ctx.must(
        header(c, 'Status') === 'offline' && header(c, 'Address') === undefined,
        'BLOCK-2',
        `the CONTACT to the blocked buddy must carry Status offline and no Address, got Status ${header(c, 'Status')}${header(c, 'Address') ? ' and an Address' : ''}`,
      );
    },
  },
  {
    id: 'crs/block/8',
    section: 'block',
    title:
      "a user's block list does not hide the ADDs it sent to others: LIST and the next bundle show them pending beside the blocked user",
    reqs: ['ADD-2', 'ADD-3', 'BLOCK-1', 'LOGIN-10'],
    async run(ctx: CrsContext) {
      const [alice, mallory, bob] = await ctx.users(3);
      const m1 = await ctx.enroll();
      const sa = await ctx.login(m1, alice!);
      ctx.preStatus(await onUser(sa, 'BLOCK', mallory!.name), 200, 'BLOCK-1', 'BLOCK of a stranger');
      const st = await add(sa, bob!.name);
      ctx.pre(st === 202, 'ADD-2', `ADD to an offline user got ${st}`);
      const check = (records: Header[][], where: string): void => {
        const b = contactOf(records, bob!.name);
        ctx.must(
          b !== undefined && rec(b, 'Relation') === 'pending',
          where === 'LIST' ? 'ADD-2' : 'LOGIN-10',
          `${where} of a user who blocks someone must show its unanswered ADD to another user as pending, shows ${b ? rec(b, 'Relation') : 'nothing'}`,
        );
        const m = contactOf(records, mallory!.name);
        ctx.must(
          m !== undefined && rec(m, 'Relation') === 'blocked',
          where === 'LIST' ? 'BLOCK-1' : 'LOGIN-10',
          `${where} must show the blocked user as blocked, shows ${m ? rec(m, 'Relation') : 'nothing'}`,
        );
      };
      check(await ctx.list(sa), 'LIST');
      await ctx.logout(sa);
      check((await ctx.login(m1, alice!)).records, 'the login bundle');
      // The target is told too, at its login: the stored ADD is in its bundle [ADD-3].
      const sb = await ctx.login(m1, bob!);
      ctx.must(
        requestsFrom(sb.records, alice!.name).length === 1,
        'ADD-3',
        `the target's bundle must carry the stored ADD from a user who blocks someone else, carries ${requestsFrom(sb.records, alice!.name).length}`,
      );
    },
  },
];
