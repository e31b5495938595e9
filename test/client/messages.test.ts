// Every error code of the registry has a human message in the terminal client (issue 17), and the
// messages read as sentences, not protocol jargon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  HUMAN_ERRORS,
  humanError,
  reconnectText,
  retryText,
  unreachableText,
} from '../../reference/client/messages.js';

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
  // [BLOCK-9] /unblock of a buddy who is not blocked: not "not in your contacts"
  assert.equal(humanError('ERR_NOT_CONTACT', { cmd: 'unblock', user: 'bob' }), 'bob is not on your block list.');
  assert.equal(humanError('ERR_NOT_CONTACT', { cmd: 'rem', user: 'dave' }), 'dave is not in your contacts.');
  assert.equal(retryText(undefined), 'in a moment');
  assert.match(humanError('ERR_SOMETHING_NEW'), /refused/);
});

test('a server that cannot be reached is named with the reason, not "the service is not available"', () => {
  assert.equal(
    unreachableText('127.0.0.1:7999', 'ECONNREFUSED'),
    'Cannot reach the server at 127.0.0.1:7999 (connection refused: no server listens there): check the address and that the server runs.',
  );
  assert.match(unreachableText('ms.example:7100', 'ENOTFOUND'), /\(unknown host name\)/);
  assert.match(unreachableText('10.0.0.1:7000', 'EWHATEVER'), /\(EWHATEVER\)/);
});

test('the reconnect reason in words: no error code, no status line of the protocol', () => {
  // the first attempt says how the session ended (plain text already)
  assert.equal(reconnectText('connection to the MS closed'), 'connection to the MS closed');
  // a failed attempt: "ERR_CODE: detail", as the client's reconnect timer gives it
  assert.equal(
    reconnectText('ERR_UNAVAILABLE: cannot connect to 127.0.0.1:7000: connect ECONNREFUSED 127.0.0.1:7000'),
    'Cannot reach the server at 127.0.0.1:7000 (connection refused: no server listens there).',
  );
  assert.equal(
    reconnectText('ERR_TIMEOUT: connect to 127.0.0.1:7000 timed out'),
    'Cannot reach the server at 127.0.0.1:7000 (no answer).',
  );
  for (const r of [
    'ERR_UNAVAILABLE: LOCATE: 503 Unavailable (ERR_UNAVAILABLE)',
    'ERR_LOCKED: LOGIN: 423 Locked (ERR_LOCKED)',
    'ERR_INTERNAL: something broke',
  ]) {
    const m = reconnectText(r);
    assert.doesNotMatch(m, /ERR_|\b[0-9]{3}\b|LOCATE|LOGIN/, `${r} -> ${m}`);
    assert.match(m, /^[A-Z].*\.$/, m);
  }
  assert.equal(reconnectText('ERR_UNAVAILABLE: LOCATE named no MS'), 'The service is not available yet.');
});
