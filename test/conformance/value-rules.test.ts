// The wire fuzzer's expectation for a LOGIN that the registry accepts but a method-specific value
// rule of the text refuses (Appendix A, "Method-specific value rules"; ms/fuzz/1 seed 9): a 422
// ERR_BAD_VALUE citing [AUTH-15] or [LOGIN-14], not service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, request, validate } from '../../codec/index.js';
import { Limits } from '../../conformance/lib/registry.js';
import { expectationFor } from '../../conformance/lib/wire-fuzz.js';
import { msWireTarget } from '../../conformance/lib/wire-target.js';

const limits = new Limits({});
const login = (nonce: string, extra: [string, string][] = []) =>
  request('LOGIN', [
    ['Imsp-version', '1'],
    ['User', 'ghost'],
    ['Nonce', nonce],
    ['Key-share', 'ZGSAb6vSOa8Pq2Ybbu_xgKdzKNnc5CHKpMGOPhP8_pc'],
    ['Address', '127.0.0.1:9'],
    ...extra,
  ]);

test('a 23-character LOGIN Nonce passes the registry but must be refused 422 ERR_BAD_VALUE [AUTH-15]', () => {
  const m = login('Zt7e3OesH4mGIZfOMD5aAzE');
  assert.equal(validate(m, { from: 'client', to: 'ms' }), null);
  const e = expectationFor(encode(m), msWireTarget(), limits);
  assert.deepEqual(e, {
    kind: 'validation',
    code: 'ERR_BAD_VALUE',
    status: 422,
    alts: [{ code: 'ERR_BAD_VALUE', status: 422 }],
    req: 'AUTH-15',
  });
});

test('a LOGIN with Status offline must be refused [LOGIN-14]; a 24-character Nonce is served', () => {
  const off = expectationFor(
    encode(login('Zt7e3OesH4mGIZfOMD5aAzE0', [['Status', 'offline']])),
    msWireTarget(),
    limits,
  );
  assert.equal(off.kind === 'validation' && off.req, 'LOGIN-14');
  assert.deepEqual(expectationFor(encode(login('Zt7e3OesH4mGIZfOMD5aAzE0')), msWireTarget(), limits), {
    kind: 'served',
  });
});
