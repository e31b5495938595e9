// Registry validation (the second decoding level), the constructors and the error objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Decoder,
  ImspError,
  decode,
  encode,
  encodeRecords,
  errorResponse,
  request,
  response,
  typed,
  validate,
  validateResponse,
  METHODS,
  HEADERS,
  LIMITS,
  VALUE_TYPES,
  VALUE_VALIDATORS,
  parseRecords,
  type Message,
  type ErrorCode,
} from '../../codec/index.js';

const KEY = 'A'.repeat(43);
const CM = { from: 'client', to: 'ms' } as const;
const MC = { from: 'ms', to: 'crs' } as const;
const code = (e: ImspError | null): ErrorCode | null => e?.code ?? null;
const login = (extra: Record<string, string> = {}): Message =>
  request('LOGIN', {
    'Imsp-version': '1',
    User: 'bob',
    Nonce: 'N'.repeat(24),
    'Key-share': KEY,
    Address: '127.0.0.1:7200',
    ...extra,
  });

test('[REG-1] an unregistered method is ERR_UNKNOWN_METHOD', () => {
  assert.equal(code(validate(request('FROB'), CM)), 'ERR_UNKNOWN_METHOD');
});

test('[REG-2] a method on a link the registry does not give is ERR_METHOD_NOT_ALLOWED', () => {
  assert.equal(code(validate(login(), MC)), 'ERR_METHOD_NOT_ALLOWED');
  assert.equal(code(validate(request('LOCK', { User: 'bob' }), CM)), 'ERR_METHOD_NOT_ALLOWED');
});

test('[REG-2] a method the registry seals on the link must arrive inside SEALED', () => {
  const ping = request('PING');
  assert.equal(validate(ping, { ...CM, sealed: true }), null);
  assert.equal(code(validate(ping, { ...CM, sealed: false })), 'ERR_METHOD_NOT_ALLOWED');
  assert.equal(validate(ping, CM), null, 'unknown placement is not judged');
  assert.equal(validate(login(), { ...CM, sealed: false }), null);
});

test('[SEAL-6] a SEALED envelope inside SEALED is a decryption failure', () => {
  const env = request('SEALED', { Seq: 0, 'Content-length': 1 }, Buffer.from('x'));
  assert.equal(validate(env, { ...CM, sealed: false }), null);
  assert.equal(code(validate(env, { ...CM, sealed: true })), 'ERR_DECRYPT');
});

test('[REG-3] a missing required header is ERR_MISSING_HEADER', () => {
  const m = login();
  m.headers = m.headers.filter(([n]) => n !== 'Nonce');
  assert.equal(code(validate(m, CM)), 'ERR_MISSING_HEADER');
});

test('[REG-4] a registered header the link does not allow is ERR_HEADER_NOT_ALLOWED', () => {
  assert.equal(code(validate(login({ Epoch: '1' }), CM)), 'ERR_HEADER_NOT_ALLOWED');
});

test('[HDR-7] an unregistered non-extension header is rejected as in REG-4', () => {
  assert.equal(code(validate(login({ Frobnication: 'yes' }), CM)), 'ERR_HEADER_NOT_ALLOWED');
});

test('[HDR-6] X- extension headers are ignored', () => {
  assert.equal(validate(login({ 'X-Trace': 'whatever at all', 'x-lower': '' }), CM), null);
});

test('[WIRE-15] header names are matched without regard to case', () => {
  const m = login();
  m.headers = m.headers.map(([n, v]) => [n.toUpperCase(), v]);
  assert.equal(validate(m, CM), null);
  const t = typed(m, CM);
  assert.ok(t.method === 'LOGIN');
  assert.equal(t.headers.User, 'bob');
});

test('[REG-5] a non-repeatable header twice is ERR_DUPLICATE_HEADER; a repeatable one is fine', () => {
  const m = login();
  m.headers.push(['user', 'bob']);
  assert.equal(code(validate(m, CM)), 'ERR_DUPLICATE_HEADER');
  const located = response(200, [
    ['Server', '127.0.0.1:7100'],
    ['Server', 'ms.example:7100'],
  ]);
  assert.equal(validateResponse(located, 'LOCATE', { from: 'client', to: 'crs' }), null);
});

test('[REG-6] a value that does not match its type is ERR_BAD_VALUE', () => {
  for (const [h, v] of [
    ['User', 'Bob'],
    ['User', 'a'.repeat(33)],
    ['Imsp-version', '12345'],
    ['Key-share', 'short'],
    ['Address', 'nohost'],
    ['Status', 'offline'],
  ] as const) {
    assert.equal(
      code(validate(login({ [h]: v }), CM)),
      h === 'Status' && v === 'offline' ? null : 'ERR_BAD_VALUE',
      `${h}: ${v}`,
    );
  }
});

test('[HDR-TEXT-1] free-text values are at most maxTextValue characters', () => {
  assert.ok(VALUE_VALIDATORS.text('x'.repeat(256)));
  assert.ok(!VALUE_VALIDATORS.text('x'.repeat(257)));
});

test('[REG-6] uint values are bounded by the type maximum', () => {
  assert.ok(VALUE_VALIDATORS.uint(String(VALUE_TYPES.uint.max)));
  assert.ok(!VALUE_VALIDATORS.uint('9007199254740992'));
  assert.ok(!VALUE_VALIDATORS.uint('01'));
});

test('[REG-7] a body where the registry allows none is ERR_UNEXPECTED_BODY', () => {
  assert.equal(code(validate(request('PING', {}, Buffer.from('x')), CM)), 'ERR_UNEXPECTED_BODY');
  assert.equal(validate(request('PING', { 'Content-length': 0 }), CM), null, 'Content-length is a framing header');
});

test('[REC-2] a records body must parse and its fields must match their types', () => {
  const ok = response(
    200,
    { 'Content-type': 'application/imsp-records' },
    encodeRecords([
      [
        ['User', 'alice'],
        ['Relation', 'buddy'],
        ['X-Note', 'anything'],
      ],
    ]),
  );
  assert.equal(validateResponse(ok, 'LIST', CM), null);
  const badSyntax = response(200, {}, Buffer.from('User: alice\r\n\r\n'));
  assert.equal(code(validateResponse(badSyntax, 'LIST', CM)), 'ERR_BAD_RECORDS');
  const badValue = response(200, {}, encodeRecords([[['User', 'Alice!']]]));
  assert.equal(code(validateResponse(badValue, 'LIST', CM)), 'ERR_BAD_RECORDS');
});

test('[REG-8] responses: registered status, listed headers, error responses', () => {
  assert.equal(
    code(
      validateResponse(
        { kind: 'response', status: 299, reason: 'Odd', headers: [], body: Buffer.alloc(0) },
        'PING',
        CM,
      ),
    ),
    'ERR_UNKNOWN_STATUS',
  );
  assert.equal(validateResponse(response(200), 'PING', CM), null);
  assert.equal(code(validateResponse(response(201), 'PING', CM)), 'ERR_UNKNOWN_STATUS');
  assert.equal(code(validateResponse(response(300, { Nonce: 'N'.repeat(24) }), 'LOGIN', CM)), 'ERR_MISSING_HEADER');
  assert.equal(validateResponse(errorResponse('ERR_LOCKED'), 'LOGIN', CM), null);
  assert.equal(code(validateResponse(response(423), 'LOGIN', CM)), 'ERR_MISSING_HEADER', 'Error-code is required');
  assert.equal(
    code(validateResponse(errorResponse('ERR_LOCKED', { User: 'bob' }), 'LOGIN', CM)),
    'ERR_HEADER_NOT_ALLOWED',
  );
});

test('[REG-11] an error response carries Error-code, and Offset, Retry-after, Tag, Reason only', () => {
  const e = errorResponse('ERR_RATE_LIMITED', { 'Retry-after': 500, Tag: 't', Reason: 'slow down' });
  assert.equal(e.status, 429);
  assert.equal(e.reason, 'Rate limited');
  assert.equal(validateResponse(e, 'ADD', CM), null);
});

test('[WIRE-14] errorResponse of a decoding error carries the offset within the message', () => {
  const wire = Buffer.from('PING\r\n\r\nPING\r\nTag : x\r\n\r\n');
  const err = (() => {
    try {
      decode(wire);
    } catch (e) {
      return e as ImspError;
    }
  })()!;
  assert.equal(err.code, 'ERR_BAD_HEADER_NAME');
  assert.equal(err.offset, 17);
  assert.equal(err.messageOffset, 9);
  assert.deepEqual(err.messages.length, 1);
  const r = errorResponse(err);
  assert.deepEqual(r.headers, [
    ['Error-code', 'ERR_BAD_HEADER_NAME'],
    ['Offset', '9'],
  ]);
  assert.equal(r.status, 400);
});

test('[WIRE-12] a failed decoder stays failed; errors are ImspError with the registry reason', () => {
  const d = new Decoder();
  assert.throws(() => d.push(Buffer.from('PING\n')), ImspError);
  assert.throws(
    () => d.push(Buffer.from('PING\r\n\r\n')),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_BARE_LF',
  );
  assert.throws(
    () => d.end(),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_BARE_LF',
  );
  const json = new ImspError('ERR_LOCKED', 3).toJSON();
  assert.deepEqual([json.code, json.status, json.reason, json.offset], ['ERR_LOCKED', 423, 'Locked', 3]);
});

test('[REG-14] [WIRE-LIMIT-1] decoder limits are configurable within the registry bounds only', () => {
  assert.throws(() => new Decoder({ limits: { maxLineLength: 10 } }), RangeError);
  assert.throws(() => new Decoder({ limits: { maxBodySize: 1.5 } }), RangeError);
  assert.equal(new Decoder({ limits: { maxHeaders: 16 } }).limits.maxHeaders, 16);
});

test('[WIRE-18] encode sets Content-length from the body', () => {
  assert.equal(
    encode(request('MSG', { 'Content-length': 99, 'content-length': 7 }, Buffer.from('abc'))).toString(),
    'MSG\r\nContent-length: 3\r\n\r\nabc',
  );
  assert.equal(encode(request('PING')).toString(), 'PING\r\n\r\n');
});

test('[WIRE-7] encode refuses what the decoder would not give back', () => {
  const bad: [Message, ErrorCode][] = [
    [request('ping'), 'ERR_BAD_METHOD'],
    [request('PING', [['Bad Name', 'x']]), 'ERR_BAD_HEADER_NAME'],
    [request('PING', [['Tag', 'a\r\nX: injected']]), 'ERR_BAD_HEADER_VALUE'],
    [request('PING', [['Tag', ' padded']]), 'ERR_BAD_HEADER_VALUE'],
    [request('PING', [['Tag', 'caf\u00e9']]), 'ERR_BAD_HEADER_VALUE'],
    [{ kind: 'response', status: 42, reason: 'OK', headers: [], body: Buffer.alloc(0) }, 'ERR_BAD_STATUS_LINE'],
    [{ kind: 'response', status: 200, reason: 'O  K', headers: [], body: Buffer.alloc(0) }, 'ERR_BAD_STATUS_LINE'],
  ];
  for (const [m, c] of bad)
    assert.throws(
      () => encode(m),
      (e: unknown) => e instanceof ImspError && e.code === c,
      JSON.stringify(m),
    );
});

test('[REG-1] typed() gives typed header fields and refuses invalid messages', () => {
  const t = typed(login({ Tag: 'x' }), CM);
  assert.ok(t.method === 'LOGIN' && t.from === 'client');
  if (t.method === 'LOGIN' && t.from === 'client') {
    assert.equal(t.headers.Address, '127.0.0.1:7200');
    assert.equal(t.headers.Tag, 'x');
  }
  assert.throws(
    () => typed(request('FROB'), CM),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_UNKNOWN_METHOD',
  );
});

test('[REG-1] every link of every method names only registered headers', () => {
  for (const m of Object.values(METHODS)) {
    for (const l of m.links) for (const h of [...l.required, ...l.optional]) assert.ok(h in HEADERS, `${m.name}: ${h}`);
  }
});

test('[REC-3] a records body with more than maxRecordsPerBody records is ERR_BAD_RECORDS', () => {
  const one = 'User: a\r\n';
  const ok = Buffer.from(Array<string>(LIMITS.maxRecordsPerBody).fill(one).join('\r\n'));
  assert.equal(parseRecords(ok).length, LIMITS.maxRecordsPerBody);
  const tooMany = Buffer.from(
    Array<string>(LIMITS.maxRecordsPerBody + 1)
      .fill(one)
      .join('\r\n'),
  );
  assert.throws(
    () => parseRecords(tooMany),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_BAD_RECORDS',
  );
});

test('[REC-4] record fields the receiver does not know are ignored', () => {
  const body = encodeRecords([
    [
      ['User', 'alice'],
      ['Relation', 'buddy'],
      ['Mood', 'anything at all'],
      ['X-Note', 'x'],
    ],
  ]);
  assert.equal(validateResponse(response(200, { 'Content-type': 'application/imsp-records' }, body), 'LIST', CM), null);
});

test("[WIRE-16] the reason phrase is not acted on: any phrase validates, response() uses the registry's", () => {
  const odd = { ...response(200), reason: 'Fine thanks' };
  assert.equal(validateResponse(odd, 'PING', CM), null);
  assert.equal(response(404).reason, 'Not found');
});
