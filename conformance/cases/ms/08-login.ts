// Section "login" (spec 8), MS side: challenge, proofs, the decoy for unknown users, LOCK refusals relayed.
import { randomBytes } from 'node:crypto';
import { request } from '../../../codec/index.js';
import { b64 } from '../../lib/crypto.js';
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
    reqs: ['AUTH-8', 'ERR-1', 'LOGIN-4'],
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
];
