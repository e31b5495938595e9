// Unit tests of the pure parts of the spec site: anchors, requirement extraction, citation scanning,
// the untested list and the coverage report.
// Fixture IDs are written with ⟦ ⟧ instead of square brackets and converted at run time, so that
// this file does not itself "cite" them when the requirement scanner reads test/**.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AnchorSet,
  headingAnchor,
  isReqId,
  pageForSource,
  reqAnchor,
  reqIdRegex,
  slugify,
  splitHeadingNumber,
} from '../../spec/site/anchors.js';
import {
  buildReport,
  extractOccurrences,
  groupRequirements,
  levelOf,
  parseGeneratedRequirements,
  parseUntested,
  scanCitations,
  sentenceBefore,
} from '../../spec/site/scan.js';

const br = (s: string): string => s.replace(/⟦/g, '[').replace(/⟧/g, ']');

test('requirement ID regex accepts the spec syntax and rejects near misses', () => {
  for (const ok of ['LOGIN-4', 'WIRE-LIMIT-1', 'MS-SHUTDOWN-12', 'A-0', 'P2P-3', 'HDR-TEXT-1'])
    assert.ok(isReqId(ok), ok);
  for (const bad of ['login-4', 'LOGIN', 'LOGIN-', '-4', 'LOGIN-4a', '4LOGIN-1', 'LOGIN--4', 'LOGIN 4'])
    assert.ok(!isReqId(bad), bad);
  const found = [...br('x ⟦LOGIN-4⟧ y ⟦WIRE-LIMIT-1⟧ ⟦nope-1⟧ ⟦Z-9⟧').matchAll(reqIdRegex())].map((m) => m[1]);
  assert.deepEqual(found, ['LOGIN-4', 'WIRE-LIMIT-1', 'Z-9']);
});

test('heading numbers and anchors are stable', () => {
  assert.deepEqual(splitHeadingNumber('5.3. LOGIN'), { number: '5.3', title: 'LOGIN' });
  assert.deepEqual(splitHeadingNumber('5. Methods'), { number: '5', title: 'Methods' });
  assert.deepEqual(splitHeadingNumber('12.10.4 Deep one'), { number: '12.10.4', title: 'Deep one' });
  assert.deepEqual(splitHeadingNumber('Appendix A. Decisions'), { number: 'A', title: 'Decisions' });
  assert.deepEqual(splitHeadingNumber('A.1. Login'), { number: 'A.1', title: 'Login' });
  assert.deepEqual(splitHeadingNumber('Abstract'), { number: null, title: 'Abstract' });
  assert.deepEqual(splitHeadingNumber('A note on style'), { number: null, title: 'A note on style' });
  assert.equal(headingAnchor('5.3. LOGIN'), 'section-5-3');
  assert.equal(headingAnchor('12.10. LOGIN'), 'section-12-10');
  assert.equal(headingAnchor('Appendix B. Registries'), 'section-b');
  assert.equal(headingAnchor('Status of This Memo'), 'status-of-this-memo');
  assert.equal(reqAnchor('LOGIN-4'), 'req-LOGIN-4');
  assert.equal(pageForSource('spec/text/05-login.md'), '05-login.html');
  assert.equal(slugify('  Héllo, <b>World</b>!  '), 'hello-world');
  assert.equal(slugify('!!!'), 'section');
});

test('AnchorSet makes every anchor on a page unique', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'b', 'a-2', 'c', 'b-2', 'a-3'), { maxLength: 30 }), (names) => {
      const set = new AnchorSet();
      const out = names.map((n) => set.unique(n));
      assert.equal(new Set(out).size, out.length);
      // The first occurrence of a name keeps the name itself when nothing earlier took it.
      if (names.length > 0) assert.equal(out[0], names[0]);
    }),
    { numRuns: 200 },
  );
});

test('levelOf takes the strongest upper-case BCP 14 keyword', () => {
  assert.equal(levelOf('The MS MUST NOT accept it'), 'MUST');
  assert.equal(levelOf('It is REQUIRED'), 'MUST');
  assert.equal(levelOf('A client SHOULD retry and MAY wait'), 'SHOULD');
  assert.equal(levelOf('This is NOT RECOMMENDED'), 'SHOULD');
  assert.equal(levelOf('An MS MAY do it'), 'MAY');
  assert.equal(levelOf('It is OPTIONAL'), 'MAY');
  assert.equal(levelOf('you must not (lower case is not normative)'), 'INFO');
  assert.equal(levelOf('MUSTARD is not a keyword'), 'INFO');
});

test('sentenceBefore finds the sentence an ID closes', () => {
  const t1 = br('The CRS keeps users. It MUST refuse a second login ⟦LOGIN-4⟧. Next.');
  assert.equal(sentenceBefore(t1, t1.indexOf(br('⟦LOGIN-4⟧'))), 'It MUST refuse a second login');
  const t2 = br('First one. The MS MUST close it. ⟦WIRE-3⟧ And more.');
  assert.equal(sentenceBefore(t2, t2.indexOf(br('⟦WIRE-3⟧'))), 'The MS MUST close it.');
  const t3 = br('A MUST hold ⟦A-1⟧. B MAY hold, e.g. here ⟦B-2⟧ ⟦B-3⟧.');
  assert.equal(sentenceBefore(t3, t3.indexOf(br('⟦B-2⟧'))), 'B MAY hold, e.g. here');
  assert.equal(sentenceBefore(t3, t3.indexOf(br('⟦B-3⟧'))), 'B MAY hold, e.g. here');
  const t4 = br('x ⟦A-1⟧ then y MUST z ⟦A-2⟧');
  assert.equal(sentenceBefore(t4, t4.indexOf(br('⟦A-2⟧'))), 'then y MUST z');
});

const SPEC = br(`# 5. Methods

Intro without requirements.

## 5.1. LOGIN

The MS MUST answer LOGIN with a challenge ⟦LOGIN-1⟧. It SHOULD be fast ⟦LOGIN-2⟧.

- A client MAY send Status ⟦LOGIN-3⟧.
- An ID in code \`⟦LOGIN-9⟧\` is no occurrence.

\`\`\`mermaid
sequenceDiagram
  A->>B: ⟦LOGIN-8⟧
\`\`\`

| header | rule |
|---|---|
| Nonce | MUST be fresh ⟦LOGIN-5⟧ |

## 5.2. Cross references

As ⟦LOGIN-1⟧ says, and see ⟦LOGIN-6⟧.
The server MUST do six ⟦LOGIN-6⟧.
`);

test('extractOccurrences finds every ID outside code, with section, line and sentence', () => {
  const occ = extractOccurrences(SPEC, 'spec/text/05-methods.md');
  assert.deepEqual(
    occ.map((o) => [o.id, o.section, o.line, o.ordinal, o.level]),
    [
      ['LOGIN-1', '5.1', 7, 0, 'MUST'],
      ['LOGIN-2', '5.1', 7, 0, 'SHOULD'],
      ['LOGIN-3', '5.1', 9, 0, 'MAY'],
      ['LOGIN-5', '5.1', 19, 0, 'MUST'],
      ['LOGIN-1', '5.2', 23, 1, 'INFO'],
      ['LOGIN-6', '5.2', 23, 0, 'INFO'],
      ['LOGIN-6', '5.2', 24, 1, 'MUST'],
    ],
  );
  assert.equal(occ[0].sentence, 'The MS MUST answer LOGIN with a challenge');
  assert.equal(occ[1].sentence, 'It SHOULD be fast');
  assert.equal(occ[3].sentence, 'MUST be fresh');
  assert.equal(occ[0].sectionAnchor, 'section-5-1');
  assert.equal(occ[0].page, '05-methods.html');
});

test('groupRequirements picks the normative occurrence as the definition', () => {
  const reqs = groupRequirements(extractOccurrences(SPEC, 'spec/text/05-methods.md'));
  assert.deepEqual(
    reqs.map((r) => r.id),
    ['LOGIN-1', 'LOGIN-2', 'LOGIN-3', 'LOGIN-5', 'LOGIN-6'],
  );
  const six = reqs.find((r) => r.id === 'LOGIN-6');
  assert.equal(six?.ordinal, 1);
  assert.equal(six?.line, 24);
  assert.equal(six?.mentions.length, 1);
  assert.equal(reqs[0].mentions.length, 1);
});

test('scanCitations reports each ID once per line with its line number', () => {
  const src = br(
    "import x;\ntest('⟦LOGIN-4⟧ a second login is refused ⟦LOGIN-4⟧', () => {\n  // ⟦WIRE-3⟧ and ⟦LOCK-2⟧\n});\n",
  );
  assert.deepEqual(scanCitations(src, 'test/a.test.ts'), [
    { id: 'LOGIN-4', file: 'test/a.test.ts', line: 2 },
    { id: 'WIRE-3', file: 'test/a.test.ts', line: 3 },
    { id: 'LOCK-2', file: 'test/a.test.ts', line: 3 },
  ]);
});

test('scanCitations ignores character classes of regular expressions', () => {
  const src = br('const re = /^\\⟦(⟦A-Z⟧⟦A-Z0-9⟧*)⟧/; const c = /⟦A-Z0-9⟧+/; // but ⟦LOCK-2⟧ counts');
  assert.deepEqual(
    scanCitations(src, 'x.ts').map((c) => c.id),
    ['LOCK-2'],
  );
});

test('parseUntested accepts the plausible shapes of spec/untested.json', () => {
  const want = [
    { id: 'A-1', reason: 'r1' },
    { id: 'B-2', reason: 'r2' },
  ];
  assert.deepEqual(parseUntested(want), want);
  assert.deepEqual(parseUntested({ untested: want }), want);
  assert.deepEqual(
    parseUntested({
      requirements: [
        { req: 'A-1', why: 'r1' },
        { id: br('⟦B-2⟧'), reason: 'r2' },
      ],
    }),
    want,
  );
  assert.deepEqual(parseUntested({ $comment: 'x', 'A-1': 'r1', 'B-2': { reason: 'r2' } }), want);
  assert.deepEqual(parseUntested(null), []);
});

test('parseGeneratedRequirements reads an array or a wrapped list', () => {
  const list = [{ id: 'A-1', section: '5.1', level: 'MUST', text: 'x' }, { nope: 1 }];
  assert.equal(parseGeneratedRequirements(list).length, 1);
  assert.equal(parseGeneratedRequirements({ requirements: list })[0].section, '5.1');
  assert.equal(parseGeneratedRequirements({ version: 1, items: list }).length, 1);
  assert.deepEqual(parseGeneratedRequirements('x'), []);
});

test('buildReport classifies tested, deliberately untested and missing MUSTs', () => {
  const reqs = groupRequirements(extractOccurrences(SPEC, 'spec/text/05-methods.md'));
  const citations = new Map([
    ['LOGIN-1', [{ file: 'test/x.test.ts', line: 3 }]],
    ['NOPE-1', [{ file: 'test/y.test.ts', line: 9 }]],
  ]);
  const untested = new Map([
    ['LOGIN-5', 'needs a real network'],
    ['GONE-1', 'x'],
  ]);
  const r = buildReport({ requirements: reqs, citations, untested });
  assert.deepEqual(
    r.rows.map((x) => [x.req.id, x.coverage]),
    [
      ['LOGIN-1', 'tested'],
      ['LOGIN-2', 'none'],
      ['LOGIN-3', 'none'],
      ['LOGIN-5', 'untested'],
      ['LOGIN-6', 'none'],
    ],
  );
  assert.deepEqual(
    r.mustsWithoutTest.map((x) => x.req.id),
    ['LOGIN-6'],
  );
  assert.deepEqual(
    r.unknownCited.map((x) => x.id),
    ['NOPE-1'],
  );
  assert.deepEqual(r.unknownUntested, ['GONE-1']);
  assert.equal(r.counts.must, 3);
  assert.equal(r.counts.tested + r.counts.untested + r.counts.none, r.counts.total);
});

test('extraction never throws and finds every well-formed ID in plain paragraphs', () => {
  const idArb = fc.tuple(fc.stringMatching(/^[A-Z][0-9A-Z]{0,5}$/), fc.nat({ max: 999 })).map(([a, n]) => `${a}-${n}`);
  const wordArb = fc.stringMatching(/^[a-z]{1,8}$/);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.array(wordArb, { minLength: 1, maxLength: 6 }), idArb), { maxLength: 8 }),
      (sentences) => {
        const md = sentences.map(([words, id]) => `${words.join(' ')} MUST hold [${id}].`).join(' ');
        const occ = extractOccurrences(`## 1. Sec\n\n${md}\n`, 'spec/text/01-x.md');
        assert.deepEqual(
          occ.map((o) => o.id),
          sentences.map(([, id]) => id),
        );
        occ.forEach((o, i) => assert.equal(o.sentence, `${sentences[i][0].join(' ')} MUST hold`));
      },
    ),
    { numRuns: 200 },
  );
});
