// Section "message format" [§4 Message Format], MS side: the limits of [§4.5 Limits] on the values a client
// sends inside its session, the MS as the receiver of a CRS response it must refuse [§4.6 Decoding Errors],
// and the records bodies it receives and sends [§4.8 Record Bodies] (the wire cases every server role runs are
// in cases/common).
import { header, parseRecordsWithGrammar, request, response, type Header } from '../../../codec/index.js';
import { loginOn } from '../../lib/as-client.js';
import type { KitUser } from '../../lib/as-crs.js';
import type { CaseDef } from '../../lib/case.js';
import { since, sentSince, type MsContext } from '../../lib/ms-context.js';

/** A contact record of a login bundle (what the kit CRS's ONLINE answer carries). */
const contact = (user: string): Header[] => [
  ['User', user],
  ['Relation', 'buddy'],
  ['Status', 'offline'],
];

/**
 * Records bodies a CRS must never send [REC-1], each one the MS must reject with ERR_BAD_RECORDS
 * [REC-2] [REC-3]: the requirement the broken rule comes from, and the body.
 */
function badBundles(max: number): { what: string; rule: string; body: Buffer }[] {
  const ok = (u: string): string => `User: ${u}\r\nRelation: buddy\r\nStatus: offline\r\n`;
  const many: string[] = [];
  for (let i = 0; i <= max; i++) many.push(ok(`u${i}`));
  return [
    { what: 'a line without a colon', rule: 'REC-2', body: Buffer.from(`${ok('a1')}\r\nUser b2\r\n`, 'latin1') },
    {
      what: 'a registered field (Relation) that fails its value type',
      rule: 'REC-2',
      body: Buffer.from('User: a1\r\nRelation: friend\r\nStatus: offline\r\n', 'latin1'),
    },
    {
      what: 'two empty lines between records',
      rule: 'REC-1',
      body: Buffer.from(`${ok('a1')}\r\n\r\n${ok('b2')}`, 'latin1'),
    },
    {
      what: 'no CRLF after the last line',
      rule: 'REC-1',
      body: Buffer.from(ok('a1').slice(0, -2), 'latin1'),
    },
    {
      what: `maxRecordsPerBody + 1 (${max + 1}) records`,
      rule: 'REC-3',
      body: Buffer.from(many.join('\r\n'), 'latin1'),
    },
  ];
}

/** The kit CRS answers the ONLINE of `u` with a 200 carrying `body` as its records body. */
function onlineAnswer(ctx: MsContext, u: KitUser, body: Buffer): void {
  ctx.crs.override = (req) => {
    if (req.method !== 'ONLINE' || header(req, 'User') !== u.name) return undefined;
    const tag = header(req, 'Tag');
    return response(
      200,
      [
        ...(tag ? ([['Tag', tag]] as Header[]) : []),
        ['Key-blob', u.keyBlob],
        ['Public-key', u.publicKey],
        ['Content-type', 'application/imsp-records'],
      ],
      body,
    );
  };
}

export const msFormatCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/format/1',
    section: 'format',
    title:
      'a free-text value of maxTextValue + 1 characters (PROFILE About, SEARCH Query) is refused 422 ERR_BAD_VALUE and not relayed; one of maxTextValue characters is relayed',
    reqs: ['HDR-TEXT-1'],
    async run(ctx: MsContext) {
      const max = ctx.limits.get('maxTextValue');
      const u = ctx.user();
      const c = await ctx.login(u);
      for (const [method, name] of [
        ['PROFILE', 'About'],
        ['SEARCH', 'Query'],
      ] as const) {
        const n = since(ctx);
        const r = await c.request(request(method, [[name, 'a'.repeat(max + 1)]]), ctx.timeout);
        ctx.must(
          r.status === 422 && header(r, 'Error-code') === 'ERR_BAD_VALUE',
          'HDR-TEXT-1',
          `${method} with a ${name} of ${max + 1} characters (maxTextValue ${max}) must be refused 422 ERR_BAD_VALUE, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
        );
        ctx.must(
          !sentSince(ctx, n, method),
          'HDR-TEXT-1',
          `the MS relayed a ${method} whose ${name} is longer than maxTextValue to the CRS`,
        );
      }
      const n = since(ctx);
      const ok = await c.request(request('PROFILE', [['About', 'a'.repeat(max)]]), ctx.timeout);
      ctx.must(
        ok.status === 200 && sentSince(ctx, n, 'PROFILE'),
        'HDR-TEXT-1',
        `PROFILE with an About of exactly maxTextValue (${max}) characters must be relayed and answered, got ${ok.status} ${header(ok, 'Error-code') ?? ''}`,
      );
    },
  },
  {
    id: 'ms/format/2',
    section: 'format',
    title:
      'an ONLINE answer whose records body breaks REC-1 (a line without colon, a bad field value, two empty lines, no final CRLF, maxRecordsPerBody + 1 records) fails the login and the MS closes its CRS link',
    reqs: ['REG-10', 'REC-1', 'REC-2', 'REC-3', 'LOGIN-4'],
    async run(ctx: MsContext) {
      for (const bad of badBundles(ctx.limits.get('maxRecordsPerBody'))) {
        const link = ctx.crs.link;
        if (!link || link.closed) ctx.skip('the MS under test has no CRS link');
        const enrolled = ctx.crs.enrollments;
        const u = ctx.user();
        onlineAnswer(ctx, u, bad.body);
        const c = await ctx.connect('cl');
        const out = await loginOn(c, u.name, u.password, '127.0.0.1:9', ctx.timeout);
        ctx.crs.override = null;
        ctx.pre(
          out.challenge?.status === 300,
          'LOGIN-4',
          `LOGIN must be challenged, got ${out.challenge?.status ?? 'close'}`,
        );
        ctx.must(
          out.result?.status !== 200,
          bad.rule,
          `an ONLINE answer whose records body has ${bad.what} must be rejected (ERR_BAD_RECORDS [REC-2]) and fail the login; the MS answered PROOF 200`,
        );
        // [REG-10] the response cannot be answered: the MS fails ONLINE and closes the link it came on.
        ctx.must(
          await link.closedWithin(ctx.timeout),
          'REG-10',
          `after an ONLINE answer whose records body has ${bad.what}, the MS must close its CRS link; it was still open after ${ctx.timeout} ms`,
        );
        // The next login needs the MS enrolled again [ENROLL-12].
        if (!(await ctx.crs.until(() => ctx.crs.enrollments > enrolled, 20000)))
          ctx.skip('the MS did not enroll again within 20 s after closing its CRS link');
      }
    },
  },
  {
    id: 'ms/format/3',
    section: 'format',
    title:
      'the records bodies the MS sends (the bundle in the 200 to PROOF, the answer to LIST) follow the records_body grammar and end with CRLF; an empty list is an empty body',
    reqs: ['REC-1', 'LOGIN-7'],
    async run(ctx: MsContext) {
      const three = [contact(ctx.uniq('r')), contact(ctx.uniq('s')), contact(ctx.uniq('t'))];
      const check = (body: Buffer | undefined, expect: Header[][], where: string): void => {
        const b = body ?? Buffer.alloc(0);
        if (expect.length === 0) {
          ctx.must(b.length === 0, 'REC-1', `${where}: an empty list must be an empty body, got ${b.length} octets`);
          return;
        }
        let got: Header[][] | null = null;
        try {
          got = parseRecordsWithGrammar(b);
        } catch (e) {
          ctx.must(
            false,
            'REC-1',
            `${where}: the records body does not follow the records_body grammar: ${(e as Error).message}`,
          );
        }
        ctx.must(b.subarray(-2).toString('latin1') === '\r\n', 'REC-1', `${where}: the body must end with CRLF`);
        ctx.must(
          JSON.stringify(got) === JSON.stringify(expect),
          'REC-1',
          `${where}: the records must be the bundle's ${expect.length} records, got ${JSON.stringify(got)}`,
        );
      };
      for (const bundle of [[], three]) {
        const u = ctx.user(bundle);
        const c = await ctx.login(u);
        check(ctx.lastLogin?.result?.body, bundle, `the 200 to PROOF of a bundle of ${bundle.length} records`);
        const list = await c.request(request('LIST', []), ctx.timeout);
        ctx.must(list.status === 200, 'REC-1', `LIST must be answered 200, got ${list.status}`);
        check(list.body, bundle, `the 200 to LIST of a list of ${bundle.length} records`);
      }
    },
  },
];
