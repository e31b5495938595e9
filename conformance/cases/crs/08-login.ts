// Sections "registration", "the lock at the CRS" [§8.3 The Lock and the Epoch] and "login" ([§8.1 Login], CRS side):
// REGISTER, LOCK/UNLOCK/ONLINE/OFFLINE with fencing epochs and leases, the login bundle.
import { header, request, type ResponseMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { contactOf, isPresence } from '../../lib/crs-contacts.js';
import { rec, type CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

const epochOf = (r: ResponseMessage): number => Number(header(r, 'Epoch'));

export const lockCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/register/1',
    section: 'register',
    title: 'REGISTER creates a user (201); the same name again is refused 409 ERR_USER_EXISTS',
    reqs: ['REGISTER-1', 'REGISTER-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll();
      const u = ctx.makeUser();
      const r1 = await ms.req('REGISTER', ctx.registerHeaders(u));
      ctx.expectStatus(r1, 201, 'REGISTER-1', 'REGISTER of a new name');
      const r2 = await ms.req('REGISTER', ctx.registerHeaders(ctx.makeUser(u.name)));
      checkError(ctx, r2, 'ERR_USER_EXISTS', 'REGISTER of a taken name');
    },
  },
  {
    id: 'crs/lock/1',
    section: 'lock',
    title:
      'LOCK of a registered offline user returns the stored verifier and a new epoch; LOCK of an unknown user is 404',
    reqs: ['LOCK-4', 'USER-2', 'ERR-1', 'LOCK-1'],
    async run(ctx: CrsContext) {
      const u = await ctx.user();
      const ms = await ctx.enroll();
      const r = await ms.req('LOCK', [['User', u.name]]);
      ctx.expectStatus(r, 200, 'LOCK-1', 'LOCK of an offline user');
      ctx.must(
        header(r, 'Salt') === u.salt && header(r, 'Iterations') === String(u.iterations),
        'LOCK-4',
        'LOCK must return the registered Salt and Iterations',
      );
      ctx.must(
        header(r, 'Stored-key') === u.storedKey && header(r, 'Server-key') === u.serverKey,
        'LOCK-4',
        'LOCK must return the registered Stored-key and Server-key',
      );
      ctx.must(Number(header(r, 'Lease')) > 0, 'LOCK-4', 'LOCK must grant a Lease');
      const unknown = await ms.req('LOCK', [['User', ctx.uniq('nobody')]]);
      checkError(ctx, unknown, 'ERR_UNKNOWN_USER', 'LOCK of an unknown user');
    },
  },
  {
    id: 'crs/lock/2',
    section: 'lock',
    title: 'a second LOCK while the lock is held is refused 423 ERR_LOCKED, from the same MS or another',
    reqs: ['LOCK-1', 'ERR-1'],
    async run(ctx: CrsContext) {
      const u = await ctx.user();
      const a = await ctx.enroll();
      const b = await ctx.enroll();
      ctx.expectStatus(await a.req('LOCK', [['User', u.name]]), 200, 'LOCK-1', 'first LOCK');
      checkError(ctx, await b.req('LOCK', [['User', u.name]]), 'ERR_LOCKED', 'LOCK from another MS while locked');
      checkError(ctx, await a.req('LOCK', [['User', u.name]]), 'ERR_LOCKED', 'LOCK from the same MS while locked');
    },
  },
  {
    id: 'crs/lock/3',
    section: 'lock',
    title: 'a user online is refused a second login: LOCK answers 409 ERR_ALREADY_ONLINE',
    reqs: ['LOCK-2', 'INV-1', 'ERR-1', 'LOCK-10'],
    async run(ctx: CrsContext) {
      const u = await ctx.user();
      const a = await ctx.enroll();
      const b = await ctx.enroll();
      const sa = await ctx.login(a, u);
      checkError(
        ctx,
        await b.req('LOCK', [['User', u.name]]),
        'ERR_ALREADY_ONLINE',
        'LOCK of an online user from another MS',
      );
      checkError(
        ctx,
        await a.req('LOCK', [['User', u.name]]),
        'ERR_ALREADY_ONLINE',
        'LOCK of an online user from its own MS',
      ); // [LOCK-10] no takeover: the live session keeps its epoch and goes on.
      const list = await sa.ms.req('LIST', [
        ['User', u.name],
        ['Epoch', sa.epoch],
      ]);
      ctx.must(
        list.status === 200,
        'LOCK-10',
        `after a second login was denied, the live session must go on with its epoch (LIST got ${list.status} ${header(list, 'Error-code') ?? ''})`,
      );
    },
  },
  {
    id: 'crs/lock/4',
    section: 'lock',
    title: 'UNLOCK releases the lock; every new LOCK raises the epoch; a stale epoch is refused 410 ERR_STALE_EPOCH',
    reqs: ['LOCK-4', 'LOCK-5', 'LOCK-6', 'LOCK-8', 'ERR-1', 'LOCK-1'],
    async run(ctx: CrsContext) {
      const u = await ctx.user();
      const ms = await ctx.enroll();
      const l1 = await ms.req('LOCK', [['User', u.name]]);
      ctx.expectStatus(l1, 200, 'LOCK-1', 'LOCK');
      const e1 = epochOf(l1);
      checkError(
        ctx,
        await ms.req('UNLOCK', [
          ['User', u.name],
          ['Epoch', String(e1 + 7)],
        ]),
        'ERR_STALE_EPOCH',
        'UNLOCK with a wrong epoch',
      );
      ctx.expectStatus(
        await ms.req('UNLOCK', [
          ['User', u.name],
          ['Epoch', String(e1)],
        ]),
        200,
        'LOCK-8',
        'UNLOCK with the current epoch',
      );
      const l2 = await ms.req('LOCK', [['User', u.name]]);
      ctx.expectStatus(l2, 200, 'LOCK-4', 'LOCK after UNLOCK');
      ctx.must(epochOf(l2) > e1, 'LOCK-5', `each lock grant must raise the epoch: ${e1} then ${epochOf(l2)}`);
      checkError(
        ctx,
        await ms.req('ONLINE', [
          ['User', u.name],
          ['Epoch', String(e1)],
          ['Address', '127.0.0.1:9'],
          ['Status', 'online'],
        ]),
        'ERR_STALE_EPOCH',
        'ONLINE with the previous epoch',
      );
    },
  },
  {
    id: 'crs/lock/5',
    section: 'lock',
    title: 'OFFLINE ends the session and frees the lock: the user can log in again, through another MS',
    reqs: ['LOGOUT-5', 'LOCK-6', 'INV-1', 'ERR-1', 'LOCK-2', 'LOCK-5'],
    async run(ctx: CrsContext) {
      const u = await ctx.user();
      const a = await ctx.enroll();
      const b = await ctx.enroll();
      const s = await ctx.login(a, u);
      await ctx.logout(s);
      const again = await ctx.login(b, u);
      ctx.must(Number(again.epoch) > Number(s.epoch), 'LOCK-5', 'the new session must have a higher epoch');
      checkError(
        ctx,
        await a.req('OFFLINE', [
          ['User', u.name],
          ['Epoch', s.epoch],
        ]),
        'ERR_STALE_EPOCH',
        'OFFLINE with the old session epoch',
      );
      checkError(
        ctx,
        await a.req('LOCK', [['User', u.name]]),
        'ERR_ALREADY_ONLINE',
        'the new session must still stand after the stale OFFLINE',
      );
    },
  },
  {
    id: 'crs/lock/6',
    section: 'lock',
    title: 'a lock neither converted nor released expires after lockLease: another MS can then lock the user',
    reqs: ['LOCK-3', 'INV-2', 'LOCK-1'],
    async run(ctx: CrsContext) {
      const lease = ctx.limitUpTo('lockLease', 5000);
      const u = await ctx.user();
      const a = await ctx.enroll();
      const b = await ctx.enroll();
      const t0 = Date.now();
      const l = await a.req('LOCK', [['User', u.name]]);
      ctx.expectStatus(l, 200, 'LOCK-1', 'LOCK');
      const granted = Number(header(l, 'Lease')) || lease;
      const deadline = t0 + granted * 2 + ctx.timeout;
      let last = 0;
      for (let i = 0; i < 200 && Date.now() < deadline; i++) {
        const r = await b.req('LOCK', [['User', u.name]]);
        last = r.status;
        if (r.status === 200) {
          // [LOCK-1] a live lock excludes every other login until its lease runs out.
          ctx.must(
            Date.now() - t0 >= granted * 0.9,
            'LOCK-1',
            `the lock was granted to another MS after ${Date.now() - t0} ms, before its ${granted} ms lease ran out`,
          );
          return;
        }
        await new Promise<void>((res) => setTimeout(res, Math.max(25, granted / 10)));
      }
      ctx.must(false, 'LOCK-3', `the lock must expire after its lease (${granted} ms); LOCK still answered ${last}`);
    },
  },
  {
    id: 'crs/login/1',
    section: 'login',
    title: 'ONLINE returns the login bundle: the registered Key-blob and Public-key, and a records body',
    reqs: ['LOGIN-10', 'REC-1'],
    async run(ctx: CrsContext) {
      const u = await ctx.user();
      const ms = await ctx.enroll();
      const s = await ctx.login(ms, u);
      ctx.must(
        header(s.bundle, 'Key-blob') === u.keyBlob,
        'LOGIN-10',
        'ONLINE must return the sealed key blob as registered',
      );
      ctx.must(header(s.bundle, 'Public-key') === u.publicKey, 'LOGIN-10', "ONLINE must return the user's Public-key");
    },
  },
  {
    id: 'crs/login/2',
    section: 'login',
    title: 'concurrent LOCKs of one user through several MS links: exactly one wins',
    reqs: ['LOCK-1', 'INV-1', 'ERR-1'],
    async run(ctx: CrsContext) {
      const rounds = Math.max(1, Math.min(ctx.opts.runs, 20));
      const links = [await ctx.enroll(), await ctx.enroll(), await ctx.enroll()];
      for (let i = 0; i < rounds; i++) {
        const u = await ctx.user();
        const rs = await Promise.all(links.map((l) => l.req('LOCK', [['User', u.name]])));
        const wins = rs.filter((r) => r.status === 200).length;
        ctx.must(
          wins === 1,
          'INV-1',
          `round ${i}: ${wins} of ${links.length} simultaneous LOCKs won (${rs.map((r) => r.status).join(', ')})`,
        );
        for (const r of rs) if (r.status !== 200) checkError(ctx, r, 'ERR_LOCKED', 'a losing LOCK');
      }
    },
  },
  {
    id: 'crs/lock/7',
    section: 'lock',
    title: 'ONLINE after the lock lease expired is refused 410 ERR_STALE_EPOCH, though no other MS took the lock',
    reqs: ['LOCK-11', 'LOCK-3', 'ERR-1'],
    async run(ctx: CrsContext) {
      const [alice] = await ctx.users(1);
      const ms = await ctx.enroll();
      const lock = await ms.req('LOCK', [['User', alice!.name]]);
      ctx.expectStatus(lock, 200, 'LOCK-3', 'LOCK of an offline user');
      const lease = Number(header(lock, 'Lease') ?? ctx.limits.get('lockLease'));
      if (lease > 5000 && !ctx.opts.slow)
        ctx.skip(`the lock lease is ${lease} ms; pass --slow or --set lockLease=N matching the target`);
      await new Promise((res) => setTimeout(res, lease + 20));
      checkError(
        ctx,
        await ms.req('ONLINE', [
          ['User', alice!.name],
          ['Epoch', header(lock, 'Epoch') ?? ''],
          ['Address', '127.0.0.1:30999'],
          ['Status', 'online'],
        ]),
        'ERR_STALE_EPOCH',
        `ONLINE ${lease + 20} ms after a LOCK with a lease of ${lease} ms (before or after a sweep of expired locks)`,
        'LOCK-11',
      );
    },
  },
  {
    id: 'crs/lock/8',
    section: 'lock',
    title:
      'the verifier (Salt, Iterations, Stored-key, Server-key) travels only inside SEALED on an MS link: LOCK answers it sealed, LOCATE never carries it',
    reqs: ['AUTH-13', 'LOCK-4'],
    async run(ctx: CrsContext) {
      const u = await ctx.user();
      const ms = await ctx.enroll();
      const r = await ms.req('LOCK', [['User', u.name]]);
      ctx.expectStatus(r, 200, 'LOCK-4', 'LOCK of an offline user');
      ctx.must(
        ms.conn.received.find((e) => e.msg === r)?.sealed === true,
        'AUTH-13',
        'the LOCK answer carrying Stored-key and Server-key must travel inside SEALED',
      );
      const c = await ctx.connect('client');
      const loc = await c.request(request('LOCATE', [['Imsp-version', '1']]), ctx.timeout);
      const leaked = ['Stored-key', 'Server-key', 'Salt', 'Iterations'].filter((h) => header(loc, h) !== undefined);
      ctx.must(leaked.length === 0, 'AUTH-13', `the answer to a client's LOCATE must not carry ${leaked.join(', ')}`);
    },
  },
  {
    id: 'crs/lock/9',
    section: 'lock',
    title:
      'the same OFFLINE again, for a record already offline at that epoch, is answered 200 and changes nothing: no PRESENCE is pushed for it',
    reqs: ['LOGOUT-6', 'LOGOUT-5', 'PRESENCE-5', 'PRESENCE-2', 'LOCK-5'],
    async run(ctx: CrsContext) {
      const { a: alice, m1, m2, sa, sb } = await ctx.onlinePair();
      await ctx.befriend(sb, sa);
      m2.conn.takeEvents();
      const offline = (): Promise<ResponseMessage> =>
        m1.req('OFFLINE', [
          ['User', alice.name],
          ['Epoch', sa.epoch],
        ]);
      ctx.expectStatus(await offline(), 200, 'LOGOUT-5', 'OFFLINE of the session');
      ctx.must(
        await m2.conn.waitEvent(isPresence(alice.name, 'offline'), ctx.timeout),
        'LOGOUT-5',
        "the logout must be pushed to the buddy's MS as PRESENCE offline",
      );
      // [LOGOUT-6] [INV-8] repeated cleanup is safe: 200 and no change (not 410: the epoch has not moved on).
      ctx.expectStatus(await offline(), 200, 'LOGOUT-6', 'the same OFFLINE again, the record offline at its epoch');
      // [PRESENCE-5] orders the pushes about alice: whatever the second OFFLINE pushed comes before the
      // PRESENCE online of her next login, so the events up to that push show it without waiting for silence.
      const again = await ctx.login(m1, alice);
      ctx.must(Number(again.epoch) > Number(sa.epoch), 'LOCK-5', 'the next login must have a higher epoch');
      ctx.must(
        await m2.conn.waitEvent(isPresence(alice.name, 'online'), ctx.timeout),
        'PRESENCE-2',
        "the next login must be pushed to the buddy's MS as PRESENCE online",
      );
      const extra = m2.conn.takeEvents((m) => isPresence(alice.name)(m));
      ctx.must(
        extra.length === 0,
        'LOGOUT-6',
        `the repeated OFFLINE must change nothing, but ${extra.length} more PRESENCE about the user reached the buddy's MS before her next login's (${extra.map((m) => header(m, 'Status')).join(', ')})`,
      );
    },
  },
  {
    id: 'crs/lock/10',
    section: 'lock',
    title:
      "a session request with an Epoch that is not the session's (ANSWER, REM, BLOCK, LIST) is refused 410 ERR_STALE_EPOCH and changes nothing",
    reqs: ['LOCK-6', 'INV-8', 'ANSWER-2', 'ADD-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const { a: alice, b: bob, sa, sb } = await ctx.onlinePair();
      const stale = (epoch: string): string => String(Number(epoch) + 5);
      const add = await sa.ms.req('ADD', [
        ['From', alice.name],
        ['To', bob.name],
        ['Epoch', sa.epoch],
      ]);
      ctx.preStatus(add, 200, 'ADD-2', 'ADD to an online user');
      // [LOCK-6] every request an MS makes on behalf of a session carries its Epoch; a wrong one is refused.
      const answer = (epoch: string) =>
        sb.ms.req('ANSWER', [
          ['From', bob.name],
          ['To', alice.name],
          ['Decision', 'grant'],
          ['Epoch', epoch],
        ]);
      checkError(ctx, await answer(stale(sb.epoch)), 'ERR_STALE_EPOCH', 'ANSWER grant with a wrong Epoch', 'LOCK-6');
      // Nothing changed: the ADD is still there to be granted with the session's own Epoch.
      ctx.expectStatus(await answer(sb.epoch), 200, 'INV-8', 'ANSWER grant with the right Epoch after the stale one');
      const onBob = (method: 'REM' | 'BLOCK') =>
        sa.ms.req(method, [
          ['From', alice.name],
          ['User', bob.name],
          ['Epoch', stale(sa.epoch)],
        ]);
      checkError(ctx, await onBob('REM'), 'ERR_STALE_EPOCH', 'REM of a buddy with a wrong Epoch', 'LOCK-6');
      checkError(ctx, await onBob('BLOCK'), 'ERR_STALE_EPOCH', 'BLOCK of a buddy with a wrong Epoch', 'LOCK-6');
      checkError(
        ctx,
        await sa.ms.req('LIST', [
          ['User', alice.name],
          ['Epoch', stale(sa.epoch)],
        ]),
        'ERR_STALE_EPOCH',
        'LIST with a wrong Epoch',
        'LOCK-6',
      );
      const c = contactOf(await ctx.list(sa), bob.name);
      const relation = c && rec(c, 'Relation');
      ctx.must(
        relation === 'buddy',
        'INV-8',
        `after the stale REM and BLOCK, ${bob.name} must still be a buddy: LIST says ${relation ?? 'nothing'}`,
      );
    },
  },
];
