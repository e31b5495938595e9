// The terminal client's screen and input line without a terminal (reference/client/tui-model.ts):
// widths are display widths (CJK and emoji take two columns), long lines wrap at spaces, no control
// character from the network reaches the screen, the line editor never splits a grapheme, history
// and completion behave, and notices expire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import stringWidth from 'string-width';
import {
  ChatModel,
  InputHistory,
  LineEditor,
  clean,
  complete,
  fit,
  graphemes,
  helpLines,
  rowText,
  wrapWords,
  COMMANDS,
  NOTICE_MS,
} from '../../reference/client/tui-model.js';
import { parseCommand } from '../../reference/client/control.js';

function model(now = () => 0): ChatModel {
  const m = new ChatModel('alice', now);
  m.ms = '127.0.0.1:7100';
  m.contacts = [
    { user: 'bob', relation: 'buddy', status: 'busy' },
    { user: 'carol', relation: 'pending', status: 'offline' },
  ] as ChatModel['contacts'];
  m.requests = ['dave'];
  return m;
}

const screen = (m: ChatModel, cols: number, rows: number) => m.layout(cols, rows).map(rowText);

test('the screen shows buddies with presence, requests, the conversation, typing and the input', () => {
  const m = model();
  m.open('bob');
  m.add('bob', 'bob', 'hello \x1b]0;pwned\x07 there');
  m.typing.set('bob', 'typing');
  m.editor.set('hi b');
  const lines = screen(m, 80, 12);
  assert.equal(lines.length, 12);
  for (const l of lines) assert.equal(stringWidth(l), 80, l);
  const all = lines.join('\n');
  assert.match(all, />! bob busy/);
  assert.match(all, /carol pending/);
  assert.match(all, /\? dave/);
  assert.match(all, /Chat with bob \(busy\)/);
  assert.match(all, /bob: hello ·\]0;pwned· there/);
  assert.match(lines[10], /bob is typing/);
  assert.match(lines[11], /^bob> hi b/);
});

test('[RECONNECT-7] while the session is lost, buddies show presence unknown, not their last pushed status', () => {
  const m = model();
  m.open('bob');
  m.reconnecting = 'Connection to the server lost; reconnecting...';
  let all = screen(m, 80, 12).join('\n');
  assert.match(all, />\? bob unknown/);
  assert.match(all, /Chat with bob \(unknown\)/);
  assert.doesNotMatch(all, /bob busy/);
  assert.match(all, /carol pending/, 'a relation other than buddy still shows');
  m.reconnecting = undefined;
  all = screen(m, 80, 12).join('\n');
  assert.match(all, />! bob busy/, 'back to the pushed presence once logged in again');
});

test('CJK and emoji: every row is exactly the screen width, the title bar included', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('漢', '字', '😀', '👍🏽', 'é', 'a', ' ', 'ｶ', '🇫🇷'), { maxLength: 200 }),
      fc.integer({ min: 30, max: 120 }),
      (chars, cols) => {
        const m = model();
        m.user = chars.slice(0, 20).join('');
        m.open('bob');
        m.add('bob', 'bob', chars.join(''));
        m.editor.set(chars.join(''));
        m.say(chars.join(''));
        for (const l of screen(m, cols, 10)) assert.equal(stringWidth(l), cols, JSON.stringify(l));
      },
    ),
    { numRuns: 150 },
  );
});

test('long lines wrap at word boundaries; only a word longer than the line is cut', () => {
  assert.deepEqual(wrapWords('the quick brown fox jumps', 10), ['the quick', 'brown fox', 'jumps']);
  assert.deepEqual(wrapWords('abcdefghijkl xy', 5), ['abcde', 'fghij', 'kl xy']);
  assert.deepEqual(wrapWords('漢字漢字漢字', 5), ['漢字', '漢字', '漢字']);
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[a-z漢😀]{1,8}$/u), { maxLength: 30 }),
      fc.integer({ min: 8, max: 40 }),
      (words, w) => {
        const text = words.join(' ');
        const lines = wrapWords(text, w);
        for (const l of lines) assert.ok(stringWidth(l) <= w);
        // nothing lost, and every word that fits a line stays whole
        assert.equal(lines.join(' ').replace(/ /g, ''), text.replace(/ /g, ''));
        for (const word of words)
          if (stringWidth(word) <= w)
            assert.ok(
              lines.some((l) => l.split(' ').includes(word)),
              `${word} split in ${JSON.stringify(lines)}`,
            );
      },
    ),
    { numRuns: 200 },
  );
  assert.equal(stringWidth(fit('漢字漢字', 5)), 5);
  assert.equal(fit('😀😀😀', 4), '😀… ');
});

test('scrollback: PgUp shows older lines of this conversation only, PgDn returns, each conversation keeps its place', () => {
  const m = model();
  m.open('bob');
  for (let i = 0; i < 60; i++) m.add('bob', 'bob', `line ${i}`);
  m.add('carol', 'carol', 'carol 1');
  let s = screen(m, 80, 20).join('\n');
  assert.match(s, /line 59/);
  assert.doesNotMatch(s, /line 0\b/);
  for (let i = 0; i < 10; i++) m.scrollBy(1);
  s = screen(m, 80, 20).join('\n');
  assert.match(s, /line 0\b/);
  assert.match(s, /scrolled back/);
  assert.doesNotMatch(s, /carol 1/);
  m.open('carol');
  assert.match(screen(m, 80, 20).join('\n'), /carol 1/);
  m.open('bob');
  assert.match(screen(m, 80, 20).join('\n'), /line 0\b/);
  for (let i = 0; i < 10; i++) m.scrollBy(-1);
  assert.match(screen(m, 80, 20).join('\n'), /line 59/);
});

test('unread counts per buddy and in the title; opening the conversation clears them', () => {
  const m = model();
  m.add('bob', 'bob', 'one');
  m.add('bob', 'bob', 'two');
  const s = screen(m, 80, 12).join('\n');
  assert.match(s, /bob busy \(2\)/);
  assert.match(s, /2 unread/);
  m.open('bob');
  assert.doesNotMatch(screen(m, 80, 12).join('\n'), /unread|\(2\)/);
});

test('the status line drops a notice once it is stale', () => {
  let now = 1000;
  const m = model(() => now);
  m.say('bob is now your buddy');
  assert.match(rowText(m.statusRow(80)), /now your buddy/);
  now += NOTICE_MS + 1;
  assert.equal(rowText(m.statusRow(80)).trim(), '');
  m.reconnecting = 'Connection lost (timeout); reconnecting in 1.0 s (attempt 1)...';
  assert.match(rowText(m.statusRow(80)), /reconnecting in 1\.0 s \(attempt 1\)/);
  assert.match(screen(m, 80, 10)[0], /\[reconnecting\]/);
});

test('no text from the network can put a control character on the screen', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (text, info) => {
      const m = model();
      m.open('bob');
      m.add('bob', 'bob', text);
      m.say(info);
      for (const l of screen(m, 60, 10)) assert.doesNotMatch(l, /[\u0000-\u001f\u007f-\u009f]/);
    }),
    { numRuns: 80 },
  );
  assert.equal(clean('a\x1b[2Jb\nc'), 'a·[2Jb c');
});

test('the line editor moves and deletes whole graphemes (no half emoji), with Ctrl-U/K/W', () => {
  const e = new LineEditor();
  e.insert('hi 👍🏽 漢字');
  e.backspace();
  assert.equal(e.text, 'hi 👍🏽 漢');
  e.left();
  e.left();
  e.backspace();
  assert.equal(e.text, 'hi  漢');
  e.home();
  e.insert('> ');
  assert.equal(e.text, '> hi  漢');
  e.end();
  e.killWord();
  assert.equal(e.text, '> hi  ');
  e.home();
  e.right();
  e.killEnd();
  assert.equal(e.text, '>');
  e.killStart();
  assert.equal(e.text, '');
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.constant('L'),
          fc.constant('R'),
          fc.constant('B'),
          fc.constant('D'),
          fc.string({ unit: 'grapheme', maxLength: 3 }),
        ),
      ),
      (ops) => {
        const ed = new LineEditor();
        for (const op of ops) {
          if (op === 'L') ed.left();
          else if (op === 'R') ed.right();
          else if (op === 'B') ed.backspace();
          else if (op === 'D') ed.del();
          else ed.insert(op);
          assert.ok(ed.cursor >= 0 && ed.cursor <= graphemes(ed.text).length);
          assert.doesNotMatch(
            ed.text,
            /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/,
            'a lone surrogate',
          );
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('input history: Up recalls older lines, Down comes back to the line being typed', () => {
  const h = new InputHistory();
  h.push('first');
  h.push('second');
  assert.equal(h.up('draft'), 'second');
  assert.equal(h.up('second'), 'first');
  assert.equal(h.up('first'), undefined);
  assert.equal(h.down(), 'second');
  assert.equal(h.down(), 'draft');
  assert.equal(h.down(), undefined);
});

test('tab completion of commands, names and command words', () => {
  const names = ['bob', 'bobby', 'carol'];
  assert.equal(complete('/ch', names).line, '/chat ');
  assert.equal(complete('/chat ca', names).line, '/chat carol ');
  assert.deepEqual(complete('/chat bo', names), { line: '/chat bob', candidates: ['bob', 'bobby'] });
  assert.equal(complete('/status bu', names).line, '/status busy ');
  assert.equal(complete('car', names).line, 'carol: ');
  assert.equal(complete('hello car', names).line, 'hello carol ');
  assert.deepEqual(complete('/send-file x', names), { line: '/send-file x', candidates: [] });
  assert.ok(complete('/', names).candidates.length === COMMANDS.length);
});

test('/help lists every command the client understands', () => {
  const help = helpLines().join('\n');
  for (const c of COMMANDS) assert.match(help, new RegExp(`^/${c.name}\\b`, 'm'));
  for (const must of [
    'chat',
    'add',
    'accept',
    'deny',
    'rem',
    'block',
    'unblock',
    'status',
    'send-file',
    'accept-file',
    'decline-file',
    'profile',
    'search',
    'passwd',
    'quit',
  ]) {
    assert.ok(
      COMMANDS.some((c) => c.name === must),
      must,
    );
  }
  assert.match(help, /PgUp/);
});

test('control commands parse with their arity; send keeps the rest of the line', () => {
  assert.deepEqual(parseCommand('send bob hello  world'), { cmd: 'send', args: ['bob', 'hello  world'] });
  assert.deepEqual(parseCommand('login alice pw\r'), { cmd: 'login', args: ['alice', 'pw'] });
  assert.deepEqual(parseCommand('profile'), { cmd: 'profile', args: [] });
  assert.deepEqual(parseCommand('QUIT'), { cmd: 'quit', args: [] });
  assert.ok('error' in parseCommand('add'));
  assert.ok('error' in parseCommand('add a b'));
  assert.ok('error' in parseCommand('fly away'));
  assert.ok('error' in parseCommand('   '));
});
