// Smoke tests of the codec API (spec Appendix B).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Decoder,
  decode,
  encode,
  request,
  response,
  errorResponse,
  header,
  headers,
  validate,
  validateResponse,
  parseRecords,
  encodeRecords,
  typed,
  ImspError,
  METHODS,
  HEADERS,
  STATUS_CODES,
  ERRORS,
  LIMITS,
  decodeWithGrammar,
  isHeaderName,
} from '../../codec/index.js';

const KEY = 'A'.repeat(43);
const login = request('LOGIN', {
  'Imsp-version': 1,
  User: 'bob',
  Nonce: 'N'.repeat(24),
  'Key-share': KEY,
  Address: '127.0.0.1:7200',
});

test('[WIRE-1] encode then decode gives the message back', () => {
  const msg = response(200, { Tag: 't1', 'Content-type': 'text/plain' }, Buffer.from('hello'));
  const wire = encode(msg);
  assert.equal(
    wire.toString('latin1'),
    '200 OK\r\nTag: t1\r\nContent-type: text/plain\r\nContent-length: 5\r\n\r\nhello',
  );
  assert.deepEqual(decode(wire), [{ ...msg, headers: [...msg.headers, ['Content-length', '5']] }]);
  assert.deepEqual(decode(encode(login)), [login]);
});

test('[WIRE-12] the decoder is split-invariant and end() reports truncation', () => {
  const wire = Buffer.concat([encode(login), encode(response(200, {}, Buffer.from('xyz')))]);
  const d = new Decoder();
  const out = [];
  for (const b of wire) out.push(...d.push(Buffer.from([b])));
  d.end();
  assert.deepEqual(out, decode(wire));
  const t = new Decoder();
  t.push(wire.subarray(0, wire.length - 1));
  assert.throws(
    () => t.end(),
    (e: unknown) => e instanceof ImspError && e.code === 'ERR_TRUNCATED' && e.offset === wire.length - 1,
  );
});

test('[WIRE-4] errors carry code, status, reason and offset', () => {
  const e = (() => {
    try {
      decode(Buffer.from('LOG IN\r\n\r\n'));
    } catch (x) {
      return x;
    }
  })();
  assert.ok(e instanceof ImspError);
  assert.deepEqual([e.code, e.status, e.reason, e.offset], ['ERR_BAD_METHOD', 400, 'Malformed method', 3]);
  assert.deepEqual(decodeWithGrammar(Buffer.from('LOG IN\r\n\r\n')).error?.toJSON().code, 'ERR_BAD_METHOD');
});

test('[REG-1] validate and typed follow the registry', () => {
  assert.equal(validate(login, { from: 'client', to: 'ms' }), null);
  assert.equal(validate(login, { from: 'ms', to: 'crs' })?.code, 'ERR_METHOD_NOT_ALLOWED');
  assert.equal(validate(request('FROB'), { from: 'client', to: 'ms' })?.code, 'ERR_UNKNOWN_METHOD');
  assert.equal(validate(request('LOGIN', { User: 'bob' }), { from: 'client', to: 'ms' })?.code, 'ERR_MISSING_HEADER');
  const t = typed(login, { from: 'client', to: 'ms' });
  assert.equal(t.method, 'LOGIN');
  if (t.method === 'LOGIN') assert.equal(t.headers.User, 'bob');
  const err = errorResponse('ERR_LOCKED', { Tag: 'x' });
  assert.equal(validateResponse(err, 'LOGIN', { from: 'client', to: 'ms' }), null);
  assert.equal(header(err, 'error-CODE'), 'ERR_LOCKED');
  assert.deepEqual(headers(err, 'tag'), ['x']);
});

test('[REC-1] records round-trip', () => {
  const recs: [string, string][][] = [
    [
      ['User', 'alice'],
      ['Relation', 'buddy'],
    ],
    [
      ['From', 'carol'],
      ['Time', '1'],
    ],
  ];
  const body = encodeRecords(recs);
  assert.equal(body.toString(), 'User: alice\r\nRelation: buddy\r\n\r\nFrom: carol\r\nTime: 1\r\n');
  assert.deepEqual(parseRecords(body), recs);
  assert.deepEqual(parseRecords(Buffer.alloc(0)), []);
});

test('[REC-1] [WIRE-6] encodeRecords refuses a field name or value outside the grammar; every registered name is a field_name', () => {
  // encodeRecords tests only names the registry does not list (issue 15): that shortcut holds because of this
  for (const name of Object.keys(HEADERS)) assert.ok(isHeaderName(name), name);
  for (const bad of ['Us er', 'User:', '', 'Ü'])
    assert.throws(
      () => encodeRecords([[[bad, 'x']]]),
      (e: ImspError) => e.code === 'ERR_BAD_RECORDS',
      bad,
    );
  for (const bad of [' alice', 'alice ', 'a\r\nFrom: mallory'])
    assert.throws(
      () => encodeRecords([[['User', bad]]]),
      (e: ImspError) => e.code === 'ERR_BAD_RECORDS',
      bad,
    );
  assert.equal(encodeRecords([[['X-note', 'a b']]]).toString(), 'X-note: a b\r\n');
});

test('[REC-2] [WIRE-7] parseRecords keeps each field name as the wire spells it, registered or not, in any case', () => {
  // registered names spelled as the registry spells them come from a table (issue 15): the others must not
  const body = Buffer.from(
    'User: alice\r\nuser: bob\r\nUSER: carol\r\nRelation: buddy\r\nRelatioN: pending\r\nX-tag: 1\r\nUsers: 2\r\nUse: 3\r\n\r\nPublic-key: k\r\n',
    'latin1',
  );
  assert.deepEqual(
    parseRecords(body).map((r) => r.map(([n]) => n)),
    [['User', 'user', 'USER', 'Relation', 'RelatioN', 'X-tag', 'Users', 'Use'], ['Public-key']],
  );
});

test('[REG-8] the registries are exported as typed constants', () => {
  assert.equal(METHODS.LOGIN.kind, 'request');
  assert.equal(HEADERS['Content-length'].type, 'length');
  assert.equal(STATUS_CODES[200].reason, 'OK');
  assert.equal(ERRORS.ERR_BARE_CR.status, 400);
  assert.equal(LIMITS.maxHeadSize, 65536);
});
