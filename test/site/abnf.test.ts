// The ABNF rendering of the wire grammar (generated/imsp.abnf, from grammar/imsp.peggy by
// grammar/codegen/gen-abnf.ts) describes the same language as the peggy grammar. Proof by round
// trip: the ABNF is parsed by an independent ABNF implementation (the `abnf` package), turned
// back into a parser with RFC 5234's core rules, and that parser must accept exactly the heads and
// record bodies the peggy grammar accepts: every wire fixture, and generated valid and near-valid
// input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import peggy from 'peggy';
import { parseString } from 'abnf';
import { peggyToAbnf } from '../../grammar/codegen/gen-abnf.js';
import { loadFixtures } from '../codec/fixture-format.js';
import { nearValid, stream } from '../codec/arbitraries.js';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '../..');
const PEGGY_SOURCE = readFileSync(join(ROOT, 'grammar/imsp.peggy'), 'utf8');
const abnfDir = dirname(createRequire(import.meta.url).resolve('abnf/package.json'));
const CORE = readFileSync(join(abnfDir, 'examples/core.abnf'), 'utf8');

interface Parser {
  parse(input: string, options?: { startRule?: string }): unknown;
}
const original = peggy.generate(PEGGY_SOURCE, { allowedStartRules: ['message_head', 'records_body'] }) as Parser;
const abnfText = readFileSync(join(ROOT, 'generated/imsp.abnf'), 'utf8');
const rules = parseString(`${abnfText}\n${CORE}`, 'imsp.abnf');
const fromAbnf = peggy.generate(rules.toFormat({ format: 'peggy', startRule: ['message-head', 'records-body'] }), {
  allowedStartRules: ['message_head', 'records_body'],
}) as Parser;

const accepts = (p: Parser, input: string, startRule: string): boolean => {
  try {
    p.parse(input, { startRule });
    return true;
  } catch {
    return false;
  }
};

/** Each complete head (start line to the empty line) in a stream, as latin1 text. */
function heads(wire: Buffer): string[] {
  const text = wire.toString('latin1');
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) {
      out.push(text.slice(at));
      break;
    }
    out.push(text.slice(at, end + 4));
    const cl = /\r\ncontent-length:[ \t]*([0-9]+)/i.exec(text.slice(at, end + 2));
    at = end + 4 + (cl ? Number(cl[1]) : 0);
  }
  return out;
}

test('generated/imsp.abnf is what gen-abnf makes of grammar/imsp.peggy, and parses as RFC 5234 ABNF', () => {
  assert.ok(abnfText.endsWith(peggyToAbnf(PEGGY_SOURCE).text), 'generated/imsp.abnf is stale: run make generate');
  assert.equal(rules.first, 'MESSAGE-HEAD');
  for (const name of [
    'MESSAGE-HEAD',
    'RECORDS-BODY',
    'START-LINE',
    'HEADER-FIELD',
    'FIELD-VALUE',
    'METHOD',
    'STATUS-LINE',
  ])
    assert.ok(rules.defs[name], `the ABNF defines ${name.toLowerCase()}`);
});

test('[WIRE-1] the ABNF accepts exactly the message heads of the wire fixtures that the peggy grammar accepts', () => {
  let accepted = 0;
  let rejected = 0;
  for (const c of loadFixtures(join(ROOT, 'spec/fixtures/wire'))) {
    const start = c.kind === 'records' ? 'records_body' : 'message_head';
    const inputs = c.kind === 'records' ? [c.input.toString('latin1')] : heads(c.input);
    for (const input of inputs) {
      const want = accepts(original, input, start);
      assert.equal(
        accepts(fromAbnf, input, start),
        want,
        `${c.file}: ${c.title}: ${JSON.stringify(input.slice(0, 120))}`,
      );
      if (want) accepted++;
      else rejected++;
    }
  }
  // Both kinds are exercised, or the comparison proves little.
  assert.ok(accepted > 20 && rejected > 20, `fixtures gave ${accepted} accepted and ${rejected} rejected inputs`);
});

test('[WIRE-1] the ABNF and the peggy grammar agree on generated valid and near-valid heads', () => {
  const agree = (wire: Buffer): void => {
    for (const h of heads(wire))
      assert.equal(accepts(fromAbnf, h, 'message_head'), accepts(original, h, 'message_head'), JSON.stringify(h));
  };
  fc.assert(
    fc.property(stream, (s) => agree(s.wire)),
    { numRuns: 300 },
  );
  fc.assert(fc.property(nearValid, agree), { numRuns: 1000 });
});
