// The control interface (reference/client/control.ts) as the conformance kit uses it: two
// `imsp client --control` child processes driven line by line, their JSON events read back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../helpers/cluster.js';

const IMSP = fileURLToPath(new URL('../../reference/bin/imsp.js', import.meta.url));

type Ev = Record<string, unknown> & { event: string };

class Ctl {
  private readonly events: Ev[] = [];
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.events.push(JSON.parse(l) as Ev);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }
  /** The first event (not yet taken) that matches; removes it. */
  async take(pred: (e: Ev) => boolean): Promise<Ev> {
    for (;;) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0];
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  /** Sends one command and returns its result line (ok or error). */
  async cmd(line: string): Promise<Ev> {
    this.child.stdin!.write(line + '\n');
    const name = line.split(' ')[0];
    return this.take((e) => (e.event === 'ok' || e.event === 'error') && e.cmd === name);
  }
}

function spawnCtl(args: string[]): Ctl {
  return new Ctl(
    spawn(process.execPath, [IMSP, 'client', '--control', ...args], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
}

test('control interface v1: login, add/answer, presence, status, init/send/typing, sendfile, errors, logout, quit', {
  timeout: 60_000,
}, async (t) => {
  const cluster = await startCluster({ ms: 2, users: ['alice', 'bob'] });
  const dir = await mkdtemp(join(tmpdir(), 'imsp-ctl-'));
  const a = spawnCtl(['--crs', cluster.crsAddress, '--downloads', join(dir, 'a')]);
  const b = spawnCtl(['--ms', cluster.ms[1].address, '--downloads', join(dir, 'b')]);
  t.after(async () => {
    for (const c of [a, b]) if (c.child.exitCode === null) c.child.kill();
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  assert.deepEqual(await a.take((e) => e.event === 'ready'), { event: 'ready', version: 1 });
  await b.take((e) => e.event === 'ready');

  const bad = await a.cmd('fly away');
  assert.equal(bad.event, 'error');
  assert.equal(bad.code, 'ERR_CONTROL');
  assert.equal((await a.cmd('add bob')).code, 'ERR_OUT_OF_STATE');
  const wrong = await a.cmd('login alice nope');
  assert.equal(wrong.event, 'error');
  assert.equal(wrong.code, 'ERR_AUTH_FAILED');
  assert.equal(wrong.status, 401);

  const la = await a.cmd('login alice pw-alice');
  assert.equal(la.event, 'ok');
  assert.match(String(la.address), /^127\.0\.0\.1:\d+$/);
  assert.equal((await b.cmd('login bob pw-bob')).event, 'ok');

  assert.deepEqual(await a.cmd('add bob'), { event: 'ok', n: 5, cmd: 'add', user: 'bob', result: 'delivered' });
  await b.take((e) => e.event === 'request' && e.from === 'alice');
  assert.equal((await b.cmd('answer alice grant')).event, 'ok');
  await a.take((e) => e.event === 'answer' && e.from === 'bob' && e.decision === 'grant');
  await a.take((e) => e.event === 'presence' && e.user === 'bob' && e.status === 'online');

  assert.equal((await b.cmd('status busy')).event, 'ok');
  await a.take((e) => e.event === 'presence' && e.user === 'bob' && e.status === 'busy');

  assert.equal((await a.cmd('init bob')).event, 'ok');
  await b.take((e) => e.event === 'session' && e.user === 'alice' && e.initiator === false);
  assert.equal((await a.cmd('typing bob typing')).event, 'ok');
  await b.take((e) => e.event === 'typing' && e.from === 'alice' && e.state === 'typing');
  assert.equal((await a.cmd('send bob hello   with spaces')).event, 'ok');
  assert.equal((await b.take((e) => e.event === 'message')).text, 'hello   with spaces');

  const src = join(dir, 'f.bin');
  await writeFile(src, Buffer.alloc(300_000, 7));
  const sf = await a.cmd(`sendfile bob ${src}`);
  assert.equal(sf.event, 'ok');
  assert.equal(sf.size, 300_000);
  const f = await b.take((e) => e.event === 'file');
  assert.equal(f.size, 300_000);

  assert.equal((await a.cmd('setprofile location Oxford, England')).event, 'ok');
  assert.equal(((await b.cmd('profile alice')).profile as Record<string, string>).Location, 'Oxford, England');

  const sessions = await a.cmd('sessions');
  assert.deepEqual(sessions.sessions, ['bob']);
  assert.equal(sessions.keys, 2);
  const contacts = await a.cmd('contacts');
  assert.equal((contacts.contacts as { user: string }[])[0].user, 'bob');

  assert.equal((await a.cmd('logout')).event, 'ok');
  await b.take((e) => e.event === 'session-end' && e.user === 'alice');
  await b.take((e) => e.event === 'presence' && e.user === 'alice' && e.status === 'offline');
  assert.equal((await b.cmd('sessions')).keys, 0);
  assert.equal((await b.cmd('quit')).event, 'ok');
  assert.equal(await b.exited, 0);
  a.child.stdin!.end(); // end of input acts as quit
  assert.equal(await a.exited, 0);
});
