// The terminal client driven through tmux against an in-process cluster: keys are sent with
// send-keys, the screen is read with capture-pane. The other side is a library client whose events
// the test awaits. The screen can only be observed by reading it, so screen checks poll capture-pane
// (every 50 ms, with a deadline) until the expected text shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../helpers/cluster.js';
import { ImspClient } from '../../reference/client/client.js';
import { next } from './p2p-harness.js';

const run = promisify(execFile);
const IMSP = fileURLToPath(new URL('../../reference/bin/imsp.js', import.meta.url));

async function hasTmux(): Promise<boolean> {
  try {
    await run('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
}

test('the terminal client: password without echo, buddy list, ADD prompt, chat, typing, presence, status, file, quit', { skip: !(await hasTmux()) && 'tmux not installed', timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ ms: 2, users: ['alice', 'bob'] });
  const dir = await mkdtemp(join(tmpdir(), 'imsp-tui-'));
  const sock = `imsp-tui-${process.pid}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', sock, ...args]);
  const bob = new ImspClient({ user: 'bob', password: 'pw-bob', ms: cluster.ms[1].address, downloadDir: join(dir, 'bob') });
  t.after(async () => {
    await tmux('kill-server').catch(() => undefined);
    await bob.close();
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  const cmd = [process.execPath, IMSP, 'client', '--ms', cluster.ms[0].address, '--user', 'alice', '--downloads', join(dir, 'alice')]
    .map((a) => `'${a}'`)
    .join(' ');
  await tmux('new-session', '-d', '-s', 'ui', '-x', '110', '-y', '30', `${cmd}; echo EXITED $?; sleep 30`);
  let lastScreen = '';
  const screen = async () => (await tmux('capture-pane', '-p', '-t', 'ui')).stdout;
  const waitScreen = async (re: RegExp, what: string): Promise<string> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const s = await screen();
      if (re.test(s)) return s;
      if (Date.now() > deadline) assert.fail(`screen never showed ${what}:\n${s}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const keys = async (text: string) => {
    await tmux('send-keys', '-t', 'ui', '-l', text);
  };
  const enter = async () => {
    await tmux('send-keys', '-t', 'ui', 'Enter');
  };

  // The password is prompted with echo off: typed, it never shows.
  await waitScreen(/Password for alice:/, 'the password prompt');
  await keys('pw-alice');
  assert.doesNotMatch(await screen(), /pw-alice/);
  await enter();
  await waitScreen(/IMSP\s+alice@/, 'the title bar');
  await waitScreen(/no contacts/, 'an empty buddy list');
  await bob.login();

  // An incoming ADD request shows as a prompt; /accept answers it.
  await bob.add('alice');
  await waitScreen(/bob wants to add you/, 'the ADD prompt');
  await waitScreen(/\? bob/, 'the request in the side pane');
  const granted = next(bob, 'answer', (e) => e.from === 'alice');
  await keys('/accept bob');
  await enter();
  assert.equal((await granted).decision, 'grant');
  await waitScreen(/bob \(online\)/, 'bob online in the buddy list');

  // Typing shows at the peer; Enter sends the message.
  await keys('/chat bob');
  await enter();
  await waitScreen(/Chat with bob/, 'the conversation view');
  const msg = next(bob, 'message', (e) => e.from === 'alice');
  await keys('hello bob');
  await enter();
  assert.equal((await msg).text, 'hello bob');
  await waitScreen(/alice: hello bob/, 'our own line in the conversation');
  // With the session open, typing is announced, and erasing everything too [TYPING-1] [TYPING-3].
  const typing = next(bob, 'typing', (e) => e.from === 'alice' && e.state === 'typing');
  await keys('x');
  await typing;
  const erased = next(bob, 'typing', (e) => e.from === 'alice' && e.state === 'erased');
  await tmux('send-keys', '-t', 'ui', 'BSpace');
  await erased;

  // The peer's typing indicator, message and presence change.
  await bob.typing('alice', 'typing');
  await waitScreen(/bob is typing/, 'the typing indicator');
  await bob.send('alice', 'hi alice \x1b[31mred?');
  await waitScreen(/bob: hi alice ·\[31mred\?/, 'bob\'s message, control characters neutralised');
  await bob.setStatus('away');
  await waitScreen(/bob \(away\)/, 'bob away');

  // Our own status change reaches the buddy.
  const busy = next(bob, 'presence', (e) => e.user === 'alice' && e.status === 'busy');
  await keys('/status busy');
  await enter();
  await busy;
  await waitScreen(/\[busy\]/, 'our status in the title bar');

  // /send-file sends to the current conversation.
  const file = join(dir, 'report.txt');
  await writeFile(file, 'quarterly numbers\n'.repeat(1000));
  const got = next(bob, 'file', (e) => e.from === 'alice');
  await keys(`/send-file ${file}`);
  await enter();
  assert.equal((await got).name, 'report.txt');
  await waitScreen(/sent file report\.txt/, 'the file line');

  // Unknown commands are explained, not fatal.
  await keys('/fly');
  await enter();
  lastScreen = await waitScreen(/unknown command \/fly/, 'the error line');

  // /quit logs out: the buddy sees us offline and the program exits 0.
  const offline = next(bob, 'presence', (e) => e.user === 'alice' && e.status === 'offline');
  await keys('/quit');
  await enter();
  await offline;
  await waitScreen(/EXITED 0/, 'a clean exit');
  if (process.env.IMSP_SHOW_SCREEN) process.stdout.write(lastScreen);
});
