// Section "typing notifications" [§10.4 Typing Notifications], client side: what the client sends (only on a change, at
// most one a second, never opening a session for it) and how it reads a `typing` that is not renewed.
import { header, request, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';

/** The spec's fixed staleness of a `typing` state [TYPING-2]. */
const TYPING_STALE_MS = 30_000;

const isTyping = (m: RequestMessage): boolean => m.method === 'TYPING';

export const clientTypingCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/typing/1',
    section: 'typing',
    title:
      'TYPING travels sealed in the open session, naming both users; an unchanged state is not sent again, and two changes are at least a second apart',
    reqs: ['TYPING-1', 'TYPING-3', 'P2P-9', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      ctx.pre(
        await c.waitFor((e) => e.event === 'session' && e.user === p.name, ctx.timeout),
        'CTL-2',
        'no session event',
      );
      const r1 = await c.command(`typing ${p.name} typing`, ctx.timeout);
      ctx.must(r1?.event === 'ok', 'CTL-2', `typing failed: ${JSON.stringify(r1)}`);
      const first = await conn.waitEvent(isTyping, ctx.timeout);
      const t1 = Date.now();
      ctx.must(first, 'TYPING-3', 'the client sent no TYPING on the open session');
      const m = conn.received.find((x) => x.msg === first);
      ctx.must(m?.sealed, 'TYPING-3', 'TYPING must travel inside the session (sealed)');
      ctx.must(
        header(first, 'From') === a.name && header(first, 'To') === p.name && header(first, 'Typing') === 'typing',
        'TYPING-3',
        `TYPING must carry From ${a.name}, To ${p.name}, Typing typing; got ${header(first, 'From')}/${header(first, 'To')}/${header(first, 'Typing')}`,
      );
      // The same state again: nothing to send [TYPING-1].
      await c.command(`typing ${p.name} typing`, ctx.timeout);
      const again = await conn.waitEvent(isTyping, 1500);
      ctx.should(
        !again,
        'TYPING-1',
        `an unchanged state was sent again (Typing: ${again ? header(again, 'Typing') : ''})`,
      );
      // Two changes given at once: each TYPING at least a second after the one before [TYPING-1].
      await c.command(`typing ${p.name} paused`, ctx.timeout);
      await c.command(`typing ${p.name} erased`, ctx.timeout);
      const second = await conn.waitEvent(isTyping, ctx.timeout + 1500);
      const t2 = Date.now();
      ctx.must(second, 'TYPING-1', 'a changed state was never sent');
      ctx.should(t2 - t1 >= 950, 'TYPING-1', `two TYPINGs ${t2 - t1} ms apart (at most one per second)`);
      const third = await conn.waitEvent(isTyping, 1500);
      ctx.should(
        !third || Date.now() - t2 >= 950,
        'TYPING-1',
        `two TYPINGs ${Date.now() - t2} ms apart (at most one per second)`,
      );
    },
  },
  {
    id: 'client/typing/2',
    section: 'typing',
    title: 'with no session open, typing opens none: no connection reaches the buddy',
    reqs: ['TYPING-3'],
    async run(ctx: ClientContext) {
      const { p, c } = await ctx.withBuddy();
      await c.command(`typing ${p.name} typing`, ctx.timeout * 2);
      ctx.must(
        (await ctx.inboundTo(p, 1500)) === undefined,
        'TYPING-3',
        'the client opened a session (connected to the buddy) only to send TYPING',
      );
    },
  },
  {
    id: 'client/typing/3',
    section: 'typing',
    title:
      'a TYPING from the peer is reported and not answered (a notification); a `typing` not renewed for 30 s is then reported as paused',
    reqs: ['TYPING-2', 'CONN-11', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      // The session lives through the wait: the kit answers the client's PINGs [HB-12].
      conn.auto = (req) => (req.method === 'PING' ? response(200) : undefined);
      const sent = Date.now();
      conn.send(
        request('TYPING', [
          ['From', p.name],
          ['To', a.name],
          ['Typing', 'typing'],
        ]),
        'drop',
      );
      const ev = await c.waitFor((e) => e.event === 'typing' && e.from === p.name && e.state === 'typing', ctx.timeout);
      ctx.must(ev, 'TYPING-2', 'the client did not report the peer typing');
      // A PING behind it: its answer must be the only response on the session [CONN-11].
      const pong = await conn.request(request('PING', []), ctx.timeout);
      await conn.waitUntil(() => undefined, 300);
      const responses = conn.received.filter((m) => m.msg.kind === 'response');
      ctx.must(
        responses.length === 1 && pong.status === 200,
        'CONN-11',
        `a TYPING notification must not be answered (${responses.length} responses for one PING)`,
      );
      const paused = await c.waitFor(
        (e) => e.event === 'typing' && e.from === p.name && e.state === 'paused',
        TYPING_STALE_MS + 3 * ctx.timeout - (Date.now() - sent),
      );
      ctx.must(paused, 'TYPING-2', 'a `typing` not renewed for 30 s must be treated as paused (no paused event)');
      ctx.should(
        Date.now() - sent >= TYPING_STALE_MS - 1000,
        'TYPING-2',
        `the state was reported paused after ${Date.now() - sent} ms, before 30 s without renewal`,
      );
    },
  },
];
