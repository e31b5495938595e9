// [§14 Error Handling] and [§11 Session Lifetime, Rate Limits and Restarts], CRS side as a receiver of responses: the
// CRS's own PING to an MS it has sent nothing to [HB-9], whose answer's reason phrase it must not act
// on [WIRE-16], and whose answer, when it breaks the registry, fails the PING and closes the link [REG-10]; an
// error answer with an Error-code the CRS cannot know is acted on by its status alone [ERR-2].
import { header, request, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { CrsContext } from '../../lib/crs-context.js';

const isPing = (m: RequestMessage): boolean => m.method === 'PING';

/** The heartbeat wait of these cases: skipped when msHeartbeatInterval is long and --slow is not given. */
function heartbeatWait(ctx: CrsContext): number {
  const hb = ctx.limitUpTo('msHeartbeatInterval', 5000);
  return 2 * hb + ctx.timeout;
}

export const crsResponseCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/response/1',
    section: 'response',
    title:
      'the CRS PINGs an enrolled MS it has sent nothing to for msHeartbeatInterval; an answer 200 with another reason phrase is a 200 (the link goes on)',
    reqs: ['HB-9', 'WIRE-16'],
    async run(ctx: CrsContext) {
      const wait = heartbeatWait(ctx);
      const ms = await ctx.enroll({}, false);
      // Answer with an odd phrase: a receiver must act on the status alone.
      ms.conn.auto = (req) =>
        req.method === 'PING'
          ? { ...response(200, header(req, 'Tag') ? [['Tag', header(req, 'Tag')!]] : []), reason: 'Fine By Me' }
          : undefined;
      for (const n of [1, 2]) {
        const seen = ms.conn.received.filter((e) => e.msg.kind === 'request' && e.msg.method === 'PING').length;
        // Our own PING keeps the lease while we wait; the CRS still sends nothing else to this MS.
        const got = await ms.conn.waitUntil(() => {
          const now = ms.conn.received.filter((e) => e.msg.kind === 'request' && e.msg.method === 'PING').length;
          return now > seen ? true : undefined;
        }, wait);
        ctx.must(
          got,
          n === 1 ? 'HB-9' : 'WIRE-16',
          n === 1
            ? `the CRS must PING an MS it has sent nothing to for msHeartbeatInterval (${ctx.limits.get('msHeartbeatInterval')} ms); none came in ${wait} ms`
            : 'after a PING answered "200 Fine By Me" the CRS must go on with the link (it must not act on the reason phrase): no second PING came',
        );
      }
      const r = await ms.conn.request(request('PING', [['Tag', 'after']]), ctx.timeout).catch(() => null);
      ctx.must(
        r?.status === 200,
        'WIRE-16',
        `the link must go on after PING answers with another reason phrase: our PING got ${r?.status ?? 'no answer'}`,
      );
      ms.conn.takeEvents(isPing);
    },
  },
  {
    id: 'crs/response/2',
    section: 'response',
    title:
      'an answer to the CRS PING that breaks the registry (a header its 200 may not carry) fails the PING: the CRS closes the link without answering it',
    reqs: ['REG-10', 'HB-9'],
    async run(ctx: CrsContext) {
      const wait = heartbeatWait(ctx);
      const ms = await ctx.enroll({}, false);
      let answered = 0;
      ms.conn.auto = (req) => {
        if (req.method !== 'PING') return undefined;
        answered++;
        const tag = header(req, 'Tag');
        // Decision is a registered header that no answer to PING may carry [REG-4]: the response breaks the registry.
        return response(200, [...(tag ? [['Tag', tag] as [string, string]] : []), ['Decision', 'grant']]);
      };
      const got = await ms.conn.waitUntil(() => (answered > 0 ? true : undefined), wait);
      ctx.must(got, 'HB-9', `the CRS must PING an MS it has sent nothing to; none came in ${wait} ms`);
      ctx.must(
        await ms.conn.closedWithin(ctx.timeout),
        'REG-10',
        'a response that breaks the registry (200 to PING with a Decision header) must fail the PING and close the link',
      );
      const after = ms.conn.received.filter((e) => e.msg.kind === 'response').slice(2); // after the 300 challenge and the 200 to PROOF
      ctx.must(
        after.length === 0,
        'REG-10',
        `a response must not be answered; after PROOF the CRS sent ${after.map((e) => (e.msg.kind === 'response' ? `${e.msg.status} ${header(e.msg, 'Error-code') ?? ''}` : '')).join(', ')}`,
      );
    },
  },
  {
    id: 'crs/response/3',
    section: 'response',
    title:
      'error answers to the CRS PING with an Error-code no registry defines (422, then 500) are acted on by their status alone: the request failed, the link goes on',
    reqs: ['ERR-2', 'HB-9'],
    async run(ctx: CrsContext) {
      const wait = heartbeatWait(ctx);
      const ms = await ctx.enroll({}, false);
      // A later version's codes: well-formed (the error-code value type), in no registry of this one.
      const answers: [number, string][] = [
        [422, 'ERR_KIT_FUTURE_VALIDATION'],
        [500, 'ERR_KIT_FUTURE_FAILURE'],
      ];
      let answered = 0;
      ms.conn.auto = (req) => {
        if (req.method !== 'PING') return undefined;
        const tag = header(req, 'Tag');
        const [status, code] = answers[Math.min(answered, answers.length - 1)]!;
        answered++;
        return response(status, [...(tag ? [['Tag', tag] as [string, string]] : []), ['Error-code', code]]);
      };
      for (const [i, [status, code]] of answers.entries()) {
        const got = await ms.conn.waitUntil(() => (answered > i ? true : undefined), wait);
        const prev = answers[i - 1];
        ctx.must(
          got && !ms.conn.closed,
          prev ? 'ERR-2' : 'HB-9',
          prev
            ? `after its PING was answered ${prev[0]} ${prev[1]} (a code it cannot know) the CRS must act on the status alone and go on: ${ms.conn.closed ? 'it closed the link' : `no further PING came in ${wait} ms`}`
            : `the CRS must PING an MS it has sent nothing to; none came in ${wait} ms`,
        );
        // The link goes on: a request of ours is served, and the enrollment holds.
        const r = await ms.conn.request(request('PING', [['Tag', `after-${status}`]]), ctx.timeout).catch(() => null);
        ctx.must(
          r?.status === 200,
          'ERR-2',
          `after its PING was answered ${status} ${code} (unknown code; the table of §14.2 says for ${status}: the request failed, the connection goes on) the link must go on: our PING got ${r ? `${r.status} ${header(r, 'Error-code') ?? ''}` : 'no answer (closed)'}`,
        );
      }
      ms.conn.takeEvents(isPing);
    },
  },
];
