// The site builder on a minimal repository of its own: missing inputs are tolerated, a diagram that
// does not parse is reported (and shown as its source), a second build with unchanged inputs is
// skipped. Fixture IDs use ⟦ ⟧ for brackets so the scanner of test/** does not count them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSite } from '../../spec/site/build.js';

const br = (s: string): string => s.replace(/⟦/g, '[').replace(/⟧/g, ']');

test('a minimal repository builds; a broken diagram is reported and shown as source; unchanged inputs skip the build', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'imsp-site-build-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'spec/text'), { recursive: true });
  mkdirSync(join(root, 'test/x'), { recursive: true });
  writeFileSync(
    join(root, 'spec/text/01-only.md'),
    br(`# 1. Only

## 1.1. Flow

The client MUST say hello ⟦DEMO-1⟧. See Section 1.2.

\`\`\`mermaid
sequenceDiagram
  A->>B: hello
\`\`\`

## 1.2. Broken

\`\`\`mermaid
this is not a diagram
\`\`\`
`),
  );
  writeFileSync(join(root, 'test/x/a.test.ts'), br("test('checks ⟦DEMO-1⟧', () => {});\n"));
  const out = join(root, 'site');
  const opts = { root, out, cacheDir: join(root, 'cache'), typedoc: false } as const;

  const first = await buildSite(opts);
  assert.equal(first.built, true);
  assert.equal(first.diagrams.total, 2);
  assert.equal(first.diagrams.failures.length, 1);
  assert.match(first.diagrams.failures[0].diagram.origin, /01-only\.md \(1\.2\. Broken\)/);
  const page = readFileSync(join(out, '01-only.html'), 'utf8');
  assert.match(page, /class="diagram-error"/);
  assert.match(page, /this is not a diagram/);
  assert.match(page, /<img src="diagrams\/[0-9a-f]+\.svg"/);
  assert.match(page, /id="req-DEMO-1"/);
  assert.match(page, /<a class="xref" href="#section-1-2">Section 1\.2<\/a>/);
  assert.deepEqual(
    first.report.rows.map((r) => [r.req.id, r.coverage, r.citations.map((c) => `${c.file}:${c.line}`)]),
    [['DEMO-1', 'tested', ['test/x/a.test.ts:1']]],
  );
  for (const f of [
    'index.html',
    'grammar.html',
    'methods.html',
    'machines.html',
    'requirements.html',
    'api/index.html',
  ])
    assert.ok(existsSync(join(out, f)), f);
  assert.match(readFileSync(join(out, 'grammar.html'), 'utf8'), /does not exist yet/);

  // Fix the diagram: the build succeeds, the good diagram comes from the cache, and another run
  // with the same inputs is skipped.
  writeFileSync(
    join(root, 'spec/text/01-only.md'),
    readFileSync(join(root, 'spec/text/01-only.md'), 'utf8').replace(
      'this is not a diagram',
      'sequenceDiagram\n  B->>A: bye',
    ),
  );
  const second = await buildSite(opts);
  assert.equal(second.built, true);
  assert.deepEqual([second.diagrams.failures.length, second.diagrams.cached, second.diagrams.rendered], [0, 1, 1]);
  const third = await buildSite(opts);
  assert.equal(third.built, false);
});
