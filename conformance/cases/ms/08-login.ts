// Section "login" [§8 Login and Logout], MS side: challenge, proofs, the decoy for unknown users, LOCK refusals relayed.
import { randomBytes } from 'node:crypto';
import { header, request, response } from '../../../codec/index.js';
import { b64, headerOctets, hmac, nonCanonical } from '../../lib/crypto.js';
import { msWireTarget } from '../../lib/wire-target.js';
import type { CaseDef } from '../../lib/case.js';
import { loginOn } from '../../lib/as-client.js';
import type { MsContext } from '../../lib/ms-context.js';
import { checkError } from '../../lib/wire-target.js';
import { since, sentSince } from '../../lib/ms-context.js';

export const msLoginCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/login/1',
    section: 'login',
    title:
      'a correct login: challenge with the verifier salt, 200 sealed with a valid Server-proof, Key-blob and bundle; LOCK and ONLINE sent to the CRS',
    reqs: ['LOGIN-2', 'LOGIN-4', 'LOGIN-7', 'AUTH-7', 'AUTH-13', 'HB-1', 'HB-11'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const n = since(ctx);
      const c = await ctx.login(u);
      ctx.must(sentSince(ctx, n, 'LOCK', u.name), 'LOGIN-2', 'the MS must send LOCK to the CRS');
      ctx.must(sentSince(ctx, n, 'ONLINE', u.name), 'AUTH-7', 'the MS must send ONLINE after a good proof');
      const pong = await c.request(request('PING', [['Tag', 't']]), ctx.timeout);
      ctx.must(pong.status === 200, 'HB-1', 'PING on the session must be answered 200');
    },
  },
  {
    id: 'ms/login/2',
    section: 'login',
    title: 'a wrong password is answered 401 ERR_AUTH_FAILED, the connection closed and the lock released (UNLOCK)',
    reqs: ['AUTH-8', 'ERR-1', 'LOGIN-4', 'AUTH-4'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const n = since(ctx);
      const c = await ctx.connect('cl');
      const out = await loginOn(c, u.name, u.password + 'x', '127.0.0.1:9', ctx.timeout);
      ctx.must(
        out.challenge?.status === 300,
        'LOGIN-4',
        `LOGIN must be challenged, got ${out.challenge?.status ?? 'close'}`,
      );
      // [AUTH-4] the MS verifies the proof against the StoredKey of the verifier: a wrong password never passes.
      ctx.must(out.result?.status !== 200, 'AUTH-4', 'a PROOF made with a wrong password was accepted');
      checkError(ctx, out.result, 'ERR_AUTH_FAILED', 'PROOF with a wrong password');
      ctx.must(await c.closedWithin(ctx.timeout), 'AUTH-8', 'the MS must close the connection after a failed proof');
      ctx.must(!sentSince(ctx, n, 'ONLINE', u.name), 'AUTH-8', 'a failed proof must never bring the user online');
      ctx.must(
        await ctx.crs.until(() => !!sentSince(ctx, n, 'UNLOCK', u.name), ctx.timeout),
        'AUTH-8',
        'the MS must UNLOCK the user after a failed proof',
      );
    },
  },
  {
    id: 'ms/login/3',
    section: 'login',
    title:
      'an unknown user is not revealed: a challenge with a decoy salt (the same each time), then 401 ERR_AUTH_FAILED',
    reqs: ['AUTH-9', 'AUTH-8', 'ERR-1'],
    async run(ctx: MsContext) {
      const ghost = ctx.uniq('ghost');
      const c1 = await ctx.connect('cl');
      const o1 = await loginOn(c1, ghost, 'whatever', '127.0.0.1:9', ctx.timeout);
      ctx.must(
        o1.challenge?.status === 300,
        'AUTH-9',
        `an unknown user must be challenged like a known one, got ${o1.challenge?.status ?? 'close'}`,
      );
      checkError(ctx, o1.result, 'ERR_AUTH_FAILED', 'PROOF for an unknown user');
      const c2 = await ctx.connect('cl');
      const o2 = await loginOn(c2, ghost, 'whatever', '127.0.0.1:9', ctx.timeout);
      ctx.should(
        o2.salt === o1.salt,
        'AUTH-9',
        'the decoy salt should be the same for the same name (HMAC(ms-secret, user))',
      );
    },
  },
  {
    id: 'ms/login/4',
    section: 'login',
    title: 'a user already online (CRS answers 409) gets 409 ERR_ALREADY_ONLINE and the connection stays open',
    reqs: ['LOGIN-5', 'LOCK-2', 'ERR-1'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      ctx.crs.lockOverride.set(u.name, 409);
      const c = await ctx.connect('cl');
      const out = await loginOn(c, u.name, u.password, '127.0.0.1:9', ctx.timeout);
      checkError(ctx, out.challenge, 'ERR_ALREADY_ONLINE', 'LOGIN of a user online elsewhere');
      ctx.must(!(await c.closedWithin(200)), 'LOGIN-5', 'the connection must stay open after 409');
    },
  },
  {
    id: 'ms/login/5',
    section: 'login',
    title:
      'LOGIN with Status offline, or with a client Nonce that is not 18 octets, is refused 422 ERR_BAD_VALUE before LOCK, and the connection stays idle',
    reqs: ['LOGIN-14', 'AUTH-15', 'LOGIN-3', 'ERR-1', 'WIRE-22'],
    async run(ctx: MsContext) {
      const n = since(ctx);
      const c = await ctx.connect('cl');
      const login = msWireTarget().first();
      const u = ctx.user();
      const withHeader = (name: string, value: string) => ({
        ...login,
        headers: [...login.headers.filter(([k]) => k !== name && k !== 'User'), ['User', u.name], [name, value]] as [
          string,
          string,
        ][],
      });
      c.send(withHeader('Status', 'offline'));
      checkError(
        ctx,
        await c.nextResponse(ctx.timeout, 'the answer to LOGIN Status: offline'),
        'ERR_BAD_VALUE',
        'LOGIN with Status offline',
        'LOGIN-14',
      );
      c.send(withHeader('Nonce', b64(randomBytes(16))));
      checkError(
        ctx,
        await c.nextResponse(ctx.timeout, 'the answer to LOGIN with a 16-octet nonce'),
        'ERR_BAD_VALUE',
        'LOGIN with a 16-octet client Nonce',
        'AUTH-15',
      );
      ctx.must(!sentSince(ctx, n, 'LOCK', u.name), 'LOGIN-14', 'a refused LOGIN must not LOCK the user');
      ctx.must(!(await c.closedWithin(200)), 'LOGIN-3', 'the connection must stay open and idle after a refused LOGIN');
    },
  },
  {
    id: 'ms/login/6',
    section: 'login',
    title:
      'the 200 to PROOF names the session with a token of at least 16 random octets (a new one each login) and carries the Heartbeat interval',
    reqs: ['LOGIN-11', 'HB-1', 'LOGIN-7', 'LOGIN-4', 'HB-11', 'HB-13'],
    async run(ctx: MsContext) {
      const tokens: string[] = [];
      for (let i = 0; i < 2; i++) {
        const c = await ctx.login(ctx.user());
        const r = ctx.lastLogin?.result;
        const tok = r ? header(r, 'Session') : undefined;
        ctx.must(tok, 'LOGIN-11', 'the 200 to PROOF must carry Session');
        const octets = /^[A-Za-z0-9+/_-]+=*$/.test(tok) ? Buffer.from(tok, 'base64').length : 0;
        ctx.must(
          octets >= 16,
          'LOGIN-11',
          `the Session token must be b64 of at least 16 octets, got '${tok}' (${octets})`,
        );
        tokens.push(tok);
        const hb = r ? Number(header(r, 'Heartbeat')) : Number.NaN;
        ctx.must(
          hb > 0,
          'HB-1',
          `the 200 to PROOF must carry a positive Heartbeat interval, got ${header(r!, 'Heartbeat')}`,
        );
        c.destroy();
      }
      ctx.must(tokens[0] !== tokens[1], 'LOGIN-11', 'two logins must get different (random) Session tokens');
    },
  },
  {
    id: 'ms/logout/1',
    section: 'logout',
    title:
      "LOGOUT is answered 200, the connection closed, and OFFLINE sent to the CRS with the session's User and Epoch",
    reqs: ['LOGOUT-1', 'LOCK-6'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const epoch = ctx.crs.records.get(u.name)?.epoch;
      const n = since(ctx);
      const r = await c.request(request('LOGOUT', []), ctx.timeout);
      ctx.must(r.status === 200, 'LOGOUT-1', `LOGOUT must be answered 200, got ${r.status}`);
      ctx.must(await c.closedWithin(ctx.timeout), 'LOGOUT-1', 'the MS must close the connection after LOGOUT');
      ctx.must(
        await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), ctx.timeout),
        'LOGOUT-1',
        'on LOGOUT the MS must send OFFLINE to the CRS',
      );
      const off = sentSince(ctx, n, 'OFFLINE', u.name)!;
      ctx.must(
        header(off, 'Epoch') === String(epoch),
        'LOCK-6',
        `OFFLINE must carry the session's Epoch ${epoch}, carried ${header(off, 'Epoch') ?? 'none'}`,
      );
    },
  },
  {
    id: 'ms/logout/2',
    section: 'logout',
    title: "a client connection of an active session that closes makes the MS send OFFLINE with the session's Epoch",
    reqs: ['LOGOUT-3', 'LOCK-6'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const epoch = ctx.crs.records.get(u.name)?.epoch;
      const n = since(ctx);
      c.destroy();
      ctx.must(
        await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), ctx.timeout),
        'LOGOUT-3',
        'when the client connection of an active session closes, the MS must send OFFLINE',
      );
      ctx.must(
        header(sentSince(ctx, n, 'OFFLINE', u.name)!, 'Epoch') === String(epoch),
        'LOCK-6',
        `OFFLINE must carry the session's Epoch ${epoch}`,
      );
    },
  },
  {
    id: 'ms/logout/3',
    section: 'logout',
    title:
      'a request pipelined behind LOGOUT is answered 425 ERR_OUT_OF_STATE after the 200 (the session has ended), or not at all when the MS closes first',
    reqs: ['LOGOUT-1', 'STATE-1'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      const n = since(ctx);
      // The kit CRS holds its answer to the OFFLINE, so that the MS reads the PING while the LOGOUT is
      // still in progress: the PING then meets a session that has ended (no transition: 425 [STATE-1]).
      ctx.crs.override = (m) => (m.method === 'OFFLINE' ? 'hold' : undefined);
      c.send(request('LOGOUT', []));
      c.send(request('PING', []));
      const off = await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), ctx.timeout);
      ctx.crs.override = null;
      ctx.crs.release();
      ctx.must(off, 'LOGOUT-1', 'on LOGOUT the MS must send OFFLINE to the CRS');
      const bye = await c.nextResponse(ctx.timeout, 'the answer to LOGOUT');
      ctx.must(
        bye?.status === 200,
        'LOGOUT-1',
        `LOGOUT must be answered 200, got ${bye?.status ?? 'the connection closed'}`,
      );
      const r = await c.nextResponse(ctx.timeout, 'the answer to the PING pipelined behind LOGOUT');
      if (r)
        ctx.must(
          r.status === 425 && header(r, 'Error-code') === 'ERR_OUT_OF_STATE',
          'STATE-1',
          `a PING pipelined behind LOGOUT meets an ended session: expected 425 ERR_OUT_OF_STATE (or no answer, the connection closed), got ${r.status} ${header(r, 'Error-code') ?? ''}`,
        );
      ctx.must(await c.closedWithin(ctx.timeout), 'LOGOUT-1', 'the MS must close the connection after LOGOUT');
    },
  },
  {
    id: 'ms/lock/1',
    section: 'lock',
    title:
      'a 410 ERR_STALE_EPOCH from the CRS to a relayed STATUS ends the session: the client gets 410 ERR_SESSION_ENDED sealed, the connection closes, no OFFLINE is sent',
    reqs: ['LOCK-12', 'LOCK-7', 'ERR-1', 'SEAL-9'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const c = await ctx.login(u);
      ctx.crs.override = (m) =>
        m.method === 'STATUS' && header(m, 'User') === u.name
          ? response(410, [
              ...(header(m, 'Tag') ? ([['Tag', header(m, 'Tag')!]] as [string, string][]) : []),
              ['Error-code', 'ERR_STALE_EPOCH'],
            ])
          : undefined;
      const n = since(ctx);
      c.send(request('STATUS', [['Status', 'busy']]));
      const r = await c.nextResponse(ctx.timeout, 'the answer to STATUS');
      checkError(ctx, r, 'ERR_SESSION_ENDED', 'STATUS refused by the CRS with 410 ERR_STALE_EPOCH', 'LOCK-12');
      ctx.must(
        c.received.at(-1)?.sealed,
        'SEAL-9',
        'the 410 ERR_SESSION_ENDED must travel inside SEALED (the link keys are intact)',
      );
      ctx.must(
        await c.closedWithin(ctx.timeout),
        'LOCK-12',
        'the MS must close the connection after 410 ERR_SESSION_ENDED',
      );
      await new Promise((res) => setTimeout(res, 200));
      ctx.must(
        !sentSince(ctx, n, 'OFFLINE', u.name),
        'LOCK-7',
        'after 410 ERR_STALE_EPOCH the MS must not send OFFLINE',
      );
    },
  },
  {
    id: 'ms/login/7',
    section: 'login',
    title:
      'the decoy challenge for an unknown user has 4096 iterations and the salt HMAC(HMAC(MS key, "imsp1 decoy key"), "imsp1 decoy," + user) cut to 16 octets',
    reqs: ['AUTH-9', 'AUTH-14'],
    async run(ctx: MsContext) {
      const ghost = ctx.uniq('ghost');
      const c = await ctx.connect('cl');
      const login = msWireTarget().first();
      c.send({
        ...login,
        headers: [...login.headers.filter(([k]) => k !== 'User'), ['User', ghost]] as [string, string][],
      });
      const r = await c.nextResponse(ctx.timeout, 'the challenge for an unknown user');
      ctx.must(r?.status === 300, 'AUTH-9', `an unknown user must be challenged, got ${r?.status ?? 'close'}`);
      ctx.must(
        header(r, 'Iterations') === '4096',
        'AUTH-9',
        `the decoy challenge must carry 4096 iterations, carried ${header(r, 'Iterations')}`,
      );
      const expect = hmac(hmac(ctx.crs.msKey, 'imsp1 decoy key'), `imsp1 decoy,${ghost}`).subarray(0, 16);
      ctx.should(
        headerOctets(r, 'Salt').equals(expect),
        'AUTH-14',
        'the decoy salt should come from the decoy key HMAC(MS key, "imsp1 decoy key"), so that every MS gives the same one',
      );
    },
  },
  {
    id: 'ms/login/8',
    section: 'login',
    title:
      'a failed login looks the same for an unknown user and a wrong password: same challenge headers, same status, Error-code, Reason and headers of the refusal',
    reqs: ['ERR-6', 'AUTH-8', 'LOGIN-4'],
    async run(ctx: MsContext) {
      const u = ctx.user();
      const known = await loginOn(await ctx.connect('cl'), u.name, `${u.password}x`, '127.0.0.1:9', ctx.timeout);
      const ghost = await loginOn(await ctx.connect('cl'), ctx.uniq('ghost'), 'whatever', '127.0.0.1:9', ctx.timeout);
      ctx.must(
        known.challenge?.status === 300 && ghost.challenge?.status === 300,
        'LOGIN-4',
        'both LOGINs must be challenged',
      );
      const names = (m: typeof known.result) =>
        m
          ? m.headers
              .map(([k]) => k.toLowerCase())
              .sort()
              .join(',')
          : 'none';
      ctx.must(
        names(known.challenge) === names(ghost.challenge),
        'ERR-6',
        `the challenges differ in their headers: known user ${names(known.challenge)}, unknown ${names(ghost.challenge)}`,
      );
      const a = known.result;
      const b = ghost.result;
      ctx.must(a && b, 'AUTH-8', 'both PROOFs must be answered');
      ctx.must(
        a.status === b.status && header(a, 'Error-code') === header(b, 'Error-code'),
        'ERR-6',
        `wrong password got ${a.status} ${header(a, 'Error-code')}, unknown user ${b.status} ${header(b, 'Error-code')}`,
      );
      ctx.must(
        (header(a, 'Reason') ?? '') === (header(b, 'Reason') ?? '') && names(a) === names(b),
        'ERR-6',
        `the refusals differ: wrong password [${names(a)}] Reason '${header(a, 'Reason') ?? ''}', unknown user [${names(b)}] Reason '${header(b, 'Reason') ?? ''}'`,
      );
    },
  },
  {
    id: 'ms/login/9',
    section: 'login',
    title:
      'a contact record of the login bundle with a field the MS does not know is still applied: the login succeeds and the buddy gets PRESENCE',
    reqs: ['REC-4', 'LOGIN-7', 'LOGIN-4', 'HB-11'],
    async run(ctx: MsContext) {
      const bob = ctx.uniq('bob');
      const u = ctx.user([
        [
          ['User', bob],
          ['Relation', 'buddy'],
          ['Kit-future-field', 'ignore me'],
          ['Status', 'offline'],
        ],
      ]);
      const c = await ctx.login(u);
      ctx.crs.push('PRESENCE', [
        ['User', bob],
        ['Status', 'offline'],
      ]);
      ctx.must(
        await c.waitEvent((m) => m.method === 'PRESENCE' && header(m, 'User') === bob, ctx.timeout),
        'REC-4',
        'a bundle record with an unknown field must still be applied (the field ignored): PRESENCE of that buddy must be forwarded',
      );
    },
  },
  {
    id: 'ms/login/10',
    section: 'login',
    title:
      'a right PROOF, or a right Key-share, spelled in base64url that is not canonical (set unused bits in the last character) fails the login: 401 ERR_AUTH_FAILED, the connection closed, the user never online',
    reqs: ['CRYPTO-4', 'AUTH-8', 'LOGIN-4', 'ERR-1'],
    async run(ctx: MsContext) {
      // Either text, read leniently, gives the right octets (the Key-share enters auth as sent): only a
      // strict decoder refuses them [CRYPTO-4].
      for (const [what, tamper] of [
        ['Proof', { proofText: nonCanonical }],
        ['Key-share', { keyShareText: nonCanonical }],
      ] as const) {
        const u = ctx.user();
        const n = since(ctx);
        const c = await ctx.connect(`cl-noncanonical-${what}`);
        const out = await loginOn(c, u.name, u.password, '127.0.0.1:9', ctx.timeout, tamper);
        ctx.must(
          out.challenge?.status === 300,
          'LOGIN-4',
          `LOGIN must be challenged, got ${out.challenge?.status ?? 'close'}`,
        );
        checkError(ctx, out.result, 'ERR_AUTH_FAILED', `a right ${what} in non-canonical base64url`, 'CRYPTO-4');
        ctx.must(
          await c.closedWithin(ctx.timeout),
          'AUTH-8',
          `the MS must close the connection after a login that failed on a non-canonical ${what}`,
        );
        ctx.must(
          !sentSince(ctx, n, 'ONLINE', u.name),
          'CRYPTO-4',
          `a login with a non-canonical ${what} must never bring the user online`,
        );
      }
    },
  },
];
