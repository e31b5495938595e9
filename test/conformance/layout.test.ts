// The kit's layout (issue 12, as h2spec lays out its cases): one module per spec section under
// conformance/cases/, named by its number; contexts and helpers in conformance/lib/; roles/ only
// assembling case lists; no import cycle anywhere in conformance/ (dependency-cruiser's no-circular).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function cruiseKit(): Promise<ICruiseResult> {
  const out = await cruise(
    ['conformance'],
    {
      baseDir: root,
      tsPreCompilationDeps: true,
      doNotFollow: { path: ['node_modules', '^generated/'] },
      exclude: { path: ['^conformance/bin/'] },
      validate: true,
      ruleSet: {
        forbidden: [
          { name: 'no-circular', severity: 'error', from: { path: '^conformance/' }, to: { circular: true } },
          // lib/ is below cases/ and roles/: a context or helper never reaches up into them.
          {
            name: 'lib-below-cases',
            severity: 'error',
            from: { path: '^conformance/lib/' },
            to: { path: '^conformance/(cases|roles)/' },
          },
          // A section module depends on lib/ and generated/ only, never on a role or another section.
          {
            name: 'cases-below-roles',
            severity: 'error',
            from: { path: '^conformance/cases/' },
            to: { path: '^conformance/(roles|cli|selftest)' },
          },
          {
            name: 'cases-independent',
            severity: 'error',
            from: { path: '^conformance/cases/' },
            to: { path: '^conformance/cases/', pathNot: '^conformance/cases/common/' },
          },
        ],
      },
    },
    { extensions: ['.ts', '.js'] },
  );
  return out.output as ICruiseResult;
}

test('conformance/ has no import cycle and keeps lib < cases < roles', async () => {
  const r = await cruiseKit();
  assert.ok(r.summary.totalCruised > 40, `cruised ${r.summary.totalCruised} modules: the cruise did not see the kit`);
  const bad = r.summary.violations.map(
    (v) =>
      `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`,
  );
  assert.deepEqual(bad, []);
});

test('the rule catches a cycle when there is one (the check can fail)', async () => {
  // The same ruleSet on a pair of modules that import each other.
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'kit-cycle-'));
  try {
    writeFileSync(join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = () => b;\n");
    writeFileSync(join(dir, 'b.ts'), "import { a } from './a.js';\nexport const b = () => a;\n");
    const out = await cruise(
      ['.'],
      {
        baseDir: dir,
        tsPreCompilationDeps: true,
        validate: true,
        ruleSet: { forbidden: [{ name: 'no-circular', severity: 'error', from: {}, to: { circular: true } }] },
      },
      { extensions: ['.ts'] },
    );
    assert.ok((out.output as ICruiseResult).summary.error >= 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every case module is named by the number of the spec section it covers', () => {
  const sections = new Set(readdirSync(join(root, 'spec/text')).map((f) => f.slice(0, 2)));
  for (const dir of ['common', 'crs', 'ms', 'client']) {
    for (const f of readdirSync(join(root, 'conformance/cases', dir))) {
      const m = /^(\d\d)(\.\d+)?-[a-z0-9-]+\.ts$/.exec(f);
      assert.ok(m, `conformance/cases/${dir}/${f}: name it NN-section.ts (or NN.M-subsection.ts)`);
      assert.ok(sections.has(m[1]!), `conformance/cases/${dir}/${f}: no spec section ${m[1]}`);
    }
  }
});
