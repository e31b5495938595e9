// [CTL-7] [CONF-12] the control interface's JSON Schema: the kit reports a client line that breaks it,
// and the reference client's lines keep it. (The kit's full run against the reference client, in
// selftest.test.ts, validates every line of every client case as well.)
import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { checkControlLine } from '../../conformance/lib/control-schema.js';
import { ControlledClient } from '../../conformance/lib/control.js';
import { Transcript } from '../../conformance/lib/conn.js';
import { runControl } from '../../reference/client/control.js';

test('[CTL-7] the schema accepts well-formed events and results and names what is wrong with a malformed one', () => {
  assert.equal(checkControlLine('{"event":"ready","version":1}'), null);
  assert.equal(
    checkControlLine(
      '{"event":"login","user":"joe","ms":"127.0.0.1:7100","address":"127.0.0.1:7200","status":"online","contacts":2,"requests":0}',
    ),
    null,
  );
  assert.equal(checkControlLine('{"event":"ok","n":3,"cmd":"add","user":"bob","result":"stored"}'), null);
  assert.match(
    checkControlLine('{"event":"session","user":"bob","initiator":"yes"}') ?? '',
    /initiator must be boolean/,
  );
  assert.match(
    checkControlLine(
      '{"event":"login","user":"joe","ms":"127.0.0.1:7100","address":"127.0.0.1:7200","status":"online","contacts":[],"requests":0}',
    ) ?? '',
    /contacts must be integer/,
  );
  assert.match(
    checkControlLine('{"event":"logout","reason":"bye","reconnecting":"no"}') ?? '',
    /reconnecting must be boolean/,
  );
  assert.match(
    checkControlLine('{"event":"error","n":1,"cmd":"add","code":"NOPE","status":404,"reason":"x"}') ?? '',
    /code must match/,
  );
  assert.equal(checkControlLine('not json'), 'not a JSON object');
});

test('[CONF-12] the kit reports a malformed event of a client under test as a CTL-7 violation', async () => {
  const tr = new Transcript();
  const script = `printf '%s\\n' '{"event":"ready","version":1}' '{"event":"session","user":"bob","initiator":"yes"}'; cat >/dev/null`;
  const c = ControlledClient.start(`sh -c ${JSON.stringify(script)}`, {}, tr);
  assert.ok(await c.ready(5000), 'the fake client printed ready');
  const seen = await c.waitFor((e) => e.event === 'session', 5000);
  assert.ok(seen, 'the malformed line was read');
  await c.stop();
  assert.equal(c.violations.length, 1);
  assert.equal(c.violations[0]!.req, 'CTL-7');
  assert.match(c.violations[0]!.text, /initiator must be boolean/);
});

test('[CTL-7] every line the reference client writes without a server (ready, results, command errors) keeps the schema', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  const lines: string[] = [];
  output.on('data', (d: Buffer) =>
    lines.push(
      ...d
        .toString()
        .split('\n')
        .filter((l) => l !== ''),
    ),
  );
  const done = runControl({ input, output, crs: '127.0.0.1:9' } as Parameters<typeof runControl>[0]);
  input.end('contacts\nsessions\nfrobnicate\nstatus online\nadd\nquit\n');
  assert.equal(await done, 0);
  assert.ok(lines.length >= 6, `got ${lines.length} lines`);
  for (const l of lines) assert.equal(checkControlLine(l), null, l);
});
