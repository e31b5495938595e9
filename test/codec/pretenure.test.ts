// The decoder's slow state (issue 15): in about one `make bench` process in seven (four in ten under load)
// the fast-path decoder ran 4-6x slower for the whole process. V8 had pretenured the allocation site of
// the header-line array literal: a scavenge at the young generation's full size, inside a push, found
// nearly every header line the unoptimized code had allocated since the last scavenge still alive (a push
// holds its chunk's messages until it returns), so the optimized fast path allocated every later header
// line, and with the message literal every message too, in the old generation. The decoder now makes
// both where V8 keeps no pretenuring feedback (codec/decoder.ts, headerPair and DecodedRequest).
// A child process forces that decision deterministically and reports where the optimized decoder's
// objects were allocated; before the fix a header line and the message were in the old generation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./pretenure-child.ts', import.meta.url));

test('the optimized decoder allocates its messages and header lines young after V8 pretenures busy sites', async () => {
  const { stdout } = await run(process.execPath, [
    '--import',
    'tsx',
    '--allow-natives-syntax',
    // Deterministic: no background compilation or GC tasks, no automatic optimization, and a young
    // generation of fixed size, so every scavenge is one at the full size.
    '--single-threaded',
    '--interrupt-budget=1000000000',
    '--min-semi-space-size=1',
    '--max-semi-space-size=1',
    CHILD,
  ]);
  assert.deepEqual(JSON.parse(stdout), {
    canary: false,
    messages: true,
    message: true,
    headers: true,
    header: true,
    value: true,
  });
});
