// Section "login" [§8 Login and Logout], client side: what the client sends and what it must refuse.
import { header, request, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { b64Length } from '../../lib/crypto.js';
import type { ClientContext, KitAccount } from '../../lib/client-context.js';
import { errorSpec } from '../../lib/registry.js';

export const clientLoginCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/login/1',
    section: 'login',
    title:
      'the client locates its MS and logs in: LOGIN with version, fresh nonce, key share and address; a PROOF that verifies',
    reqs: ['LOGIN-1', 'AUTH-12', 'HB-7', 'HB-5', 'CONN-2'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      await ctx.startLoggedIn(a);
      const c = ctx.svc.sessions.get(a.name)!;
      const login = c.received[0]!.msg as RequestMessage;
      ctx.must(header(login, 'Imsp-version') === '1', 'CONN-2', 'LOGIN must carry Imsp-version: 1');
      ctx.must(b64Length(header(login, 'Nonce') ?? '') >= 18, 'AUTH-12', 'the client nonce must hold 18 random octets');
      ctx.must(
        /^[A-Za-z0-9_-]{43}$/.test(header(login, 'Key-share') ?? ''),
        'LOGIN-1',
        'LOGIN must carry an X25519 Key-share',
      );
      const ping = await c.request(request('PING', [['Tag', 'kit']]), ctx.timeout);
      ctx.must(ping.status === 200, 'HB-5', `the client must answer PING from its MS with 200, got ${ping.status}`);
    },
  },
  {
    id: 'client/login/2',
    section: 'login',
    title: 'a wrong Server-proof makes the client abandon the login (the MS is not authenticated)',
    reqs: ['AUTH-11', 'CTL-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { badServerProof: true });
      const { r } = await ctx.tryLogin(a);
      ctx.must(
        r?.event === 'error',
        'AUTH-11',
        `a login with a wrong Server-proof must fail, the client reported ${JSON.stringify(r)}`,
      );
    },
  },
  {
    id: 'client/login/8',
    section: 'login',
    title:
      'a right Server-proof, or a right challenge Key-share, spelled in base64url that is not canonical (set unused bits in the last character) makes the client abandon the login',
    reqs: ['CRYPTO-4', 'AUTH-11', 'CTL-2'],
    async run(ctx: ClientContext) {
      // Either text, read leniently, gives the right octets (the Key-share enters auth as sent), so a
      // lenient client would log in: only a strict decoder refuses them [CRYPTO-4].
      for (const what of ['Server-proof', 'Key-share'] as const) {
        const a = ctx.account([], { nonCanonical: what });
        const { c, r } = await ctx.tryLogin(a);
        ctx.must(
          r?.event === 'error',
          'CRYPTO-4',
          `a login whose ${what} is spelled in non-canonical base64url must fail, the client reported ${JSON.stringify(r)}`,
        );
        await c.stop();
      }
    },
  },
  {
    id: 'client/login/3',
    section: 'login',
    title: 'a challenge with more iterations than scramMaxIterations is refused without a PROOF',
    reqs: ['AUTH-6', 'CTL-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { challengeIterations: 1_000_001 });
      const before = ctx.svc.proofsSeen;
      const { r } = await ctx.tryLogin(a);
      ctx.must(
        r?.event === 'error',
        'AUTH-6',
        `a challenge above scramMaxIterations must be refused, the client reported ${JSON.stringify(r)}`,
      );
      ctx.must(ctx.svc.proofsSeen === before, 'AUTH-6', 'the client must not answer such a challenge with PROOF');
    },
  },
  {
    id: 'client/login/4',
    section: 'login',
    title: "a challenge whose Nonce does not start with the client's own nonce is refused without a PROOF",
    reqs: ['AUTH-3', 'CTL-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { foreignNonce: true });
      const before = ctx.svc.proofsSeen;
      const { r } = await ctx.tryLogin(a);
      ctx.must(
        r?.event === 'error',
        'AUTH-3',
        `a challenge with a foreign Nonce must be refused, the client reported ${JSON.stringify(r)}`,
      );
      ctx.must(ctx.svc.proofsSeen === before, 'AUTH-3', 'the client must not compute a PROOF for such a challenge');
    },
  },
  {
    id: 'client/login/5',
    section: 'login',
    title: 'a login response whose Public-key is not the key in the Key-blob ends the session with an error',
    reqs: ['KEYBLOB-4', 'CTL-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { wrongPublicKey: true });
      const { r } = await ctx.tryLogin(a);
      ctx.must(
        r?.event === 'error',
        'KEYBLOB-4',
        `the key blob does not match the delivered Public-key: the login must fail, the client reported ${JSON.stringify(r)}`,
      );
      const ms = ctx.svc.sessions.get(a.name);
      ctx.must(
        !ms || (await ms.closedWithin(ctx.timeout)),
        'KEYBLOB-4',
        'the client must end that session (close its MS connection)',
      );
    },
  },
  {
    id: 'client/login/6',
    section: 'login',
    title: 'the client closes its CRS connection after the LOCATE response',
    reqs: ['LOCATE-5', 'LOGIN-7'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const before = ctx.svc.crsConns.length;
      await ctx.startLoggedIn(a);
      const crs = ctx.svc.crsConns.slice(before);
      ctx.pre(crs.length > 0, 'LOGIN-7', 'the client logged in without LOCATE at the kit CRS');
      for (const c of crs)
        ctx.must(
          await c.closedWithin(ctx.timeout),
          'LOCATE-5',
          'the client must close its CRS connection after the LOCATE response',
        );
    },
  },
  {
    id: 'client/login/7',
    section: 'login',
    title: 'logout: BYE on every peer session, then LOGOUT; the peer connection is closed',
    reqs: ['LOGOUT-2', 'LOGOUT-1', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { a, c, conn } = await ctx.buddySession();
      const ms = ctx.ms(a);
      let byeFirst: boolean | undefined;
      const prev = ms.auto;
      ms.auto = (req, link) => {
        if (req.method === 'LOGOUT' && byeFirst === undefined)
          byeFirst = conn.received.some((m) => m.msg.kind === 'request' && m.msg.method === 'BYE');
        return prev?.(req, link);
      };
      const out = await c.command('logout', ctx.timeout * 2);
      ctx.must(out?.event === 'ok', 'LOGOUT-1', `logout failed: ${JSON.stringify(out)}`);
      const bye = await conn.waitEvent((m) => m.method === 'BYE', ctx.timeout);
      ctx.must(bye, 'LOGOUT-2', 'the client must send BYE on its peer session when it logs out');
      ctx.should(byeFirst !== false, 'LOGOUT-2', 'BYE must go out before LOGOUT (the MS saw LOGOUT first)');
      ctx.must(await conn.closedWithin(ctx.timeout), 'LOGOUT-2', 'the peer connection must be closed at logout');
    },
  },
  {
    id: 'client/login/9',
    section: 'login',
    title:
      "a login the MS refuses (PROOF answered 401 for a wrong password, LOGIN answered 409 ERR_ALREADY_ONLINE) fails with the refusal's code and status",
    reqs: ['CTL-3', 'CTL-2'],
    async run(ctx: ClientContext) {
      const refused = async (a: KitAccount, password: string, code: string, what: string): Promise<void> => {
        const want = errorSpec(code);
        const c = await ctx.startClient(a);
        const r = await c.command(`login ${a.name} ${password}`, ctx.timeout * 4);
        ctx.must(r, 'CTL-2', `${what}: the login got no result line`);
        ctx.must(
          r.event === 'error' && r.code === code && r.status === want.status,
          'CTL-3',
          `${what}: the login must fail with ${want.status} ${code}, the client reported ${JSON.stringify(r)}`,
        );
      };
      // The kit MS answers a PROOF that does not verify 401 ERR_AUTH_FAILED, as [§8.1 Login] says.
      const a = ctx.account();
      await refused(a, `${a.password}-wrong`, 'ERR_AUTH_FAILED', 'PROOF answered 401 (wrong password)');
      const spec = errorSpec('ERR_ALREADY_ONLINE');
      const b = ctx.account([], {
        loginFault: () => ({ refuse: response(spec.status, [['Error-code', 'ERR_ALREADY_ONLINE']]) }),
      });
      await refused(b, b.password, 'ERR_ALREADY_ONLINE', 'LOGIN answered 409 ERR_ALREADY_ONLINE');
    },
  },
];
