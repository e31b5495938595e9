// Section "error handling" [§14 Error Handling], MS side as the receiver of the CRS's error statuses: an
// Error-code it does not know is acted on by its status alone [ERR-2], and a 4xx is not answered by
// sending the same request again [ERR-3] (the shared cases for every role are in cases/common).
import { header, request, response, type RequestMessage, type ResponseMessage } from '../../../codec/index.js';
import { loginOn } from '../../lib/as-client.js';
import type { CaseDef } from '../../lib/case.js';
import { since, type MsContext } from '../../lib/ms-context.js';

/** An Error-code no registry defines: syntactically valid, so the answer still passes validation [REG-6]. */
const UNKNOWN_CODE = 'ERR_KIT_NOT_REGISTERED';

/** The error answer `status` with an unregistered code to `req` (its Tag echoed). */
function unknownError(req: RequestMessage, status: number): ResponseMessage {
  const tag = header(req, 'Tag');
  return response(status, [...(tag ? ([['Tag', tag]] as [string, string][]) : []), ['Error-code', UNKNOWN_CODE]]);
}

/** How long the kit watches for a request sent again: the MS's own retry would come within it. */
const watchMs = (ctx: MsContext): number => Math.min(ctx.timeout, 1500);

/** The requests with this method (and User or From) the kit CRS received after mark n. */
const sentAll = (ctx: MsContext, n: number, method: string, user: string): RequestMessage[] =>
  ctx.crs.requests
    .slice(n)
    .filter((m) => m.method === method && (header(m, 'User') === user || header(m, 'From') === user));

export const msErrorCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/errcode/1',
    section: 'errcode',
    title:
      'LOCK answered 423 or 409 with an Error-code the MS does not know is acted on by the status: the client gets 423 ERR_LOCKED or 409 ERR_ALREADY_ONLINE and the connection stays open; 404 with it gets the challenge',
    reqs: ['ERR-2', 'ERR-1', 'LOGIN-5', 'LOGIN-4'],
    async run(ctx: MsContext) {
      for (const [status, code] of [
        [423, 'ERR_LOCKED'],
        [409, 'ERR_ALREADY_ONLINE'],
      ] as const) {
        const u = ctx.user();
        ctx.crs.override = (req) =>
          req.method === 'LOCK' && header(req, 'User') === u.name ? unknownError(req, status) : undefined;
        const c = await ctx.connect('cl');
        const out = await loginOn(c, u.name, u.password, '127.0.0.1:9', ctx.timeout);
        ctx.crs.override = null;
        const r = out.challenge;
        ctx.must(r, 'ERR-2', `LOGIN whose LOCK got ${status} ${UNKNOWN_CODE}: the connection was closed unanswered`);
        ctx.must(
          r.status === status,
          'ERR-2',
          `LOCK answered ${status} with an unknown Error-code must be acted on as a ${status} (the MS relays ${status} ${code} [LOGIN-5]), the client got ${r.status} ${header(r, 'Error-code') ?? ''}`,
        );
        ctx.must(
          header(r, 'Error-code') === code,
          'ERR-1',
          `the MS must answer with a registered Error-code (${code} for ${status} to LOGIN), got ${header(r, 'Error-code') ?? 'none'}`,
        );
        ctx.must(!(await c.closedWithin(200)), 'LOGIN-5', `the connection must stay open after ${status}`);
      }
      // 404 means "no such user" whatever the code: the decoy challenge [AUTH-9], as for ERR_UNKNOWN_USER.
      const ghost = ctx.user();
      ctx.crs.override = (req) =>
        req.method === 'LOCK' && header(req, 'User') === ghost.name ? unknownError(req, 404) : undefined;
      const c = await ctx.connect('cl');
      const out = await loginOn(c, ghost.name, ghost.password, '127.0.0.1:9', ctx.timeout);
      ctx.crs.override = null;
      ctx.must(
        out.challenge?.status === 300,
        'ERR-2',
        `LOCK answered 404 with an unknown Error-code is a 404 (an unknown user gets the challenge, AUTH-9), the client got ${out.challenge?.status ?? 'close'}`,
      );
    },
  },
  {
    id: 'ms/errcode/2',
    section: 'errcode',
    title:
      'a 4xx from the CRS (LOCK 403, PROFILE 404, SEARCH 422, with known and unknown codes) is not followed by the same request sent again',
    reqs: ['ERR-3', 'ERR-2'],
    async run(ctx: MsContext) {
      // LOCK: one LOGIN, one LOCK, whatever the refusal.
      for (const [status, code] of [
        [403, UNKNOWN_CODE],
        [422, 'ERR_BAD_VALUE'],
      ] as const) {
        const u = ctx.user();
        const n = since(ctx);
        ctx.crs.override = (req) => {
          if (req.method !== 'LOCK' || header(req, 'User') !== u.name) return undefined;
          const tag = header(req, 'Tag');
          return response(status, [...(tag ? ([['Tag', tag]] as [string, string][]) : []), ['Error-code', code]]);
        };
        const c = await ctx.connect('cl');
        const out = await loginOn(c, u.name, u.password, '127.0.0.1:9', ctx.timeout);
        ctx.must(out.challenge, 'ERR-2', `LOGIN whose LOCK got ${status} ${code}: closed unanswered`);
        ctx.must(
          out.challenge.status !== 300 && out.challenge.status !== 200,
          'ERR-2',
          `LOCK answered ${status} ${code} refuses the login, the client got ${out.challenge.status}`,
        );
        const again = await ctx.crs.until(() => sentAll(ctx, n, 'LOCK', u.name).length > 1, watchMs(ctx));
        ctx.crs.override = null;
        ctx.must(
          !again,
          'ERR-3',
          `after LOCK was answered ${status} ${code}, the MS sent the same LOCK again (${sentAll(ctx, n, 'LOCK', u.name).length} LOCKs for one LOGIN)`,
        );
      }
      // Requests relayed for a logged-in client: one client request, one request to the CRS.
      const u = ctx.user();
      const c = await ctx.login(u);
      for (const [method, headers, status, code] of [
        ['PROFILE', [['User', ctx.uniq('nobody')]], 404, 'ERR_UNKNOWN_USER'],
        ['SEARCH', [['Query', 'kit']], 422, UNKNOWN_CODE],
      ] as const) {
        const n = since(ctx);
        ctx.crs.override = (req) => {
          if (req.method !== method) return undefined;
          const tag = header(req, 'Tag');
          return response(status, [...(tag ? ([['Tag', tag]] as [string, string][]) : []), ['Error-code', code]]);
        };
        const r = await c.request(request(method, headers as unknown as [string, string][]), ctx.timeout);
        ctx.must(
          r.status >= 400,
          'ERR-2',
          `${method} refused by the CRS with ${status} ${code} must not succeed, the client got ${r.status}`,
        );
        const again = await ctx.crs.until(() => sentAll(ctx, n, method, u.name).length > 1, watchMs(ctx));
        ctx.crs.override = null;
        ctx.must(
          !again,
          'ERR-3',
          `after ${method} was answered ${status} ${code}, the MS sent it to the CRS again (${sentAll(ctx, n, method, u.name).length} for one client request)`,
        );
      }
    },
  },
];
