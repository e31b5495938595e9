// Requirement extraction (grammar/codegen/gen-requirements.ts) and the generated index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import generate, { extractRequirements, levelOf, sectionAnchor } from '../../grammar/codegen/gen-requirements.js';
import { ROOT, context, extraction } from './helpers.js';

/** A bracketed ID built at run time, so that this file does not cite fixture IDs as requirements. */
const tag = (id: string): string => `[${id}]`;
const one = (text: string) => extractRequirements([{ file: 'spec/text/99-x.md', text }]);

test('level is the strongest keyword of the sentence', () => {
  assert.equal(levelOf('A MAY do x, and MUST NOT do y'), 'MUST');
  assert.equal(levelOf('A SHOULD NOT do x, or MAY'), 'SHOULD');
  assert.equal(levelOf('It is OPTIONAL'), 'MAY');
  assert.equal(levelOf('It is REQUIRED'), 'MUST');
  assert.equal(levelOf('NOT RECOMMENDED'), 'SHOULD');
  assert.equal(levelOf('quoted "MUST" and `MUST` do not count'), null);
  assert.equal(levelOf('MUSTARD and MAYBE are words'), null);
});

test('sentences start after the previous sentence and the previous ID, and carry section and anchor', () => {
  const ex = one(
    '# 9. Top\n\n## 9.2. Sub\n\nIntro text. The MS MUST do a ' +
      tag('X-1') +
      '. Then the CRS SHOULD do b\ncontinued ' +
      tag('X-2') +
      '. Trailing text.\n\n- item MAY c ' +
      tag('X-3') +
      ';\n- item two ' +
      tag('REF-1') +
      ' without keyword\n',
  );
  assert.deepEqual(
    ex.requirements.map((r) => [r.id, r.level, r.section, r.anchor, r.text]),
    [
      ['X-1', 'MUST', '9.2', 'section-9-2', 'The MS MUST do a.'],
      ['X-2', 'SHOULD', '9.2', 'section-9-2', 'Then the CRS SHOULD do b continued.'],
      ['X-3', 'MAY', '9.2', 'section-9-2', 'item MAY c.'],
      ['REF-1', 'MAY', '9.2', 'section-9-2', 'item two.'],
    ],
  );
  assert.deepEqual(
    ex.keywordless.map((r) => r.id),
    ['REF-1'],
  );
  assert.deepEqual(ex.untagged, []);
});

test('keywords without an ID, duplicate IDs, code blocks and comments', () => {
  const ex = one(
    '# 1. A\n\nThis MUST have an ID but has none.\n\n```\nMUST ' +
      tag('C-1') +
      '\n```\n\n<!-- MUST ' +
      tag('C-2') +
      ' -->\n\nOne MUST ' +
      tag('D-1') +
      '. Two MUST ' +
      tag('D-1') +
      '.\n',
  );
  assert.equal(ex.untagged.length, 1);
  assert.match(ex.untagged[0].text, /has none/);
  assert.deepEqual(
    ex.requirements.map((r) => r.id),
    ['D-1', 'D-1'],
  );
  assert.deepEqual(ex.duplicates, ['D-1']);
});

test('appendix sections and anchors', () => {
  assert.equal(sectionAnchor('5.3'), 'section-5-3');
  assert.equal(sectionAnchor('A'), 'section-a');
  const ex = one('# A. Decisions\n\n## A.1. Sub\n\nX MAY y ' + tag('Z-1') + '.\n');
  assert.equal(ex.requirements[0].section, 'A.1');
  assert.equal(ex.requirements[0].anchor, 'section-a-1');
});

test('the generator emits requirements.ts and requirements.json in document order, deterministically', async () => {
  const a = await generate(context());
  const b = await generate(context());
  assert.deepEqual(a, b);
  assert.deepEqual(
    a.map((f) => f.path),
    ['requirements.ts', 'requirements.json'],
  );
  const json = JSON.parse(a[1].content) as {
    requirements: { id: string; level: string; section: string; anchor: string; text: string }[];
  };
  assert.deepEqual(
    json.requirements.map((r) => r.id),
    extraction().requirements.map((r) => r.id),
  );
  for (const r of json.requirements) {
    assert.match(r.level, /^(MUST|SHOULD|MAY)$/);
    assert.match(r.anchor, /^section-[0-9a-z-]+$/);
    assert.ok(r.text.length > 10);
  }
  assert.ok(a[0].content.includes('export const REQUIREMENTS'));
});

test('generated/requirements.* and generated/machines.ts are what the plugins produce from the text and the machines', async () => {
  // The same comparison as `make check-generated`, limited to this area's outputs so that it does not
  // depend on other plugins; the stamp is generate.ts's own.
  const { stamped } = await import('../../grammar/codegen/generate.js');
  const gm = (await import('../../grammar/codegen/gen-machines.js')).default;
  const outputs = [
    ...(await generate(context())).map((f) => ({ ...f, plugin: 'grammar/codegen/gen-requirements.ts' })),
    ...(await gm(context())).map((f) => ({ ...f, plugin: 'grammar/codegen/gen-machines.ts' })),
  ];
  for (const f of outputs) {
    const file = join(ROOT, 'generated', f.path);
    assert.ok(existsSync(file), `generated/${f.path} exists (run make generate)`);
    const want = stamped(f.path, [...new Set([...f.sources, f.plugin])], f.content);
    assert.equal(readFileSync(file, 'utf8'), want, `generated/${f.path} is stale: run make generate`);
  }
});

test('a bold lead-in before a requirement is not part of its sentence', () => {
  const ex = one('# 1. A\n\n- **Lease expiry.** The CRS MUST end it ' + tag('L-1') + '.\n');
  assert.equal(ex.requirements[0].text, 'The CRS MUST end it.');
});
