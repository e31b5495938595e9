// The header accessors typed by method (codec/headers.ts over generated/methods.ts): they read what
// the codec reads, and — checked by `tsc` (make typecheck), which compiles this file — a header a
// method does not carry, or a misspelt one, does not compile: every `@ts-expect-error` below must
// meet an error, or tsc fails on the unused directive. [REG-4]
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  anyHeader,
  headerOf,
  isMethodName,
  isRequestOf,
  request,
  requiredHeaderOf,
  response,
  type RequestOf,
  type RequestsOn,
  type ResponseTo,
} from '../../codec/index.js';
import type { ClientEvents } from '../../reference/client/events.js';

test('headerOf reads a request header of its method, case-insensitively', () => {
  const login = request('LOGIN', [
    ['user', 'alice'],
    ['Nonce', 'n'],
  ]);
  assert.equal(headerOf(login, 'User'), 'alice');
  assert.equal(requiredHeaderOf(login, 'Nonce'), 'n');
  assert.equal(headerOf(login, 'Status'), undefined);
  assert.throws(() => requiredHeaderOf(login, 'Key-share'), /missing Key-share/);
  // @ts-expect-error misspelt header name
  headerOf(login, 'Usr');
  // @ts-expect-error a header LOGIN does not carry (it is a PROOF header)
  headerOf(login, 'Proof');
  // @ts-expect-error a response header is not a request header
  assert.throws(() => requiredHeaderOf(login, 'Server-proof'));
});

test('headerOf reads a response header of the method it answers', () => {
  const r = response(300, { Salt: 's', 'Error-code': 'ERR_X' }) as ResponseTo<'LOGIN'>;
  assert.equal(headerOf(r, 'Salt'), 's');
  assert.equal(headerOf(r, 'Error-code'), 'ERR_X'); // every response may carry the error headers
  // @ts-expect-error a request header of LOGIN is not a header of its response
  headerOf(r, 'Address');
  // @ts-expect-error misspelt
  headerOf(r, 'Sallt');
});

test('isRequestOf narrows a message to its method; anyHeader takes any registered name', () => {
  const m = request('PRESENCE', { User: 'bob', Status: 'away' }) as ReturnType<typeof request>;
  assert.equal(isRequestOf(m, 'PRESENCE'), true);
  assert.equal(isRequestOf(m, 'CONTACT'), false);
  if (isRequestOf(m, 'PRESENCE')) assert.equal(headerOf(m, 'Status'), 'away');
  assert.equal(anyHeader(m, 'User'), 'bob');
  // @ts-expect-error a message whose method is not known does not take headerOf
  headerOf(m as ReturnType<typeof request<string>>, 'User');
  // @ts-expect-error not a registered header name
  anyHeader(m, 'X-Nothing');
});

test('RequestsOn names the methods a link direction answers (the handler-table keys)', () => {
  const table: { [M in RequestsOn<'client', 'crs'>]: (m: RequestOf<M>) => string | undefined } = {
    LOCATE: (m) => headerOf(m, 'Imsp-version'),
  };
  assert.equal(table.LOCATE(request('LOCATE', { 'Imsp-version': 1 })), '1');
  // @ts-expect-error LOGIN is not sent from a client to the CRS
  const wrong: { [M in RequestsOn<'client', 'crs'>]: unknown } = { LOCATE: 1, LOGIN: 1 };
  assert.ok(wrong);
});

test('isMethodName admits the registered methods only; the ms-push event names its method by MethodName', () => {
  assert.equal(isMethodName('PRESENCE'), true);
  assert.equal(isMethodName('PRESENSE'), false);
  assert.equal(isMethodName('presence'), false); // methods are case-sensitive [WIRE-4]
  assert.equal(isMethodName('toString'), false); // not an inherited property of the table
  const push: ClientEvents['ms-push'][0] = { method: 'PRESENCE', user: 'bob' };
  assert.equal(push.method, 'PRESENCE');
  // @ts-expect-error a misspelt method is not a MethodName
  const bad: ClientEvents['ms-push'][0] = { method: 'PRESENSE' };
  assert.ok(bad);
});
