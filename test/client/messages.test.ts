// Every error code of the registry has a human message in the terminal client (issue 17), and the
// messages read as sentences, not protocol jargon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HUMAN_ERRORS, humanError, retryText } from '../../reference/client/messages.js';

const registry = JSON.parse(readFileSync(new URL('../../spec/registry/errors.json', import.meta.url), 'utf8')) as {
  errors: { code: string }[];
};

test('every error code in spec/registry/errors.json has a human message, and no message names a code', () => {
  const codes = registry.errors.map((e) => e.code);
  const missing = codes.filter((c) => !(c in HUMAN_ERRORS));
  assert.deepEqual(missing, [], `codes without a human message in reference/client/messages.ts: ${missing.join(', ')}`);
  for (const c of codes) {
    for (const cmd of [undefined, 'add', 'chat', 'login', 'send', 'profile', 'block', 'passwd']) {
      const m = humanError(c, { ...(cmd ? { cmd } : {}), user: 'bob', self: 'alice', retryAfter: 42_000 });
      assert.match(m, /^[A-Za-z"]/, `${c}/${cmd}: ${m}`);
      assert.match(m, /[.!?]$/, `${c}/${cmd}: ${m}`);
      assert.doesNotMatch(m, /ERR_|\b[0-9]{3}\b/, `${c}/${cmd}: ${m}`);
    }
  }
  assert.deepEqual(
    Object.keys(HUMAN_ERRORS).filter((c) => !codes.includes(c)),
    [],
    'messages for codes the registry does not have',
  );
});

test('the messages the issue names', () => {
  assert.equal(humanError('ERR_FORBIDDEN', { cmd: 'add', user: 'alice', self: 'alice' }), "You can't add yourself.");
  assert.equal(humanError('ERR_AUTH_FAILED', { cmd: 'login' }), 'Wrong user name or password.');
  assert.equal(
    humanError('ERR_RATE_LIMITED', { cmd: 'login', retryAfter: 42_000 }),
    'Too many failed logins. You can try again in 42 s.',
  );
  assert.equal(
    humanError('ERR_RATE_LIMITED', { cmd: 'login', retryAfter: 300_000 }),
    'Too many failed logins. You can try again in 5 min.',
  );
  assert.equal(
    humanError('ERR_NOT_BUDDY', { cmd: 'chat', user: 'carol' }),
    'carol is not your buddy (yet): /add carol first.',
  );
  assert.equal(retryText(undefined), 'in a moment');
  assert.match(humanError('ERR_SOMETHING_NEW'), /refused/);
});
