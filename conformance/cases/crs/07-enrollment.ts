// [§7 MS Enrollment and Discovery], CRS side: ENROLL/PROOF, replays, incarnations, the handshake timer.
import { header, headers as allHeaders, request } from '../../../codec/index.js';
import { enrollOn } from '../../lib/as-ms.js';
import type { CaseDef } from '../../lib/case.js';
import { b64Length, nonCanonical } from '../../lib/crypto.js';
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
        b64Length(header(out.challenge, 'Nonce')!) >= 16,
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
      const { a: alice, m1: old, m2: watcher, sa, sb } = await ctx.onlinePair();
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
      const limit = ctx.limitUpTo('handshakeTimeout', 15000);
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
  {
    id: 'crs/enroll/7',
    section: 'enroll',
    title:
      'an ENROLL with a bad header (Capacity not a number, Ms-id with a space) is answered 422 before any challenge',
    reqs: ['ENROLL-3', 'ERR-1'],
    async run(ctx: CrsContext) {
      for (const [name, value] of [
        ['Capacity', 'many'],
        ['Ms-id', 'kit ms'],
      ] as const) {
        const c = await ctx.connect('ms-bad');
        const p = ctx.msParams();
        const hs: [string, string][] = [
          ['Imsp-version', '1'],
          ['Ms-id', p.msId],
          ['Incarnation', String(p.incarnation)],
          ['Nonce', 'A'.repeat(24)],
          ['Key-share', 'B'.repeat(43)],
          ['Listen', p.listen],
          ['Capacity', String(p.capacity)],
        ];
        const r = await c.request(
          request(
            'ENROLL',
            hs.map(([n, v]): [string, string] => [n, n === name ? value : v]),
          ),
          ctx.timeout,
        );
        ctx.must(
          r.status === 422,
          'ENROLL-3',
          `ENROLL with ${name}: ${value} must be answered 422 before the challenge, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
        );
        ctx.must(header(r, 'Error-code') !== undefined, 'ERR-1', 'an error response must carry Error-code');
        c.destroy();
      }
    },
  },
  {
    id: 'crs/enroll/8',
    section: 'enroll',
    title:
      'LEAVE ends the enrollment (200, connection closed) and frees its users at once; a closed MS connection frees them too, without waiting for the lease',
    reqs: ['ENROLL-9', 'ENROLL-10', 'LOCK-9'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const other = await ctx.enroll();
      const leaving = await ctx.enroll();
      await ctx.login(leaving, alice!);
      const r = await leaving.req('LEAVE', []);
      ctx.expectStatus(r, 200, 'ENROLL-9', 'LEAVE');
      ctx.must(
        await leaving.conn.closedWithin(ctx.timeout),
        'ENROLL-9',
        'after answering LEAVE the CRS must close the connection',
      );
      const lock = await other.req('LOCK', [['User', alice!.name]]);
      ctx.must(
        lock.status === 200,
        'ENROLL-9',
        `after LEAVE the users of that MS must be free at once: LOCK from another MS got ${lock.status} ${header(lock, 'Error-code') ?? ''}`,
      );
      // The lease is longer than the wait below: only the end of the enrollment can free the user.
      const dropped = await ctx.enroll();
      await ctx.login(dropped, bob!);
      dropped.close();
      const deadline = Date.now() + Math.min(ctx.timeout, Math.max(200, dropped.lease / 2 || 1000));
      let got = 0;
      while (Date.now() < deadline) {
        const l = await other.req('LOCK', [['User', bob!.name]]);
        got = l.status;
        if (got === 200) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      ctx.must(
        got === 200,
        'ENROLL-10',
        `when an MS connection closes, its users must be freed at once (before the lease): LOCK got ${got}`,
      );
    },
  },
  {
    id: 'crs/enroll/9',
    section: 'enroll',
    title:
      'two ENROLLs of one Ms-id and incarnation at once: one is enrolled, the other refused 409 ERR_MS_CONFLICT (at ENROLL or at PROOF)',
    reqs: ['ENROLL-6', 'ENROLL-4', 'ERR-1'],
    async run(ctx: CrsContext) {
      const p = ctx.msParams();
      const [c1, c2] = [await ctx.connect('ms-race'), await ctx.connect('ms-race')];
      // Both ENROLLs go out before either PROOF: the CRS challenges both, and only the first PROOF
      // may enroll; the second finds the Ms-id taken when it completes. Each PROOF waits until both
      // challenges are in (at most ctx.timeout), so that on a slow machine the first enrollment
      // cannot finish before the second ENROLL arrives (which would test the ENROLL-time refusal).
      let challenged = 0;
      let release: () => void = () => undefined;
      const both = new Promise<void>((r) => {
        release = r;
      });
      const beforeProof = async (): Promise<void> => {
        if (++challenged === 2) release();
        let t: NodeJS.Timeout | undefined;
        await Promise.race([both, new Promise<void>((r) => (t = setTimeout(r, ctx.timeout)))]);
        clearTimeout(t);
      };
      const outs = await Promise.all(
        [c1, c2].map((c) => enrollOn(c, ctx.env.msKey, { ...p }, ctx.timeout, { beforeProof })),
      );
      const finals = outs.map((o) => (o.challenge?.status === 300 ? o.result : o.challenge));
      const ok = finals.filter((r) => r?.status === 200).length;
      ctx.must(
        ok === 1,
        'ENROLL-6',
        `exactly one of two simultaneous enrollments of one Ms-id and incarnation may succeed, ${ok} did (${finals
          .map((r) => `${r?.status ?? 'closed'} ${r ? (header(r, 'Error-code') ?? '') : ''}`)
          .join(', ')})`,
      );
      const refused = finals.find((r) => r?.status !== 200) ?? null;
      checkError(ctx, refused, 'ERR_MS_CONFLICT', 'the second of two simultaneous enrollments', 'ENROLL-6');
    },
  },
  {
    id: 'crs/enroll/10',
    section: 'enroll',
    title:
      'a uint above 9007199254740991 (2^53 - 1, the maximum of [§16 Registries]) in ENROLL Incarnation or Capacity is refused 422 ERR_BAD_VALUE; the maximum itself enrolls',
    reqs: ['REG-6', 'ENROLL-2', 'ENROLL-4', 'ERR-1', 'WIRE-22'],
    async run(ctx: CrsContext) {
      // Appendix A: a uint is exact in every implementation language only up to 2^53 - 1, so the
      // registry bounds it there and a larger value is a bad value, not a number rounded by the receiver.
      const over = 9007199254740991n + 1n;
      for (const field of ['incarnation', 'capacity'] as const) {
        const conn = await ctx.connect('ms-uint');
        const p = ctx.msParams();
        // 2^53 is exact as a double, so String() writes it digit for digit.
        const out = await enrollOn(conn, ctx.env.msKey, { ...p, [field]: Number(over) }, ctx.timeout);
        checkError(
          ctx,
          out.challenge,
          'ERR_BAD_VALUE',
          `ENROLL with ${field} ${over} (one above the uint maximum)`,
          'REG-6',
        );
        conn.destroy();
      }
      const conn = await ctx.connect('ms-uint');
      const max = { ...ctx.msParams(), incarnation: Number.MAX_SAFE_INTEGER };
      const out = await enrollOn(conn, ctx.env.msKey, max, ctx.timeout);
      ctx.must(
        out.challenge?.status === 300,
        'ENROLL-2',
        `ENROLL with Incarnation 9007199254740991 (the uint maximum) must be challenged 300, got ${out.challenge?.status ?? 'close'} ${out.challenge ? (header(out.challenge, 'Error-code') ?? '') : ''}`,
      );
      ctx.must(
        out.result?.status === 200,
        'ENROLL-4',
        `PROOF of an enrollment at Incarnation 9007199254740991 must be answered 200, got ${out.result?.status ?? 'close'} ${out.result ? (header(out.result, 'Error-code') ?? '') : ''}`,
      );
      conn.destroy();
    },
  },
  {
    id: 'crs/enroll/11',
    section: 'enroll',
    title:
      'an ENROLL whose Key-share is a low-order point (32 zero octets: the X25519 result is all zero) is refused at PROOF 401 ERR_AUTH_FAILED, closed and not enrolled',
    reqs: ['ENROLL-17', 'ENROLL-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const conn = await ctx.connect('ms-low-order');
      const p = ctx.msParams();
      // The proof is right (it needs only the MS key): only the key exchange is wrong.
      const out = await enrollOn(conn, ctx.env.msKey, p, ctx.timeout, { keyShare: Buffer.alloc(32) });
      ctx.must(
        out.challenge?.status === 300,
        'ENROLL-2',
        `ENROLL with a well-formed Key-share must be challenged 300, got ${out.challenge?.status ?? 'close'}`,
      );
      checkError(ctx, out.result, 'ERR_AUTH_FAILED', 'PROOF after an all-zero X25519 exchange', 'ENROLL-17');
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'ENROLL-17',
        'the CRS must close the connection after refusing an all-zero key exchange',
      );
      const c = await ctx.connect('client');
      const r = await c.request(request('LOCATE', [['Imsp-version', '1']]), ctx.timeout);
      ctx.must(
        !allHeaders(r, 'Server').includes(p.listen),
        'ENROLL-17',
        `an MS refused for an all-zero key exchange must not be enrolled, but LOCATE lists its Listen ${p.listen}`,
      );
    },
  },
  {
    id: 'crs/enroll/12',
    section: 'enroll',
    title:
      'a wrong PROOF spelled in base64url that is not canonical (the last character carries set unused bits) is answered 401 ERR_AUTH_FAILED in clear and the connection closed',
    reqs: ['ENROLL-5', 'AUTH-8', 'ENROLL-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      const conn = await ctx.connect('ms-noncanonical');
      const out = await enrollOn(conn, ctx.env.msKey, ctx.msParams(), ctx.timeout, {
        proof: (p) => Buffer.from(p.map((b) => b ^ 0x5a)),
        // 32 octets are 43 characters whose last carries 4 bits and 2 unused ones: set the lowest. The key32 type
        // takes the text; read leniently or strictly, it is not the right proof.
        proofText: nonCanonical,
      });
      ctx.must(
        out.challenge?.status === 300,
        'ENROLL-2',
        `expected 300 Challenge, got ${out.challenge?.status ?? 'close'}`,
      );
      checkError(ctx, out.result, 'ERR_AUTH_FAILED', 'a wrong enrollment proof in non-canonical base64url');
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'ENROLL-5',
        'the CRS must close the connection after a failed enrollment',
      );
    },
  },
  {
    id: 'crs/enroll/13',
    section: 'enroll',
    title:
      'a right PROOF, or a right Key-share, spelled in base64url that is not canonical (set unused bits in the last character) fails the enrollment: 401 ERR_AUTH_FAILED in clear and the connection closed',
    reqs: ['CRYPTO-4', 'ENROLL-5', 'AUTH-8', 'ENROLL-2', 'ERR-1'],
    async run(ctx: CrsContext) {
      // Either text, read leniently, gives the right octets (the Key-share enters auth as sent): only a
      // strict decoder refuses them [CRYPTO-4].
      for (const [what, tamper] of [
        ['Proof', { proofText: nonCanonical }],
        ['Key-share', { keyShareText: nonCanonical }],
      ] as const) {
        const conn = await ctx.connect(`ms-noncanonical-${what}`);
        const out = await enrollOn(conn, ctx.env.msKey, ctx.msParams(), ctx.timeout, tamper);
        ctx.must(
          out.challenge?.status === 300,
          'ENROLL-2',
          `expected 300 Challenge, got ${out.challenge?.status ?? 'close'}`,
        );
        checkError(
          ctx,
          out.result,
          'ERR_AUTH_FAILED',
          `a right enrollment ${what} in non-canonical base64url`,
          'CRYPTO-4',
        );
        ctx.must(
          await conn.closedWithin(ctx.timeout),
          'ENROLL-5',
          `the CRS must close the connection after an enrollment that failed on a non-canonical ${what}`,
        );
      }
    },
  },
  {
    id: 'crs/locate/1',
    section: 'locate',
    title:
      'LOCATE lists the Listen address of MSs that are not full, lowest load/Capacity first, at most three; an MS full by its reported Load or by the users it holds is left out',
    reqs: ['LOCATE-1', 'LOCATE-2'],
    async run(ctx: CrsContext) {
      const [alice] = await ctx.users(1);
      const base = ctx.uniq('loc');
      const full = await ctx.enroll({ msId: `${base}a`, capacity: 1 });
      // Full by its users: the load counts the users the CRS holds as locked or online at an MS.
      const held = await ctx.enroll({ msId: `${base}d`, capacity: 1 });
      await ctx.login(held, alice!);
      const busy = await ctx.enroll({ msId: `${base}b`, capacity: 100 });
      const idle = await ctx.enroll({ msId: `${base}c`, capacity: 100 });
      // Loads as the MSs report them in PING ([§7.3 LOCATE and Load Balancing]: the reported Load counts when it is higher).
      ctx.expectStatus(await full.req('PING', [['Load', '1']]), 200, 'LOCATE-1', 'PING with Load 1');
      ctx.expectStatus(await busy.req('PING', [['Load', '40']]), 200, 'LOCATE-1', 'PING with Load 40');
      const c = await ctx.connect('client');
      const r = await c.request(request('LOCATE', [['Imsp-version', '1']]), ctx.timeout);
      ctx.expectStatus(r, 200, 'LOCATE-1', 'LOCATE with MSs enrolled');
      const servers = allHeaders(r, 'Server');
      ctx.must(servers.length <= 3, 'LOCATE-1', `LOCATE must list at most three Servers, got ${servers.length}`);
      ctx.must(
        !servers.includes(full.params.listen),
        'LOCATE-1',
        `a full MS (Load 1 reported, Capacity 1) must not be listed, got ${servers.join(', ')}`,
      );
      ctx.must(
        !servers.includes(held.params.listen),
        'LOCATE-1',
        `an MS of Capacity 1 holding one online user is full and must not be listed, got ${servers.join(', ')}`,
      );
      ctx.must(
        servers.includes(idle.params.listen),
        'LOCATE-2',
        `the idle MS must be listed by the Listen address of its ENROLL (${idle.params.listen}), got ${servers.join(', ')}`,
      );
      const iBusy = servers.indexOf(busy.params.listen);
      ctx.must(
        iBusy < 0 || servers.indexOf(idle.params.listen) < iBusy,
        'LOCATE-1',
        `the MS with load 0 must come before the one that reported Load 40 of 100, got ${servers.join(', ')}`,
      );
      // The load is the Load the MS *last* reported: a PING with Load 0 brings it back down. Then the
      // two MSs tie (ratio 0, load 0) and the lower Ms-id (busy, base + 'b') comes first.
      ctx.expectStatus(await busy.req('PING', [['Load', '0']]), 200, 'LOCATE-1', 'PING with Load 0');
      const c2 = await ctx.connect('client');
      const r2 = await c2.request(request('LOCATE', [['Imsp-version', '1']]), ctx.timeout);
      ctx.expectStatus(r2, 200, 'LOCATE-1', 'LOCATE after the busy MS reported Load 0');
      const after = allHeaders(r2, 'Server');
      const b2 = after.indexOf(busy.params.listen);
      ctx.must(
        b2 >= 0 && (after.indexOf(idle.params.listen) < 0 || b2 < after.indexOf(idle.params.listen)),
        'LOCATE-1',
        `after PING Load 0 the load is the Load last reported (0): ${busy.params.msId} ties with ${idle.params.msId} and must come first (lower Ms-id), got ${after.join(', ')}`,
      );
    },
  },
  {
    id: 'crs/locate/2',
    section: 'locate',
    title:
      'when every enrolled MS is full, LOCATE is answered 503 ERR_UNAVAILABLE with a Retry-after; once one has room, 200 again',
    reqs: ['LOCATE-3', 'CONN-7', 'LOCATE-1', 'ERR-1'],
    async run(ctx: CrsContext) {
      // The only MS the kit keeps enrolled between cases is its provisioning link: made full by its
      // reported Load [LOCATE-1], with its heartbeat held so that no PING without Load comes between.
      const prov = await ctx.provisioner();
      prov.stopHeartbeat();
      try {
        ctx.preStatus(
          await prov.req('PING', [['Load', String(prov.params.capacity)]]),
          200,
          'LOCATE-1',
          `PING with Load ${prov.params.capacity} (its Capacity)`,
        );
        const locate = async () => {
          const c = await ctx.connect('client');
          try {
            return await c.request(request('LOCATE', [['Imsp-version', '1']]), ctx.timeout);
          } finally {
            c.end();
          }
        };
        // The MSs of earlier cases closed their links; the CRS ends those enrollments at once
        // [ENROLL-10], but a LOCATE may still overtake that. Retry within the case timeout.
        const deadline = Date.now() + ctx.timeout;
        let r = await locate();
        while (r.status === 200 && Date.now() < deadline) r = await locate();
        if (r.status === 200)
          ctx.skip(
            `LOCATE still lists ${allHeaders(r, 'Server').join(', ')} with the kit's only MS full: the target has MSs the kit does not control`,
          );
        checkError(ctx, r, 'ERR_UNAVAILABLE', 'LOCATE with every enrolled MS full', 'LOCATE-3');
        const retry = header(r, 'Retry-after');
        ctx.must(
          retry !== undefined && /^[0-9]+$/.test(retry),
          'LOCATE-3',
          `the 503 to LOCATE must carry a Retry-after, got ${retry === undefined ? 'none' : `"${retry}"`}`,
        );
        ctx.preStatus(await prov.req('PING', [['Load', '0']]), 200, 'LOCATE-1', 'PING with Load 0');
        const back = await locate();
        ctx.expectStatus(back, 200, 'LOCATE-1', 'LOCATE once the MS reported Load 0');
        ctx.must(
          allHeaders(back, 'Server').includes(prov.params.listen),
          'LOCATE-1',
          `LOCATE must list the MS again once it has room (${prov.params.listen}), got ${allHeaders(back, 'Server').join(', ')}`,
        );
      } finally {
        if (!prov.conn.closed) prov.conn.sendAndForget(request('PING', [['Load', '0']]));
        prov.startHeartbeat();
      }
    },
  },
];
