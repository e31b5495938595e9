// Runs every case of spec/fixtures/wire/*.md through the production decoder (whole input and
// one octet at a time) and the grammar's reference decoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ImspError,
  decodeWithGrammar,
  parseRecords,
  parseRecordsWithGrammar,
  type Message,
} from '../../codec/index.js';
import { fastOutcome } from './arbitraries.js';
import { loadFixtures } from './fixture-format.js';

const asJson = (m: Message): unknown => ({
  ...(m.kind === 'request' ? { method: m.method } : { status: m.status, reason: m.reason }),
  headers: m.headers,
  body: m.body.toString('base64'),
});

const cases = loadFixtures();

/** Every wire rule has at least one fixture (the IDs are also this file's citations). */
const COVERED = [
  '[WIRE-1]',
  '[WIRE-2]',
  '[WIRE-3]',
  '[WIRE-4]',
  '[WIRE-5]',
  '[WIRE-6]',
  '[WIRE-7]',
  '[WIRE-8]',
  '[WIRE-9]',
  '[WIRE-10]',
  '[WIRE-11]',
  '[WIRE-12]',
  '[WIRE-13]',
  '[WIRE-15]',
  '[WIRE-17]',
  '[WIRE-LIMIT-1]',
  '[WIRE-LIMIT-2]',
  '[WIRE-LIMIT-3]',
  '[WIRE-LIMIT-4]',
  '[WIRE-LIMIT-5]',
  '[WIRE-LIMIT-6]',
  '[REC-1]',
  '[REC-2]',
];

test('fixtures: every wire rule has a case', () => {
  const cited = new Set(cases.flatMap((c) => c.reqs.map((r) => `[${r}]`)));
  for (const id of COVERED) assert.ok(cited.has(id), `no fixture for ${id}`);
});

test('fixtures: every case cites a requirement, titles are unique', () => {
  assert.ok(cases.length >= 60, `only ${cases.length} cases`);
  const seen = new Set<string>();
  for (const c of cases) {
    assert.ok(c.reqs.length > 0, `${c.file}: "${c.title}" cites no requirement`);
    assert.ok(!seen.has(c.title), `duplicate title ${c.title}`);
    seen.add(c.title);
  }
});

for (const c of cases) {
  test(`${c.file}: ${c.title}`, () => {
    if (c.kind === 'records') {
      const run = (f: () => unknown): unknown => {
        try {
          return { json: f() };
        } catch (e) {
          assert.ok(e instanceof ImspError, String(e));
          return { error: { code: e.code, offset: e.offset } };
        }
      };
      const want = c.error ? { error: c.error } : { json: c.json };
      assert.deepEqual(
        run(() => parseRecords(c.input)),
        want,
      );
      const ref = run(() => parseRecordsWithGrammar(c.input)) as { json?: unknown; error?: { code: string } };
      // The grammar reports the same code; its offset is peggy's furthest failure.
      assert.deepEqual(ref.error ? ref.error.code : ref.json, c.error ? c.error.code : c.json);
      return;
    }
    const want = { messages: (c.json as unknown[] | undefined) ?? [], error: c.error ?? null };
    const show = (o: ReturnType<typeof fastOutcome>): unknown => ({ messages: o.messages.map(asJson), error: o.error });
    assert.deepEqual(show(fastOutcome(c.input, [], c.limits)), want, 'fast path, whole input');
    assert.deepEqual(show(fastOutcome(c.input, [1], c.limits)), want, 'fast path, one octet at a time');
    const ref = decodeWithGrammar(c.input, { limits: c.limits });
    assert.deepEqual(
      { messages: ref.messages.map(asJson), error: ref.error && { code: ref.error.code, offset: ref.error.offset } },
      want,
      'grammar',
    );
  });
}
