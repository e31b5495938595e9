// [§11 Session Lifetime, Rate Limits and Restarts], CRS side: MS heartbeats (PING renews the lease), MS death
// and how late the CRS may act on it, PING at the heartbeat's pace never refused by a rate limit, and the
// CRS's own stop on purpose.
import { header, type Message, type RequestMessage, request } from '../../../codec/index.js';
import { enrollOn } from '../../lib/as-ms.js';
import type { CaseDef } from '../../lib/case.js';
import type { CrsContext } from '../../lib/crs-context.js';

const isNotice = (code: string) => (m: RequestMessage) => m.method === 'NOTICE' && header(m, 'Error-code') === code;

export const crsLifetimeCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/heartbeat/1',
    section: 'heartbeat',
    title:
      'an MS that stops sending is declared dead after msLease: its users go offline (PRESENCE pushed), their locks are free, its connection is closed',
    reqs: ['HB-4', 'LOCK-9', 'INV-2'],
    async run(ctx: CrsContext) {
      const lease = ctx.limitUpTo('msLease', 5000);
      const [alice, bob] = await ctx.users(2);
      const silent = await ctx.enroll({}, false);
      const watcher = await ctx.enroll();
      const sa = await ctx.login(silent, alice!);
      const sb = await ctx.login(watcher, bob!);
      await ctx.befriend(sa, sb);
      silent.conn.auto = () => undefined; // not even PING answers from now on
      const t0 = Date.now();
      // The lease must end it [HB-4], not the requestTimeout of a PING the CRS sent the silent MS [CONN-5]
      // (that closes the link, which ends the enrollment too): the kit waits less than that.
      const rt = ctx.limits.get('requestTimeout');
      const off = await watcher.conn.waitEvent(
        (m) => m.method === 'PRESENCE' && header(m, 'User') === alice!.name && header(m, 'Status') === 'offline',
        Math.min(lease * 3 + ctx.timeout, Math.max(lease * 2, rt - 500)),
      );
      ctx.must(
        off,
        'HB-4',
        `the CRS must end the sessions of an MS silent for msLease (${lease} ms) and push PRESENCE offline (nothing within ${Date.now() - t0} ms, before requestTimeout ${rt} ms would end the link anyway)`,
      );
      ctx.expectStatus(await watcher.req('LOCK', [['User', alice!.name]]), 200, 'HB-4', 'LOCK of a user whose MS died');
      ctx.must(
        await silent.conn.closedWithin(ctx.timeout),
        'HB-4',
        `the CRS must close the connection of an MS whose enrollment it ended for silence (still open ${ctx.timeout} ms after its users went offline)`,
      );
    },
  },
  {
    id: 'crs/heartbeat/2',
    section: 'heartbeat',
    title: 'PING from an MS is answered 200 with the renewed Lease',
    reqs: ['HB-3', 'CONN-3'],
    async run(ctx: CrsContext) {
      const ms = await ctx.enroll({}, false);
      const r = await ms.req('PING', [
        ['Tag', 'hb'],
        ['Load', '0'],
      ]);
      ctx.expectStatus(r, 200, 'HB-3', 'PING');
      ctx.should(Number(header(r, 'Lease')) > 0, 'HB-3', 'the answer to an MS PING should carry Lease');
      ctx.must(header(r, 'Tag') === 'hb', 'CONN-3', 'Tag must be echoed');
    },
  },
  {
    id: 'crs/heartbeat/3',
    section: 'heartbeat',
    title:
      'the timers an MS must respect are announced: Lease and Heartbeat in the answer to PROOF, Lease in the answer to LOCK',
    reqs: ['HB-13', 'LOCK-4', 'ENROLL-4'],
    async run(ctx: CrsContext) {
      const conn = await ctx.connect('ms');
      const out = await enrollOn(conn, ctx.env.msKey, ctx.msParams(), ctx.timeout);
      ctx.pre(
        out.result?.status === 200,
        'ENROLL-4',
        `a correct PROOF must be answered 200, got ${out.result?.status ?? 'close'}`,
      );
      for (const h of ['Lease', 'Heartbeat'])
        ctx.must(
          /^[1-9][0-9]*$/.test(header(out.result, h) ?? ''),
          'HB-13',
          `the answer to PROOF must announce ${h} (ms), got ${header(out.result, h) ?? 'none'}`,
        );
      conn.send(request('LEAVE', []));
      const u = await ctx.user();
      const ms = await ctx.enroll();
      const r = await ms.req('LOCK', [['User', u.name]]);
      ctx.expectStatus(r, 200, 'LOCK-4', 'LOCK of an offline user');
      ctx.must(
        /^[1-9][0-9]*$/.test(header(r, 'Lease') ?? ''),
        'HB-13',
        `the answer to LOCK must announce the lock Lease, got ${header(r, 'Lease') ?? 'none'}`,
      );
    },
  },
  {
    id: 'crs/heartbeat/4',
    section: 'heartbeat',
    title:
      'an MS silent for msLease is ended no later than twice msLease after its last message, also one that enrolled just as the CRS ended another (a CRS checking leases in sweeps further apart than that ends it late)',
    reqs: ['HB-14', 'HB-4'],
    async run(ctx: CrsContext) {
      const lease = ctx.limitUpTo('msLease', 5000);
      // The bound of [HB-14], with the 25 ms for clock granularity the kit allows on the early side too.
      const bound = 2 * lease + 25;
      // The end of an enrollment as the MS sees it: NOTICE ERR_SESSION_ENDED, or its link closed [HB-4].
      const silentUntilEnded = async (what: string): Promise<void> => {
        const ms = await ctx.enroll({}, false);
        ms.conn.auto = () => undefined; // not even PING answers from now on
        const t0 = Date.now(); // its last message, the PROOF, went out before this
        const told = await ms.conn.waitUntil(
          () => (ms.conn.takeEvents(isNotice('ERR_SESSION_ENDED')).length > 0 ? true : undefined),
          bound + ctx.timeout,
        );
        const after = Date.now() - t0;
        ctx.must(
          told || ms.conn.closed,
          'HB-4',
          `the CRS must end the enrollment of an MS silent for msLease (${lease} ms): ${what} was neither sent NOTICE ERR_SESSION_ENDED nor closed within ${after} ms`,
        );
        ctx.must(
          after <= bound,
          'HB-14',
          `the CRS must end the enrollment of an MS silent for msLease no later than twice msLease (${2 * lease} ms) after its last message: ${what} was ended after ${after} ms`,
        );
      };
      await silentUntilEnded('the first silent MS');
      // Enrolled at the moment the CRS acted on the first: a CRS that looks at leases only every P ms
      // (P over twice msLease) next looks about P ms later, so it cannot end this one in time.
      await silentUntilEnded('an MS that enrolled as soon as the first was ended, and went silent');
    },
  },
  {
    id: 'crs/rate/1',
    section: 'rate',
    title:
      "a PING at the heartbeat's pace is answered 200 even right behind a burst that empties any bucket of rateLimitBurst tokens; the first PING of the link too",
    reqs: ['RATE-8', 'CONN-9'],
    async run(ctx: CrsContext) {
      // Appendix A.6: the CRS keeps no bucket on an MS link, and one that shapes it must not count a PING
      // that comes no more often than msHeartbeatInterval [RATE-8]. The drain and the paced PING go in
      // one write, so no token can come back between them (the outcome does not hang on the timing,
      // except that a CRS slower than a second per burst refills rateLimitPerSecond tokens meanwhile).
      const burst = ctx.limits.get('rateLimitBurst');
      const perSecond = ctx.limits.get('rateLimitPerSecond');
      const drain = burst + perSecond;
      if (drain > 2000 && !ctx.opts.slow)
        ctx.skip(`rateLimitBurst + rateLimitPerSecond is ${drain} requests; pass --slow, or --set both lower`);
      const ms = await ctx.enroll({}, false);
      const interval = ms.heartbeat || ctx.limits.get('msHeartbeatInterval');
      if (interval > 5000 && !ctx.opts.slow)
        ctx.skip(
          `msHeartbeatInterval is ${interval} ms; pass --slow, or --set msHeartbeatInterval=N matching the target`,
        );
      const first = await ms.req('PING', [['Load', '0']]);
      ctx.expectStatus(first, 200, 'RATE-8', 'the first PING of an MS link (Appendix A.6: never counted)');
      await new Promise((res) => setTimeout(res, interval + 20));
      // LOCK of a name nobody registered: answered 404 and changing nothing, and it takes a token
      // wherever requests are counted.
      const nobody = ctx.uniq('nobody');
      const msgs: Message[] = Array.from({ length: drain }, () => request('LOCK', [['User', nobody]]));
      msgs.push(request('PING', [['Tag', 'paced']]));
      for (let i = 0; i < msgs.length; i += 64) ms.conn.sendBatch(msgs.slice(i, i + 64));
      const got: number[] = [];
      for (let i = 0; i < msgs.length; i++) {
        const r = await ms.conn.nextResponse(ctx.timeout * 2, `answer ${i + 1} of ${msgs.length}`);
        ctx.must(
          r,
          'CONN-9',
          `the CRS closed the MS link with ${msgs.length - i} of ${msgs.length} pipelined requests unanswered (a burst of ${drain} LOCKs, then a PING); the CRS keeps no rate-limit disconnect on an MS link (Appendix A.6)`,
        );
        got.push(r.status);
        if (i === msgs.length - 1) {
          const limited = got.filter((s) => s === 429).length;
          ctx.must(
            r.status === 200,
            'RATE-8',
            `a PING ${interval + 20} ms after the previous one (msHeartbeatInterval ${interval}) right behind ${drain} LOCKs (${limited} answered 429) must be answered 200, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
          );
          ctx.must(header(r, 'Tag') === 'paced', 'CONN-9', "the last answer must be the PING's (Tag paced)");
        }
      }
    },
  },
];

export const crsShutdownCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/shutdown/1',
    section: 'shutdown',
    title:
      'a CRS stopped on purpose closes the link of every enrolled MS, sending NOTICE ERR_SHUTDOWN first, and serves no new connection (runs last)',
    reqs: ['CRS-SHUTDOWN-1', 'CRS-SHUTDOWN-2'],
    noProbe: true,
    async run(ctx: CrsContext) {
      const stop = ctx.env.stopCrs;
      if (!stop) ctx.skip('the kit cannot stop the CRS under test: pass --crs-stop-cmd (e.g. kill -TERM PID)');
      // Two MSs as they run (heartbeats on), one of them holding a user's session.
      const u = await ctx.user();
      const links = [await ctx.enroll(), await ctx.enroll()];
      await ctx.login(links[0]!, u);
      await stop();
      const wait = 2 * ctx.timeout;
      const deadline = Date.now() + wait;
      for (const [i, l] of links.entries())
        ctx.must(
          await l.conn.closedWithin(Math.max(0, deadline - Date.now())),
          'CRS-SHUTDOWN-1',
          `a CRS stopped on purpose must close the link of every MS: the link of MS ${i + 1} was still open ${wait} ms after the stop command`,
        );
      for (const [i, l] of links.entries())
        ctx.should(
          l.conn.takeEvents(isNotice('ERR_SHUTDOWN')).length > 0,
          'CRS-SHUTDOWN-2',
          `a CRS stopped on purpose should send each MS NOTICE ERR_SHUTDOWN before it closes the link: MS ${i + 1} got none`,
        );
      // Its links closed, the stopped CRS serves no new connection (refused, or closed unanswered).
      let answered: string | null = null;
      try {
        const c = await ctx.connect('after-stop');
        const r = await c.request(request('LOCATE', [['Imsp-version', '1']]), ctx.timeout).catch(() => null);
        if (r) answered = `${r.status} ${header(r, 'Error-code') ?? ''}`.trim();
      } catch {
        // refused: as it must be
      }
      ctx.must(
        answered === null,
        'CRS-SHUTDOWN-1',
        `a CRS stopped on purpose must stop accepting connections: a LOCATE on a new connection after the stop was answered ${answered}`,
      );
    },
  },
];
