// Unit tests of the pure rendering pieces of the spec site: Markdown pages, cross-linking,
// the grammar splitter, machine diagrams and SVG sizing. No browser.
// Fixture IDs use ⟦ ⟧ for brackets (converted at run time) so the requirement scanner, which reads
// test/**, does not take them for citations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { linkify, layout, type LinkContext } from '../../spec/site/html.js';
import { diagramHash, renderMarkdown, rewriteHref } from '../../spec/site/markdown.js';
import { sizeSvg } from '../../spec/site/mermaid.js';
import { machineMermaid, parseGrammar, requirementsPage, type Linker } from '../../spec/site/pages.js';
import { buildReport, extractOccurrences, groupRequirements } from '../../spec/site/scan.js';
import { resolveEntryPoints } from '../../spec/site/typedoc.js';
import { REPO_ROOT } from '../../spec/site/build.js';

const br = (s: string): string => s.replace(/⟦/g, '[').replace(/⟧/g, ']');

const MD = br(`# 5. Methods

## 5.1. LOGIN

The MS MUST answer with a challenge ⟦LOGIN-1⟧. See Section 5.2 and LOGIN-1, and \`ERR_LOCKED\`.

\`\`\`mermaid
sequenceDiagram
  title Login
  C->>MS: LOGIN
\`\`\`

## 5.2. Again

As ⟦LOGIN-1⟧ says. Code \`⟦LOGIN-1⟧\` stays. [next](06-crypto.md#section-6-1)

<!-- a comment -->
`);

function ctxFor(md: string, source: string): LinkContext {
  const reqs = groupRequirements(extractOccurrences(md, source));
  return {
    page: '05-methods.html',
    reqPage: new Map(reqs.map((r) => [r.id, r.page] as const)),
    reqOrdinal: new Map(reqs.map((r) => [r.id, r.ordinal] as const)),
    sectionPage: new Map([
      ['5', '05-methods.html'],
      ['5.1', '05-methods.html'],
      ['5.2', '05-methods.html'],
      ['6.1', '06-crypto.html'],
    ]),
    methods: new Set(['LOGIN']),
    errors: new Set(['ERR_LOCKED']),
    headers: new Map([['nonce', 'Nonce']]),
  };
}

test('renderMarkdown: numbered headings get stable anchors, mermaid becomes an <img>, .md links become .html', () => {
  const p = renderMarkdown(MD, 'spec/text/05-methods.md');
  assert.equal(p.page, '05-methods.html');
  assert.equal(p.title, '5. Methods');
  assert.deepEqual(
    p.headings.map((h) => h.anchor),
    ['section-5', 'section-5-1', 'section-5-2'],
  );
  assert.match(p.html, /<h2 id="section-5-1">5\.1\. LOGIN/);
  assert.equal(p.diagrams.length, 1);
  assert.equal(p.diagrams[0].hash, diagramHash(p.diagrams[0].definition));
  assert.match(p.diagrams[0].alt, /^Sequence diagram: Login$/);
  assert.match(p.html, new RegExp(`<img src="diagrams/${p.diagrams[0].hash}\\.svg"`));
  assert.doesNotMatch(p.html, /sequenceDiagram/);
  assert.match(p.html, /href="06-crypto\.html#section-6-1"/);
  assert.doesNotMatch(p.html, /a comment/);
});

test('linkify anchors the defining occurrence once and links every other mention to it', () => {
  const p = renderMarkdown(MD, 'spec/text/05-methods.md');
  const html = linkify(p.html, ctxFor(MD, 'spec/text/05-methods.md'));
  const defs = html.match(/id="req-LOGIN-1"/g) ?? [];
  assert.equal(defs.length, 1);
  assert.match(html, /<a class="req" id="req-LOGIN-1" href="requirements\.html#req-LOGIN-1"/);
  assert.match(html, /<a class="req-ref" href="#req-LOGIN-1">\[LOGIN-1\]<\/a> says/);
  assert.match(html, /<a class="req-ref" href="#req-LOGIN-1">LOGIN-1<\/a>, and/);
  assert.match(html, /<a class="xref" href="#section-5-2">Section 5\.2<\/a>/);
  assert.match(html, /<a class="sym" href="errors\.html#ERR_LOCKED"><code>ERR_LOCKED<\/code><\/a>/);
  assert.match(html, /<code>\[LOGIN-1\]<\/code>/, 'IDs in code are left alone');
});

test('linkify links section references, including lists and ranges', () => {
  const ctx = ctxFor(MD, 'spec/text/05-methods.md');
  assert.equal(
    linkify('<p>Sections 5.1 to 6.1, and Section 9.9; Sections 5.1, 5.2 and 6.1.</p>', ctx),
    '<p><a class="xref" href="#section-5-1">Sections 5.1</a> to <a class="xref" href="06-crypto.html#section-6-1">6.1</a>, and Section 9.9; ' +
      '<a class="xref" href="#section-5-1">Sections 5.1</a>, <a class="xref" href="#section-5-2">5.2</a> and <a class="xref" href="06-crypto.html#section-6-1">6.1</a>.</p>',
  );
});

test('linkify sends a fragment link to the page that holds the anchor', () => {
  const ctx = {
    ...ctxFor(MD, 'spec/text/05-methods.md'),
    anchorPage: new Map([
      ['section-6-1', '06-crypto.html'],
      ['section-5-1', '05-methods.html'],
    ]),
  };
  assert.equal(
    linkify('<p><a href="#section-6-1">x</a> <a href="#section-5-1">y</a> <a href="#nowhere">z</a></p>', ctx),
    '<p><a href="06-crypto.html#section-6-1">x</a> <a href="#section-5-1">y</a> <a href="#nowhere">z</a></p>',
  );
});

test('linkify links code spans naming rendered source files', () => {
  const ctx = ctxFor(MD, 'spec/text/05-methods.md');
  assert.equal(
    linkify(
      '<p><code>grammar/imsp.peggy</code> <code>spec/machines/user-record.json</code> <code>spec/other.json</code></p>',
      ctx,
    ),
    '<p><a class="sym" href="grammar.html"><code>grammar/imsp.peggy</code></a> <a class="sym" href="machines.html#machine-user-record"><code>spec/machines/user-record.json</code></a> <code>spec/other.json</code></p>',
  );
});

test('linkify leaves text without IDs unchanged and never breaks tags', () => {
  const ctx = ctxFor(MD, 'spec/text/05-methods.md');
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z .,;()]{0,60}$/), (text) => {
      const html = `<p>${text}</p><pre><code class="x">${text} ${br('⟦LOGIN-1⟧')}</code></pre><script>x = a ${br('⟦LOGIN-1⟧')} < b; // Section 5.1</script>`;
      assert.equal(linkify(html, ctx), html);
    }),
    { numRuns: 200 },
  );
});

test('layout produces a complete page with the navigation and no external resources', () => {
  const html = layout({ file: 'grammar.html', title: 'Grammar <x>', body: '<h1>x</h1>' });
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>Grammar &lt;x&gt; &mdash; IMSP<\/title>/);
  assert.match(html, /<a href="grammar.html" aria-current="page">Grammar<\/a>/);
  assert.doesNotMatch(html, /https?:\/\//);
});

test('rewriteHref maps spec sources to pages and leaves other targets alone', () => {
  assert.equal(rewriteHref('05-methods.md'), '05-methods.html');
  assert.equal(rewriteHref('./05-methods.md#section-5-1'), '05-methods.html#section-5-1');
  assert.equal(rewriteHref('../text/05-methods.md'), '05-methods.html');
  assert.equal(rewriteHref('#section-5'), '#section-5');
  assert.equal(rewriteHref('https://www.rfc-editor.org/rfc/rfc8174'), 'https://www.rfc-editor.org/rfc/rfc8174');
  assert.equal(rewriteHref('../../README.md'), '../../README.md');
});

test('parseGrammar splits the prose header, banners, rule docs and rules', () => {
  const g = parseGrammar(
    br(`// The grammar.
//
// It parses heads ⟦WIRE-${1}⟧.

{{
  function at() {}
}}

// ------------------------------------------ start line ⟦WIRE-${4}⟧

// A start line.
start_line "start line"
  = request_line
  / status_line

request_line
  = m:method eol { return m; }

method "method" = $([A-Z]+)
`),
  );
  assert.equal(g.header, br('The grammar.\n\nIt parses heads ⟦WIRE-1⟧.'));
  assert.match(g.preamble, /function at/);
  assert.deepEqual(
    g.rules.map((r) => [r.name, r.display, r.group, r.doc]),
    [
      ['start_line', 'start line', br('start line ⟦WIRE-4⟧'), 'A start line.'],
      ['request_line', null, null, ''],
      ['method', 'method', null, ''],
    ],
  );
  assert.equal(g.rules[0].code, 'start_line "start line"\n  = request_line\n  / status_line');
});

test('machineMermaid draws every transition, expanding lists of from-states', () => {
  const d = machineMermaid({
    name: 'm',
    states: [{ name: 'a' }, { name: 'b-c' }],
    initial: 'a',
    transitions: [
      { from: ['a', 'b-c'], event: 'GO', guard: 'ok', to: 'b-c' },
      { from: 'b-c', event: 'BACK', to: 'a' },
    ],
  });
  assert.equal(
    d,
    [
      'stateDiagram-v2',
      '  state "b-c" as b_c',
      '  [*] --> a',
      '  a --> b_c: GO [ok]',
      '  b_c --> b_c: GO [ok]',
      '  b_c --> a: BACK',
    ].join('\n'),
  );
});

test('sizeSvg gives the SVG the natural size of its viewBox', () => {
  const svg =
    '<svg id="x" width="100%" xmlns="http://www.w3.org/2000/svg" style="max-width: 450px;" viewBox="-50 -10 450.2 259"><g/></svg>';
  assert.equal(
    sizeSvg(svg),
    '<svg width="451" height="259" id="x" xmlns="http://www.w3.org/2000/svg" style="max-width: 450px;" viewBox="-50 -10 450.2 259"><g/></svg>',
  );
  assert.equal(sizeSvg('<svg><g/></svg>'), '<svg><g/></svg>');
});

test('requirementsPage lists every requirement with its anchor and coverage', () => {
  const reqs = groupRequirements(extractOccurrences(MD, 'spec/text/05-methods.md'));
  const report = buildReport({ requirements: reqs, citations: new Map(), untested: new Map() });
  const L: Linker = { req: (id) => `x#${id}`, knownReq: () => true, section: () => null, methodSection: () => null };
  const html = requirementsPage(report, L, []);
  assert.match(html, /<tr id="req-LOGIN-1" class="cov-none lvl-must">/);
  assert.match(html, /href="05-methods.html#req-LOGIN-1"/);
  assert.match(html, /no kit case or test yet/);
});

test('typedoc entry points tolerate missing files and expand one-level globs', () => {
  const eps = resolveEntryPoints(REPO_ROOT, ['spec/site/build.ts', 'no/such/file.ts', 'spec/*/build.ts']);
  assert.deepEqual(eps, ['spec/site/build.ts']);
});

test('the site lock is exclusive across holders and re-entrant within one process', async () => {
  const { mkdtempSync, existsSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { acquireSiteLock, withSiteLock } = await import('../../spec/site/lock.js');
  const dir = mkdtempSync(join(tmpdir(), 'imsp-site-lock-'));
  try {
    const release = await acquireSiteLock(dir);
    assert.ok(existsSync(join(dir, '.lock', 'pid')));
    // Re-entrant: a build inside the test's lock proceeds.
    assert.equal(await withSiteLock(dir, async () => 42), 42);
    assert.ok(existsSync(join(dir, '.lock')), 'the inner release keeps the outer hold');
    release();
    assert.ok(!existsSync(join(dir, '.lock')));
    // A lock left by a process that no longer exists is taken over.
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(dir, '.lock'));
    writeFileSync(join(dir, '.lock', 'pid'), '999999999');
    assert.equal(await withSiteLock(dir, async () => 'taken', 5_000), 'taken');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
