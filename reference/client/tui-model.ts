// The terminal client's state and screen layout, with no terminal: what tui.ts shows through Ink.
// Everything here is pure (given a clock) and tested without a terminal (test/client/render.test.ts);
// the tmux tests (test/client/tui*.test.ts) drive the real program.
//
// - Widths are display widths (string-width: a CJK character or an emoji takes two columns) and
//   text is cut at grapheme boundaries (Intl.Segmenter), so no emoji is split and no line is wider
//   than the screen.
// - Long lines wrap at spaces; only a word longer than the whole line is cut.
// - Each conversation keeps its own bounded scrollback and scroll position (PgUp/PgDn) and its
//   unread count.
// - Everything a peer or a server sends goes through `clean()`: no control character reaches the
//   terminal, so a message cannot move the cursor, change colours or retitle the window.
import stringWidth from 'string-width';
import type { Contact, Presence } from './contacts.js';
import type { TypingState } from './events.js';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export function graphemes(s: string): string[] {
  return Array.from(segmenter.segment(s), (x) => x.segment);
}

export function width(s: string): number {
  return stringWidth(s);
}

/** Removes every C0/C1 control character and DEL, so no input can drive the terminal. */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\t' || c === '\n' ? ' ' : '\u00b7'));
}

/** Cuts `text` to at most `w` columns (ending in an ellipsis when cut) and pads it to exactly `w`. */
export function fit(text: string, w: number): string {
  if (w <= 0) return '';
  const tw = width(text);
  if (tw <= w) return text + ' '.repeat(w - tw);
  let out = '';
  let ow = 0;
  for (const g of graphemes(text)) {
    const gw = width(g);
    if (ow + gw > w - 1) break;
    out += g;
    ow += gw;
  }
  return out + '\u2026' + ' '.repeat(Math.max(0, w - 1 - ow));
}

/** Wraps at spaces into lines of at most `w` columns; a word longer than a line is cut between graphemes. */
export function wrapWords(text: string, w: number): string[] {
  if (w <= 0) return [];
  const out: string[] = [];
  let line = '';
  let lw = 0;
  const flush = () => {
    out.push(line.trimEnd());
    line = '';
    lw = 0;
  };
  for (const tok of text.split(/( +)/)) {
    if (tok === '') continue;
    const tw = width(tok);
    if (tok.trim() === '') {
      if (lw + tw <= w) {
        line += tok;
        lw += tw;
      } else if (lw > 0) flush();
      continue;
    }
    if (lw + tw <= w) {
      line += tok;
      lw += tw;
      continue;
    }
    if (lw > 0 && tw <= w) {
      flush();
      line = tok;
      lw = tw;
      continue;
    }
    for (const g of graphemes(tok)) {
      const gw = width(g);
      if (lw + gw > w && lw > 0) flush();
      line += g;
      lw += gw;
    }
  }
  if (line !== '' || out.length === 0) flush();
  return out;
}

// ---------------------------------------------------------------- the input line

/** A line editor over graphemes: the cursor never sits inside an emoji or a combined character. */
export class LineEditor {
  private g: string[] = [];
  cursor = 0;
  constructor(readonly maxGraphemes = 4000) {}

  get text(): string {
    return this.g.join('');
  }
  set(text: string): void {
    this.g = graphemes(text).slice(0, this.maxGraphemes);
    this.cursor = this.g.length;
  }
  insert(text: string): void {
    const add = graphemes(clean(text).replace(/\u00b7/g, ''));
    const room = this.maxGraphemes - this.g.length;
    const put = add.slice(0, Math.max(0, room));
    this.g.splice(this.cursor, 0, ...put);
    this.cursor += put.length;
  }
  backspace(): void {
    if (this.cursor === 0) return;
    this.g.splice(this.cursor - 1, 1);
    this.cursor--;
  }
  del(): void {
    if (this.cursor < this.g.length) this.g.splice(this.cursor, 1);
  }
  left(): void {
    this.cursor = Math.max(0, this.cursor - 1);
  }
  right(): void {
    this.cursor = Math.min(this.g.length, this.cursor + 1);
  }
  home(): void {
    this.cursor = 0;
  }
  end(): void {
    this.cursor = this.g.length;
  }
  /** Ctrl-U: deletes from the start of the line to the cursor. */
  killStart(): void {
    this.g.splice(0, this.cursor);
    this.cursor = 0;
  }
  /** Ctrl-K: deletes from the cursor to the end. */
  killEnd(): void {
    this.g.splice(this.cursor);
  }
  /** Ctrl-W: deletes the word before the cursor (and the spaces after it). */
  killWord(): void {
    let i = this.cursor;
    while (i > 0 && this.g[i - 1] === ' ') i--;
    while (i > 0 && this.g[i - 1] !== ' ') i--;
    this.g.splice(i, this.cursor - i);
    this.cursor = i;
  }
  /** Alt-B / Ctrl-Left: one word left. */
  wordLeft(): void {
    let i = this.cursor;
    while (i > 0 && this.g[i - 1] === ' ') i--;
    while (i > 0 && this.g[i - 1] !== ' ') i--;
    this.cursor = i;
  }
  /** Alt-F / Ctrl-Right: one word right. */
  wordRight(): void {
    let i = this.cursor;
    while (i < this.g.length && this.g[i] === ' ') i++;
    while (i < this.g.length && this.g[i] !== ' ') i++;
    this.cursor = i;
  }
  /** The text before the cursor, the grapheme under it (a space at the end) and the rest. */
  parts(): [string, string, string] {
    return [this.g.slice(0, this.cursor).join(''), this.g[this.cursor] ?? ' ', this.g.slice(this.cursor + 1).join('')];
  }
}

/** Input history: Up and Down walk it; the line being typed is kept as the newest entry. */
export class InputHistory {
  private items: string[] = [];
  private pos = 0;
  private draft = '';
  constructor(readonly max = 200) {}
  push(line: string): void {
    if (line.trim() === '') return;
    if (this.items[this.items.length - 1] !== line) this.items.push(line);
    if (this.items.length > this.max) this.items.splice(0, this.items.length - this.max);
    this.pos = this.items.length;
    this.draft = '';
  }
  /** The previous entry, or undefined at the oldest. `current` is what the line holds now. */
  up(current: string): string | undefined {
    if (this.pos === 0) return undefined;
    if (this.pos === this.items.length) this.draft = current;
    this.pos--;
    return this.items[this.pos];
  }
  down(): string | undefined {
    if (this.pos >= this.items.length) return undefined;
    this.pos++;
    return this.pos === this.items.length ? this.draft : this.items[this.pos];
  }
}

// ---------------------------------------------------------------- commands and completion

export interface CommandDoc {
  name: string;
  args: string;
  help: string;
  /** What the first argument completes to. */
  completes?: 'user' | 'status' | 'profile-field';
}

export const COMMANDS: CommandDoc[] = [
  {
    name: 'chat',
    args: 'USER',
    help: 'open the conversation with a buddy; plain lines are sent to it',
    completes: 'user',
  },
  { name: 'close', args: '', help: 'close the open conversation (back to the console)' },
  {
    name: 'add',
    args: 'USER',
    help: 'ask USER to be your buddy (delivered later if USER is offline)',
    completes: 'user',
  },
  { name: 'accept', args: 'USER', help: "accept USER's buddy request", completes: 'user' },
  { name: 'deny', args: 'USER', help: "decline USER's buddy request", completes: 'user' },
  { name: 'rem', args: 'USER', help: 'remove a buddy (both ways), or withdraw your request', completes: 'user' },
  { name: 'block', args: 'USER', help: 'block USER (no messages, no requests, no presence)', completes: 'user' },
  { name: 'unblock', args: 'USER', help: 'unblock USER', completes: 'user' },
  { name: 'status', args: 'online|busy|away', help: 'set your presence', completes: 'status' },
  { name: 'send-file', args: 'PATH', help: 'send a file to the open conversation' },
  { name: 'files', args: '', help: 'list the files offered to you' },
  { name: 'accept-file', args: '[N]', help: 'save offered file N (default: the latest) in the downloads directory' },
  { name: 'decline-file', args: '[N]', help: 'discard offered file N (default: the latest)' },
  { name: 'profile', args: '[USER]', help: 'show a profile (yours without USER)', completes: 'user' },
  { name: 'set-profile', args: 'name|location|about TEXT', help: 'change your profile', completes: 'profile-field' },
  { name: 'search', args: 'TEXT', help: 'find users by user name, full name or location' },
  { name: 'passwd', args: '', help: 'change your password (asked for without echo)' },
  { name: 'bye', args: '', help: 'end the peer session of the open conversation (keys forgotten)' },
  { name: 'clear', args: '', help: "clear the open conversation's screen" },
  { name: 'help', args: '', help: 'this list' },
  { name: 'quit', args: '', help: 'log out and exit (also Ctrl-C)' },
];

export const KEYS_HELP = [
  'Keys: PgUp/PgDn scroll the conversation, Up/Down recall earlier lines, Tab completes commands and names,',
  'Left/Right/Home/End (Ctrl-A/Ctrl-E) move, Ctrl-U/Ctrl-K/Ctrl-W delete to start/to end/a word, Ctrl-D deletes forward.',
];

/** The lines /help shows: every command with its arguments, then the keys. */
export function helpLines(): string[] {
  const w = Math.max(...COMMANDS.map((c) => `/${c.name} ${c.args}`.trimEnd().length));
  return [...COMMANDS.map((c) => `${`/${c.name} ${c.args}`.trimEnd().padEnd(w)}  ${c.help}`), ...KEYS_HELP];
}

function commonPrefix(xs: string[]): string {
  if (xs.length === 0) return '';
  let p = xs[0];
  for (const x of xs) while (!x.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/**
 * Tab completion of the word before the cursor: a command name at the start of a line starting
 * with '/', else a name (buddies, contacts, requesters) or the words a command takes. Returns the
 * new line, and the candidates when more than one remains.
 */
export function complete(line: string, names: string[]): { line: string; candidates: string[] } {
  const m = /^(.*?)(\S*)$/s.exec(line);
  const before = m?.[1] ?? '';
  const word = m?.[2] ?? '';
  let pool: string[];
  let suffix = ' ';
  if (before === '' && word.startsWith('/')) {
    pool = COMMANDS.map((c) => `/${c.name}`);
  } else {
    const cmd = /^\/(\S+)\s+$/.exec(before)?.[1];
    const doc = cmd !== undefined ? COMMANDS.find((c) => c.name === cmd) : undefined;
    if (doc?.completes === 'status') pool = ['online', 'busy', 'away'];
    else if (doc?.completes === 'profile-field') pool = ['name', 'location', 'about'];
    else if (cmd !== undefined && doc?.completes !== 'user') pool = [];
    else {
      pool = [...new Set(names)].sort();
      // A name as the first word of a message reads as an address: "bob: ".
      if (before === '') suffix = ': ';
    }
  }
  const hits = pool.filter((p) => p.startsWith(word));
  if (hits.length === 0) return { line, candidates: [] };
  if (hits.length === 1) return { line: before + hits[0] + suffix, candidates: [] };
  const p = commonPrefix(hits);
  return { line: before + (p.length > word.length ? p : word), candidates: hits };
}

// ---------------------------------------------------------------- conversations

export type LineKind = 'in' | 'out' | 'system' | 'error';

export interface ConvLine {
  time: number;
  who: string;
  text: string;
  kind: LineKind;
}

export interface Conversation {
  lines: ConvLine[];
  unread: number;
  /** Wrapped lines scrolled up from the bottom (0: following the newest). */
  scroll: number;
}

export interface FileOffer {
  n: number;
  from: string;
  fileId: string;
  name: string;
  size: number;
  received: number;
  /** receiving -> complete; accepted / declined may come first (applied on arrival). */
  state: 'receiving' | 'complete' | 'accepted' | 'saved' | 'declined' | 'failed';
  /** Where the whole file waits (the staging directory) once complete. */
  path?: string;
  saved?: string;
}

export type NoticeKind = 'info' | 'error';

export interface Notice {
  text: string;
  kind: NoticeKind;
  /** Shown until this time (ms). */
  until: number;
}

/** A prompt whose answer is not echoed (/passwd). */
export interface SecretPrompt {
  prompt: string;
  resolve: (value: string | undefined) => void;
}

export const HISTORY_LIMIT = 1000;
/** How long a notice stays on the status line. */
export const NOTICE_MS = 8000;
const CONSOLE = '';

const MARK: Record<Presence, string> = { online: '*', busy: '!', away: '~', offline: ' ' };

export interface Segment {
  text: string;
  color?: 'red' | 'green' | 'yellow' | 'cyan' | 'magenta' | 'blue' | 'gray';
  inverse?: boolean;
  dim?: boolean;
  bold?: boolean;
}
export type Row = Segment[];

function hhmm(t: number): string {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export class ChatModel {
  user: string;
  ms = '';
  status: Presence = 'online';
  contacts: Contact[] = [];
  requests: string[] = [];
  chat: string | undefined;
  readonly convs = new Map<string, Conversation>();
  readonly typing = new Map<string, TypingState>();
  readonly offers: FileOffer[] = [];
  notice: Notice | undefined;
  /** Set while the client reconnects: shown on the status line until it is back. */
  reconnecting: string | undefined;
  readonly editor = new LineEditor();
  readonly history = new InputHistory();
  secret: SecretPrompt | undefined;
  private readonly listeners = new Set<() => void>();
  /** Rows of the conversation pane at the last layout (the PgUp/PgDn page). */
  private page = 10;

  constructor(
    user: string,
    readonly now: () => number = Date.now,
  ) {
    this.user = user;
  }

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }
  changed(): void {
    for (const f of this.listeners) f();
  }

  conv(peer: string): Conversation {
    let c = this.convs.get(peer);
    if (!c) this.convs.set(peer, (c = { lines: [], unread: 0, scroll: 0 }));
    return c;
  }

  /** Adds a line to a conversation (CONSOLE is ''): counts unread when it is not on screen. */
  add(peer: string, who: string, text: string, kind: LineKind = 'in'): void {
    const c = this.conv(peer);
    c.lines.push({ time: this.now(), who, text, kind });
    if (c.lines.length > HISTORY_LIMIT) c.lines.splice(0, c.lines.length - HISTORY_LIMIT);
    if (peer !== (this.chat ?? CONSOLE) && kind === 'in') c.unread++;
    this.changed();
  }

  /** Command output (help, search results, profiles): into the conversation on screen. */
  print(text: string, kind: LineKind = 'system'): void {
    this.add(this.chat ?? CONSOLE, '*', text, kind);
  }

  say(text: string, kind: NoticeKind = 'info'): void {
    this.notice = { text, kind, until: this.now() + NOTICE_MS };
    this.changed();
  }

  /** A conversation was opened once (then a message no longer opens its conversation by itself). */
  everOpened = false;

  open(peer: string | undefined): void {
    this.chat = peer;
    if (peer !== undefined) this.everOpened = true;
    const c = this.conv(peer ?? CONSOLE);
    c.unread = 0;
    this.changed();
  }

  totalUnread(): number {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  }

  scrollBy(pages: number): void {
    const c = this.conv(this.chat ?? CONSOLE);
    c.scroll = Math.max(0, c.scroll + Math.round(pages * Math.max(1, this.page - 1)));
    this.changed();
  }

  /** Names worth completing: contacts and requesters. */
  names(): string[] {
    return [...this.contacts.map((c) => c.user), ...this.requests];
  }

  // ------------------------------------------------------------ layout

  /** Wrapped rows per line and width: a redraw wraps only new lines. */
  private readonly wrapCache = new WeakMap<ConvLine, { w: number; rows: Row[] }>();

  private lineRows(l: ConvLine, w: number): Row[] {
    const hit = this.wrapCache.get(l);
    if (hit && hit.w === w) return hit.rows;
    const rows = this.wrapLine(l, w);
    this.wrapCache.set(l, { w, rows });
    return rows;
  }

  private wrapLine(l: ConvLine, w: number): Row[] {
    const text = clean(l.text);
    const stamp = `[${hhmm(l.time)}] `;
    const body = l.kind === 'system' || l.kind === 'error' || l.who === '*' ? `* ${text}` : `${clean(l.who)}: ${text}`;
    // continuation lines are indented under the text, past the time stamp
    const indent = w > 24 ? stamp.length : 0;
    const wrapped = wrapWords(body, w - indent).map((t, i) =>
      indent === 0 ? t : (i === 0 ? stamp : ' '.repeat(indent)) + t,
    );
    const color: Segment['color'] = l.kind === 'error' ? 'red' : l.kind === 'out' ? 'cyan' : undefined;
    return wrapped.map((t) => [
      { text: fit(t, w), ...(color ? { color } : {}), ...(l.kind === 'system' ? { dim: true } : {}) },
    ]);
  }

  /** The whole screen: rows of segments, each row exactly `cols` columns wide. */
  layout(cols: number, rows: number): Row[] {
    const W = Math.max(30, cols);
    const H = Math.max(8, rows);
    const left = Math.min(26, Math.floor(W / 4) + 2);
    const right = W - left - 1;
    const bodyRows = H - 3;
    const out: Row[] = [];

    const unread = this.totalUnread();
    const conn = this.reconnecting !== undefined ? '  [reconnecting]' : '';
    const title = ` IMSP  ${clean(this.user)}@${this.ms}  [${this.status}]${conn}${unread > 0 ? `  ${unread} unread` : ''}  /help for commands`;
    out.push([{ text: fit(title, W), inverse: true }]);

    const leftRows: Row[] = [[{ text: fit('Buddies', left), bold: true }]];
    for (const c of this.contacts) {
      const conv = this.convs.get(c.user);
      const sel = c.user === this.chat ? '>' : ' ';
      const shown = this.shownStatus(c);
      const rel = c.relation === 'buddy' ? shown : c.relation;
      const n = conv && conv.unread > 0 ? ` (${conv.unread})` : '';
      const color: Segment['color'] =
        c.relation !== 'buddy' || shown === 'offline' || shown === 'unknown'
          ? 'gray'
          : shown === 'online'
            ? 'green'
            : 'yellow';
      const mark = shown === 'unknown' ? '?' : MARK[shown];
      leftRows.push([
        { text: fit(`${sel}${mark} ${clean(c.user)} ${rel}${n}`, left), color, ...(n ? { bold: true } : {}) },
      ]);
    }
    if (this.contacts.length === 0) leftRows.push([{ text: fit(' (no contacts: /add USER)', left), dim: true }]);
    if (this.requests.length > 0) {
      leftRows.push([{ text: fit('', left) }], [{ text: fit('Requests', left), bold: true }]);
      for (const r of this.requests) leftRows.push([{ text: fit(` ? ${clean(r)}`, left), color: 'yellow' }]);
    }
    const pending = this.offers.filter((o) => o.state === 'receiving' || o.state === 'complete');
    if (pending.length > 0) {
      leftRows.push([{ text: fit('', left) }], [{ text: fit('Files offered', left), bold: true }]);
      for (const o of pending) leftRows.push([{ text: fit(` ${o.n}. ${clean(o.name)}`, left), color: 'magenta' }]);
    }

    const key = this.chat ?? CONSOLE;
    const conv = this.conv(key);
    const view = bodyRows - 1;
    this.page = view;
    // wrap from the newest line back, only as far as the screen and the scroll position need
    const want = view + conv.scroll;
    const wrapped: Row[] = [];
    let i = conv.lines.length - 1;
    for (; i >= 0 && wrapped.length < want; i--) wrapped.unshift(...this.lineRows(conv.lines[i], right));
    const older = i >= 0;
    const maxScroll = Math.max(0, wrapped.length - view);
    if (conv.scroll > maxScroll) conv.scroll = maxScroll;
    const end = wrapped.length - conv.scroll;
    const shown = wrapped.slice(Math.max(0, end - view), end);
    const contact = this.chat !== undefined ? this.contacts.find((c) => c.user === this.chat) : undefined;
    let header =
      this.chat === undefined
        ? 'Console (no conversation open: /chat USER)'
        : `Chat with ${clean(this.chat)}${contact ? ` (${contact.relation === 'buddy' ? this.shownStatus(contact) : contact.relation})` : ''}`;
    if (conv.scroll > 0) header += `  -- scrolled back: ${conv.scroll} more below, PgDn --`;
    else if (end > view || older) header += '  (PgUp: older)';
    const rightRows: Row[] = [[{ text: fit(header, right), bold: true }], ...shown];

    for (let i = 0; i < bodyRows; i++) {
      out.push([
        ...(leftRows[i] ?? [{ text: ' '.repeat(left) }]),
        { text: '\u2502', dim: true },
        ...(rightRows[i] ?? [{ text: ' '.repeat(right) }]),
      ]);
    }

    out.push(this.statusRow(W));
    out.push(this.inputRow(W));
    return out;
  }

  /** A buddy's presence as shown: unknown while the session is lost, since the last pushes may be
   *  stale until the new login's bundle replaces the whole view [RECONNECT-7] (a buddy shown online
   *  then may have left meanwhile; profanity greys its roster out the same way). */
  shownStatus(c: Pick<Contact, 'status'>): Presence | 'unknown' {
    return this.reconnecting !== undefined ? 'unknown' : c.status;
  }

  /** The status line: reconnecting, else the typing indicator, else a notice not yet expired. */
  statusRow(W: number): Row {
    if (this.reconnecting !== undefined) return [{ text: fit(clean(this.reconnecting), W), color: 'yellow' }];
    const t = this.chat !== undefined ? this.typing.get(this.chat) : undefined;
    if (t === 'typing') return [{ text: fit(`${clean(this.chat!)} is typing...`, W), dim: true }];
    if (t === 'paused') return [{ text: fit(`${clean(this.chat!)} has typed something`, W), dim: true }];
    const n = this.notice;
    if (n && n.until > this.now())
      return [{ text: fit(clean(n.text), W), ...(n.kind === 'error' ? { color: 'red' as const } : { dim: true }) }];
    return [{ text: ' '.repeat(W) }];
  }

  /** The input line with its cursor (inverse), scrolled sideways to keep the cursor in view. */
  inputRow(W: number): Row {
    const prompt = this.secret ? this.secret.prompt : `${this.chat ?? ''}> `;
    let [before, at, after] = this.editor.parts();
    if (this.secret) {
      before = '*'.repeat(graphemes(before).length);
      at = at === ' ' ? ' ' : '*';
      after = '*'.repeat(graphemes(after).length);
    }
    const room = W - width(prompt) - 1;
    // keep the cursor in view: drop graphemes from the left of `before`
    let bg = graphemes(before);
    let bw = width(before);
    while (bw + width(at) > room && bg.length > 0) {
      bw -= width(bg[0]);
      bg = bg.slice(1);
    }
    const beforeShown = bg.join('');
    const used = width(prompt) + bw + width(at);
    return [
      { text: prompt, bold: true },
      { text: beforeShown },
      { text: at, inverse: true },
      { text: fit(after, Math.max(0, W - used)) },
    ];
  }
}

/** A row as plain text (tests, screenshots). */
export function rowText(r: Row): string {
  return r.map((s) => s.text).join('');
}
