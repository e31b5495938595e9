// tools/citations.ts: the codemod rewrites the four other citation shapes into the one form, and the
// check finds unknown IDs and shapes not in the form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFile, fixComment, knownSections } from '../../tools/citations.js';

const ids = new Set(['REG-1', 'REG-2', 'REG-3', 'LOCK-1', 'LOCK-2', 'LOGOUT-4']);

test('the codemod rewrites [A][B], (A), bare IDs and ranges into [A] [B]', () => {
  assert.equal(fixComment('// [LOCK-1][LOCK-2] grant', ids), '// [LOCK-1] [LOCK-2] grant');
  assert.equal(fixComment('// forgets the keys (LOGOUT-4).', ids), '// forgets the keys [LOGOUT-4].');
  assert.equal(fixComment('// as LOGOUT-4 says', ids), '// as [LOGOUT-4] says');
  assert.equal(fixComment('// checks [REG-1]..[REG-3]', ids), '// checks [REG-1] [REG-2] [REG-3]');
  assert.equal(fixComment('// NOT-9 and (X-1) are left alone', ids), '// NOT-9 and (X-1) are left alone');
  assert.equal(fixComment('// [LOCK-1] [LOCK-2] already in the form', ids), '// [LOCK-1] [LOCK-2] already in the form');
});

test('[GEN-5] the check reports unknown IDs, citations not in the form, prose section numbers and sections with the wrong title', () => {
  const sections = new Map([
    ['6.4', 'The SEALED Envelope'],
    ['9.7', 'PROFILE'],
  ]);
  const src = [
    '// [LOCK-9] no such',
    '// (LOCK-1) old shape',
    '// see spec 6.4',
    "const s = '[LOCK-1]';",
    '// [§6.4 The SEALED Envelope] and [§9.7 PROFILE] are checked',
    '// [§9.7 SEARCH] was renamed, [§9.12 PROFILE] does not exist',
    '// RFC 5802 section 5.1 is another document',
    '// as section 8.3 says',
  ].join('\n');
  const found = checkFile('x.ts', src, ids, sections).map((f) => `${f.line}: ${f.what.split(':')[0]}`);
  assert.deepEqual(found, [
    '1: unknown requirement LOCK-9 (not in generated/requirements.json)',
    '2: citation not in the form [ID] [ID]',
    "3: prose section number 'spec 6.4'",
    "6: section §9.7 is titled 'PROFILE', not 'SEARCH'",
    '6: unknown section §9.12 (no such heading in spec/text)',
    "8: prose section number 'section 8.3'",
  ]);
});

test('[GEN-5] appendix sections are cited by their letter and checked like the numbered ones', () => {
  const sections = knownSections(process.cwd());
  assert.equal(sections.get('B.4'), 'Citations in Code and Tests');
  assert.equal(sections.get('9.7'), 'PROFILE');
  const src = [
    '// [§B.4 Citations in Code and Tests] is checked',
    '// [§B.4 Citations] has the wrong title',
    '// [§Q.1 Nothing] does not exist',
  ].join('\n');
  const found = checkFile('x.ts', src, ids, sections).map((f) => `${f.line}: ${f.what.split(':')[0]}`);
  assert.deepEqual(found, [
    "2: section §B.4 is titled 'Citations in Code and Tests', not 'Citations'",
    '3: unknown section §Q.1 (no such heading in spec/text)',
  ]);
});
