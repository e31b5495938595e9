// [§9.9 SEARCH], client side: `search QUERY` ([§90.6 The Client Control Interface]; the query is the rest of
// the line) sends SEARCH with that Query and reports the result records the MS answered.
import { encodeRecords, header, response, type RequestMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';

const tagOf = (m: RequestMessage): [string, string][] => (header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : []);

export const clientSearchCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/search/1',
    section: 'search',
    title: 'search QUERY sends SEARCH with Query: the rest of the command line, and reports the result records',
    reqs: ['CTL-2'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const c = await ctx.startLoggedIn(a);
      const found = [ctx.uniq('r'), ctx.uniq('s')];
      const ms = ctx.ms(a);
      const auto = ms.auto;
      // The kit MS's own handler still runs first: it records the request.
      ms.auto = (m, conn) => {
        const own = auto?.(m, conn) ?? undefined;
        if (m.method !== 'SEARCH') return own;
        return response(
          200,
          [...tagOf(m), ['Content-type', 'application/imsp-records']],
          encodeRecords(found.map((u) => [['User', u]])),
        );
      };
      // Two words: the query is the rest of the line [CTL-2].
      const query = `kit ${ctx.uniq('w')}`;
      const r = await c.command(`search ${query}`, ctx.timeout * 2);
      ctx.must(r?.event === 'ok', 'CTL-2', `search ${query} failed: ${JSON.stringify(r)}`);
      const sent = ctx.msRequests(a, 'SEARCH');
      ctx.must(sent.length === 1, 'CTL-2', `search must send one SEARCH, the client sent ${sent.length}`);
      ctx.must(
        header(sent[0]!.msg, 'Query') === query,
        'CTL-2',
        `search ${query} must send SEARCH with Query: ${query}, got Query: ${header(sent[0]!.msg, 'Query') ?? '(none)'}`,
      );
      const results = (r as { results?: Record<string, unknown>[] }).results ?? [];
      ctx.must(
        results.length === found.length && found.every((u, i) => Object.values(results[i] ?? {}).includes(u)),
        'CTL-2',
        `the result must list the ${found.length} users the MS answered (${found.join(', ')}) in order, got ${JSON.stringify(results)}`,
      );
    },
  },
];
