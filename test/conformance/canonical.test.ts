// The kit reads every base64url value a target sends strictly [CRYPTO-4] (conformance/lib/canonical.ts):
// Conn records a wire violation for a header or record so spelled, unb64 refuses it with a typed
// NotCanonical (field, where, and the status, code and reason a receiver answers), and a planted fault in
// the reference (make mutants) fails its case for each role with [CRYPTO-4]. Before this change the kit
// decoded leniently (Buffer.from(s, 'base64url')): the crs and client mutants passed their cases, and the
// ms one failed by [LOGIN-4] (its Salt did not match the value type), not [CRYPTO-4].
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encode, encodeRecords, response } from '../../codec/index.js';
import { b64Flaw } from '../../codec/index.js';
import { canonicalTypes, fieldFlaw, NotCanonical } from '../../conformance/lib/canonical.js';
import { Conn, Transcript } from '../../conformance/lib/conn.js';
import { b64, headerOctets, nonCanonical, unb64 } from '../../conformance/lib/crypto.js';
import type { CaseDef, Finding } from '../../conformance/lib/case.js';
import { type Limits, VALUE_TYPES } from '../../conformance/lib/registry.js';
import { type Driver, runCases } from '../../conformance/lib/runner.js';
import { baseline, MUTANTS, runMutant } from '../../conformance/mutants/run.js';

const key = (): string => b64(randomBytes(32));

test('[CRYPTO-4] b64Flaw accepts only the canonical spelling: no padding, the base64url alphabet, a length octets give, unused bits zero', () => {
  for (let n = 0; n <= 66; n++) assert.equal(b64Flaw(b64(randomBytes(n))), null, `${n} octets`);
  const k = key();
  assert.equal(b64Flaw(`${k}=`), "'=' padding");
  assert.match(b64Flaw(Buffer.from([0xfb, 0xff, 0xfe]).toString('base64')) ?? '', /'\+', outside/);
  assert.match(b64Flaw(`${k.slice(0, -1)}+`) ?? '', /'\+', outside the base64url alphabet/);
  assert.match(b64Flaw('abcde') ?? '', /5 characters, a length no octet string encodes/);
  // Every length with unused bits (1 or 2 octets past a multiple of 3): each set unused bit is refused.
  for (const n of [16, 17, 32, 64]) {
    const t = b64(randomBytes(n));
    assert.match(b64Flaw(nonCanonical(t)) ?? '', /sets bits beyond the last octet/, `${n} octets`);
  }
});

test('[CRYPTO-4] the value types checked are the ones the registry binds to CRYPTO-4, each base64url part of them', () => {
  const bound = Object.entries(VALUE_TYPES)
    .filter(([, t]) => t.text.includes('CRYPTO-4'))
    .map(([n]) => n);
  assert.deepEqual(canonicalTypes(), bound);
  assert.ok(bound.includes('key32') && bound.includes('key-blob') && !bound.includes('nonce'), bound.join(' '));
  const k = key();
  const blob = `v1.${b64(randomBytes(16))}.10.${b64(randomBytes(12))}.${b64(randomBytes(80))}`;
  for (const [field, good] of [
    ['Key-share', k],
    ['Salt', b64(randomBytes(16))],
    ['Signature', b64(randomBytes(64))],
    ['Public-key', `${k}.${key()}`],
    ['Digest', `sha-256=${k}`],
    ['Key-blob', blob],
  ] as const) {
    assert.equal(fieldFlaw(field, good), null, field);
    assert.equal(fieldFlaw(field.toLowerCase(), ` ${good} `), null, `${field}, another case, spaces around`);
  }
  assert.match(fieldFlaw('Public-key', `${k}.${nonCanonical(key())}`) ?? '', /sets bits/);
  assert.match(fieldFlaw('Public-key', `${k}=.${key()}`) ?? '', /'=' padding/);
  assert.match(fieldFlaw('Digest', `sha-256=${nonCanonical(k)}`) ?? '', /sets bits/);
  assert.match(
    fieldFlaw(
      'Key-blob',
      blob.replace(/\.([^.]+)$/, (_, c: string) => `.${nonCanonical(c)}`),
    ) ?? '',
    /sets bits/,
  );
  assert.match(fieldFlaw('Salt', `${b64(randomBytes(16))}==`) ?? '', /'=' padding/);
  // a value that no longer matches its type: the parts after the type's literal prefix are judged
  assert.match(fieldFlaw('Digest', `sha-256=${k}=`) ?? '', /'=' padding/);
  assert.match(
    fieldFlaw('Key-blob', `v1.${b64(randomBytes(16))}==.14.${b64(randomBytes(12))}.${b64(randomBytes(80))}`) ?? '',
    /'=' padding/,
  );
  assert.equal(
    fieldFlaw('Digest', `sha-256=${k.slice(0, 40)}`),
    null,
    'a short digest breaks the rule of its type, not this one',
  );
  // A nonce is never decoded [AUTH-15]; a header of another type is not this rule's.
  assert.equal(fieldFlaw('Nonce', nonCanonical(b64(randomBytes(16)))), null);
  assert.equal(fieldFlaw('User', 'a=b'), null);
});

test('[CRYPTO-4] unb64 and headerOctets refuse another spelling with a typed NotCanonical naming the field and where it came', () => {
  const k = key();
  assert.deepEqual(unb64(k, 'Key-share', 'x'), Buffer.from(k, 'base64url'));
  const msg = response(300, [
    ['Key-share', nonCanonical(k)],
    ['Salt', `${b64(randomBytes(16))}==`],
  ]);
  assert.throws(
    () => headerOctets(msg, 'Key-share'),
    (e: unknown) =>
      e instanceof NotCanonical &&
      e.req === 'CRYPTO-4' &&
      e.value === nonCanonical(k) &&
      JSON.stringify(e.refusal) ===
        JSON.stringify({
          field: 'Key-share',
          where: 'the 300 response',
          status: 401,
          code: 'ERR_AUTH_FAILED',
          reason: 'Authentication failed',
        }) &&
      /^Key-share of the 300 response is not canonical base64url \(its last character/.test(e.message),
  );
  assert.throws(
    () => headerOctets(msg, 'Salt'),
    (e: unknown) =>
      e instanceof NotCanonical &&
      e.refusal.code === 'ERR_BAD_VALUE' &&
      e.refusal.status === 422 &&
      /'=' padding/.test(e.message),
  );
});

test('[CRYPTO-4] Conn records a violation for each non-canonical header and record field a target sends, none for canonical ones', async () => {
  const k = key();
  const bad = response(
    200,
    [
      ['Server-proof', nonCanonical(k)],
      ['Content-type', 'application/imsp-records'],
    ],
    encodeRecords([
      [
        ['User', 'bob'],
        ['Public-key', `${k}.${key()}`],
      ],
      [
        ['User', 'carol'],
        ['Public-key', `${key()}=.${key()}`],
      ],
    ]),
  );
  const good = response(
    200,
    [
      ['Server-proof', k],
      ['Content-type', 'application/imsp-records'],
    ],
    encodeRecords([
      [
        ['User', 'bob'],
        ['Public-key', `${k}.${key()}`],
      ],
    ]),
  );
  for (const [msg, want] of [
    [good, []],
    [bad, ['Server-proof of the 200 response', 'Public-key of record 2 of the body of the 200 response']],
  ] as const) {
    const server = net.createServer((s) => s.end(encode(msg)));
    after(() => server.close());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const c = await Conn.connect({ host: '127.0.0.1', port }, 'c', new Transcript(), 2000);
    await c.closedWithin(2000);
    c.destroy();
    server.close();
    assert.deepEqual(
      c.violations.map((v) => v.req),
      want.map(() => 'CRYPTO-4'),
    );
    for (const [i, w] of want.entries())
      assert.ok(c.violations[i]!.text.startsWith(`${w} is not canonical base64url`), c.violations[i]!.text);
    assert.deepEqual(
      c.violations.map((v) => v.refusal?.code),
      want.map((_, i) => (i === 0 ? 'ERR_AUTH_FAILED' : 'ERR_BAD_VALUE')),
    );
  }
});

test('[CRYPTO-4] a case that reads a non-canonical value fails with CRYPTO-4 and the typed refusal, also when it does not cite CRYPTO-4', async () => {
  const msg = response(300, [['Salt', `${b64(randomBytes(16))}==`]]);
  const kase: CaseDef<{ findings: Finding[] }> = {
    id: 'x/1',
    section: 'x',
    title: 'logs in',
    reqs: ['LOGIN-4'],
    async run() {
      headerOctets(msg, 'Salt');
    },
  };
  const driver: Driver<{ findings: Finding[] }> = {
    cases: [kase],
    context: (_tr, findings) => ({ findings }),
    cleanup: async () => [],
    probe: async () => null,
  };
  const [r] = await runCases(
    driver,
    [kase],
    {
      seed: 1,
      runs: 1,
      timeoutMs: 1000,
      strict: false,
      limits: {} as Limits,
      slow: false,
      progress: () => undefined,
      commandLine: '',
    },
    5000,
  );
  assert.equal(r!.verdict, 'FAIL');
  assert.equal(r!.findings[0]!.req, 'CRYPTO-4');
  assert.deepEqual(r!.findings[0]!.refusal, {
    field: 'Salt',
    where: 'the 300 response',
    status: 422,
    code: 'ERR_BAD_VALUE',
    reason: 'Invalid header value',
  });
});

const root = fileURLToPath(new URL('../../', import.meta.url));

test('[CRYPTO-4] make mutants: a base64url value spelled other than canonically by the reference CRS, MS or client fails its case with CRYPTO-4', async () => {
  const planted = MUTANTS.filter((m) => m.fault.includes('[CRYPTO-4]'));
  assert.deepEqual(
    planted.map((m) => m.role),
    ['crs', 'ms', 'client'],
  );
  const o = { runs: 1, seed: 1, timeoutMs: 2000 };
  for (const m of planted) {
    // The same cases pass on the unmutated reference: the catch is the fault's.
    assert.deepEqual([...(await baseline(root, m.role, m.only, o))], [], `${m.name}: baseline`);
    const r = await runMutant(root, m, o);
    assert.ok(r.caught, `${m.name}: ${r.detail}`);
    assert.match(r.by, /\[CRYPTO-4\]$/, `${m.name}: ${r.by} ${r.detail}`);
    assert.match(r.detail, /is not canonical base64url/, m.name);
  }
});
