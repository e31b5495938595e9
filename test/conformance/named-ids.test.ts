// The static check that a kit case declares every requirement its checks can name, through the
// helpers it calls (spec/site/named-ids.ts, issue 12). The fixture is a tiny kit in a temporary
// directory: a case that names IDs only through a helper, a class method and checkError must be
// reported when its reqs leave them out, and preconditions must not count. The cases built by
// factories (loops and helpers, no literal id) are held to the same rules through the `origin` their
// factory site records [CONF-1] [CONF-2]: unique role/section/n ids that do not change with the limits, and
// reqs that declare what the site's run can name (factoryProblems, run on the real kit; make
// requirements-check runs it too, through runCheck).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KitCase } from '../../spec/site/coverage.js';
import { NamedIds } from '../../spec/site/named-ids.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kitErrorRegistry } from '../../spec/site/named-ids.js';
import { callUndeclared, factoryProblems, roleLists, type FactoryCase } from '../../spec/site/requirements-check.js';

const LIB = `
export interface C {
  must(c: unknown, r: string, t: string): void;
  should(c: unknown, r: string, t: string): boolean;
  pre(c: unknown, r: string, t: string): void;
}
export function helper(ctx: C): void {
  ctx.must(true, 'HELP-1', 'named by a helper');
  ctx.pre(true, 'PRE-1', 'a precondition: a skip, not a finding');
  deeper(ctx);
}
function deeper(ctx: C): void {
  ctx.should(true, 'DEEP-1', 'named two calls down');
}
export function checkError(ctx: C, r: unknown, code: string, what: string, offsetOrReq?: number | string): void {
  ctx.must(r, code === '' ? 'NOT-1' : 'NOT-2', what);
}
export class Ctx implements C {
  must(): void {}
  should(): boolean { return true; }
  pre(): void {}
  login(): void { this.must(true, 'LOGIN-1', 'named by a context method'); }
}
`;
const CASES = `
import { checkError, helper, type Ctx } from '../../lib/h.js';
export const cases = [
  {
    id: 'crs/a/1', section: 'a', title: 'names IDs through helpers', reqs: ['OWN-1'],
    async run(ctx: Ctx) {
      ctx.must(true, 'OWN-1', 'its own');
      helper(ctx);
      ctx.login();
      checkError(ctx, null, 'ERR_X', 'refused');
    },
  },
  {
    id: 'crs/a/2', section: 'a', title: 'declares what it names', reqs: ['OWN-1'],
    async run(ctx: Ctx) { ctx.must(true, 'OWN-1', 'its own'); ctx.pre(true, 'PRE-2', 'no finding'); },
  },
];
`;

function fixture(): string {
  const root = mkdtempSync(join(tmpdir(), 'imsp-named-ids-'));
  mkdirSync(join(root, 'conformance/lib'), { recursive: true });
  mkdirSync(join(root, 'conformance/cases/crs'), { recursive: true });
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', types: [] } }),
  );
  writeFileSync(join(root, 'conformance/lib/h.ts'), LIB);
  writeFileSync(join(root, 'conformance/cases/crs/01-a.ts'), CASES);
  return root;
}

const kase = (id: string, reqs: string[]): KitCase => ({ role: 'crs', id, title: id, reqs, file: 'x.ts' });

test('the static check follows a case into its helpers, context methods and checkError; preconditions do not count', (t) => {
  const root = fixture();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const named = NamedIds.create(root, {
    lookup: (code) => (code === 'ERR_X' ? { req: 'XREQ-1', validation: true } : undefined),
  });
  const byId = new Map(named.cases().map((c) => [c.id, c.named] as const));
  assert.deepEqual(byId.get('crs/a/1'), ['DEEP-1', 'ERR-1', 'HELP-1', 'LOGIN-1', 'OWN-1', 'WIRE-22', 'XREQ-1']);
  assert.deepEqual(byId.get('crs/a/2'), ['OWN-1', 'PRE-2']);
  // A case that leaves out what its helpers name is reported; declaring them clears it.
  assert.deepEqual(callUndeclared(named, [kase('crs/a/1', ['OWN-1']), kase('crs/a/2', ['OWN-1', 'PRE-2'])]), [
    {
      id: 'crs/a/1',
      file: 'conformance/cases/crs/01-a.ts',
      ids: ['DEEP-1', 'ERR-1', 'HELP-1', 'LOGIN-1', 'WIRE-22', 'XREQ-1'],
    },
  ]);
  const all = ['OWN-1', 'DEEP-1', 'ERR-1', 'HELP-1', 'LOGIN-1', 'WIRE-22', 'XREQ-1'];
  assert.deepEqual(callUndeclared(named, [kase('crs/a/1', all), kase('crs/a/2', ['OWN-1', 'PRE-2'])]), []);
});

const root = fileURLToPath(new URL('../../', import.meta.url));

test('[CONF-1] [CONF-2] every case a factory builds records its origin, has a unique role/section/n id that does not change with the limits, and declares what its site can name', async (t) => {
  const ids = NamedIds.create(root, await kitErrorRegistry(root));
  const sites = ids.factorySites();
  const roles = await roleLists(root);
  const literal = new Set(ids.cases().map((c) => c.id));
  const known = new Set(
    (
      JSON.parse(readFileSync(`${root}generated/requirements.json`, 'utf8')) as { requirements: { id: string }[] }
    ).requirements.map((r) => r.id),
  );
  // The kit has factory sites, and factory cases in every role (else the check would hold vacuously).
  assert.ok(sites.length >= 10, `${sites.length} factory sites`);
  for (const [role, [first]] of Object.entries(roles))
    assert.ok(
      first!.some((c) => c.origin !== undefined && !literal.has(c.id)),
      `${role}: no factory-built case`,
    );
  assert.deepEqual(factoryProblems(sites, roles, literal, known), []);

  await t.test(
    'the check catches a planted duplicate id, a site and a case with no origin, an undeclared requirement and ids that move with the limits',
    () => {
      const crs = roles.crs!;
      const built = crs[0]!.filter((c) => c.origin !== undefined && !literal.has(c.id));
      const [a, b] = built;
      const planted: Record<string, FactoryCase[][]> = {
        // A second case of b's factory given a's id: both the defaults' list and a moved one.
        crs: [
          [...crs[0]!, { ...b!, id: a!.id }],
          [...crs[0]!, { ...b!, id: a!.id }],
        ],
        ms: [[...roles.ms![0]!, { id: 'ms/registry/999', section: 'registry', reqs: [] }]],
        client: [roles.client![0]!, roles.client![0]!.slice(1)],
      };
      const site = sites.find((x) => x.origin === b!.origin)!;
      const problems = factoryProblems([...sites, { ...site, origin: undefined, line: 9999 }], planted, literal, known);
      assert.ok(problems.includes(`crs: id ${a!.id} is given to 2 cases`), problems.join('\n'));
      assert.ok(
        problems.includes(`${site.file}:9999: a case built here records no literal origin`),
        problems.join('\n'),
      );
      assert.ok(problems.includes('ms/registry/999: built by a factory that records no origin'), problems.join('\n'));
      assert.ok(
        problems.some((p) => p.startsWith('client: the case list changes with the limits at ')),
        problems.join('\n'),
      );
      // A factory case that leaves out a requirement its site names.
      const named = site.named.find((x) => known.has(x))!;
      const undeclared = factoryProblems(
        sites,
        { crs: [[{ ...b!, reqs: b!.reqs.filter((x) => x !== named) }]] },
        literal,
        known,
      );
      assert.deepEqual(undeclared, [
        `${b!.id} (origin '${b!.origin}'): its checks can name ${named}, which its reqs do not declare`,
      ]);
    },
  );
});
