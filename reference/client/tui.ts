// The interactive terminal client: a buddy list with presence on the left, the conversation with
// the selected buddy on the right, an information line (typing indicators, ADD requests, errors)
// and an input line. Plain ANSI escapes and raw key input: no terminal library.
//
// Everything a peer or a server sends is shown through `clean()`, which removes control
// characters: a message may not move the cursor, change colours or retitle the terminal.
import { emitKeypressEvents } from 'node:readline';
import type { ImspClient } from './client.js';
import type { Contact, Presence } from './contacts.js';
import type { TypingState } from './events.js';

export interface Line {
  time: number;
  who: string;
  text: string;
}

export interface TuiState {
  user: string;
  ms: string;
  status: Presence;
  contacts: Contact[];
  requests: string[];
  chat: string | undefined;
  /** Conversation per buddy, each bounded. */
  history: Map<string, Line[]>;
  typing: Map<string, TypingState>;
  unread: Set<string>;
  info: string;
  input: string;
}

const HISTORY_LIMIT = 500;
const PAUSE_AFTER_MS = 4000;

/** Removes every C0/C1 control character and DEL, so no input can drive the terminal. */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\t' ? ' ' : c === '\n' ? ' ' : '\u00b7'));
}

function fit(text: string, width: number): string {
  if (width <= 0) return '';
  const t = [...text];
  return t.length > width ? t.slice(0, Math.max(0, width - 1)).join('') + '\u2026' : text + ' '.repeat(width - t.length);
}

function wrap(text: string, width: number): string[] {
  if (width <= 0) return [];
  const chars = [...text];
  if (chars.length === 0) return [''];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += width) out.push(chars.slice(i, i + width).join(''));
  return out;
}

const MARK: Record<Presence, string> = { online: '*', busy: '!', away: '~', offline: ' ' };

function hhmm(t: number): string {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** The whole screen as lines of exactly `cols` characters (plus SGR codes). Pure: tested without a terminal. */
export function renderScreen(s: TuiState, cols: number, rows: number): string[] {
  const width = Math.max(20, cols);
  const height = Math.max(6, rows);
  const left = Math.min(28, Math.floor(width / 3));
  const right = width - left - 1;
  const bodyRows = height - 3;
  const title = ` IMSP  ${s.user}@${s.ms}  [${s.status}]  /help for commands`;
  const out: string[] = ['\x1b[7m' + fit(clean(title), width) + '\x1b[0m'];

  const leftLines: string[] = ['Buddies'];
  for (const c of s.contacts) {
    const rel = c.relation === 'buddy' ? c.status : c.relation;
    const flag = s.unread.has(c.user) ? '+' : ' ';
    const sel = c.user === s.chat ? '>' : ' ';
    leftLines.push(`${sel}${MARK[c.status]}${flag}${c.user} (${rel})`);
  }
  if (s.contacts.length === 0) leftLines.push(' (no contacts: /add USER)');
  if (s.requests.length > 0) {
    leftLines.push('', 'Requests');
    for (const r of s.requests) leftLines.push(` ? ${r}`);
  }

  const rightLines: string[] = [];
  if (s.chat === undefined) {
    rightLines.push('No conversation. /chat USER to start one.');
  } else {
    rightLines.push(`Chat with ${s.chat}`);
    const hist = s.history.get(s.chat) ?? [];
    const wrapped: string[] = [];
    for (const l of hist) wrapped.push(...wrap(`[${hhmm(l.time)}] ${l.who}: ${clean(l.text)}`, right));
    rightLines.push(...wrapped.slice(Math.max(0, wrapped.length - (bodyRows - 1))));
  }
  for (let i = 0; i < bodyRows; i++) {
    out.push(fit(clean(leftLines[i] ?? ''), left) + '\u2502' + fit(rightLines[i] ?? '', right));
  }

  const typingNote = s.chat !== undefined ? s.typing.get(s.chat) : undefined;
  const info = typingNote === 'typing' ? `${s.chat} is typing...` : typingNote === 'paused' ? `${s.chat} has typed something` : s.info;
  out.push('\x1b[2m' + fit(clean(info), width) + '\x1b[0m');
  const prompt = `${s.chat ?? ''}> `;
  const room = width - prompt.length - 1;
  const shown = [...s.input];
  out.push(fit(prompt + (shown.length > room ? shown.slice(shown.length - room).join('') : s.input), width));
  return out;
}

export const HELP =
  '/chat USER  /add USER  /accept USER  /deny USER  /rem USER  /block USER  /unblock USER  ' +
  '/status online|busy|away  /send-file PATH  /bye  /quit';

interface Terminal {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
}

/** Runs the terminal UI on a logged-in client until /quit or Ctrl-C. Resolves when the client has logged out. */
export async function runTui(client: ImspClient, term: Terminal = { input: process.stdin, output: process.stdout }): Promise<void> {
  const s: TuiState = {
    user: client.user,
    ms: client.msAddress,
    status: client.status,
    contacts: client.contacts.list(),
    requests: [...client.contacts.requests.keys()],
    chat: undefined,
    history: new Map(),
    typing: new Map(),
    unread: new Set(),
    info: client.contacts.requests.size > 0 ? `Pending requests: ${[...client.contacts.requests.keys()].join(', ')} (/accept USER or /deny USER)` : 'Logged in. /help for commands.',
    input: '',
  };
  const { input, output } = term;
  let sentTyping: TypingState | undefined;
  let pauseTimer: NodeJS.Timeout | undefined;
  let drawScheduled = false;

  const draw = () => {
    drawScheduled = false;
    const lines = renderScreen(s, output.columns || 80, output.rows || 24);
    output.write('\x1b[H' + lines.map((l) => l + '\x1b[K').join('\r\n') + `\x1b[${lines.length};${Math.min([...(`${s.chat ?? ''}> ` + s.input)].length + 1, output.columns || 80)}H`);
  };
  const redraw = () => {
    if (!drawScheduled) {
      drawScheduled = true;
      setImmediate(draw);
    }
  };
  const refresh = () => {
    s.contacts = client.contacts.list();
    s.requests = [...client.contacts.requests.keys()];
    s.status = client.status;
    redraw();
  };
  const say = (text: string) => {
    s.info = text;
    redraw();
  };
  const note = (peer: string, who: string, text: string) => {
    let h = s.history.get(peer);
    if (!h) s.history.set(peer, (h = []));
    h.push({ time: Date.now(), who, text });
    if (h.length > HISTORY_LIMIT) h.splice(0, h.length - HISTORY_LIMIT);
    if (peer !== s.chat) s.unread.add(peer);
    redraw();
  };
  const fail = (err: unknown) => say(`error: ${err instanceof Error ? err.message : String(err)}`);

  client.on('presence', refresh);
  client.on('contact', (e) => {
    refresh();
    if (e.relation === 'none') say(`${e.user} is no longer a contact`);
    else if (e.relation === 'buddy') say(`${e.user} is now your buddy`);
  });
  client.on('request', (e) => {
    refresh();
    say(`${e.from} wants to add you as a buddy: /accept ${e.from} or /deny ${e.from}`);
  });
  client.on('answer', (e) => {
    refresh();
    say(`${e.from} ${e.decision === 'grant' ? 'accepted' : 'declined'} your request`);
  });
  client.on('notice', (e) => say(`notice from server: ${e.code}${e.reason ? ` (${e.reason})` : ''}`));
  client.on('message', (e) => {
    s.typing.delete(e.from);
    // With no conversation open, the first one to write opens it.
    if (s.chat === undefined) s.chat = e.from;
    note(e.from, e.from, e.text);
  });
  client.on('typing', (e) => {
    if (e.state === 'erased') s.typing.delete(e.from);
    else s.typing.set(e.from, e.state);
    redraw();
  });
  client.on('file-progress', (e) => {
    if (e.done === e.size || e.size < 1 || e.done % (1024 * 1024) < 262144) say(`${e.direction === 'in' ? 'receiving' : 'sending'} ${e.name}: ${e.done}/${e.size} octets`);
  });
  client.on('file', (e) => note(e.from, e.from, `[file ${e.name}, ${e.size} octets, saved to ${e.path}]`));
  client.on('session-end', (e) => {
    s.typing.delete(e.user);
    redraw();
  });
  client.on('refused', (e) => say(`${e.direction === 'in' ? 'refused' : 'refused by'} ${e.user ?? 'peer'}: ${e.code} ${e.reason}`));
  client.on('warning', (e) => say(`warning: ${e.message}`));

  const setTyping = (state: TypingState) => {
    if (s.chat === undefined || sentTyping === state) return;
    sentTyping = state;
    client.typing(s.chat, state).catch(() => undefined);
  };
  const afterEdit = () => {
    if (pauseTimer) clearTimeout(pauseTimer);
    pauseTimer = undefined;
    if (s.input.startsWith('/') || s.chat === undefined) return;
    if (s.input.length > 0) {
      setTyping('typing');
      pauseTimer = setTimeout(() => setTyping('paused'), PAUSE_AFTER_MS);
      pauseTimer.unref();
    } else if (sentTyping === 'typing' || sentTyping === 'paused') {
      setTyping('erased');
    }
  };

  let quit!: () => void;
  const done = new Promise<void>((resolve) => (quit = resolve));
  client.on('logout', (e) => {
    if (e.reconnecting) {
      refresh();
      say(`the MS is shutting down: logging in again elsewhere...`);
      return;
    }
    say(`logged out: ${e.reason}`);
    quit();
  });
  client.on('login', (e) => {
    s.ms = e.ms;
    refresh();
    say(`logged in again at ${e.ms}`);
  });

  const command = async (line: string): Promise<void> => {
    const [cmd, ...rest] = line.slice(1).split(/\s+/);
    const arg = rest.join(' ').trim();
    const need = () => {
      if (!arg) throw new Error(`/${cmd} needs an argument`);
      return arg;
    };
    switch (cmd) {
      case 'help':
        return say(HELP);
      case 'quit':
      case 'exit':
        say('logging out...');
        await client.logout().catch(() => undefined);
        return quit();
      case 'chat':
        s.chat = need();
        s.unread.delete(s.chat);
        sentTyping = undefined;
        return say(`chatting with ${s.chat}`);
      case 'add': {
        const u = need();
        const r = await client.add(u);
        return say(r === 'stored' ? `request to ${u} stored; delivered when ${u} logs in` : `request sent to ${u}`);
      }
      case 'accept':
        await client.answer(need(), 'grant');
        refresh();
        return say(`accepted ${arg}`);
      case 'deny':
        await client.answer(need(), 'deny');
        refresh();
        return say(`denied ${arg}`);
      case 'rem':
        await client.rem(need());
        refresh();
        return say(`removed ${arg}`);
      case 'block':
        await client.block(need());
        refresh();
        return say(`blocked ${arg}`);
      case 'unblock':
        await client.unblock(need());
        refresh();
        return say(`unblocked ${arg}`);
      case 'status': {
        const st = need();
        if (st !== 'online' && st !== 'busy' && st !== 'away') throw new Error('status is online, busy or away');
        await client.setStatus(st);
        refresh();
        return say(`status ${st}`);
      }
      case 'send-file': {
        if (s.chat === undefined) throw new Error('choose a buddy first: /chat USER');
        const peer = s.chat;
        const f = await client.sendFile(peer, need());
        return note(peer, s.user, `[sent file ${f.name}, ${f.size} octets]`);
      }
      case 'bye':
        if (s.chat !== undefined) await client.bye(s.chat);
        return say('session closed');
      default:
        throw new Error(`unknown command /${cmd}; ${HELP}`);
    }
  };

  const submit = async (line: string): Promise<void> => {
    if (line.trim() === '') return;
    if (line.startsWith('/')) return command(line.trim());
    if (s.chat === undefined) throw new Error('choose a buddy first: /chat USER');
    const peer = s.chat;
    await client.send(peer, line);
    sentTyping = undefined;
    note(peer, s.user, line);
  };

  const onKey = (str: string | undefined, key: { name?: string; ctrl?: boolean; meta?: boolean; sequence?: string } | undefined) => {
    if (key?.ctrl && (key.name === 'c' || key.name === 'd')) {
      void command('/quit');
      return;
    }
    if (key?.name === 'return' || key?.name === 'enter') {
      const line = s.input;
      s.input = '';
      if (pauseTimer) clearTimeout(pauseTimer);
      redraw();
      submit(line).catch(fail);
      return;
    }
    if (key?.name === 'backspace') {
      s.input = [...s.input].slice(0, -1).join('');
      afterEdit();
      redraw();
      return;
    }
    if (key?.ctrl && key.name === 'u') {
      s.input = '';
      afterEdit();
      redraw();
      return;
    }
    if (str !== undefined && !key?.ctrl && !key?.meta && clean(str) === str && str.length > 0) {
      if (s.input.length < 4000) s.input += str;
      afterEdit();
      redraw();
    }
  };

  emitKeypressEvents(input);
  if (input.isTTY) input.setRawMode(true);
  input.on('keypress', onKey);
  input.resume();
  const onResize = () => redraw();
  output.on('resize', onResize);
  output.write('\x1b[?1049h\x1b[2J');
  draw();
  try {
    await done;
  } finally {
    if (pauseTimer) clearTimeout(pauseTimer);
    input.off('keypress', onKey);
    output.off('resize', onResize);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
    output.write('\x1b[?1049l');
  }
}
