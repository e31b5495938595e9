// [§14 Error Handling] and the wire rules of [§4 Message Format] that every receiver and sender keeps,
// run against any server role on the connection its wire cases use: the order in which several faults
// are reported [REG-16], what follows an error that closes [ERR-5] [STATE-6], limits detected as soon
// as their octets arrive [WIRE-LIMIT-6], Content-length as a framing header [WIRE-18] [WIRE-19], and
// the reason phrase [WIRE-16]. Ids `<role>/errors/N` (new ids; the wire cases keep theirs).
import {
  closesConnection,
  decode,
  encode,
  errorRule,
  header,
  STATUS_CODES,
  validate,
  type ErrorCode,
  type Header,
  type Message,
} from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { errorSpec, type Limits } from '../../lib/registry.js';
import { oracle } from '../../lib/specimens.js';
import { checkError, type WireCtx, type WireTarget } from '../../lib/wire-target.js';

/** The first message with some headers dropped and others appended, as octets. */
function variant(t: WireTarget, drop: string[], extra: Header[]): Buffer {
  const m = t.first();
  const kept = m.headers.filter(([n]) => !drop.includes(n));
  return encode({ ...m, headers: [...kept, ...extra] } as Message);
}

/** The generated validator's code for these octets on the target's link. */
function validatorCode(t: WireTarget, bytes: Buffer): string | undefined {
  const m = decode(bytes)[0];
  if (!m) return undefined;
  const method = m.kind === 'request' ? m.method : '';
  return validate(m, { from: t.senderFor?.(method) ?? t.from, to: t.role })?.code;
}

export function errorHandlingCases<C extends WireCtx>(t: WireTarget, limits: Limits, prefix: string): CaseDef<C>[] {
  const cases: CaseDef<C>[] = [];
  let n = 1;
  const id = (): string => `${prefix}/errors/${n++}`;
  const required = t
    .first()
    .headers.map(([name]) => name)
    .filter((name) => name !== 'Content-length');

  // [REG-16] Several faults in one message: the first in the spec's order is reported. The expected
  // code is stated here from the rule (not read from the codec), and the generated validator must agree.
  const tagOk = !t.noTag;
  const faults: { what: string; bytes: Buffer; code: ErrorCode; reqs: string[] }[] = [
    {
      what: 'an unregistered header line before a missing required header',
      bytes: variant(t, required.slice(0, 1), [['Frobnicate-kit', 'x']]),
      code: 'ERR_HEADER_NOT_ALLOWED',
      reqs: ['HDR-7', 'REG-4'],
    },
    ...(tagOk
      ? [
          {
            what: 'a malformed Tag line before an unregistered header line',
            bytes: variant(
              t,
              [],
              [
                ['Tag', 'a b'],
                ['Frobnicate-kit', 'x'],
              ],
            ),
            code: 'ERR_BAD_VALUE' as ErrorCode,
            reqs: ['REG-6'],
          },
          {
            what: 'an unregistered header line before a malformed Tag line',
            bytes: variant(
              t,
              [],
              [
                ['Frobnicate-kit', 'x'],
                ['Tag', 'a b'],
              ],
            ),
            code: 'ERR_HEADER_NOT_ALLOWED' as ErrorCode,
            reqs: ['HDR-7', 'REG-4'],
          },
          {
            what: 'a repeated Tag line before an unregistered header line',
            bytes: variant(
              t,
              [],
              [
                ['Tag', 'a'],
                ['Tag', 'b'],
                ['Frobnicate-kit', 'x'],
              ],
            ),
            code: 'ERR_DUPLICATE_HEADER' as ErrorCode,
            reqs: ['REG-5'],
          },
          {
            what: 'a malformed Tag with a required header missing',
            bytes: variant(t, required.slice(0, 1), [['Tag', 'a b']]),
            code: 'ERR_BAD_VALUE' as ErrorCode,
            reqs: ['REG-6', 'REG-3'],
          },
        ]
      : []),
  ];
  const faultReqs = new Set<string>(['REG-16', 'HDR-7', 'ERR-1', 'WIRE-22']);
  for (const f of faults) {
    faultReqs.add(errorSpec(f.code).req);
    for (const r of f.reqs) faultReqs.add(r);
  }
  if (t.firstMessageDecides) faultReqs.add(t.firstMessageDecides);
  cases.push({
    id: id(),
    origin: 'errorHandlingCases/first-rule',
    section: 'errors',
    title:
      'a message that breaks several registry rules is answered with the first in the spec order (header lines in order, each for an unregistered name, a repeat, a bad value; then missing headers)',
    reqs: [...faultReqs],
    async run(ctx: C) {
      for (const f of faults) {
        const codec = validatorCode(t, f.bytes);
        ctx.pre(
          codec === f.code,
          'REG-16',
          `the generated validator must report ${f.code} for ${f.what}, it reports ${codec ?? 'nothing'}`,
        );
        const c = await ctx.connect();
        c.writeRaw(f.bytes);
        const r = await c.nextResponse(ctx.timeout, `an answer to ${f.what}`);
        // Where the first message decides the link, any refused first message may be 425 [CONN-1].
        if (t.firstMessageDecides && r?.status === 425) {
          checkError(ctx, r, 'ERR_OUT_OF_STATE', f.what, t.firstMessageDecides);
          continue;
        }
        checkError(ctx, r, f.code, `${f.what} [REG-16]`, f.reqs.includes('HDR-7') ? 'HDR-7' : 'REG-16');
        c.destroy();
      }
    },
  });

  // [WIRE-19] Content-length: 0 on a message whose registry entry lists no Content-length.
  if (!t.firstHasBody)
    cases.push({
      id: id(),
      origin: 'errorHandlingCases/zero-content-length',
      section: 'errors',
      title: `Content-length: 0 on ${t.start} (whose registry entry lists no Content-length) is accepted as no body`,
      reqs: ['WIRE-19'],
      async run(ctx: C) {
        const c = await ctx.connect();
        c.writeRaw(variant(t, [], [['Content-length', '0']]));
        const r = await c.nextResponse(ctx.timeout, `an answer to ${t.start} with Content-length: 0`);
        ctx.must(
          r && t.firstOk(r),
          'WIRE-19',
          `Content-length: 0 must not be refused under REG-4 or REG-7: got ${r ? `${r.status} ${header(r, 'Error-code') ?? ''}` : 'a close'}`,
        );
      },
    });

  // [WIRE-18] [WIRE-16] what the target sends: exact Content-length (omitted when empty), the registry's phrase.
  cases.push({
    id: id(),
    origin: 'errorHandlingCases/response-framing',
    section: 'errors',
    title:
      'the answer to the first message frames its body with an exact Content-length (omitted when empty) and uses the registry reason phrase',
    reqs: ['WIRE-18', 'WIRE-16'],
    async run(ctx: C) {
      const c = await ctx.connect();
      const raw: Buffer[] = [];
      c.socket.on('data', (d: Buffer) => raw.push(d));
      c.send(t.first());
      const r = await c.nextResponse(ctx.timeout, `an answer to ${t.start}`);
      ctx.must(r, 'WIRE-18', `${t.start} got no answer`);
      const octets = Buffer.concat(raw).toString('latin1');
      const head = octets.slice(0, octets.indexOf('\r\n\r\n'));
      const cl = /\r\nContent-length:[ \t]*([0-9]+)/i.exec(head)?.[1];
      if (r.body.length === 0)
        ctx.should(cl === undefined, 'WIRE-18', `an answer with no body should omit Content-length (it says ${cl})`);
      else
        ctx.must(
          cl !== undefined && Number(cl) === r.body.length,
          'WIRE-18',
          `Content-length must be the exact body length: says ${cl ?? 'nothing'}, the body has ${r.body.length} octets`,
        );
      const phrase = (STATUS_CODES as Record<string, { reason: string }>)[String(r.status)]?.reason;
      ctx.should(
        phrase === undefined || r.reason === phrase,
        'WIRE-16',
        `a sender should use the registry's reason phrase: ${r.status} "${r.reason}", the registry says "${phrase}"`,
      );
    },
  });

  // [WIRE-LIMIT-6] a breach is found when its octets arrive: the message is never completed here.
  const maxLine = limits.get('maxLineLength');
  const maxHeaders = limits.get('maxHeaders');
  const maxBody = limits.get('maxBodySize');
  const start = encode(t.first()).toString('latin1').split('\r\n', 1)[0]!;
  const breaches: { what: string; bytes: () => Buffer }[] = [
    {
      what: `a header line longer than maxLineLength (${maxLine}), never ended`,
      bytes: () => Buffer.from(`${start}\r\nX-Kit-Long: ${'a'.repeat(maxLine + 16)}`, 'latin1'),
    },
    {
      what: `more than maxHeaders (${maxHeaders}) header lines, the head never ended`,
      bytes: () =>
        Buffer.from(
          `${start}\r\n${Array.from({ length: maxHeaders + 1 }, (_, i) => `X-K${i}: v\r\n`).join('')}`,
          'latin1',
        ),
    },
    {
      what: `a Content-length over maxBodySize (${maxBody}), no body octet sent`,
      bytes: () => Buffer.from(`${start}\r\nContent-length: ${maxBody + 1}\r\n\r\n`, 'latin1'),
    },
  ];
  const limitReqs = new Set<string>(['WIRE-LIMIT-6', 'ERR-1', 'WIRE-22', 'ERR-8']);
  for (const b of breaches) {
    const o = oracle(b.bytes(), limits);
    if (o) {
      limitReqs.add(errorSpec(o.code).req);
      limitReqs.add(errorRule(o.code as ErrorCode, {}).req);
    }
  }
  cases.push({
    id: id(),
    origin: 'errorHandlingCases/early-limit',
    section: 'errors',
    title:
      'a limit breach (line length, header count, body size) is answered as soon as its octets arrive, before the message is complete, and the connection closed',
    reqs: [...limitReqs],
    async run(ctx: C) {
      for (const b of breaches) {
        const bytes = b.bytes();
        const o = oracle(bytes, ctx.limits);
        if (!o) ctx.skip(`the generated codec finds no error in ${b.what} at these limits`);
        const c = await ctx.connect();
        c.writeRaw(bytes);
        // Nothing more is sent and the connection stays open: a receiver that buffers the whole message first never answers.
        const r = await c.nextResponse(ctx.timeout, `an answer to ${b.what}`).catch(() => null);
        ctx.must(
          r,
          'WIRE-LIMIT-6',
          `${b.what}: the receiver must answer ${o.code} as soon as the limit is broken, without waiting for the rest of the message`,
        );
        checkError(ctx, r, o.code, b.what, o.offset);
        const rule = errorRule(o.code as ErrorCode, {});
        if (closesConnection(rule))
          ctx.must(await c.closedWithin(ctx.timeout), 'ERR-8', `${b.what}: after ${o.code} the connection must close`);
        c.destroy();
      }
    },
  });

  // [ERR-5] [STATE-6] [STATE-2] an out-of-state message before the handshake closes the connection:
  // the message behind it, in the same write or after the answer, is not read, acted on or answered.
  if (t.role !== 'client') {
    const proof = Buffer.from(`PROOF\r\nProof: ${'A'.repeat(43)}\r\n\r\n`, 'latin1');
    // Where the first message decides the link, any other first message is 425 and closes [CONN-1].
    const code = (
      t.firstMessageDecides ? 'ERR_OUT_OF_STATE' : (validatorCode(t, proof) ?? 'ERR_OUT_OF_STATE')
    ) as ErrorCode;
    const rule = errorRule(code, { handshake: true, method: 'PROOF' });
    cases.push({
      id: id(),
      origin: 'errorHandlingCases/proof-without-challenge',
      section: 'errors',
      title: `a PROOF with no challenge outstanding is answered ${errorSpec(code).status} ${code} and the connection closed; ${t.start} behind it, in the same write or after the answer, gets no answer`,
      reqs: [
        ...new Set([
          'ERR-5',
          'ERR-8',
          'STATE-6',
          'STATE-2',
          'CONN-16',
          'ERR-1',
          'WIRE-22',
          rule.req,
          errorSpec(code).req,
          ...(t.firstMessageDecides ? [t.firstMessageDecides] : []),
        ]),
      ],
      async run(ctx: C) {
        for (const together of [true, false]) {
          const how = together ? 'in the same write' : 'after the answer';
          const c = await ctx.connect();
          c.writeRaw(together ? Buffer.concat([proof, encode(t.first())]) : proof);
          const r = await c.nextResponse(ctx.timeout, 'an answer to PROOF').catch(() => null);
          checkError(ctx, r, code, 'a PROOF with no challenge outstanding', t.firstMessageDecides ?? 'STATE-2');
          if (!together && !c.closed) c.writeRaw(encode(t.first()));
          const closed = await c.closedWithin(ctx.timeout);
          if (closesConnection(rule))
            ctx.must(
              closed,
              together ? 'ERR-8' : 'STATE-6',
              `after ${code} to a PROOF before the handshake the connection must close (${rule.action}, ${rule.req}); ${t.start} sent ${how} kept it open`,
            );
          const answers = c.received.filter((e) => e.msg.kind === 'response').length;
          ctx.must(
            answers === 1,
            together ? 'ERR-5' : 'STATE-6',
            `${t.start} sent ${how} behind a refused out-of-state PROOF must not be answered; ${answers - 1} answer(s) came`,
          );
          c.destroy();
        }
      },
    });
  }
  return cases;
}
