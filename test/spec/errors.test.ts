// Error handling as data [ERR-8]: spec/registry/errors.json (through generated/error-handling.ts) is the
// one table of what a receiver does for each error code. These tests fail when [§14.3 Error Codes], the offset
// table of [§4.6 Decoding Errors] or the state tables of [§12 State Machines] disagree with it, in either direction.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  ERRORS,
  ERROR_HANDLING,
  MACHINES,
  errorRule,
  closesConnection,
  answerSealed,
  type ErrorCode,
  type ErrorSituation,
} from '../../codec/index.js';
import { handlingCell } from './error-table.js';

const ROOT = new URL('../../', import.meta.url);
const text = (f: string): string => readFileSync(new URL(`spec/text/${f}`, ROOT), 'utf8');
const CODES = Object.keys(ERRORS) as ErrorCode[];

/** The rows of the first Markdown table after `heading`, as arrays of trimmed cells (header and rule dropped). */
function tableAfter(md: string, heading: string): string[][] {
  const at = md.indexOf(heading);
  assert.ok(at >= 0, `heading ${heading} not found`);
  const lines = md.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++)
    rows.push(
      lines[i]!.slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
  return rows;
}

test('[ERR-8] Section 14.3 lists every registered error code once, and nothing else', () => {
  const rows = tableAfter(text('14-error-handling.md'), '## 14.3. Error Codes');
  const inText = rows.map((r) => r[0]!);
  assert.deepEqual([...inText].sort(), [...CODES].sort());
  assert.equal(new Set(inText).size, inText.length, 'a code appears twice in 14.3');
});

test('[ERR-8] [ERR-1] each row of Section 14.3 has the registry status, reason, requirement and handling', () => {
  for (const [code, status, reason, req, handling] of tableAfter(
    text('14-error-handling.md'),
    '## 14.3. Error Codes',
  )) {
    const e = ERRORS[code as ErrorCode];
    assert.equal(Number(status), e.status, `${code}: status`);
    assert.equal(reason, e.reason, `${code}: reason`);
    assert.equal(req, e.req, `${code}: requirement`);
    assert.equal(handling, handlingCell(code as ErrorCode), `${code}: the Handling column differs from errors.json`);
  }
});

test('[WIRE-22] the offset table of Section 4.6 and the offset field of every framing error agree both ways', () => {
  const md = text('04-message-format.md');
  const rows = tableAfter(md, '<!-- error-offsets -->');
  const fromText = new Map(rows.map((r) => [r[0]!, r[1]!]));
  const fromRegistry = new Map(
    CODES.flatMap((c) => {
      const e = ERRORS[c] as { offset?: string };
      return e.offset === undefined ? [] : [[c, e.offset] as [string, string]];
    }),
  );
  assert.deepEqual(fromText, fromRegistry);
  for (const c of fromRegistry.keys())
    assert.equal(ERROR_HANDLING[c as ErrorCode].class, 'framing', `${c} has an offset but is not a framing error`);
});

test('[ERR-8] errorRule picks the first exception that holds, else the default', () => {
  assert.deepEqual(errorRule('ERR_OUT_OF_STATE'), { action: 'answer', answer: 'link', req: 'STATE-1' });
  assert.deepEqual(errorRule('ERR_OUT_OF_STATE', { handshake: true }), {
    action: 'answer-close',
    answer: 'clear',
    req: 'STATE-5',
  });
  assert.equal(errorRule('ERR_RATE_LIMITED', { final: true }).action, 'notice-close');
  assert.equal(errorRule('ERR_TIMEOUT', { noRequest: true }).action, 'close');
  assert.equal(errorRule('ERR_BAD_RECORDS', { method: 'INIT' }).action, 'answer-close');
  assert.equal(errorRule('ERR_BAD_RECORDS', { method: 'MSG' }).action, 'answer');
  assert.equal(errorRule('ERR_METHOD_NOT_ALLOWED', { clearOnSealed: true }).req, 'SEAL-7');
  assert.equal(
    answerSealed(errorRule('ERR_METHOD_NOT_ALLOWED', { clearOnSealed: true }), true),
    true,
    '[SEAL-9] the SEAL-7 refusal is sealed',
  );
  assert.equal(answerSealed(errorRule('ERR_DECRYPT'), true), false, '[SEAL-9] the answer to ERR_DECRYPT is in clear');
  assert.equal(closesConnection(errorRule('ERR_BAD_VALUE')), false);
  for (const c of CODES) {
    // A response can never be answered [REG-10]: no rule may answer one.
    const r = errorRule(c, { response: true });
    assert.ok(
      r.action === 'close' || r.action === 'never' || !['framing', 'validation'].includes(ERROR_HANDLING[c].class),
      `${c}: an error in a response must close`,
    );
  }
});

/**
 * Every state-table transition whose actions name an error code, with the situation it describes. A new
 * transition that names an error code fails the test until it is listed here.
 */
const SITUATIONS: Record<string, ErrorSituation> = {
  'buddy-relation/add-pending': { method: 'ADD' },
  'buddy-relation/add-buddy': { method: 'ADD' },
  'buddy-relation/add-blocked': { method: 'ADD' },
  'client-session/login-refused': { method: 'LOGIN', handshake: true },
  'client-session/proof-bad': { method: 'PROOF', handshake: true },
  'client-session/online-failed': { method: 'PROOF', handshake: true },
  'client-session/handshake-timeout': { handshake: true },
  'client-session/rate-warning': {},
  'client-session/rate-disconnect': { final: true },
  'client-session/silence': { unsolicited: true },
  'client-session/session-lost': { unsolicited: true },
  'client-session/shutdown': { unsolicited: true },
  'ms-enrollment/enroll-conflict': { method: 'ENROLL', handshake: true },
  'ms-enrollment/proof-bad': { method: 'PROOF', handshake: true },
  'p2p-session/seal-failed': {},
  'user-record/lock-busy': { method: 'LOCK' },
  'user-record/lock-online': { method: 'LOCK' },
  'user-record/online-stale': { method: 'ONLINE' },
  'user-record/offline-stale': { method: 'OFFLINE' },
};

interface T {
  name: string;
  actions: readonly string[];
}

test('[ERR-8] [STATE-3] the state tables of Section 12 do with each error code what errors.json says', () => {
  const seen = new Set<string>();
  for (const [machine, m] of Object.entries(MACHINES)) {
    for (const t of (m as unknown as { transitions: readonly T[] }).transitions) {
      const i = t.actions.findIndex((a) => /\bERR_[A-Z_]+/.test(a));
      if (i < 0) continue;
      const key = `${machine}/${t.name}`;
      const s = SITUATIONS[key];
      assert.ok(s, `${key} names an error code; list its situation in SITUATIONS`);
      seen.add(key);
      const act = t.actions[i]!;
      const closes = t.actions.slice(i + 1).some((a) => /^close\b/.test(a));
      const observed = act.startsWith('send NOTICE')
        ? closes
          ? 'notice-close'
          : 'notice'
        : act.startsWith('answer')
          ? closes
            ? 'answer-close'
            : 'answer'
          : 'other';
      for (const [, status, code] of act.matchAll(/(?:(\d{3}) )?(ERR_[A-Z_]+)/g)) {
        const c = code as ErrorCode;
        assert.ok(c in ERRORS, `${key}: ${c} is not a registered error code`);
        if (status !== undefined)
          assert.equal(Number(status), ERRORS[c].status, `${key}: ${c} is answered ${ERRORS[c].status}, not ${status}`);
        const rule = errorRule(c, s);
        assert.equal(
          observed,
          rule.action,
          `${key}: the table does '${act}'${closes ? ' then closes' : ''}, errors.json says ${rule.action} (${rule.req}) for ${c}`,
        );
        if (/in clear/.test(act))
          assert.equal(
            rule.answer,
            'clear',
            `${key}: the table answers ${c} in clear, errors.json says ${rule.answer}`,
          );
      }
    }
  }
  assert.deepEqual(
    [...seen].sort(),
    Object.keys(SITUATIONS).sort(),
    'SITUATIONS lists a transition that no longer names an error code',
  );
});

test('[CONN-4] a handshake timeout with no request outstanding closes without an answer, in the table and in errors.json', () => {
  const t = (MACHINES['ms-enrollment'] as unknown as { transitions: readonly T[] }).transitions.find(
    (x) => x.name === 'handshake-timeout',
  );
  assert.ok(t);
  assert.ok(
    !t.actions.some((a) => /ERR_TIMEOUT/.test(a)),
    'the CRS has no outstanding request to answer during enrollment',
  );
  assert.equal(errorRule('ERR_TIMEOUT', { noRequest: true }).action, 'close');
});
