// Section "message format" [§4 Message Format] and "registry validation": the same cases run against any server
// role. Framing errors must be answered with the registry's status and Error-code, then the connection
// closed; validation errors are answered and the connection goes on.
import {
  closesConnection,
  encode,
  ERROR_HANDLING,
  errorRule,
  header,
  validate,
  type ErrorCode,
  type ResponseMessage,
} from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { errorSpec, LIMIT_LIST, type Limits } from '../../lib/registry.js';
import { framingSpecimens, oracle } from '../../lib/specimens.js';
import {
  checkError,
  oracleDecode,
  withBody,
  withHeaders,
  type WireCtx,
  type WireTarget,
} from '../../lib/wire-target.js';
import { runWireFuzz, wireFuzzReqs, type FuzzCtx } from '../../lib/wire-fuzz.js';
import { KIT_FIXTURE_DIR, loadFixtures, type FixtureCase } from '../../lib/wire-fixtures.js';

export function wireCases<C extends WireCtx>(t: WireTarget, limits: Limits, prefix: string): CaseDef<C>[] {
  const cases: CaseDef<C>[] = [];
  let n = 1;
  const id = (section: string): string => `${prefix}/${section}/${n++}`;
  for (const sp of framingSpecimens(t.start, limits)) {
    const spec = errorSpec(sp.code);
    // The codec's verdict decides the expected code (see run); its requirement is named too.
    const o0 = sp.halfClose ? null : oracle(sp.bytes, limits);
    const named = o0 ? errorSpec(o0.code).req : spec.req;
    const ruleReq = errorRule((o0?.code ?? (sp.halfClose ? 'ERR_TRUNCATED' : sp.code)) as ErrorCode, {}).req;
    cases.push({
      id: id('wire'),
      origin: 'wireCases/framing-specimen',
      section: 'wire',
      title: sp.halfClose
        ? `${sp.what}: answered ${spec.status} ${sp.code} while the connection can still be written (WIRE-20), and the connection closed`
        : `${sp.what} is answered ${spec.status} ${sp.code} and the connection closed`,
      reqs: [...new Set([spec.req, named, ruleReq, 'REG-9', 'ERR-1', 'WIRE-22', ...(sp.halfClose ? ['WIRE-20'] : [])])],
      async run(ctx: C) {
        // The expected code is the grammar's verdict on the same octets.
        const o = sp.halfClose ? null : oracle(sp.bytes, ctx.limits);
        const code = sp.halfClose ? 'ERR_TRUNCATED' : (o?.code ?? sp.code);
        if (!sp.halfClose && !o) ctx.skip(`the generated codec accepts this specimen (${sp.code}); nothing to expect`);
        if (code !== sp.code) ctx.note(`the codec reports ${code} for this specimen; expecting that`);
        const c = await ctx.connect();
        c.writeRaw(sp.bytes);
        if (sp.halfClose) c.socket.end();
        const r = await c.nextResponse(ctx.timeout, `an answer to ${sp.what}`);
        // What the receiver does comes from the error table [§14.3 Error Codes] [ERR-8]: a half-closed connection
        // can still be written, so ERR_TRUNCATED SHOULD be answered there [WIRE-20]; a silent close is a WARN.
        const rule = errorRule(code as ErrorCode, {});
        if (sp.halfClose && r === null) {
          ctx.should(
            false,
            rule.req,
            `after a half-close inside a message the receiver should answer ${spec.status} ${code} before it closes; it closed without an answer`,
          );
          return;
        }
        checkError(ctx, r, code, sp.what, o?.offset);
        if (closesConnection(rule))
          ctx.must(
            await c.closedWithin(ctx.timeout),
            rule.req,
            `after ${code} the receiver must close the connection (${rule.action}, ${rule.req})`,
          );
      },
    });
  }

  const link = { from: t.from, to: t.role };
  /** The code the generated validation gives this message, or `fallback` when it does not decode. */
  const expectedCode = (m: Buffer, fallback: string): string => {
    const parsed = (() => {
      try {
        return oracleDecode(m);
      } catch {
        return null;
      }
    })();
    return (parsed ? validate(parsed, link) : null)?.code ?? fallback;
  };
  const validation = (
    title: string,
    reqs: string[],
    msg: () => Buffer,
    expect: (ctx: C, r: ResponseMessage | null, m: Buffer) => void,
    fallback: string,
  ): void => {
    // The error table's requirement for the answer this message gets (and, where the first message
    // decides the link, for 425 ERR_OUT_OF_STATE): the checks below name it, so the case declares it.
    const m0 = msg();
    const method = m0.toString('latin1').split('\r\n', 1)[0];
    const ruleReq = (code: string): string[] =>
      code in ERROR_HANDLING
        ? [errorRule(code as ErrorCode, { handshake: true, ...(method ? { method } : {}) }).req]
        : [];
    const codes = [...new Set([expectedCode(m0, fallback), fallback])];
    const tableReqs = [
      ...codes.flatMap((c) => [...ruleReq(c), ...(c in ERROR_HANDLING ? [errorSpec(c as ErrorCode).req] : [])]),
      ...(t.firstMessageDecides ? ruleReq('ERR_OUT_OF_STATE') : []),
      // On a client's peer address the harmless first message is an INIT that does not decrypt: a
      // target may answer the offending INIT that way too (401 ERR_DECRYPT, which closes [P2P-18]).
      ...(t.role === 'client' ? ruleReq('ERR_DECRYPT') : []),
    ];
    cases.push({
      id: id('registry'),
      origin: 'wireCases/registry-rule',
      section: 'registry',
      title,
      reqs: [
        ...new Set([
          ...reqs,
          ...tableReqs,
          'REG-9',
          'ERR-1',
          'WIRE-22',
          ...(t.firstMessageDecides ? [t.firstMessageDecides, 'STATE-1'] : []),
        ]),
      ],
      async run(ctx: C) {
        const c = await ctx.connect();
        const m = msg();
        c.writeRaw(m);
        const r = await c.nextResponse(ctx.timeout, 'an answer');
        if (t.firstMessageDecides && r && r.status === 425) {
          // [CONN-1] any other first message: 425 ERR_OUT_OF_STATE, then close.
          checkError(
            ctx,
            r,
            'ERR_OUT_OF_STATE',
            'a first message that is neither ENROLL nor LOCATE',
            t.firstMessageDecides,
          );
        } else expect(ctx, r, m);
        // The connection goes on (or, where the first message decides the link, may close): the harmless first message still works.
        if (!c.closed) c.send(t.first());
        const again = c.closed ? null : await c.nextResponse(ctx.timeout, `an answer to ${t.start}`);
        if (again === null) {
          const code = r ? header(r, 'Error-code') : undefined;
          // Every registry case sends the first message of a new connection, before the handshake; the
          // situation's method is the offending message's (an INIT refused for validation closes [P2P-18]).
          const method = m.toString('latin1').split('\r\n', 1)[0];
          const rule =
            code !== undefined && code in ERROR_HANDLING
              ? errorRule(code as ErrorCode, { handshake: true, ...(method ? { method } : {}) })
              : undefined;
          ctx.must(
            t.firstMessageDecides || (rule !== undefined && closesConnection(rule)),
            rule?.req ?? 'REG-9',
            `after ${code ?? 'a validation error'} the connection must go on (${rule?.action ?? 'answer'}); it was closed`,
          );
          return;
        }
        ctx.must(
          t.firstOk(again),
          t.firstMessageDecides ?? 'REG-9',
          t.firstMessageDecides
            ? `after a refused first message the CRS must close the connection [CONN-1] or go on serving it; it did neither (${t.start} got ${again.status} ${header(again, 'Error-code') ?? ''})`
            : `after a validation error the connection must go on; ${t.start} got ${again.status}`,
        );
      },
    });
  };
  const expectValidate = (ctx: C, r: ResponseMessage | null, m: Buffer, fallback: string): void => {
    checkError(ctx, r, expectedCode(m, fallback), 'validation');
  };
  validation(
    'an unknown method is answered 405 ERR_UNKNOWN_METHOD',
    ['REG-1'],
    () => Buffer.from('FROBNICATE\r\n\r\n'),
    (ctx, r, m) => expectValidate(ctx, r, m, 'ERR_UNKNOWN_METHOD'),
    'ERR_UNKNOWN_METHOD',
  );
  validation(
    `a registered method not allowed from ${t.from} to ${t.role} is answered 405 ERR_METHOD_NOT_ALLOWED`,
    ['REG-2'],
    () => Buffer.from(`${t.notAllowed ?? 'BYE'}\r\n\r\n`),
    (ctx, r, m) => expectValidate(ctx, r, m, 'ERR_METHOD_NOT_ALLOWED'),
    'ERR_METHOD_NOT_ALLOWED',
  );
  validation(
    `a registered header not allowed on ${t.start} is answered 422 ERR_HEADER_NOT_ALLOWED`,
    ['REG-4'],
    () => withHeaders(t.first(), [['Decision', 'grant']]),
    (ctx, r, m) => expectValidate(ctx, r, m, 'ERR_HEADER_NOT_ALLOWED'),
    'ERR_HEADER_NOT_ALLOWED',
  );
  if (!t.firstHasBody)
    validation(
      `a body on ${t.start} is answered 422 ERR_UNEXPECTED_BODY`,
      ['REG-7'],
      () => withBody(t.first(), Buffer.from('abc')),
      (ctx, r, m) => expectValidate(ctx, r, m, 'ERR_UNEXPECTED_BODY'),
      'ERR_UNEXPECTED_BODY',
    );
  validation(
    `a malformed Tag is answered 422 ERR_BAD_VALUE`,
    ['REG-6'],
    () => withHeaders(t.first(), [['Tag', 'a b']]),
    (ctx, r, m) => expectValidate(ctx, r, m, 'ERR_BAD_VALUE'),
    'ERR_BAD_VALUE',
  );
  validation(
    `a repeated Tag is answered 422 ERR_DUPLICATE_HEADER`,
    ['REG-5'],
    () =>
      withHeaders(t.first(), [
        ['Tag', 'a'],
        ['Tag', 'b'],
      ]),
    (ctx, r, m) => expectValidate(ctx, r, m, 'ERR_DUPLICATE_HEADER'),
    'ERR_DUPLICATE_HEADER',
  );

  cases.push({
    id: id('registry'),
    origin: 'wireCases/extension-header',
    section: 'registry',
    title: t.noTag
      ? 'an X- extension header is ignored'
      : 'an X- extension header is ignored, header names match case-insensitively, value whitespace is stripped, Tag is echoed',
    reqs: ['HDR-6', 'CONN-10', ...(t.role === 'client' ? ['P2P-18'] : [])],
    async run(ctx: C) {
      const c = await ctx.connect();
      const wire = encode(t.first())
        .toString('latin1')
        .replace('\r\n', `\r\nX-Kit-Extension: anything at all\r\n${t.noTag ? '' : 'tAG:   kit-tag-1  \r\n'}`);
      c.writeRaw(Buffer.from(wire, 'latin1'));
      const r = await c.nextResponse(ctx.timeout, 'an answer');
      ctx.must(
        r && t.firstOk(r),
        'HDR-6',
        `an unknown X- header must be ignored: got ${r?.status ?? 'close'} ${r ? (header(r, 'Error-code') ?? '') : ''}`,
      );
      if (t.noTag) return;
      ctx.must(
        header(r, 'Tag') === 'kit-tag-1',
        'CONN-10',
        `Tag must be echoed unchanged without the surrounding whitespace, got ${header(r, 'Tag')}`,
      );
    },
  });
  cases.push({
    id: id('registry'),
    origin: 'wireCases/pipelined',
    section: 'registry',
    title:
      'pipelined requests in one write are answered in order, each echoing its Tag, up to an error that closes the connection',
    reqs: ['CONN-9', 'CONN-10', 'CONN-12', 'CONN-16', 'STATE-5', ...(t.role === 'client' ? ['P2P-18'] : [])],
    async run(ctx: C) {
      const c = await ctx.connect();
      const tags = ['p1', 'p2', 'p3'];
      const bytes = Buffer.concat(tags.map((tg) => withHeaders(t.first(), [['Tag', tg]])));
      c.writeRaw(bytes);
      // Before the handshake completes, a repeated first message is out of state [STATE-5]: whether its
      // refusal closes, and so whether the requests behind it get answers [CONN-16], is the error table's call.
      for (const tg of tags) {
        const r = await c.nextResponse(ctx.timeout, `the answer tagged ${tg}`);
        ctx.must(r, 'CONN-9', `pipelined request ${tg} got no answer`);
        ctx.must(
          header(r, 'Tag') === tg,
          'CONN-9',
          `responses must come in request order: expected Tag ${tg}, got ${header(r, 'Tag')}`,
        );
        const code = r.status >= 400 ? header(r, 'Error-code') : undefined;
        if (code === undefined || !(code in ERROR_HANDLING)) continue;
        const rule = errorRule(code as ErrorCode, { handshake: true, method: t.start });
        if (!closesConnection(rule)) continue;
        ctx.must(
          await c.closedWithin(ctx.timeout),
          rule.req,
          `${code} to the pipelined request ${tg} must close the connection (${rule.action}, ${rule.req})`,
        );
        const answers = c.received.filter((m) => m.msg.kind === 'response').length;
        ctx.must(
          answers === tags.indexOf(tg) + 1,
          'CONN-16',
          `after ${code} closed the connection, the requests behind ${tg} must get no answer`,
        );
        return;
      }
    },
  });
  cases.push({
    id: id('wire'),
    origin: 'wireCases/octet-at-a-time',
    section: 'wire',
    title: 'a message written one octet at a time is decoded like the same message in one write',
    reqs: ['WIRE-1'],
    async run(ctx: C) {
      const c = await ctx.connect();
      const bytes = withHeaders(t.first(), t.noTag ? [] : [['Tag', 'slow']]);
      for (let i = 0; i < bytes.length; i++) {
        c.socket.write(bytes.subarray(i, i + 1));
        await new Promise<void>((res) => setImmediate(res));
      }
      c.tr.add(
        c.name,
        'out',
        `(${bytes.length} single-octet writes) ${bytes.toString('latin1').replace(/\r\n/g, '\\r\\n')}`,
      );
      const r = await c.nextResponse(ctx.timeout, 'an answer');
      ctx.must(
        r && t.firstOk(r) && (t.noTag || header(r, 'Tag') === 'slow'),
        'WIRE-1',
        `split writes must not change the meaning: got ${r?.status ?? 'close'}`,
      );
    },
  });
  cases.push({
    id: id('wire'),
    origin: 'wireCases/abrupt-close',
    section: 'wire',
    title: 'an abrupt close in the middle of a head leaves the target serving',
    reqs: ['CONN-8'],
    async run(ctx: C) {
      for (let i = 0; i < 5; i++) {
        const c = await ctx.connect();
        c.writeRaw(Buffer.from(`${t.start}\r\nX-a: ${'b'.repeat(i * 100)}`));
        c.socket.resetAndDestroy();
      }
      const c = await ctx.connect();
      const r = await c.request(t.first() as never, ctx.timeout);
      ctx.must(t.firstOk(r), 'CONN-8', `after abrupt closes the target must keep serving: got ${r.status}`);
    },
  });
  // Found by the wire fuzzer: a bare CR where the empty line that ends the head should be. Kept as
  // a named case so that it is checked on every run, whatever the seed.
  cases.push({
    id: id('wire'),
    origin: 'wireCases/bare-cr',
    section: 'wire',
    title: 'a bare CR where the empty line ends the head is answered 400 ERR_BARE_CR at once and the connection closed',
    reqs: ['WIRE-3', 'WIRE-2', 'ERR-1', 'WIRE-22'],
    async run(ctx: C) {
      const bytes = Buffer.from(`${t.start}\r\nX-a: b\r\n\rX`, 'latin1');
      const o = oracle(bytes, ctx.limits);
      ctx.must(
        o?.code === 'ERR_BARE_CR',
        'WIRE-3',
        `the generated codec must itself report ERR_BARE_CR here (got ${o?.code ?? 'no error'})`,
      );
      const c = await ctx.connect();
      c.writeRaw(bytes);
      // No more octets follow: a receiver that waits for them never answers.
      const r = await c.nextResponse(ctx.timeout, 'an answer to a bare CR in the empty line').catch(() => null);
      checkError(ctx, r, 'ERR_BARE_CR', 'a bare CR where the empty line ends the head', o.offset);
      ctx.must(
        await c.closedWithin(ctx.timeout),
        'WIRE-3',
        'after a framing error the receiver must close the connection',
      );
    },
  });
  cases.push(fixtureCase<C>(t, id('wire')));
  return cases;
}

/** The wire limits the fixtures without a limits block assume: the registry's defaults. */
const WIRE_LIMITS = ['maxLineLength', 'maxHeaders', 'maxHeadSize', 'maxBodySize'];

/**
 * The spec's wire fixtures (spec/fixtures/wire) as the expectation, not the generated codec (issue 12):
 * a codec fault the kit shares with an implementation cannot hide the implementation's fault. Every
 * fixture whose input fails in its first message is sent on a fresh connection and must be answered
 * with the status, Error-code and Offset the fixture file says, then closed; every fixture that reads
 * as whole messages must not be refused as a framing error. Fixtures with their own limits, a
 * framing error after complete messages (the first message would decide the answer), or records
 * bodies are left out; fixtures at the default wire limits are left out when the target's differ.
 */
export function fixtureCase<C extends WireCtx>(t: WireTarget, caseId: string): CaseDef<C> {
  const all = loadFixtures(KIT_FIXTURE_DIR).filter((f) => f.kind === 'wire' && !f.limits);
  const errors = all.filter((f) => f.error && f.json === undefined);
  const wholes = all.filter((f) => !f.error && f.json !== undefined);
  const reqs = new Set(['ERR-1', 'WIRE-1', 'WIRE-14', 'WIRE-20', 'WIRE-22']);
  for (const f of errors) {
    reqs.add(errorSpec(f.error!.code).req);
    reqs.add(errorRule(f.error!.code as ErrorCode, {}).req);
  }
  // A finding names the fixture's own requirement (its first ID), so every fixture's IDs are declared.
  for (const f of [...errors, ...wholes]) for (const r of f.reqs) reqs.add(r);
  return {
    id: caseId,
    origin: 'fixtureCase',
    section: 'wire',
    title: `each wire fixture of spec/fixtures/wire (${errors.length} framing errors, ${wholes.length} whole inputs) is answered as the fixture file says, whatever the codec says`,
    reqs: [...reqs],
    async run(ctx: C) {
      const defaults = WIRE_LIMITS.every((n) => ctx.limits.get(n) === LIMIT_LIST.find((l) => l.name === n)?.value);
      const atDefaults = (f: FixtureCase): boolean => defaults || !f.reqs.some((r) => r.startsWith('WIRE-LIMIT'));
      let checked = 0;
      for (const f of errors.filter(atDefaults)) {
        const { code, offset } = f.error!;
        const what = `fixture ${f.file} "${f.title}"`;
        const c = await ctx.connect();
        c.writeRaw(f.input);
        const truncated = code === 'ERR_TRUNCATED';
        if (truncated) c.socket.end();
        const r = await c.nextResponse(ctx.timeout, `an answer to ${what}`).catch(() => null);
        const rule = errorRule(code as ErrorCode, {});
        if (truncated && r === null) {
          ctx.should(
            false,
            'WIRE-20',
            `${what}: a half-closed connection can still be written: ERR_TRUNCATED should be answered before the close`,
          );
          c.destroy();
          continue;
        }
        checkError(ctx, r, code, what, offset);
        if (closesConnection(rule))
          ctx.must(
            await c.closedWithin(ctx.timeout),
            rule.req,
            `${what}: after ${code} the receiver must close the connection`,
          );
        c.destroy();
        checked++;
      }
      for (const f of wholes.filter(atDefaults)) {
        const what = `fixture ${f.file} "${f.title}"`;
        const c = await ctx.connect();
        c.writeRaw(f.input);
        const r = await c.nextResponse(ctx.timeout, `an answer to ${what}`).catch(() => null);
        const code = r ? header(r, 'Error-code') : undefined;
        const framing =
          code !== undefined && code in ERROR_HANDLING && ERROR_HANDLING[code as ErrorCode].class === 'framing';
        ctx.must(
          !framing,
          f.reqs[0] ?? 'WIRE-1',
          `${what} is well framed, the receiver refused it as ${r?.status} ${code}`,
        );
        c.destroy();
        checked++;
      }
      ctx.note(`${checked} fixtures sent`);
    },
  };
}

/** Wire fuzzing (lib/wire-fuzz.ts): the same property against any server role. */
export function wireFuzzCase<C extends FuzzCtx>(t: WireTarget, limits: Limits, id: string): CaseDef<C> {
  return {
    id,
    origin: 'wireFuzzCase',
    section: 'fuzz',
    title: `wire fuzzing: valid, near-valid and mutated ${t.start} messages, split writes and abrupt closes are answered per the registry and the target keeps serving`,
    // A finding names the requirement of the error the codec expects, or [CONN-8]/[CONN-9]/[WIRE-12]/[CONN-1].
    reqs: wireFuzzReqs(t),
    fuzz: true,
    noProbe: false,
    async run(ctx: C) {
      await runWireFuzz(ctx, t, limits, id);
    },
  };
}
