// tools/citations.ts: the codemod rewrites the four other citation shapes into the one form, and the
// check finds unknown IDs and shapes not in the form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFile, fixComment } from '../../tools/citations.js';

const ids = new Set(['REG-1', 'REG-2', 'REG-3', 'LOCK-1', 'LOCK-2', 'LOGOUT-4']);

test('the codemod rewrites [A][B], (A), bare IDs and ranges into [A] [B]', () => {
  assert.equal(fixComment('// [LOCK-1][LOCK-2] grant', ids), '// [LOCK-1] [LOCK-2] grant');
  assert.equal(fixComment('// forgets the keys (LOGOUT-4).', ids), '// forgets the keys [LOGOUT-4].');
  assert.equal(fixComment('// as LOGOUT-4 says', ids), '// as [LOGOUT-4] says');
  assert.equal(fixComment('// checks [REG-1]..[REG-3]', ids), '// checks [REG-1] [REG-2] [REG-3]');
  assert.equal(fixComment('// NOT-9 and (X-1) are left alone', ids), '// NOT-9 and (X-1) are left alone');
  assert.equal(fixComment('// [LOCK-1] [LOCK-2] already in the form', ids), '// [LOCK-1] [LOCK-2] already in the form');
});

test('the check reports unknown IDs and citations not in the form, and prose section numbers on request', () => {
  const src = "// [LOCK-9] no such\n// (LOCK-1) old shape\n// see spec 6.4\nconst s = '[LOCK-1]';\n";
  const found = checkFile('x.ts', src, ids, true).map((f) => `${f.line}: ${f.what.split(':')[0]}`);
  assert.deepEqual(found, [
    '1: unknown requirement LOCK-9 (not in generated/requirements.json)',
    '2: citation not in the form [ID] [ID]',
    "3: prose section number 'spec 6.4'",
  ]);
});
