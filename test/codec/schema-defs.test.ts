// grammar/codegen/schema-defs.ts (issue 16): the generated control schema writes each repeated
// subschema once, under $defs, and still accepts and refuses exactly what the registry's schema does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import AjvModule from 'ajv';
import fc from 'fast-check';
import { CONTROL_SCHEMA } from '../../generated/control-schema.js';
import { canonical, factorDefs, MIN_CHARS } from '../../grammar/codegen/schema-defs.js';

const Ajv = AjvModule.default;
type Json = Parameters<typeof canonical>[0];
const source = JSON.parse(readFileSync('spec/registry/control.schema.json', 'utf8')) as Record<string, Json>;

/** Canonical JSON of every object below `x` that is not a map of schemas, with its count. */
function repeats(x: Json, out = new Map<string, number>()): Map<string, number> {
  if (Array.isArray(x)) for (const v of x) repeats(v, out);
  else if (typeof x === 'object' && x !== null)
    for (const [k, v] of Object.entries(x)) {
      if (['enum', 'const', 'required'].includes(k)) continue;
      const maps = ['properties', 'definitions', '$defs', 'patternProperties'].includes(k);
      const subs = maps && typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.values(v) : [v];
      for (const s of subs) {
        if (typeof s === 'object' && s !== null && !Array.isArray(s)) {
          const key = canonical(s);
          if (key.length >= MIN_CHARS && !('$ref' in s && Object.keys(s).length === 1))
            out.set(key, (out.get(key) ?? 0) + 1);
        }
        repeats(s, out);
      }
    }
  return out;
}

test('the generated control schema has $defs and no subschema written out twice', () => {
  const defs = (CONTROL_SCHEMA as { $defs?: Record<string, unknown> }).$defs;
  assert.ok(defs && Object.keys(defs).length > 0, 'the control schema repeats itself, so it must have $defs');
  const twice = [...repeats(CONTROL_SCHEMA as Json).entries()].filter(([, n]) => n > 1).map(([k]) => k.slice(0, 80));
  assert.deepEqual(twice, []);
  assert.ok(
    [...repeats(source as Json).values()].some((n) => n > 1),
    'the registry schema repeats subschemas',
  );
  // Every reference resolves.
  const refs = JSON.stringify(CONTROL_SCHEMA).match(/#\/\$defs\/[A-Za-z0-9-]+/g) ?? [];
  for (const r of refs) assert.ok(defs[r.slice('#/$defs/'.length)], `${r} has no entry`);
});

test('factorDefs: the same verdict as the original schema (ajv) on valid and mutated event lines', () => {
  const ajv = new Ajv({ allErrors: false, strict: false });
  const before = ajv.compile({ ...source, $id: 'before' });
  const after = ajv.compile({ ...(CONTROL_SCHEMA as object), $id: 'after' });
  const samples = [
    {
      event: 'login',
      user: 'alice',
      ms: '127.0.0.1:1',
      address: '127.0.0.1:2',
      status: 'online',
      contacts: 1,
      requests: 0,
    },
    { event: 'presence', user: 'bob', status: 'away' },
    { event: 'presence', user: 'bob', status: 'asleep' },
    { event: 'request', from: 'carol', time: 5 },
    { event: 'request', from: 'carol', time: -1 },
    { event: 'error', code: 'ERR_NOT_FOUND', status: 404, message: 'x' },
    { event: 'error', code: 'not-a-code', status: 404 },
    { event: 'ok', command: 'list', result: { contacts: [], requests: [] } },
  ];
  const value = fc.oneof(fc.string(), fc.integer({ min: -2, max: 700 }), fc.constantFrom('online', 'ERR_X', 'alice'));
  fc.assert(
    fc.property(
      fc.constantFrom(...samples),
      fc.constantFrom('user', 'status', 'from', 'time', 'code', 'x'),
      value,
      (s, k, v) => {
        for (const line of [s, { ...s, [k]: v }]) assert.equal(after(line), before(line), JSON.stringify(line));
      },
    ),
    { numRuns: 300 },
  );
});

test('factorDefs leaves a schema without repeats as it is, and is deterministic', () => {
  const small = { type: 'object', properties: { a: { type: 'string', pattern: '^[a-z]+$', minLength: 1 } } } as const;
  assert.deepEqual(factorDefs(small as unknown as Record<string, Json>), small);
  assert.equal(canonical(factorDefs(source)), canonical(factorDefs(source)));
});
