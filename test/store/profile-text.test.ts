// [HDR-TEXT-1] [REG-6] The store's check of profile values and the codec's check of the text headers
// are one rule: printable ASCII and tab, at most maxTextValue characters. Every Full-name, Location and
// About a CRS handler sees has passed the codec's check, so the store's own check (validateProfile)
// never refuses a value that came over the wire; it guards the store's other callers (imsp user add).
// Why the kit-mutation survivor store/store.ts:444 (that check dropped) is triaged equivalent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LIMITS } from '../../generated/registry.js';
import { HEADER_VALIDATORS } from '../../generated/validators.js';
import { validateProfile } from '../../reference/store/store.js';

/** The rule of [HDR-TEXT-1] with the text value type's alphabet, written out. */
const rule = (v: string): boolean =>
  v.length <= LIMITS.maxTextValue && [...v].every((c) => c === '\t' || (c >= ' ' && c <= '~'));

test('[HDR-TEXT-1] the codec, the store and the rule agree on every octet and at the length bound', () => {
  const values: string[] = ['', 'é', '\u{1F600}'];
  for (let o = 0; o < 256; o++) {
    const c = String.fromCharCode(o);
    values.push(c, `a${c}b`);
  }
  for (const n of [LIMITS.maxTextValue, LIMITS.maxTextValue + 1]) values.push('x'.repeat(n), '\t'.repeat(n));
  let accepted = 0;
  for (const v of values) {
    const want = rule(v);
    if (want) accepted++;
    for (const h of ['Full-name', 'Location', 'About'] as const)
      assert.equal(HEADER_VALIDATORS[h](v), want, `codec, ${h}: ${JSON.stringify(v)}`);
    for (const k of ['fullName', 'location', 'about'] as const)
      assert.equal(validateProfile({ [k]: v }) === null, want, `store, ${k}: ${JSON.stringify(v)}`);
  }
  // 96 characters (tab and 0x20-0x7E) alone and between two letters, '', and the two values at the bound.
  assert.equal(accepted, 2 * 96 + 1 + 2);
});
