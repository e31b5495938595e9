// `make demo` prints its transcript in causal order: a command's line comes before the events it
// causes (issue 17: `bob -> ANSWER alice grant` was printed after `bob <- CONTACT alice`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const DEMO = fileURLToPath(new URL('../../reference/demo/demo.ts', import.meta.url));

// The bound only stops a hung demo (it ends in well under a minute on a quiet machine); on a shared,
// busy machine (load 25 on 2 cores) it took over 80 s, so the bound is generous.
test('the demo passes and prints each command before its effects', { timeout: 250_000 }, async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', DEMO], { timeout: 240_000 });
  const lines = stdout.split('\n').map((l) =>
    l
      .replace(/^\s*[0-9.]+s\s+/, '')
      .replace(/\s+/g, ' ')
      .trim(),
  );
  const at = (re: RegExp) => {
    const i = lines.findIndex((l) => re.test(l));
    assert.ok(i >= 0, `no line matches ${re}:\n${stdout}`);
    return i;
  };
  const before = (cause: RegExp, effect: RegExp) =>
    assert.ok(at(cause) < at(effect), `${cause} should come before ${effect}:\n${stdout}`);
  before(/^bob -> ANSWER alice grant$/, /^bob <- CONTACT alice: buddy/);
  before(/^bob -> ANSWER alice grant$/, /^alice <- ANSWER from bob: grant/);
  before(/^alice -> ADD bob$/, /^bob <- ADD from alice/);
  before(/^carol -> LOGIN$/, /^carol <- ADD from alice/);
  before(/^carol -> ANSWER alice grant$/, /^carol <- CONTACT alice: buddy/);
  before(/^bob -> STATUS away$/, /^alice <- PRESENCE bob is away/);
  before(/^alice -> REM bob$/, /^bob <- CONTACT alice: none/);
  before(/^carol -> LOGOUT$/, /^alice <- PRESENCE carol is offline/);
  assert.match(stdout, /Demo complete/);
  assert.doesNotMatch(stdout, /DEMO FAILED|FAILED:/);
});
