// Spec 7 (MS enrollment and discovery), CRS side: ENROLL/PROOF, replays, incarnations, the handshake timer.
import { header, request } from '../../../codec/index.js';
import { enrollOn } from '../../lib/as-ms.js';
import type { CaseDef } from '../../lib/case.js';
import { unb64 } from '../../lib/crypto.js';
import { valueRegex } from '../../lib/registry.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

export const enrollCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/enroll/1',
    section: 'enroll',
    title:
      'ENROLL is challenged with a fresh nonce and key share; a correct PROOF gets 200 sealed with a valid Server-proof, Lease and Heartbeat',
    reqs: ['ENROLL-2', 'ENROLL-4', 'ENROLL-8', 'SEAL-5', 'HB-3'],
    async run(ctx: CrsContext) {
      const conn = await ctx.connect('ms');
      const out = await enrollOn(conn, ctx.env.msKey, ctx.msParams(), ctx.timeout);
      ctx.must(
        out.challenge?.status === 300,
        'ENROLL-2',
        `expected 300 Challenge, got ${out.challenge?.status ?? 'close'}`,
      );
      ctx.must(
        valueRegex('nonce').test(header(out.challenge, 'Nonce') ?? ''),
        'ENROLL-2',
        'the challenge must carry a Nonce',
      );
      ctx.must(
        valueRegex('key32').test(header(out.challenge, 'Key-share') ?? ''),
        'ENROLL-2',
        'the challenge must carry a Key-share',
      );
      ctx.must(
        unb64(header(out.challenge, 'Nonce')!).length >= 16,
        'ENROLL-2',
        'the CRS nonce must hold at least 16 random octets',
      );
      ctx.must(out.result?.status === 200, 'ENROLL-4', `expected 200, got ${out.result?.status ?? 'close'}`);
      ctx.must(conn.received.at(-1)?.sealed, 'ENROLL-4', 'the 200 to PROOF must be the first SEALED envelope');
      ctx.must(out.serverProofOk, 'ENROLL-4', 'Server-proof must be HMAC(MSkey, "crs," + auth)');
      ctx.must(
        Number(header(out.result, 'Lease')) > 0 && Number(header(out.result, 'Heartbeat')) > 0,
        'ENROLL-4',
        'the 200 must carry Lease and Heartbeat',
      );
      // The link works: a sealed PING is answered.
      conn.sealing && conn.send(request('PING', [['Tag', 'after-enroll']]));
      const pong = await conn.nextResponse(ctx.timeout, 'the answer to PING');
      ctx.must(
        pong?.status === 200 && header(pong, 'Tag') === 'after-enroll',
        'HB-3',
        `a sealed PING on the new link must be answered 200, got ${pong?.status ?? 'close'}`,
      );
    },
  },
  {
    id: 'crs/enroll/2',
    section: 'enroll',
    title: 'a PROOF made with the wrong MS key is answered 401 ERR_AUTH_FAILED in clear and the connection closed',
    reqs: ['ENROLL-5', 'AUTH-8', 'ENROLL-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const conn = await ctx.connect('ms');
      const out = await enrollOn(conn, ctx.env.msKey, ctx.msParams(), ctx.timeout, {
        proof: (p) => Buffer.from(p.map((b) => b ^ 0x5a)),
      });
      ctx.must(
        out.challenge?.status === 300,
        'ENROLL-2',
        `expected 300 Challenge, got ${out.challenge?.status ?? 'close'}`,
      );
      checkError(ctx, out.result, 'ERR_AUTH_FAILED', 'a wrong enrollment proof');
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'ENROLL-5',
        'the CRS must close the connection after a failed enrollment',
      );
    },
  },
  {
    id: 'crs/enroll/3',
    section: 'enroll',
    title: 'a captured ENROLL and PROOF replayed on a new connection do not enroll (the CRS nonce is fresh)',
    reqs: ['ENROLL-2', 'ENROLL-5', 'AUTH-8', 'ENROLL-4', 'ERR-1'],
    async run(ctx: CrsContext) {
      const params = ctx.msParams();
      const first = await ctx.connect('ms');
      const out = await enrollOn(first, ctx.env.msKey, params, ctx.timeout);
      ctx.must(
        out.result?.status === 200,
        'ENROLL-4',
        `the original enrollment must succeed, got ${out.result?.status ?? 'close'}`,
      );
      const n1 = header(out.challenge!, 'Nonce');
      first.destroy();
      // The attacker replays the captured octets, with a higher incarnation impossible to forge.
      const replay = await ctx.connect('attacker');
      replay.writeRaw(out.sentEnroll);
      const ch = await replay.nextResponse(ctx.timeout, 'the challenge to the replayed ENROLL');
      if (ch && ch.status === 300) {
        ctx.must(header(ch, 'Nonce') !== n1, 'ENROLL-2', 'the CRS must choose a fresh nonce for every ENROLL');
        replay.writeRaw(out.sentProof);
        const r = await replay.nextResponse(ctx.timeout, 'the answer to the replayed PROOF');
        ctx.must(!r || r.status !== 200, 'ENROLL-5', 'a replayed enrollment must not be accepted');
        if (r) checkError(ctx, r, 'ERR_AUTH_FAILED', 'a replayed PROOF');
      } else {
        // Refusing the ENROLL itself (equal incarnation: 409) is also a refusal.
        ctx.must(!ch || ch.status >= 400, 'ENROLL-5', `a replayed ENROLL must not be accepted, got ${ch?.status}`);
      }
    },
  },
  {
    id: 'crs/enroll/4',
    section: 'enroll',
    title: 'an ENROLL with an Ms-id already enrolled at an equal incarnation is refused 409 ERR_MS_CONFLICT',
    reqs: ['ENROLL-6', 'ERR-1'],
    async run(ctx: CrsContext) {
      const a = await ctx.enroll();
      const conn = await ctx.connect('ms-dup');
      const out = await enrollOn(conn, ctx.env.msKey, { ...a.params }, ctx.timeout);
      const r = out.challenge?.status === 300 ? out.result : out.challenge;
      checkError(ctx, r, 'ERR_MS_CONFLICT', 'ENROLL with an equal incarnation');
      // The original link still works.
      const pong = await a.req('PING', []);
      ctx.must(pong.status === 200, 'ENROLL-6', 'a refused duplicate must not disturb the enrolled MS');
    },
  },
  {
    id: 'crs/enroll/5',
    section: 'enroll',
    title: 'a higher incarnation replaces the old enrollment and frees its users at once (PRESENCE offline pushed)',
    reqs: ['ENROLL-7', 'LOCK-9'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const old = await ctx.enroll();
      const watcher = await ctx.enroll();
      const sa = await ctx.login(old, alice!);
      const sb = await ctx.login(watcher, bob!);
      await ctx.befriend(sa, sb);
      watcher.conn.takeEvents();
      const newer = await ctx.enroll({ msId: old.params.msId, incarnation: old.params.incarnation + 1 });
      const off = await watcher.conn.waitEvent(
        (m) => m.method === 'PRESENCE' && header(m, 'User') === alice!.name && header(m, 'Status') === 'offline',
        ctx.timeout,
      );
      ctx.must(off, 'ENROLL-7', 'users of the replaced incarnation must be set offline and PRESENCE offline pushed');
      const lock = await newer.req('LOCK', [['User', alice!.name]]);
      ctx.must(
        lock.status === 200,
        'LOCK-9',
        `the user's lock must be free after re-enrollment, LOCK got ${lock.status}`,
      );
    },
  },
  {
    id: 'crs/enroll/6',
    section: 'enroll',
    title: 'a connection that starts ENROLL and never sends PROOF is closed within handshakeTimeout',
    reqs: ['CONN-4'],
    level: 'SHOULD',
    async run(ctx: CrsContext) {
      const limit = ctx.limits.get('handshakeTimeout');
      if (limit > 15000 && !ctx.opts.slow)
        ctx.skip(`handshakeTimeout is ${limit} ms; pass --slow or --set handshakeTimeout=N matching the target`);
      const c = await ctx.connect('ms');
      c.send(
        request('ENROLL', [
          ['Imsp-version', '1'],
          ['Ms-id', ctx.uniq('kit-slow-')],
          ['Incarnation', String(Date.now())],
          ['Nonce', 'A'.repeat(24)],
          ['Key-share', 'B'.repeat(43)],
          ['Listen', '127.0.0.1:1'],
          ['Capacity', '1'],
        ]),
      );
      await c.nextResponse(ctx.timeout, 'the challenge');
      ctx.must(
        await c.closedWithin(limit + ctx.timeout),
        'CONN-4',
        `the CRS must close a handshake not completed within ${limit} ms`,
      );
    },
  },
];
