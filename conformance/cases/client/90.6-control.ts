// [§90.6 The Client Control Interface], client side: how the client answers the command lines the kit
// drives it with. Every other client case uses the interface; these check its own rules where a case
// would not otherwise notice them: a malformed command line is answered, not acted on [CTL-3]; a command that
// acts on the session, given with none, fails with 425 ERR_OUT_OF_STATE [CTL-8]; `login` given while logged in fails the same way and sends nothing [CTL-10].
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';
import type { ControlledClient } from '../../lib/control.js';
import { ERRORS_BY_CODE, errorSpec } from '../../lib/registry.js';

/**
 * Sends `line` (a malformed command line) and checks its one result: an error for that command, status 0
 * and a code outside the error registry [CTL-3], echoing the command [CTL-2].
 */
async function malformed(ctx: ClientContext, c: ControlledClient, line: string, when: string): Promise<void> {
  const cmd = line.split(' ')[0]!;
  const r = await c.command(line, ctx.timeout);
  ctx.must(r, 'CTL-2', `\`${line}\` (${when}) got no result line`);
  ctx.must(
    r.event === 'error' && r.status === 0,
    'CTL-3',
    `the malformed command line \`${line}\` (${when}) must be answered error with status 0, got ${JSON.stringify(r)}`,
  );
  ctx.must(
    typeof r.code === 'string' && !ERRORS_BY_CODE.has(r.code),
    'CTL-3',
    `the malformed command line \`${line}\` (${when}) must get a code outside the error registry, got ${JSON.stringify(r.code)}`,
  );
  ctx.must(
    r.cmd === cmd,
    'CTL-2',
    `the result of \`${line}\` (${when}) must name its command ${cmd}: ${JSON.stringify(r)}`,
  );
}

export const clientControlCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/control/1',
    section: 'control',
    title:
      'a malformed command line (unknown command, too many or too few arguments) is answered error with status 0 and a code outside the error registry, before and after login, and the next command still runs',
    reqs: ['CTL-2', 'CTL-3', 'LOGIN-7'],
    async run(ctx: ClientContext) {
      const a = ctx.account([]);
      const c = await ctx.startClient(a);
      // Before login: a client that took a malformed line for a command would answer it as one (425, not logged in).
      await malformed(ctx, c, 'contacts now', 'before login');
      await malformed(ctx, c, 'frobnicate', 'before login');
      const login = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.pre(login?.event === 'ok', 'LOGIN-7', `the client could not log in to the kit: ${JSON.stringify(login)}`);
      await malformed(ctx, c, 'contacts now', 'logged in');
      await malformed(ctx, c, 'bye', 'logged in');
      await malformed(ctx, c, 'frobnicate twice', 'logged in');
      const next = await c.command('contacts', ctx.timeout);
      ctx.must(
        next?.event === 'ok' && next.cmd === 'contacts',
        'CTL-2',
        `after the malformed lines, \`contacts\` must still be answered ok: ${JSON.stringify(next)}`,
      );
    },
  },
  {
    id: 'client/control/2',
    section: 'control',
    title: 'a command that acts on the session, given before login and after logout, fails with 425 ERR_OUT_OF_STATE',
    reqs: ['CTL-8', 'CTL-2', 'LOGIN-7'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const c = await ctx.startClient(a);
      const want = errorSpec('ERR_OUT_OF_STATE');
      const expectRefused = async (line: string, when: string): Promise<void> => {
        const r = await c.command(line, ctx.timeout * 2);
        ctx.must(
          r?.event === 'error' && r.code === 'ERR_OUT_OF_STATE' && r.status === want.status,
          'CTL-8',
          `\`${line}\` ${when} must fail with ${want.status} ERR_OUT_OF_STATE, the client reported ${JSON.stringify(r)}`,
        );
      };
      for (const line of ['status away', 'list', `profile ${a.name}`, `send ${ctx.uniq('q')} hello`])
        await expectRefused(line, 'before any login');
      const r = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.pre(r?.event === 'ok', 'LOGIN-7', `the client could not log in to the kit: ${JSON.stringify(r)}`);
      const out = await c.command('logout', ctx.timeout * 2);
      ctx.pre(out?.event === 'ok', 'CTL-2', `logout failed: ${JSON.stringify(out)}`);
      await expectRefused('status busy', 'after logout');
    },
  },
  {
    id: 'client/control/3',
    section: 'control',
    title:
      '`login` while logged in, as the same user or another, fails with 425 ERR_OUT_OF_STATE, sends no LOCATE or LOGIN, and the live session goes on',
    reqs: ['CTL-10', 'CTL-2', 'LOGIN-7'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const b = ctx.account();
      const c = await ctx.startLoggedIn(a);
      const ms = ctx.ms(a);
      const want = errorSpec('ERR_OUT_OF_STATE');
      const mark = ctx.svc.mark;
      for (const [u, who] of [
        [a, 'the same user'],
        [b, 'another user'],
      ] as const) {
        const r = await c.command(`login ${u.name} ${u.password}`, ctx.timeout * 4);
        ctx.must(
          r?.event === 'error' && r.code === 'ERR_OUT_OF_STATE' && r.status === want.status,
          'CTL-10',
          `\`login\` as ${who} while logged in must fail with ${want.status} ERR_OUT_OF_STATE, the client reported ${JSON.stringify(r)}`,
        );
      }
      // The live session goes on: a command on it is sent on the same MS link (and orders the check below
      // after anything the refused logins could have sent).
      const st = await c.command('status away', ctx.timeout * 2);
      ctx.must(
        st?.event === 'ok' && !ms.closed && ctx.msRequests(a, 'STATUS').some((x) => x.seq > mark),
        'CTL-10',
        `after a refused \`login\` the live session must go on: status away reported ${JSON.stringify(st)}${ms.closed ? ', and the MS link is closed' : ''}`,
      );
      const sent = ctx.handshakesAfter(mark);
      ctx.must(
        sent.length === 0,
        'CTL-10',
        `a \`login\` refused while logged in must send nothing; the kit saw ${sent.map((h) => `${h.method}${h.user ? ` ${h.user}` : ''}`).join(', ')}`,
      );
    },
  },
];
