// [§3 Architecture], CRS side: the rules of a link over time. The CRS never waits for an answer to
// a push (ADD) [CONN-17], gives up a request of its own (PING) that the MS never answers after
// requestTimeout by closing the link [CONN-5], and closes a link whose peer does not read rather
// than queue more than maxOutboundQueue octets for it [CONN-6].
import { encode, header, request, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { registerNamed } from '../../lib/crs-accounts.js';
import { add } from '../../lib/crs-contacts.js';
import type { CrsContext } from '../../lib/crs-context.js';

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
const addFrom =
  (from: string) =>
  (m: RequestMessage): boolean =>
    m.method === 'ADD' && header(m, 'From') === from;

export const crsArchitectureCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/conn/1',
    section: 'conn',
    title:
      'the CRS does not wait for an answer to the ADD it pushes to an MS: with the push unanswered for longer than requestTimeout, the link stays open, answers, and carries the next push',
    reqs: ['CONN-17', 'ADD-2'],
    async run(ctx: CrsContext) {
      const rt = ctx.limitUpTo('requestTimeout', 5000);
      const { a: alice, b: bob, m1, m2, sa } = await ctx.onlinePair();
      const [carol] = await ctx.users(1);
      const sc = await ctx.login(m1, carol!);
      ctx.pre((await add(sa, bob!.name)) === 200, 'ADD-2', 'ADD to an online user must be answered 200');
      ctx.pre(await m2.conn.waitEvent(addFrom(alice!.name), ctx.timeout), 'ADD-2', 'the ADD must be pushed');
      // The kit MS never answers a push (a receiver MUST NOT); its heartbeat keeps the lease.
      const wait = rt + Math.max(1000, ctx.timeout);
      await sleep(wait);
      ctx.must(
        !m2.conn.closed,
        'CONN-17',
        `the CRS closed the MS link within ${wait} ms of an ADD push that got no answer (requestTimeout ${rt}): a push is a notification, its sender must not wait for a response`,
      );
      const pong = await m2.req('PING', [['Tag', 'after-push']]);
      ctx.must(
        pong.status === 200 && header(pong, 'Tag') === 'after-push',
        'CONN-17',
        `a PING after the unanswered push must get its own 200 (the push has no response to be matched), got ${pong.status} Tag ${header(pong, 'Tag') ?? 'none'}`,
      );
      ctx.pre((await add(sc, bob!.name)) === 200, 'ADD-2', 'a second ADD to the online user must be answered 200');
      ctx.must(
        await m2.conn.waitEvent(addFrom(carol!.name), ctx.timeout),
        'CONN-17',
        'the next ADD must be pushed although the first push was never answered',
      );
    },
  },
  {
    id: 'crs/conn/2',
    section: 'conn',
    level: 'SHOULD',
    title:
      'a PING of the CRS that the MS never answers (while the MS keeps its lease with its own PINGs): the CRS should give it up after requestTimeout and close the link',
    reqs: ['CONN-5'],
    async run(ctx: CrsContext) {
      const rt = ctx.limitUpTo('requestTimeout', 5000);
      const ms = await ctx.enroll({}, false);
      const interval = ms.heartbeat || ctx.limits.get('msHeartbeatInterval');
      const lease = ms.lease || ctx.limits.get('msLease');
      if (interval >= lease)
        ctx.skip(`msHeartbeatInterval ${interval} is not below the lease ${lease}: the CRS's PING would come too late`);
      // From now on the kit answers nothing the CRS asks; silent for a heartbeat interval, it is PINGed.
      ms.conn.auto = () => undefined;
      const ping = await ms.conn.waitEvent((m) => m.method === 'PING', interval + ctx.timeout);
      if (!ping)
        ctx.skip(
          `the CRS sent no PING within ${interval + ctx.timeout} ms of silence (HB-1), so it has no request to give up`,
        );
      const t0 = Date.now();
      ms.startHeartbeat();
      const slack = Math.max(1000, ctx.timeout);
      const closed = await ms.conn.closedWithin(rt + slack);
      const after = Date.now() - t0;
      ctx.should(
        closed,
        'CONN-5',
        `the CRS's PING had no answer for ${after} ms (requestTimeout ${rt}), and the link is still open: it should give the request up and close the link`,
      );
      ms.stopHeartbeat();
    },
  },
  {
    id: 'crs/conn/3',
    section: 'conn',
    title:
      'an MS link that stops reading while it pipelines SEARCHes whose answers far exceed maxOutboundQueue: the CRS closes the link, or stops reading it; it never reads every request and holds the answers',
    reqs: ['CONN-6'],
    async run(ctx: CrsContext) {
      const moq = ctx.limits.get('maxOutboundQueue');
      // What the kernel may hold between the CRS and the kit (both socket buffers on loopback), generously.
      const kernel = 8 * 1024 * 1024;
      const volume = 2 * moq + kernel;
      if (volume > 24 * 1024 * 1024 && !ctx.opts.slow)
        ctx.skip(`maxOutboundQueue is ${moq}; pass --slow, or --set maxOutboundQueue=N matching the target`);
      const prefix = ctx.uniq('q');
      const users = await registerNamed(
        ctx,
        prefix,
        Array.from({ length: 20 }, (_, i) => String(i).padStart(2, '0')),
      );
      const m = await ctx.enroll();
      const s = await ctx.login(m, users[0]!);
      const q = (): RequestMessage =>
        request('SEARCH', [
          ['From', s.user.name],
          ['Epoch', s.epoch],
          ['Query', prefix],
          ['Field', 'username'],
        ]);
      const one = await m.conn.request(q(), ctx.timeout);
      ctx.pre(one.status === 200 && one.body.length > 0, 'CONN-6', `a SEARCH to size the answers got ${one.status}`);
      const n = Math.ceil(volume / encode(one).length);
      m.conn.socket.pause();
      for (let i = 0; i < n && !m.conn.closed; i += 64)
        m.conn.sendBatch(Array.from({ length: Math.min(64, n - i) }, q));
      ctx.note(
        `${n} SEARCHes pipelined (answers of ${encode(one).length} octets, ${volume} in all) on a link that does not read`,
      );
      // Done when the CRS closes the link, or when it stops reading (our requests stay unsent). When it has
      // read every request and kept the link for a while, it holds answers beyond what the kernel can.
      const until = Date.now() + 4 * ctx.timeout;
      let readAllAt = 0;
      while (!m.conn.closed && Date.now() < until) {
        if (m.conn.socket.writableLength > 0) readAllAt = 0;
        else readAllAt ||= Date.now();
        if (readAllAt && Date.now() - readAllAt > 2 * ctx.timeout) break;
        await sleep(50);
      }
      const unsent = m.conn.socket.writableLength;
      const closed = m.conn.closed;
      m.conn.socket.resume();
      if (closed) return ctx.note('the CRS closed the link that did not read');
      ctx.must(
        unsent > 0,
        'CONN-6',
        `the CRS read all ${n} SEARCHes (${volume} octets of answers, above 2 x maxOutboundQueue ${moq} plus what socket buffers hold) from a link that read nothing, and kept it open for ${Date.now() - readAllAt} ms: it queues answers beyond maxOutboundQueue instead of closing the link`,
      );
      ctx.note(
        `the CRS stopped reading the link (${unsent} octets of requests unsent): it does not queue past the limit`,
      );
    },
  },
];
