// Section "login" (spec 8), client side: what the client sends and what it must refuse.
import { header, request, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { fmtHostPort } from '../../lib/conn.js';
import { ControlledClient } from '../../lib/control.js';
import { unb64 } from '../../lib/crypto.js';
import type { ClientContext } from '../../lib/client-context.js';

export const clientLoginCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/login/1',
    section: 'login',
    title:
      'the client locates its MS and logs in: LOGIN with version, fresh nonce, key share and address; a PROOF that verifies',
    reqs: ['LOGIN-1', 'AUTH-12', 'HB-7', 'CONN-2'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      await ctx.startLoggedIn(a);
      const c = ctx.svc.sessions.get(a.name)!;
      const login = c.received[0]!.msg as RequestMessage;
      ctx.must(header(login, 'Imsp-version') === '1', 'CONN-2', 'LOGIN must carry Imsp-version: 1');
      ctx.must(
        unb64(header(login, 'Nonce') ?? '').length >= 18,
        'AUTH-12',
        'the client nonce must hold 18 random octets',
      );
      ctx.must(
        /^[A-Za-z0-9_-]{43}$/.test(header(login, 'Key-share') ?? ''),
        'LOGIN-1',
        'LOGIN must carry an X25519 Key-share',
      );
      const ping = await c.request(request('PING', [['Tag', 'kit']]), ctx.timeout);
      ctx.must(ping.status === 200, 'HB-7', 'the client must answer PING from its MS');
    },
  },
  {
    id: 'client/login/2',
    section: 'login',
    title: 'a wrong Server-proof makes the client abandon the login (the MS is not authenticated)',
    reqs: ['AUTH-11', 'CTL-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account([], { badServerProof: true });
      const c = ControlledClient.start(
        ctx.env.template,
        { crs: fmtHostPort(ctx.svc.crsAddr), ms: fmtHostPort(ctx.svc.msAddr), user: a.name, password: a.password },
        ctx.tr,
        ctx.env.cwd,
      );
      ctx.client = c;
      ctx.must(await c.ready(ctx.readyTimeout), 'CTL-1', 'the client did not become ready');
      const r = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.must(
        r?.event === 'error',
        'AUTH-11',
        `a login with a wrong Server-proof must fail, the client reported ${JSON.stringify(r)}`,
      );
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
      const c = ControlledClient.start(
        ctx.env.template,
        { crs: fmtHostPort(ctx.svc.crsAddr), ms: fmtHostPort(ctx.svc.msAddr), user: a.name, password: a.password },
        ctx.tr,
        ctx.env.cwd,
      );
      ctx.client = c;
      ctx.must(await c.ready(ctx.readyTimeout), 'CTL-1', 'the client did not become ready');
      const r = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.must(
        r?.event === 'error',
        'AUTH-6',
        `a challenge above scramMaxIterations must be refused, the client reported ${JSON.stringify(r)}`,
      );
      ctx.must(ctx.svc.proofsSeen === before, 'AUTH-6', 'the client must not answer such a challenge with PROOF');
    },
  },
];
