// `make requirements-check` inside `make test` (issue 12): the tracing check passes on the tree, and
// it can fail — on a wire requirement of a role with neither a kit case nor an exception, on a
// backlog entry whose case exists, on a case naming a requirement it does not declare (statically,
// and at run time through Checker), and on an exception without a reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Transcript } from '../../conformance/lib/conn.js';
import { Checker } from '../../conformance/lib/runner.js';
import {
  bindingRoles,
  checkCoverage,
  checkFailed,
  compareIds,
  formatCheck,
  type KitCase,
} from '../../spec/site/coverage.js';
import { roleLists, runCheck } from '../../spec/site/requirements-check.js';
import { collectNamedTests } from '../../spec/site/scan.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('[CONF-1] requirements-check passes: every wire MUST/SHOULD of a role has a kit case, an exception or a backlog entry; no case names an undeclared ID', async () => {
  const r = await runCheck(root);
  assert.equal(checkFailed(r), false, formatCheck(r));
  assert.ok(r.counts.covered > 150, `only ${r.counts.covered} requirement-role pairs have a kit case`);
  for (const row of r.rows)
    if (row.exception) assert.ok(row.exception.reason.length >= 10, `${row.id}: exception without a reason`);
});

const reqs = [
  { id: 'LOCK-1', level: 'MUST', sentence: 'LOCK on a record that is locked MUST be answered 423 ERR_LOCKED.' },
  { id: 'TYPING-1', level: 'MUST', sentence: 'A client MUST show a TYPING notification.' },
  { id: 'GEN-1', level: 'MUST', sentence: '`generated/` MUST be what make generate produces.' },
  { id: 'X-1', level: 'MAY', sentence: 'A sender MAY do it.' },
];
const kase = (role: KitCase['role'], id: string, r: string[]): KitCase => ({
  role,
  id,
  title: id,
  reqs: r,
  file: 'conformance/cases/x.ts',
});

test('the check fails on a wire requirement of a role with no kit case and no entry, and on a stale backlog entry', () => {
  const ex = {
    exceptions: [{ id: 'GEN-1', kind: 'unobservable' as const, reason: 'a property of the build, not the wire' }],
    backlog: [],
  };
  const bad = checkCoverage(reqs, [kase('crs', 'crs/lock/1', ['LOCK-1'])], new Map(), ex);
  assert.deepEqual(bad.uncovered, [{ id: 'TYPING-1', role: 'client' }]);
  assert.equal(checkFailed(bad), true);
  const listed = checkCoverage(reqs, [kase('crs', 'crs/lock/1', ['LOCK-1'])], new Map(), {
    ...ex,
    backlog: [{ id: 'TYPING-1', roles: ['client'], reason: 'no case yet' }],
  });
  assert.equal(checkFailed(listed), false, formatCheck(listed));
  const stale = checkCoverage(
    reqs,
    [kase('crs', 'crs/lock/1', ['LOCK-1']), kase('client', 'client/typing/1', ['TYPING-1'])],
    new Map(),
    { ...ex, backlog: [{ id: 'TYPING-1', roles: ['client'], reason: 'no case yet' }] },
  );
  assert.deepEqual(stale.staleBacklog, [{ id: 'TYPING-1', role: 'client' }]);
  assert.equal(checkFailed(stale), true);
  const noReason = checkCoverage(
    reqs,
    [kase('crs', 'c/1', ['LOCK-1']), kase('client', 'c/2', ['TYPING-1'])],
    new Map(),
    { exceptions: [{ id: 'GEN-1', kind: 'unobservable', reason: '' }], backlog: [] },
  );
  assert.equal(checkFailed(noReason), true);
  // A kit case of the wrong role does not cover the role the requirement binds.
  const wrongRole = checkCoverage(
    reqs,
    [kase('ms', 'ms/lock/1', ['LOCK-1']), kase('client', 'c/2', ['TYPING-1'])],
    new Map(),
    ex,
  );
  assert.deepEqual(wrongRole.uncovered, [{ id: 'LOCK-1', role: 'crs' }]);
});

test('an unobservable exception with roles excuses only those roles', () => {
  const gen = { id: 'GEN-1', kind: 'unobservable' as const, reason: 'a property of the build, not the wire' };
  const lock = (roles: ('crs' | 'ms' | 'client')[]) => ({
    exceptions: [gen, { id: 'LOCK-1', kind: 'unobservable' as const, roles, reason: 'table order is not visible' }],
    backlog: [],
  });
  const cases = [kase('client', 'client/typing/1', ['TYPING-1'])];
  assert.deepEqual(checkCoverage(reqs, cases, new Map(), lock(['crs'])).uncovered, []);
  assert.deepEqual(checkCoverage(reqs, cases, new Map(), lock(['ms'])).uncovered, [{ id: 'LOCK-1', role: 'crs' }]);
});

test('the check fails on a case whose checks name a requirement it does not declare, or an undefined ID', () => {
  const ex = {
    exceptions: [{ id: 'GEN-1', kind: 'unobservable' as const, reason: 'a property of the build' }],
    backlog: [],
  };
  const cases = [kase('crs', 'crs/lock/1', ['LOCK-1']), kase('client', 'client/typing/1', ['TYPING-1', 'NOPE-9'])];
  const r = checkCoverage(reqs, cases, new Map(), ex, [{ id: 'crs/lock/1', file: 'x.ts', ids: ['LOCK-2'] }]);
  assert.equal(checkFailed(r), true);
  assert.deepEqual(r.unknownDeclared, [{ id: 'client/typing/1', ids: ['NOPE-9'] }]);
});

test('the check fails on a case built by a factory that breaks the rules of the hand-written ones, and runs that check on the kit', async () => {
  const ex = {
    exceptions: [{ id: 'GEN-1', kind: 'unobservable' as const, reason: 'a property of the build' }],
    backlog: [],
  };
  const cases = [kase('crs', 'crs/lock/1', ['LOCK-1']), kase('client', 'client/typing/1', ['TYPING-1'])];
  const problem = 'crs: id crs/lock/1 is given to 2 cases';
  const r = checkCoverage(reqs, cases, new Map(), ex, [], [problem]);
  assert.equal(checkFailed(r), true);
  assert.match(
    formatCheck(r),
    /Cases built by factories that break the rules of the hand-written ones \(1\):\n {2}crs: id crs\/lock\/1 is given to 2 cases/,
  );
  assert.equal(checkFailed(checkCoverage(reqs, cases, new Map(), ex, [], [])), false);
  // make requirements-check builds every role's cases at the limits' defaults, minima and maxima for it.
  const lists = await roleLists(root);
  assert.deepEqual(Object.keys(lists), ['crs', 'ms', 'client']);
  for (const [role, sets] of Object.entries(lists)) {
    assert.equal(sets.length, 3, role);
    assert.ok(
      sets[0]!.some((c) => c.origin !== undefined),
      `${role}: no factory-built case`,
    );
  }
});

test('at run time a check naming an undeclared requirement is recorded; a helper precondition skips instead', () => {
  const c: Checker = new Checker([], new Transcript());
  c.declared = new Set(['LOCK-1']);
  c.must(true, 'LOCK-1', 'declared');
  c.must(true, 'LOCK-2', 'not declared');
  c.should(true, 'ERR-1', 'not declared either');
  assert.deepEqual([...c.undeclared].sort(), ['ERR-1', 'LOCK-2']);
  assert.throws(
    () => c.pre(false, 'ENROLL-4', 'cannot enroll'),
    (e: Error) => e.constructor.name === 'Skip' && /ENROLL-4/.test(e.message),
  );
  assert.throws(
    () => c.pre(false, 'LOCK-1', 'declared: a real check'),
    (e: Error) => e.constructor.name === 'Failure',
  );
  assert.equal(c.undeclared.has('ENROLL-4'), false);
});

test('a test checks an ID only when its name cites it (not a comment or a helper)', () => {
  const named = collectNamedTests(root);
  // This file's first test names [CONF-1]; the [CONF-2] in this comment is not a test.
  const here = (t: { file: string }): boolean => t.file === 'test/conformance/requirements-check.test.ts';
  assert.ok((named.get('CONF-1') ?? []).some(here));
  assert.equal((named.get('CONF-2') ?? []).some(here), false);
});

test('IDs sort in natural order and roles come from the sentence, then the prefix table', () => {
  assert.deepEqual(['CONN-15', 'CONN-2', 'CONN-1', 'AUTH-10', 'AUTH-9'].sort(compareIds), [
    'AUTH-9',
    'AUTH-10',
    'CONN-1',
    'CONN-2',
    'CONN-15',
  ]);
  assert.deepEqual(bindingRoles('TYPING-1', 'A client MUST show it.'), ['client']);
  assert.deepEqual(bindingRoles('LOCK-1', 'LOCK on a locked record MUST be answered 423.'), ['crs']);
  assert.deepEqual(bindingRoles('CONN-9', 'A receiver MUST answer every request.'), ['crs', 'ms', 'client']);
  assert.deepEqual(bindingRoles('ENROLL-13', 'The MS MUST check Server-proof.'), ['ms']);
});
