// `imsp decode` / `imsp encode` as a user runs them: the bin, stdin in, stdout/stderr out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { run } from '../../reference/cli/codec.js';

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function imsp(args: string[], input: Buffer | string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['reference/bin/imsp.js', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}

/** The same command in-process, through run()'s injectable stdio. */
async function imspIn(args: string[], input: Buffer | string): Promise<Run> {
  const out: Buffer[] = [];
  const err: string[] = [];
  const code = await run(args, {
    stdin: Readable.from([Buffer.from(input)]),
    stdout: { write: (c) => (out.push(Buffer.from(c)), true) },
    stderr: { write: (c) => (err.push(Buffer.from(c).toString()), true) },
  });
  return { code, stdout: Buffer.concat(out), stderr: err.join('') };
}

const lines = (b: Buffer): unknown[] =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown);
const WIRE = 'FROB\r\nWhatever: x  \r\n\r\n200 OK\r\nContent-length: 2\r\n\r\nhi';

test('[CLI-1] imsp decode prints one JSON object per message, any well-formed message', async () => {
  const r = await imsp(['decode'], WIRE);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    { method: 'FROB', headers: [['Whatever', 'x']], body: '' },
    { status: 200, reason: 'OK', headers: [['Content-length', '2']], body: 'aGk=' },
  ]);
});

test('[WIRE-12] imsp decode reports truncation with code, status, reason and offset, exit 1', async () => {
  const r = await imspIn(['decode'], 'PING\r\n\r\nPING\r\n');
  assert.equal(r.code, 1);
  assert.deepEqual(lines(r.stdout), [{ method: 'PING', headers: [], body: '' }]);
  const e = (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error;
  assert.deepEqual([e.code, e.status, e.reason, e.offset], ['ERR_TRUNCATED', 400, 'Truncated message', 14]);
});

test('[WIRE-3] imsp decode reports a malformed message and exits 1', async () => {
  const r = await imspIn(['decode'], 'PING\nx');
  assert.equal(r.code, 1);
  assert.equal((JSON.parse(r.stderr) as { error: { code: string; offset: number } }).error.code, 'ERR_BARE_LF');
});

test('[REG-3] imsp decode --validate adds the registry checks', async () => {
  const ok = await imspIn(['decode', '--validate', '--from', 'client', '--to', 'ms'], 'PING\r\n\r\n');
  assert.equal(ok.code, 0, ok.stderr);
  const bad = await imspIn(
    ['decode', '--validate', '--from', 'client', '--to', 'ms'],
    'LOGIN\r\nUser: bob\r\n\r\nPING\r\n\r\n',
  );
  assert.equal(bad.code, 1);
  assert.equal(lines(bad.stdout).length, 2);
  assert.deepEqual((JSON.parse(bad.stderr) as { message: number; error: { code: string } }).message, 0);
  const unknown = await imspIn(['decode', '--validate'], WIRE);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /ERR_UNKNOWN_METHOD/);
});

test('[CLI-2] imsp encode is the reverse of imsp decode', async () => {
  const d = await imsp(['decode'], WIRE);
  const e = await imsp(['encode'], d.stdout);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(e.stdout.toString('latin1'), WIRE.replace('x  \r\n', 'x\r\n'));
  const bad = await imspIn(['encode'], '{"method":"bad method"}\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /ERR_BAD_METHOD/);
  const reason = await imspIn(['encode'], '{"status":404}\n');
  assert.equal(reason.stdout.toString(), '404 Not found\r\n\r\n');
});

test('[CLI-3] option errors exit 2 with a message', async () => {
  const r = await imspIn(['decode', '--from', 'client'], '');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--from and --to go together/);
  const role = await imspIn(['decode', '--from', 'server', '--to', 'ms'], '');
  assert.equal(role.code, 2);
  const lim = await imspIn(['decode', '--max-head-size', '5'], '');
  assert.equal(lim.code, 2);
  assert.match(lim.stderr, /maxHeadSize/);
  const json = await imspIn(['encode'], '{"method": 5}\n');
  assert.equal(json.code, 1);
  assert.match(json.stderr, /line 1/);
  const help = await imspIn(['decode', '--help'], '');
  assert.equal(help.code, 0);
  assert.match(help.stdout.toString(), /--validate/);
});

test('[WIRE-LIMIT-1] imsp decode takes limits as options', async () => {
  const r = await imspIn(['decode', '--max-line-length', '256'], `PING\r\nX: ${'a'.repeat(300)}\r\n\r\n`);
  assert.equal(r.code, 1);
  assert.equal((JSON.parse(r.stderr) as { error: { code: string; offset: number } }).error.code, 'ERR_LINE_TOO_LONG');
});
