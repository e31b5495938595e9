import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clean, renderScreen, type TuiState } from '../../reference/client/tui.js';
import { parseCommand } from '../../reference/client/control.js';

const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

function state(over: Partial<TuiState> = {}): TuiState {
  return {
    user: 'alice', ms: '127.0.0.1:7100', status: 'online',
    contacts: [{ user: 'bob', relation: 'buddy', status: 'busy' }, { user: 'carol', relation: 'pending', status: 'offline' }],
    requests: ['dave'], chat: 'bob',
    history: new Map([['bob', [{ time: 0, who: 'bob', text: 'hello \x1b]0;pwned\x07 there' }]]]),
    typing: new Map([['bob', 'typing']]), unread: new Set(), info: '', input: 'hi b', ...over,
  };
}

test('the screen shows buddies with presence, requests, the conversation, typing and the input', () => {
  const lines = renderScreen(state(), 80, 12).map(strip);
  assert.equal(lines.length, 12);
  for (const l of lines) assert.equal([...l].length, 80);
  const all = lines.join('\n');
  assert.match(all, />!\+?\s*bob \(busy\)|>! bob \(busy\)/);
  assert.match(all, /carol \(pending\)/);
  assert.match(all, /\? dave/);
  assert.match(all, /Chat with bob/);
  assert.match(all, /bob: hello ·\]0;pwned· there/);
  assert.match(lines[10], /bob is typing/);
  assert.match(lines[11], /^bob> hi b/);
});

test('no text from the network can put a control character on the screen', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (text, info) => {
      const lines = renderScreen(state({ info, typing: new Map(), history: new Map([['bob', [{ time: 0, who: 'bob', text }]]]) }), 60, 10);
      for (const l of lines) assert.doesNotMatch(strip(l), /[\u0000-\u001f\u007f-\u009f]/);
    }),
    { numRuns: 80 },
  );
  assert.equal(clean('a\x1b[2Jb\nc'), 'a·[2Jb c');
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
