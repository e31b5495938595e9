// The terminal client driven through tmux against an in-process cluster (test/client/tui-harness.ts).
// The other side is a library client whose events the test awaits. Each test stops its tmux server,
// its clients and its cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { startCluster } from '../helpers/cluster.js';
import { ImspClient } from '../../reference/client/client.js';
import { next } from './p2p-harness.js';
import { hasTmux, startTui, within } from './tui-harness.js';

const skip = !(await hasTmux()) && 'tmux not installed';

test('the terminal client: login prompts, errors in words, buddies, chat, completion, history, scrollback, widths, files, logs, profile, search, passwd, offline, quit', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const cluster = await startCluster({ ms: 2, users: ['alice', 'bob', 'carol'] });
  const dir = await mkdtemp(join(tmpdir(), 'imsp-tui-'));
  const downloads = join(dir, 'downloads');
  const logDir = join(dir, 'logs');
  const bob = new ImspClient({
    user: 'bob',
    password: 'pw-bob',
    ms: cluster.ms[1].address,
    downloadDir: join(dir, 'bob'),
  });
  const ui = await startTui([
    '--ms',
    cluster.ms[0].address,
    '--user',
    'alice',
    '--downloads',
    downloads,
    '--log-dir',
    logDir,
  ]);
  t.after(async () => {
    await ui.stop();
    await bob.close();
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  // The password is prompted with echo off; a wrong one asks again instead of ending the program.
  await ui.waitScreen(/Password for alice:/, 'the password prompt');
  await ui.keys('wrong-one');
  assert.doesNotMatch(await ui.screen(), /wrong-one/);
  await ui.press('Enter');
  await ui.waitScreen(
    /Wrong user name or password\.[\s\S]*Password for alice:/,
    'a second prompt after a wrong password',
  );
  await ui.keys('pw-alice');
  assert.doesNotMatch(await ui.screen(), /pw-alice/);
  await ui.press('Enter');
  await ui.waitScreen(/IMSP\s+alice@/, 'the title bar');
  await ui.waitScreen(/no contacts/, 'an empty buddy list');

  // /help lists every command.
  await ui.line('/help');
  let s = await ui.waitScreen(/\/quit\s+log out/, 'the help list');
  await ui.shot('help');
  // the start of the list is above: PgUp shows it
  await ui.press('PPage');
  s += await ui.waitScreen(/\/chat USER\s+open the conversation/, 'the top of the help list');
  for (const c of [
    '/chat',
    '/add',
    '/accept',
    '/deny',
    '/rem',
    '/block',
    '/unblock',
    '/status',
    '/send-file',
    '/accept-file',
    '/decline-file',
    '/profile',
    '/search',
    '/passwd',
    '/quit',
  ])
    assert.match(s, new RegExp(`${c.replace('/', '\\/')} `));
  await ui.line('/clear');

  // Errors in words, not protocol jargon.
  await ui.line('/add alice');
  await ui.waitScreen(/You can't add yourself\./, 'the human message for ADD to oneself');
  assert.doesNotMatch(await ui.screen(), /ERR_FORBIDDEN|403/);
  // /chat with a non-buddy is refused. As in irssi and WeeChat the input is cleared, so what is typed
  // next is not appended to the refused command, and Up recalls the command for correcting.
  await ui.line('/chat carol');
  s = await ui.waitScreen(/carol is not your buddy.*Up recalls the line/, 'the refusal of /chat with a non-buddy');
  assert.match(s, /^> *$/m, 'the input is empty after the refusal');
  await ui.keys('are you there');
  await ui.waitScreen(/^> are you there *$/m, 'the next line typed alone');
  await ui.press('C-u');
  await ui.press('Up');
  await ui.waitScreen(/^> \/chat carol *$/m, 'the refused command recalled by Up');
  await ui.press('C-u');

  // An answer to our ADD goes to the scrollback with its time, not only to the status line.
  const carol = new ImspClient({ user: 'carol', password: 'pw-carol', ms: cluster.ms[1].address });
  t.after(() => carol.close());
  await carol.login();
  const asked = next(carol, 'request', (e) => e.from === 'alice');
  await ui.line('/add carol');
  await within(asked, "alice's ADD at carol");
  await carol.answer('alice', 'deny');
  await ui.waitScreen(/\[\d\d:\d\d\] \* carol declined your buddy request/, 'the answer in the scrollback');
  await carol.logout();

  // An incoming ADD request shows as a prompt; /accept answers it.
  await bob.login();
  await bob.add('alice');
  await ui.waitScreen(/bob wants to add you/, 'the ADD prompt');
  await ui.waitScreen(/\? bob/, 'the request in the side pane');
  const granted = next(bob, 'answer', (e) => e.from === 'alice');
  await ui.line('/accept bob');
  assert.equal((await within(granted, "bob's ANSWER")).decision, 'grant');
  await ui.waitScreen(/\* bob online/, 'bob online in the buddy list');

  // Tab completes the command, then the buddy's name.
  await ui.keys('/ch');
  await ui.press('Tab');
  await ui.waitScreen(/^> \/chat\s*$/m, 'the command completed');
  await ui.keys('b');
  await ui.press('Tab');
  await ui.waitScreen(/^> \/chat bob\s*$/m, 'the name completed');
  await ui.press('Enter');
  await ui.waitScreen(/Chat with bob \(online\)/, 'the conversation view');

  const msg = next(bob, 'message', (e) => e.from === 'alice');
  await ui.line('hello bob');
  assert.equal((await within(msg, 'the MSG at bob')).text, 'hello bob');
  await ui.waitScreen(/alice: hello bob/, 'our own line in the conversation');
  // Up recalls the line sent; Left + typing edits in the middle; Enter sends the edited line.
  await ui.press('Up');
  await ui.waitScreen(/^bob> hello bob/m, 'the line recalled by Up');
  const edited = next(bob, 'message', (e) => e.from === 'alice');
  await ui.press('Left', 'Left', 'Left');
  await ui.keys('dear ');
  await ui.waitScreen(/^bob> hello dear bob/m, 'the edited line');
  await ui.press('Enter');
  assert.equal((await within(edited, 'the edited MSG at bob')).text, 'hello dear bob');

  // With the session open, typing is announced, and erasing everything too [TYPING-1] [TYPING-3].
  const typing = next(bob, 'typing', (e) => e.from === 'alice' && e.state === 'typing');
  await ui.keys('x');
  await within(typing, 'TYPING typing at bob');
  const erased = next(bob, 'typing', (e) => e.from === 'alice' && e.state === 'erased');
  await ui.press('BSpace');
  await within(erased, 'TYPING erased at bob');

  // The peer's typing indicator, control characters neutralised, presence changes.
  await bob.typing('alice', 'typing');
  await ui.waitScreen(/bob is typing/, 'the typing indicator');
  await bob.send('alice', 'hi alice \x1b[31mred?');
  await ui.waitScreen(/bob: hi alice ·\[31mred\?/, "bob's message, control characters neutralised");
  await bob.setStatus('away');
  await ui.waitScreen(/bob away/, 'bob away');
  await ui.waitScreen(/bob is now away/, 'the change in the conversation');

  // CJK and emoji take two columns each: the layout stays aligned and the title stays whole.
  await bob.send('alice', '漢字のテスト 😀👍🏽 café');
  s = await ui.waitScreen(/漢字のテスト 😀👍🏽 café/, 'the CJK and emoji line');
  const rows = s.split('\n');
  assert.match(rows[0], /^ IMSP {2}alice@/);
  const borders = new Set(
    rows.filter((r) => r.includes('\u2502')).map((r) => stringWidth(r.slice(0, r.indexOf('\u2502')))),
  );
  assert.equal(borders.size, 1, `the pane border moved:\n${s}`);
  // A long line wraps at word boundaries.
  const words = [
    'alpha',
    'bravo',
    'charlie',
    'delta',
    'echo',
    'foxtrot',
    'golf',
    'hotel',
    'india',
    'juliett',
    'kilo',
    'lima',
    'mike',
    'november',
    'oscar',
    'papa',
    'quebec',
    'romeo',
    'sierra',
    'tango',
    'uniform',
    'victor',
    'whiskey',
    'xray',
    'yankee',
    'zulu',
  ];
  await bob.send('alice', words.join(' '));
  s = await ui.waitScreen(/zulu/, 'the long line');
  for (const w of words) assert.match(s, new RegExp(`(^|[ :])${w}( |$)`, 'm'), `${w} was cut:\n${s}`);
  await ui.shot('chat');

  // Scrollback: 40 more lines push the first ones off; PgUp brings them back, PgDn returns.
  for (let i = 0; i < 40; i++) await bob.send('alice', `numbered line ${i}`);
  s = await ui.waitScreen(/numbered line 39/, 'the newest line');
  assert.doesNotMatch(s, /numbered line 0\b/);
  for (let i = 0; i < 4; i++) await ui.press('PPage');
  await ui.waitScreen(/numbered line 0\b/, 'the oldest lines after PgUp');
  await ui.waitScreen(/scrolled back/, 'the scroll indicator');
  await ui.shot('scrollback');
  for (let i = 0; i < 6; i++) await ui.press('NPage');
  await ui.waitScreen(/numbered line 39/, 'the newest line after PgDn');

  // Unread counts while another conversation is on screen.
  await ui.line('/close');
  await ui.waitScreen(/Console/, 'the console');
  await bob.send('alice', 'unread one');
  await bob.send('alice', 'unread two');
  await ui.waitScreen(/bob away \(2\)/, 'the unread count by bob');
  await ui.waitScreen(/2 unread/, 'the unread count in the title');
  await ui.line('/chat bob');
  s = await ui.waitScreen(/unread two/, 'the conversation again');
  assert.doesNotMatch(s, /unread one[\s\S]*\(2\)|2 unread/);

  // Our own status change reaches the buddy.
  const busy = next(bob, 'presence', (e) => e.user === 'alice' && e.status === 'busy');
  await ui.line('/status busy');
  await within(busy, "alice's busy PRESENCE at bob");
  await ui.waitScreen(/\[busy\]/, 'our status in the title bar');

  // /send-file sends to the current conversation.
  const file = join(dir, 'report.txt');
  await writeFile(file, 'quarterly numbers\n'.repeat(1000));
  const got = next(bob, 'file', (e) => e.from === 'alice');
  await ui.line(`/send-file ${file}`);
  assert.equal((await within(got, 'the file at bob')).name, 'report.txt');
  // The line says the file was delivered: the 200 to the last chunk follows the digest check [FILE-5].
  await ui.waitScreen(/sending the file report\.txt/, 'the file being sent');
  await ui.waitScreen(/sent file report\.txt, .*: bob received it whole/, 'the delivery line');
  // A file that is not there, or a directory: said in words, not "the server had an internal error".
  await ui.line(`/send-file ${join(dir, 'no-such-report.txt')}`);
  s = await ui.waitScreen(/No such file\./, 'the missing file, in words');
  assert.doesNotMatch(s, /internal error/);
  await ui.waitScreen(/no-such-report\.txt was not sent: No such file\./, 'the failure in the conversation');
  await ui.line(`/send-file ${dir}`);
  await ui.waitScreen(/That is a directory, not a file\./, 'a directory, in words');

  // Incoming files are offered: accepted ones are saved in the downloads directory, declined ones deleted.
  const offer1 = join(dir, 'photo.txt');
  await writeFile(offer1, 'a picture, really\n');
  await bob.sendFile('alice', offer1);
  await ui.waitScreen(/bob offers the file photo\.txt .*\/accept-file 1/, 'the first offer');
  assert.deepEqual(
    await readdir(downloads).then((x) => x.filter((n) => !n.startsWith('.'))),
    [],
    'nothing saved before the answer',
  );
  await ui.shot('file-offer');
  await ui.line('/accept-file 1');
  await ui.waitScreen(/file photo\.txt saved to/, 'the saved file');
  assert.equal(await readFile(join(downloads, 'photo.txt'), 'utf8'), 'a picture, really\n');
  const offer2 = join(dir, 'virus.exe');
  await writeFile(offer2, 'MZ');
  await bob.sendFile('alice', offer2);
  await ui.waitScreen(/offers the file virus\.exe/, 'the second offer');
  await ui.line('/decline-file 2');
  await ui.waitScreen(/declined the file virus\.exe/, 'the declined file');
  assert.deepEqual(
    (await readdir(downloads)).filter((n) => !n.startsWith('.')),
    ['photo.txt'],
  );
  assert.deepEqual(
    await readdir(join(downloads, '.incoming')),
    [],
    'the declined file is gone from the staging directory',
  );

  // Profile and search.
  await ui.line('/set-profile name Alice Liddell');
  await ui.waitScreen(/profile name set/, 'the profile change');
  await ui.line('/profile');
  await ui.waitScreen(/Full name: Alice Liddell/, 'our profile');
  await ui.line('/search Liddell');
  await ui.waitScreen(/alice - Alice Liddell/, 'the search result');
  await ui.line('/search nobody-like-this');
  await ui.waitScreen(/No user matches "nobody-like-this"/, 'an empty search');

  // /passwd asks three times without echo and changes the password.
  await ui.line('/passwd');
  await ui.waitScreen(/^Current password:/m, 'the current-password prompt');
  await ui.line('pw-alice');
  await ui.waitScreen(/^New password:/m, 'the new-password prompt');
  await ui.line('pw-alice-2');
  await ui.waitScreen(/^New password \(again\):/m, 'the confirmation prompt');
  await ui.keys('pw-alice-2');
  assert.doesNotMatch(await ui.screen(), /pw-alice/);
  await ui.press('Enter');
  await ui.waitScreen(/Password changed/, 'the password changed');

  // A buddy going offline shows in the conversation.
  await bob.logout();
  await ui.waitScreen(/bob went offline/, 'bob offline in the conversation');
  await ui.shot('offline');

  // Unknown commands are explained, not fatal.
  await ui.line('/fly');
  await ui.waitScreen(/Unknown command \/fly/, 'the error line');

  // /quit logs out and exits 0.
  await ui.press('C-u');
  await ui.line('/quit');
  await ui.waitScreen(/EXITED 0/, 'a clean exit');

  // The conversation log (--log-dir): one file per buddy, 0600, with both sides and the events.
  const logFile = join(logDir, 'bob.log');
  const text = await readFile(logFile, 'utf8');
  assert.match(text, /^\S+Z <alice> hello bob$/m);
  assert.match(text, /^\S+Z <bob> hi alice .\[31mred\?$/m);
  assert.match(text, /\* bob went offline/);
  assert.equal((await stat(logFile)).mode & 0o777, 0o600);
  assert.equal((await stat(logDir)).mode & 0o777, 0o700);

  // The new password works.
  const again = new ImspClient({ user: 'alice', password: 'pw-alice-2', ms: cluster.ms[0].address });
  await within(again.login(), 'the login with the new password');
  await again.close();
});

test('the terminal client after a lockout: the retry time, in words', { skip, timeout: 90_000 }, async (t) => {
  const cluster = await startCluster({ ms: 1, users: ['alice'], limits: { maxFailedLoginsPerUser: 1 } });
  const ui = await startTui(['--ms', cluster.ms[0].address, '--user', 'alice']);
  t.after(async () => {
    await ui.stop();
    await cluster.dispose();
  });
  await ui.waitScreen(/Password for alice:/, 'the password prompt');
  await ui.line('wrong-1');
  await ui.waitScreen(/Wrong user name or password\./, 'the wrong-password message');
  await ui.waitScreen(/Password for alice:[\s\S]*Password for alice:/, 'the second prompt');
  await ui.line('pw-alice');
  // both lines are written one after the other: wait for the second too
  await ui.waitScreen(
    /Too many failed logins\. You can try again in \d+ (s|min)\.[\s\S]*Waiting until .* Ctrl-C to give up/,
    'the lockout with its retry time',
  );
  await ui.press('C-c');
  await ui.waitScreen(/EXITED 1/, 'the exit after Ctrl-C');
});

test('the terminal client shows reconnecting when its MS dies, and carries on at another one [RECONNECT-1]', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const cluster = await startCluster({ ms: 2, users: ['alice'] });
  const dir = await mkdtemp(join(tmpdir(), 'imsp-tui-'));
  await writeFile(join(dir, 'pw'), 'pw-alice\n');
  const ui = await startTui([
    '--crs',
    cluster.crsAddress,
    '--user',
    'alice',
    '--password-file',
    join(dir, 'pw'),
    '--downloads',
    join(dir, 'dl'),
  ]);
  t.after(async () => {
    await ui.stop();
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  const s = await ui.waitScreen(/IMSP\s+alice@(\S+)/, 'the title bar');
  const at = /alice@(\S+)/.exec(s)![1];
  const victim = cluster.ms.find((m) => m.address === at);
  assert.ok(victim, `alice is on one of the MSs (${at})`);
  victim.kill();
  await ui.waitScreen(/Connection to the server lost[\s\S]*reconnecting/, 'the reconnecting line');
  const back = await ui.waitScreen(/Reconnected at \S+\./, 'the reconnected line');
  const other = cluster.ms.find((m) => m !== victim)!;
  assert.match(back, new RegExp(`IMSP\\s+alice@${other.address.replace(/\./g, '\\.')}`), 'the title shows the new MS');
  await ui.shot('reconnected');
  await ui.line('/quit');
  await ui.waitScreen(/EXITED 0/, 'a clean exit');
});
