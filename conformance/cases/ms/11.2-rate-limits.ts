// Section "rate limits" [§11.2 Rate Limits], MS side: the per-connection bucket through to the
// disconnect, the per-user bucket across connections, and the failed-login limits per username and
// per source address. The login limits use a fresh loopback source address (127.a.b.c) per attempt
// or per case, so the failures they cause never lock out the kit's own address for later cases.
import { header, request, type Message, type ResponseMessage } from '../../../codec/index.js';
import { loginOn } from '../../lib/as-client.js';
import type { CaseDef } from '../../lib/case.js';
import type { Conn } from '../../lib/conn.js';
import { announced, since, sentSince, type MsContext } from '../../lib/ms-context.js';

const isRateNotice = (m: Message): boolean =>
  m.kind === 'request' && m.method === 'NOTICE' && header(m, 'Error-code') === 'ERR_RATE_LIMITED';
const retryAfter = (m: Message): number => {
  const v = header(m, 'Retry-after');
  return v !== undefined && /^[0-9]{1,10}$/.test(v) ? Number(v) : Number.NaN;
};

/** A failed login on a fresh connection (from `src`): the 300 and the 401 it must get, or what came instead. */
async function failLogin(ctx: MsContext, name: string, src: string | undefined): Promise<ResponseMessage | null> {
  const c = await ctx.connectFrom('fl', src);
  try {
    const out = await loginOn(c, name, 'not-the-password', '127.0.0.1:9', ctx.timeout);
    if (out.challenge?.status !== 300) return out.challenge;
    return out.result;
  } finally {
    c.destroy();
  }
}

/** The answer to a LOGIN with the right password for `name` from `src` (the challenge, or the refusal). */
async function tryLogin(ctx: MsContext, name: string, password: string, src: string | undefined) {
  const c = await ctx.connectFrom('tl', src);
  const out = await loginOn(c, name, password, '127.0.0.1:9', ctx.timeout);
  c.destroy();
  return out;
}

/** What the MS sent back, for a finding: response statuses with counts, NOTICE codes, the close. */
function whatCame(got: Message[], closed: boolean): string {
  const count = new Map<string, number>();
  for (const m of got) {
    const k =
      m.kind === 'response'
        ? String(m.status)
        : `${m.method}${m.method === 'NOTICE' ? ` ${header(m, 'Error-code') ?? ''}` : ''}`;
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  const parts = [...count].map(([k, n]) => `${n} x ${k}`);
  return `got ${parts.length > 0 ? parts.join(', ') : 'nothing'}; the connection ${closed ? 'was closed by the MS' : 'stayed open'}`;
}

export const msRateCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/rate/1',
    section: 'rate',
    title:
      'a client over its connection bucket: rateLimitBurst requests served, then 429 ERR_RATE_LIMITED with Retry-after and a NOTICE for each of rateLimitWarnings refusals, then the NOTICE alone, no more responses, OFFLINE and close',
    reqs: ['RATE-1', 'RATE-3', 'RATE-10', 'CONN-16'],
    async run(ctx: MsContext) {
      const burst = ctx.limits.get('rateLimitBurst');
      const rate = ctx.limits.get('rateLimitPerSecond');
      const warnings = ctx.limits.get('rateLimitWarnings');
      if (burst > 2000) ctx.skip(`rateLimitBurst is ${burst}; the case sends up to 4 times that`);
      const u = ctx.user();
      const c = await ctx.login(u);
      const from = c.received.length;
      const n = since(ctx);
      const crsLink = ctx.crs.link;
      // Waves of requests in one write each, until the MS disconnects: a wave is the bucket, the
      // warnings, the final refusal and two seconds of refill, so a slow reader still empties it.
      const wave = burst + warnings + 1 + Math.ceil(2 * rate);
      let sent = 0;
      for (let w = 0; w < 4 && !c.closed; w++) {
        for (let i = 0; i < wave; i++) c.send(request('STATUS', [['Status', i % 2 ? 'away' : 'busy']]));
        sent += wave;
        await c.waitUntil(() => (c.closed ? true : undefined), ctx.timeout);
      }
      const got = c.received.slice(from).map((r) => r.msg);
      const responses = got.filter((m): m is ResponseMessage => m.kind === 'response');
      const first429 = responses.findIndex((r) => r.status === 429);
      // The STATUSes wait in order [CONN-9] behind their relay to the kit CRS. A kit starved of CPU
      // for msLease sends the MS nothing, and the MS then rightly takes its CRS as lost and ends every
      // session [ENROLL-12] before any refusal is written: the kit's fault, not the MS's.
      if (first429 < 0 && !got.some(isRateNotice) && (crsLink === null || crsLink.closed))
        ctx.skip(
          `inconclusive: the MS lost its link to the kit CRS during the flood (the kit, short of CPU, was silent for msLease) and ended the session (${whatCame(got, c.closed)}); run it on a quieter machine`,
        );
      ctx.must(
        first429 >= 0 || got.some(isRateNotice),
        'RATE-1',
        `${sent} requests in ${Math.ceil(sent / wave)} write(s) against a bucket of ${burst} refilled at ${rate}/s were never refused (${whatCame(got, c.closed)})`,
      );
      // LOGIN and PROOF may have taken two tokens of the connection's bucket.
      const served = first429 >= 0 ? first429 : responses.length;
      ctx.must(
        served >= burst - 2 && responses.slice(0, served).every((r) => r.status === 200),
        'RATE-1',
        `the first ${burst - 2} requests after login fit the bucket of rateLimitBurst ${burst} and must be served; ${served} were served before the first refusal`,
      );
      const refusals = responses.filter((r) => r.status === 429);
      for (const r of refusals) {
        ctx.must(
          header(r, 'Error-code') === 'ERR_RATE_LIMITED',
          'RATE-1',
          `a 429 must carry Error-code ERR_RATE_LIMITED, carried ${header(r, 'Error-code') ?? 'none'}`,
        );
        const ra = retryAfter(r);
        ctx.must(
          ra >= 1 && ra <= Math.ceil(1000 / rate) + 50,
          'RATE-1',
          `Retry-after must give the milliseconds until a token is available (at most ${Math.ceil(1000 / rate)} at ${rate}/s), got ${header(r, 'Retry-after') ?? 'none'}`,
        );
      }
      const notices = got.filter(isRateNotice);
      ctx.must(
        refusals.length === warnings,
        'RATE-10',
        `exactly rateLimitWarnings (${warnings}) refusals are answered 429; the next is the NOTICE alone, got ${refusals.length} 429s`,
      );
      ctx.must(
        notices.length === warnings + 1,
        'RATE-3',
        `each of the ${warnings} refusals comes with a NOTICE ERR_RATE_LIMITED, and the final one is a NOTICE: expected ${warnings + 1} NOTICEs, got ${notices.length}`,
      );
      for (const nt of notices.slice(0, warnings))
        ctx.must(
          retryAfter(nt) >= 1,
          'RATE-3',
          `a warning NOTICE must carry the Retry-after, carried ${header(nt, 'Retry-after') ?? 'none'}`,
        );
      const last = got.findLastIndex(isRateNotice);
      ctx.must(
        !got.slice(last + 1).some((m) => m.kind === 'response'),
        'RATE-10',
        'no request gets a response after the final NOTICE ERR_RATE_LIMITED (CONN-16)',
      );
      ctx.must(await c.closedWithin(ctx.timeout), 'RATE-3', 'the MS must close the connection after the final NOTICE');
      ctx.must(
        await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), ctx.timeout),
        'RATE-3',
        'the session ended by the rate limit must be reported to the CRS with OFFLINE',
      );
    },
  },
  {
    id: 'ms/rate/2',
    section: 'rate',
    title:
      "one user's sessions one after another, each inside its connection's bucket: the per-user bucket (userRateLimitBurst, userRateLimitPerSecond) refuses with 429 ERR_RATE_LIMITED once it is empty",
    reqs: ['RATE-2'],
    async run(ctx: MsContext) {
      const burst = ctx.limits.get('rateLimitBurst');
      const userBurst = ctx.limits.get('userRateLimitBurst');
      const userRate = ctx.limits.get('userRateLimitPerSecond');
      // LOGIN, PROOF and LOGOUT take three of the connection's tokens at most.
      const k = burst - 3;
      if (k < 1) ctx.skip(`rateLimitBurst ${burst} leaves no request per session`);
      const sessions = Math.min(12, Math.ceil(userBurst / k) + 4);
      const u = ctx.user();
      let accepted = 0;
      let t0 = 0;
      let tLast = 0;
      for (let s = 0; s < sessions; s++) {
        const n = since(ctx);
        const c: Conn = await ctx.login(u);
        if (!t0) t0 = Date.now();
        for (let i = 0; i < k; i++) c.send(request('STATUS', [['Status', i % 2 ? 'away' : 'busy']]));
        for (let i = 0; i < k; i++) {
          const r = await c.nextResponse(ctx.timeout, `the answer to STATUS ${i + 1} of ${k}`);
          ctx.must(r, 'RATE-2', `the MS closed session ${s + 1} after ${i} of ${k} requests`);
          if (r.status === 429) {
            ctx.must(
              header(r, 'Error-code') === 'ERR_RATE_LIMITED' && retryAfter(r) >= 1,
              'RATE-2',
              `the per-user refusal is the same as the connection's: 429 ERR_RATE_LIMITED with Retry-after, got Error-code ${header(r, 'Error-code') ?? 'none'}, Retry-after ${header(r, 'Retry-after') ?? 'none'}`,
            );
            ctx.must(
              accepted + 3 * (s + 1) >= userBurst,
              'RATE-2',
              `the user's bucket holds userRateLimitBurst ${userBurst} requests, but it refused after ${accepted}`,
            );
            ctx.note(`per-user refusal in session ${s + 1} after ${accepted} accepted requests`);
            return;
          }
          ctx.must(r.status === 200, 'RATE-2', `STATUS must be answered 200, got ${r.status}`);
          accepted++;
          tLast = Date.now();
        }
        const bye = await c.request(request('LOGOUT', []), ctx.timeout).catch(() => null);
        ctx.must(bye?.status === 200, 'RATE-2', `LOGOUT must be answered 200, got ${bye?.status ?? 'nothing'}`);
        await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', u.name), ctx.timeout);
        c.destroy();
      }
      // No refusal: fail only when the bucket, refilled over the whole run, could not hold what was served.
      const bound = userBurst + (userRate * (tLast - t0)) / 1000;
      ctx.must(
        accepted <= bound + 3 * sessions,
        'RATE-2',
        `${accepted} requests of one user were served within ${tLast - t0} ms; a bucket of ${userBurst} refilled at ${userRate}/s holds at most ${Math.floor(bound)}`,
      );
      ctx.skip(
        `inconclusive: ${accepted} requests over ${tLast - t0} ms fit a bucket of ${userBurst} refilled at ${userRate}/s (the machine was too slow to empty it)`,
      );
    },
  },
  {
    id: 'ms/rate/3',
    section: 'rate',
    title:
      'maxFailedLoginsPerUser failed logins for a username (each from another source address): the next LOGIN, even with the right password, is refused 429 ERR_RATE_LIMITED, alike for an existing and an unknown username',
    reqs: ['RATE-4'],
    async run(ctx: MsContext) {
      const max = ctx.limits.get('maxFailedLoginsPerUser');
      if (max > 50) ctx.skip(`maxFailedLoginsPerUser is ${max}; the case makes that many failed logins twice`);
      const u = ctx.user();
      const ghost = ctx.uniq('g');
      for (const name of [u.name, ghost])
        for (let i = 0; i < max; i++) {
          const r = await failLogin(ctx, name, ctx.freshSource());
          ctx.must(
            r?.status === 401,
            'RATE-4',
            `failed login ${i + 1} of ${max} for ${name === ghost ? 'an unknown' : 'a known'} username must still be answered (300, then 401), got ${r?.status ?? 'close'} ${r ? (header(r, 'Error-code') ?? '') : ''}`,
          );
        }
      const known = await tryLogin(ctx, u.name, u.password, ctx.freshSource());
      const unknown = await tryLogin(ctx, ghost, 'whatever', ctx.freshSource());
      for (const [what, out] of [
        ['the known username, with its right password', known],
        ['the unknown username', unknown],
      ] as const) {
        const r = out.challenge;
        ctx.must(
          r?.status === 429 && header(r, 'Error-code') === 'ERR_RATE_LIMITED',
          'RATE-4',
          `after ${max} failed logins, LOGIN for ${what} must be refused 429 ERR_RATE_LIMITED, got ${r?.status ?? 'close'} ${r ? (header(r, 'Error-code') ?? '') : ''}`,
        );
        const ra = retryAfter(r);
        ctx.must(
          ra >= 1 && ra <= 300000,
          'RATE-4',
          `the refusal must carry a Retry-after within the 5-minute window, got ${header(r, 'Retry-after') ?? 'none'}`,
        );
      }
      const shape = (r: ResponseMessage): string =>
        JSON.stringify([
          r.status,
          r.reason,
          r.headers
            .map(([n]) => n.toLowerCase())
            .filter((n) => n !== 'retry-after')
            .sort(),
          header(r, 'Error-code'),
          header(r, 'Reason'),
        ]);
      ctx.must(
        shape(known.challenge!) === shape(unknown.challenge!),
        'RATE-4',
        `the refusal must look the same whether or not the username exists: ${shape(known.challenge!)} vs ${shape(unknown.challenge!)}`,
      );
    },
  },
  {
    id: 'ms/rate/4',
    section: 'rate',
    title:
      'maxFailedLoginsPerAddress failed logins from one source address (each for another username): the next LOGIN from it is refused 429 ERR_RATE_LIMITED, while the same user logs in from another address',
    reqs: ['RATE-5'],
    async run(ctx: MsContext) {
      const max = ctx.limits.get('maxFailedLoginsPerAddress');
      if (max > 200) ctx.skip(`maxFailedLoginsPerAddress is ${max}; the case makes that many failed logins`);
      const src = ctx.freshSource();
      if (!src)
        ctx.skip(
          'the MS under test is not on IPv4 loopback: the kit cannot use a fresh source address, and failing logins from its own would lock out the later cases',
        );
      for (let i = 0; i < max; i++) {
        const r = await failLogin(ctx, ctx.uniq('g'), src);
        ctx.must(
          r?.status === 401,
          'RATE-5',
          `failed login ${i + 1} of ${max} from ${src} must still be answered (300, then 401), got ${r?.status ?? 'close'} ${r ? (header(r, 'Error-code') ?? '') : ''}`,
        );
      }
      const u = ctx.user();
      const out = await tryLogin(ctx, u.name, u.password, src);
      const r = out.challenge;
      ctx.must(
        r?.status === 429 && header(r, 'Error-code') === 'ERR_RATE_LIMITED',
        'RATE-5',
        `after ${max} failed logins from ${src}, a LOGIN from it must be refused 429 ERR_RATE_LIMITED, got ${r?.status ?? 'close'} ${r ? (header(r, 'Error-code') ?? '') : ''}`,
      );
      const ra = retryAfter(r);
      ctx.must(
        ra >= 1 && ra <= 60000,
        'RATE-5',
        `the refusal must carry a Retry-after within the 1-minute window, got ${header(r, 'Retry-after') ?? 'none'}`,
      );
      const c = await ctx.login(u, ctx.freshSource());
      const pong = await c.request(request('PING', []), ctx.timeout);
      ctx.must(pong.status === 200, 'RATE-5', 'the limit is per address: the same user logs in from another address');
    },
  },
  {
    id: 'ms/rate/5',
    section: 'rate',
    title:
      "a client's PING at the announced Heartbeat pace is answered 200 even right behind requests that empty the connection's bucket (rateLimitBurst); the first PING of the connection too",
    reqs: ['RATE-8'],
    async run(ctx: MsContext) {
      // Appendix A.6: the first PING on a connection is never counted, and after it a PING is free when
      // at least the link's heartbeat interval (clientHeartbeatInterval, announced as Heartbeat) has
      // passed since the last free one [RATE-8]. The drain and the paced PING go in one envelope, so
      // a PING that took a token would find the bucket empty.
      const burst = ctx.limits.get('rateLimitBurst');
      const perSecond = ctx.limits.get('rateLimitPerSecond');
      const warnings = ctx.limits.get('rateLimitWarnings');
      if (warnings < 1)
        ctx.skip('rateLimitWarnings is 0: any refusal disconnects, so the kit cannot drain the bucket safely');
      const refill = Math.ceil((1000 * burst) / perSecond);
      if ((burst > 2000 || refill > 10_000) && !ctx.opts.slow)
        ctx.skip(
          `a bucket of ${burst} refilled at ${perSecond}/s is too slow to fill; pass --slow, or --set both lower`,
        );
      const u = ctx.user();
      const c = await ctx.login(u);
      const interval = announced(ctx, 'Heartbeat');
      if (interval > 5000 && !ctx.opts.slow)
        ctx.skip(`the announced Heartbeat is ${interval} ms; pass --slow, or --set clientHeartbeatInterval=N`);
      const pause = (): Promise<void> => new Promise((res) => setTimeout(res, interval + 20));
      const t0 = Date.now();
      const first = await c.request(request('PING', []), ctx.timeout);
      ctx.must(
        first.status === 200,
        'RATE-8',
        `the first PING of a connection must be answered 200, got ${first.status}`,
      );
      // Paced PINGs (free, or one token each where they are counted) keep the session alive while the
      // bucket refills to rateLimitBurst, so the drain below is what empties it.
      do {
        await pause();
        const r = await c.request(request('PING', []), ctx.timeout);
        ctx.must(
          r.status === 200,
          'RATE-8',
          `a PING at the Heartbeat pace (${interval} ms) must be answered 200, got ${r.status}`,
        );
      } while (Date.now() - t0 < refill);
      await pause();
      // The bucket holds at most rateLimitBurst tokens; a few more requests absorb tokens refilled while
      // the MS reads the envelope, and cost at most rateLimitWarnings - 1 warnings.
      const drain = burst + Math.min(2, warnings - 1);
      const msgs: Message[] = Array.from({ length: drain }, (_, i) =>
        request('STATUS', [['Status', i % 2 ? 'away' : 'busy']]),
      );
      msgs.push(request('PING', [['Tag', 'paced']]));
      for (let i = 0; i < msgs.length; i += 64) c.sendBatch(msgs.slice(i, i + 64));
      const got: number[] = [];
      for (let i = 0; i < msgs.length; i++) {
        const r = await c.nextResponse(ctx.timeout * 2, `answer ${i + 1} of ${msgs.length}`);
        ctx.must(
          r,
          'RATE-8',
          `the MS closed the connection with ${msgs.length - i} of ${drain} STATUS and a paced PING unanswered (${got.filter((s) => s === 429).length} answered 429 so far)`,
        );
        got.push(r.status);
        if (i < msgs.length - 1) continue;
        const limited = got.slice(0, -1).filter((s) => s === 429).length;
        ctx.must(header(r, 'Tag') === 'paced', 'RATE-8', "the last answer must be the PING's (Tag paced)");
        ctx.must(
          r.status === 200,
          'RATE-8',
          `a PING ${interval + 20} ms after the previous one (Heartbeat ${interval}) right behind ${drain} STATUS (${limited} answered 429) must be answered 200, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
        );
      }
    },
  },
];
