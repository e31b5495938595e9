// The interactive terminal client, on Ink 6 (React for terminals): the buddy list on the left, the
// open conversation on the right with its own scrollback, a status line and an input line with
// line editing, history and tab completion. The state and the layout are in tui-model.ts (pure,
// tested without a terminal); this file wires the client's events and the commands to it.
//
// The input line is our own LineEditor rather than ink-text-input: ink-text-input moves its cursor
// by UTF-16 code units (Backspace after an emoji leaves half a surrogate pair), inserts Ctrl-letters
// as text, has no Home/End or word deletion, and leaves its cursor where it was when the value is
// replaced (history, completion). Widths come from string-width, as Ink's own layout does.
//
// Files: the protocol pushes a file's chunks without asking [§10.3 Files as MIME], so the offer is
// local: files arrive in a staging directory (`<downloads>/.incoming`, mode 0700), the user is asked,
// and only /accept-file moves one into the downloads directory (never over an existing file,
// [FILE-6]); /decline-file, or quitting without an answer, deletes it.
import { appendFileSync, mkdirSync } from 'node:fs';
import { link, mkdir, rm, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import React from 'react';
import { Box, Text, render, useInput, useStdout, type Key } from 'ink';
import { ClientError, type ImspClient } from './client.js';
import { humanError, reconnectText, type ErrorContext } from './messages.js';
import { COMMANDS, ChatModel, complete, helpLines, type FileOffer, type Row } from './tui-model.js';
import type { TypingState } from './events.js';

export { clean } from './tui-model.js';

const h = React.createElement;
const PAUSE_AFTER_MS = 4000;

export interface TuiOptions {
  /** Where accepted files are saved; incoming files wait in `<downloads>/.incoming` (the client's downloadDir). */
  downloads: string;
  /** Keep a log of every conversation in this directory (one file per buddy, mode 0600). */
  logDir?: string;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
}

/** The staging directory the client must receive files into, for `downloads`. */
export function stagingDir(downloads: string): string {
  return join(downloads, '.incoming');
}

/** Appends conversations to `<dir>/<peer>.log`, one line per event, files 0600 in a 0700 directory. */
export class ChatLog {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  write(peer: string, who: string, text: string): void {
    // user names are [a-z0-9._-]: safe as file names; anything else is refused
    if (!/^[a-z][a-z0-9._-]{0,31}$/.test(peer)) return;
    const line = `${new Date().toISOString()} ${who === '*' ? '*' : `<${who}>`} ${text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')}\n`;
    appendFileSync(join(this.dir, `${peer}.log`), line, { mode: 0o600 });
  }
}

/** A name in `dir` that does not exist yet: name, name (1), name (2)... */
async function freeName(dir: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; i < 10_000; i++) {
    const p = join(dir, i === 0 ? name : `${stem} (${i})${ext}`);
    try {
      await stat(p);
    } catch {
      return p;
    }
  }
  throw new Error('no free file name');
}

function sizeText(n: number): string {
  if (n < 1024) return `${n} octets`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function RowView({ row }: { row: Row }): React.ReactElement {
  return h(
    Text,
    { wrap: 'truncate' },
    ...row.map((s, i) =>
      h(
        Text,
        {
          key: i,
          ...(s.color ? { color: s.color } : {}),
          ...(s.inverse ? { inverse: true } : {}),
          ...(s.dim ? { dimColor: true } : {}),
          ...(s.bold ? { bold: true } : {}),
        },
        s.text,
      ),
    ),
  );
}

function Screen({ model, onKey }: { model: ChatModel; onKey: (input: string, key: Key) => void }): React.ReactElement {
  const { stdout } = useStdout();
  const [, setTick] = React.useState(0);
  const [size, setSize] = React.useState({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  React.useEffect(() => model.onChange(() => setTick((t) => t + 1)), [model]);
  React.useEffect(() => {
    const onResize = () => setSize({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
    stdout.on('resize', onResize);
    // notices expire: look again every second
    const timer = setInterval(() => setTick((t) => t + 1), 1000);
    return () => {
      stdout.off('resize', onResize);
      clearInterval(timer);
    };
  }, [stdout]);
  useInput(onKey);
  // One row less than the terminal: Ink clears the whole screen on every frame that fills it.
  const rows = model.layout(size.cols, size.rows - 1);
  return h(Box, { flexDirection: 'column', width: size.cols }, ...rows.map((r, i) => h(RowView, { key: i, row: r })));
}

/** Runs the terminal UI on a logged-in client until /quit or Ctrl-C. Resolves when the client has logged out. */
export async function runTui(client: ImspClient, opts: TuiOptions): Promise<void> {
  const model = new ChatModel(client.user);
  const log = opts.logDir ? new ChatLog(opts.logDir) : undefined;
  const staging = stagingDir(opts.downloads);
  await mkdir(staging, { recursive: true, mode: 0o700 });
  let sentTyping: TypingState | undefined;
  let pauseTimer: NodeJS.Timeout | undefined;
  let quitting = false;

  const refresh = () => {
    model.contacts = client.contacts.list();
    model.requests = [...client.contacts.requests.keys()];
    model.status = client.status;
    model.ms = client.msAddress;
    model.changed();
  };
  refresh();
  const note = (peer: string, who: string, text: string, kind: 'in' | 'out' | 'system' | 'error' = 'in') => {
    model.add(peer, who, text, kind);
    log?.write(peer, who, text);
  };
  const ctx = (cmd: string, user?: string): ErrorContext => ({
    cmd,
    self: client.user,
    ...(user !== undefined ? { user } : {}),
  });
  const failText = (err: unknown, c: ErrorContext): string => {
    if (err instanceof ClientError)
      return humanError(err.code, { ...c, ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}) });
    const e = err as { code?: unknown };
    if (typeof e?.code === 'string' && e.code.startsWith('ERR_')) return humanError(e.code, c);
    if (typeof e?.code === 'string' && e.code === 'ENOENT') return 'No such file.';
    if (typeof e?.code === 'string' && e.code === 'EISDIR') return 'That is a directory, not a file.';
    if (typeof e?.code === 'string' && e.code === 'EACCES') return 'You may not read that file.';
    if (typeof e?.code === 'string' && e.code === 'ENOTFILE') return 'That is not a regular file.';
    if (typeof e?.code === 'string' && e.code === 'ECHANGED')
      return 'The file changed while it was read; send it again.';
    return err instanceof Error ? err.message : String(err);
  };

  model.print(`Logged in as ${client.user} at ${client.msAddress}. /help lists the commands.`);
  if (client.contacts.requests.size > 0)
    model.print(
      `Buddy requests waiting: ${[...client.contacts.requests.keys()].join(', ')} (/accept USER or /deny USER)`,
    );

  // ------------------------------------------------------------ the client's events
  const lastStatus = new Map<string, string>(client.contacts.list().map((c) => [c.user, c.status]));
  client.on('presence', (e) => {
    const before = lastStatus.get(e.user);
    lastStatus.set(e.user, e.status);
    refresh();
    const c = client.contacts.get(e.user);
    if (before === e.status || !c || c.relation !== 'buddy') return;
    // the change shows in the buddy's conversation (offline: the peer session is gone with it)
    note(
      e.user,
      '*',
      e.status === 'offline'
        ? `${e.user} went offline`
        : before === 'offline' || before === undefined
          ? `${e.user} is online${e.status !== 'online' ? ` (${e.status})` : ''}`
          : `${e.user} is now ${e.status}`,
      'system',
    );
    if (e.status === 'offline') model.typing.delete(e.user);
  });
  client.on('contact', (e) => {
    refresh();
    if (e.relation === 'none') {
      note(e.user, '*', `${e.user} is no longer a contact`, 'system');
      model.say(`${e.user} is no longer a contact`);
    } else if (e.relation === 'buddy') {
      note(e.user, '*', `${e.user} is now your buddy`, 'system');
      model.say(`${e.user} is now your buddy: /chat ${e.user}`);
    }
  });
  client.on('request', (e) => {
    refresh();
    model.say(`${e.from} wants to add you as a buddy: /accept ${e.from} or /deny ${e.from}`);
    model.print(`${e.from} wants to add you as a buddy: /accept ${e.from} or /deny ${e.from}`);
  });
  client.on('answer', (e) => {
    refresh();
    // in the scrollback with its time, as a request is: the status line is gone at the next message
    const text = `${e.from} ${e.decision === 'grant' ? 'accepted' : 'declined'} your buddy request`;
    model.say(text);
    model.print(text);
  });
  client.on('notice', (e) => {
    const c: ErrorContext = { self: client.user, ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}) };
    model.say(`Server: ${humanError(e.code, c)}`, 'error');
  });
  client.on('message', (e) => {
    model.typing.delete(e.from);
    // Before any conversation was opened, the first one to write opens it; later, unread counts show.
    if (model.chat === undefined && !model.everOpened) model.open(e.from);
    note(e.from, e.from, e.text);
  });
  client.on('typing', (e) => {
    if (e.state === 'erased') model.typing.delete(e.from);
    else model.typing.set(e.from, e.state);
    model.changed();
  });

  // file offers (local accept / decline, see the top of this file)
  const offerById = new Map<string, FileOffer>();
  const settle = async (o: FileOffer): Promise<void> => {
    if (o.state === 'accepted' && o.path) {
      try {
        await mkdir(opts.downloads, { recursive: true });
        // link + rm: never over an existing file, unlike rename [FILE-6]
        for (let tries = 0; ; tries++) {
          const target = await freeName(opts.downloads, o.name);
          try {
            await link(o.path, target);
            o.saved = target;
            break;
          } catch (e) {
            if ((e as { code?: string }).code !== 'EEXIST' || tries > 5) throw e;
          }
        }
        await rm(o.path, { force: true });
        o.state = 'saved';
        note(o.from, '*', `file ${o.name} saved to ${o.saved}`, 'system');
        model.say(`saved ${o.name} to ${o.saved}`);
      } catch (e) {
        o.state = 'failed';
        model.say(`could not save ${o.name}: ${failText(e, ctx('accept-file'))}`, 'error');
      }
    } else if (o.state === 'declined' && o.path) {
      await rm(o.path, { force: true });
      o.path = undefined;
    }
    model.changed();
  };
  client.on('file-progress', (e) => {
    if (e.direction === 'out') {
      if (e.done === e.size) model.say(`sent ${e.name} (${sizeText(e.size)})`);
      else model.say(`sending ${e.name}: ${Math.floor((100 * e.done) / Math.max(1, e.size))}%`);
      return;
    }
    let o = offerById.get(e.fileId);
    if (!o) {
      o = {
        n: model.offers.length + 1,
        from: e.peer,
        fileId: e.fileId,
        name: basename(e.name),
        size: e.size,
        received: 0,
        state: 'receiving',
      };
      offerById.set(e.fileId, o);
      model.offers.push(o);
      note(
        e.peer,
        '*',
        `${e.peer} offers the file ${o.name} (${sizeText(e.size)}): /accept-file ${o.n} or /decline-file ${o.n}`,
        'in',
      );
      model.say(`${e.peer} offers ${o.name} (${sizeText(e.size)}): /accept-file ${o.n} or /decline-file ${o.n}`);
    }
    o.received = e.done;
    model.changed();
  });
  client.on('file', (e) => {
    const o = offerById.get(e.fileId);
    if (!o) return;
    o.path = e.path;
    if (o.state === 'receiving') o.state = 'complete';
    void settle(o);
  });
  client.on('session-end', (e) => {
    model.typing.delete(e.user);
    model.changed();
  });
  client.on('refused', (e) => {
    const who = e.user ?? 'a peer';
    model.say(
      e.direction === 'in'
        ? `refused a connection from ${who}: ${humanError(e.code, { user: who })}`
        : humanError(e.code, ctx('chat', who)),
      'error',
    );
  });
  client.on('warning', (e) => model.say(`warning: ${e.message}`, 'error'));
  client.on('login', () => {
    refresh();
    model.reconnecting = undefined;
    model.say(`logged in again at ${client.msAddress}`);
  });
  // [RECONNECT-1] automatic reconnection (ClientEvents), shown until it is back
  client.on('reconnecting', (e) => {
    // the reason in words: after a failed attempt it is "ERR_CODE: detail"
    const why = reconnectText(e.reason);
    model.reconnecting =
      e.attempt === 1
        ? `Connection lost (${why}); reconnecting in ${(e.delayMs / 1000).toFixed(1)} s...`
        : `Still reconnecting: ${why} Next try in ${(e.delayMs / 1000).toFixed(1)} s (attempt ${e.attempt}).`;
    if (e.attempt === 1) model.print(`Connection to the server lost (${why}); reconnecting...`, 'error');
    refresh();
  });
  client.on('reconnected', () => {
    model.reconnecting = undefined;
    refresh();
    model.print(`Reconnected at ${client.msAddress}.`);
    model.say(`reconnected at ${client.msAddress}`);
  });

  let quit!: () => void;
  const done = new Promise<void>((resolve) => (quit = resolve));
  client.on('logout', (e) => {
    if (e.reconnecting) {
      model.reconnecting = `Connection to the server lost (${e.reason}); reconnecting...`;
      refresh();
      return;
    }
    if (quitting) return;
    model.say(`logged out: ${e.reason}`, 'error');
    quit();
  });

  // ------------------------------------------------------------ typing notifications
  const setTyping = (state: TypingState) => {
    if (model.chat === undefined || sentTyping === state) return;
    sentTyping = state;
    client.typing(model.chat, state).catch(() => undefined);
  };
  const afterEdit = () => {
    if (pauseTimer) clearTimeout(pauseTimer);
    pauseTimer = undefined;
    const text = model.editor.text;
    if (model.secret || text.startsWith('/') || model.chat === undefined) return;
    if (text.length > 0) {
      setTyping('typing');
      pauseTimer = setTimeout(() => setTyping('paused'), PAUSE_AFTER_MS);
      pauseTimer.unref();
    } else if (sentTyping === 'typing' || sentTyping === 'paused') {
      setTyping('erased');
    }
  };

  // ------------------------------------------------------------ commands
  const ask = (prompt: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      model.editor.set('');
      model.secret = {
        prompt,
        resolve: (v) => {
          model.secret = undefined;
          model.changed();
          resolve(v);
        },
      };
      model.changed();
    });

  const offerArg = (arg: string): FileOffer => {
    const open = model.offers.filter((o) => o.state === 'receiving' || o.state === 'complete');
    const o = arg === '' ? open[open.length - 1] : model.offers.find((x) => String(x.n) === arg);
    if (!o)
      throw new Error(
        arg === '' ? 'No file is waiting for an answer.' : `There is no file offer ${arg} (/files lists them).`,
      );
    if (o.state !== 'receiving' && o.state !== 'complete') throw new Error(`File ${o.n} was ${o.state} already.`);
    return o;
  };

  /** Runs one command line; resolves true when the line is done with (the input may be cleared). */
  const command = async (line: string): Promise<void> => {
    const [word, ...rest] = line.slice(1).split(/\s+/);
    const cmd = word.toLowerCase();
    const arg = rest.join(' ').trim();
    const doc = COMMANDS.find((c) => c.name === cmd);
    const need = (what = doc?.args || 'an argument') => {
      if (!arg) throw new Error(`/${cmd} needs ${what}: /${cmd} ${doc?.args ?? ''}`.trimEnd());
      return arg;
    };
    const c = (user?: string) => ctx(cmd, user);
    const attempt = async <T>(f: () => Promise<T>, user?: string): Promise<T> => {
      try {
        return await f();
      } catch (e) {
        throw new Error(failText(e, c(user)));
      }
    };
    switch (cmd) {
      case 'help':
        for (const l of helpLines()) model.print(l);
        return;
      case 'quit':
      case 'exit':
        quitting = true;
        model.say('logging out...');
        await client.logout().catch(() => undefined);
        return quit();
      case 'chat': {
        const u = need();
        const ct = client.contacts.get(u);
        // [P2P-3] only buddies can be talked to: refused here (Up recalls the line for correcting)
        if (u === client.user) throw new Error("You can't chat with yourself.");
        if (!ct || ct.relation !== 'buddy')
          throw new Error(
            `${u} is not your buddy${ct?.relation === 'pending' ? ' yet (your request is waiting for an answer)' : `: /add ${u} first`}.`,
          );
        model.open(u);
        sentTyping = undefined;
        model.say(`chatting with ${u}${ct.status === 'offline' ? ` (${u} is offline)` : ''}`);
        return;
      }
      case 'close':
        model.open(undefined);
        return;
      case 'add': {
        const u = need();
        const r = await attempt(() => client.add(u), u);
        refresh();
        model.say(r === 'stored' ? `request to ${u} stored; delivered when ${u} logs in` : `request sent to ${u}`);
        return;
      }
      case 'accept':
      case 'deny': {
        const u = need();
        await attempt(() => client.answer(u, cmd === 'accept' ? 'grant' : 'deny'), u);
        refresh();
        model.say(`${cmd === 'accept' ? 'accepted' : 'declined'} ${u}'s request`);
        return;
      }
      case 'rem':
      case 'block':
      case 'unblock': {
        const u = need();
        await attempt(() => (cmd === 'rem' ? client.rem(u) : cmd === 'block' ? client.block(u) : client.unblock(u)), u);
        refresh();
        model.say(`${cmd === 'rem' ? 'removed' : cmd === 'block' ? 'blocked' : 'unblocked'} ${u}`);
        return;
      }
      case 'status': {
        const st = need();
        if (st !== 'online' && st !== 'busy' && st !== 'away') throw new Error('The status is online, busy or away.');
        await attempt(() => client.setStatus(st));
        refresh();
        model.say(`your status is ${st}`);
        return;
      }
      case 'send-file': {
        if (model.chat === undefined) throw new Error('Open a conversation first: /chat USER');
        const peer = model.chat;
        const path = need();
        note(peer, '*', `sending the file ${basename(path)}...`, 'system');
        let f: Awaited<ReturnType<ImspClient['sendFile']>>;
        try {
          f = await client.sendFile(peer, path);
        } catch (e) {
          const why = failText(e, c(peer));
          note(peer, '*', `${basename(path)} was not sent: ${why}`, 'error');
          throw new Error(why);
        }
        // sendFile resolves when the peer has answered the last chunk 200: it holds the whole file and
        // its digest matched [FILE-5] [MSG-9]. Whether it keeps it is the peer's own choice, never sent
        // back (Appendix A.5).
        note(peer, client.user, `[sent file ${f.name}, ${sizeText(f.size)}: ${peer} received it whole]`, 'out');
        return;
      }
      case 'files': {
        if (model.offers.length === 0) return model.print('No file was offered to you.');
        for (const o of model.offers)
          model.print(
            `${o.n}. ${o.name} from ${o.from}, ${sizeText(o.size)}: ${o.state === 'receiving' ? `receiving (${Math.floor((100 * o.received) / Math.max(1, o.size))}%)` : o.state}${o.saved ? ` (${o.saved})` : ''}`,
          );
        return;
      }
      case 'accept-file':
      case 'decline-file': {
        const o = offerArg(arg);
        o.state = cmd === 'accept-file' ? 'accepted' : 'declined';
        if (o.path) await settle(o);
        else model.say(cmd === 'accept-file' ? `${o.name} will be saved when it has arrived` : `declined ${o.name}`);
        if (cmd === 'decline-file') note(o.from, '*', `declined the file ${o.name}`, 'system');
        model.changed();
        return;
      }
      case 'profile': {
        const p = await attempt(() => client.profile(arg || undefined), arg || undefined);
        model.print(`Profile of ${p.User ?? (arg || client.user)}:`);
        model.print(`  Full name: ${p['Full-name'] ?? '-'}`);
        model.print(`  Location:  ${p.Location ?? '-'}`);
        model.print(`  About:     ${p.About ?? '-'}`);
        return;
      }
      case 'set-profile': {
        const m = /^(name|location|about)\s+(.*)$/s.exec(arg);
        if (!m) throw new Error('Use /set-profile name|location|about TEXT');
        const fields =
          m[1] === 'name' ? { fullName: m[2] } : m[1] === 'location' ? { location: m[2] } : { about: m[2] };
        await attempt(() => client.setProfile(fields));
        model.say(`profile ${m[1]} set`);
        return;
      }
      case 'search': {
        const q = need('TEXT');
        const found = await attempt(() => client.search(q));
        if (found.length === 0) return model.print(`No user matches "${q}".`);
        model.print(`Users matching "${q}":`);
        for (const r of found)
          model.print(
            `  ${r.User ?? '?'}${r['Full-name'] ? ` - ${r['Full-name']}` : ''}${r.Location ? `, ${r.Location}` : ''}`,
          );
        return;
      }
      case 'passwd': {
        const current = await ask('Current password: ');
        if (current === undefined) return model.say('password not changed');
        const next = await ask('New password: ');
        if (next === undefined || next === '') return model.say('password not changed');
        const again = await ask('New password (again): ');
        if (again !== next) throw new Error('The new passwords differ; password not changed.');
        model.say('changing the password...');
        await attempt(() => client.passwd(current, next));
        model.say('Password changed. Use the new one at your next login.');
        return;
      }
      case 'bye':
        if (model.chat === undefined) throw new Error('No conversation is open.');
        await client.bye(model.chat);
        note(model.chat, '*', 'peer session closed (keys forgotten)', 'system');
        return;
      case 'clear':
        model.conv(model.chat ?? '').lines.length = 0;
        model.conv(model.chat ?? '').scroll = 0;
        model.changed();
        return;
      default:
        throw new Error(`Unknown command /${cmd}. /help lists the commands.`);
    }
  };

  const submit = async (line: string): Promise<void> => {
    if (line.trim() === '') return;
    if (line.startsWith('/')) return command(line.trim());
    if (model.chat === undefined) throw new Error('Open a conversation first: /chat USER (Tab completes names).');
    const peer = model.chat;
    // The message ends the composition [TYPING-1]: forget the state sent before the MSG leaves, so a
    // key pressed while its 200 is on the way announces `typing` again (the peer resets on MSG too).
    sentTyping = undefined;
    try {
      await client.send(peer, line);
    } catch (e) {
      throw new Error(failText(e, ctx('send', peer)));
    }
    note(peer, client.user, line, 'out');
  };

  // ------------------------------------------------------------ keys
  const onKey = (input: string, key: Key): void => {
    // A paste (or keys typed faster than they are read) arrives as one chunk: each line end in it
    // is an Enter.
    if (!key.return && !key.ctrl && !key.meta && input.length > 1 && /[\r\n\t]/.test(input)) {
      for (const part of input.split(/(\r\n|\r|\n|\t)/)) {
        if (part === '') continue;
        if (part === '\t') onKey('', { ...key, tab: true });
        else if (/^[\r\n]/.test(part)) onKey('\r', { ...key, return: true });
        else onKey(part, key);
      }
      return;
    }
    const ed = model.editor;
    if (key.ctrl && input === 'c') {
      if (model.secret) return model.secret.resolve(undefined);
      if (!quitting) void command('/quit');
      return;
    }
    if (model.secret) {
      if (key.return) {
        const v = ed.text;
        ed.set('');
        model.secret.resolve(v);
      } else if (key.escape) {
        ed.set('');
        model.secret.resolve(undefined);
      } else if (key.backspace || key.delete) ed.backspace();
      else if (input && !key.ctrl && !key.meta) ed.insert(input);
      model.changed();
      return;
    }
    if (key.return) {
      const line = ed.text;
      ed.set('');
      model.history.push(line);
      if (pauseTimer) clearTimeout(pauseTimer);
      model.changed();
      // A refused line is not put back into the input, as in irssi and WeeChat: what is typed next
      // would be appended to it. It is in the history already: Up recalls it for correcting.
      submit(line).catch((e: unknown) => {
        model.say(`${e instanceof Error ? e.message : String(e)} (Up recalls the line)`, 'error');
        model.changed();
      });
      return;
    }
    if (key.pageUp) model.scrollBy(1);
    else if (key.pageDown) model.scrollBy(-1);
    else if (key.upArrow) {
      const v = model.history.up(ed.text);
      if (v !== undefined) ed.set(v);
    } else if (key.downArrow) {
      const v = model.history.down();
      if (v !== undefined) ed.set(v);
    } else if (key.tab) {
      const [before, , after] = ed.parts();
      const r = complete(before, model.names());
      if (r.line !== before) {
        ed.set(r.line + (ed.cursor < ed.text.length ? after : ''));
        ed.cursor = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(r.line)].length;
      }
      if (r.candidates.length > 1) model.say(r.candidates.join('  '));
    } else if (key.leftArrow) key.ctrl || key.meta ? ed.wordLeft() : ed.left();
    else if (key.rightArrow) key.ctrl || key.meta ? ed.wordRight() : ed.right();
    else if (key.home || (key.ctrl && input === 'a')) ed.home();
    else if (key.end || (key.ctrl && input === 'e')) ed.end();
    else if (key.ctrl && input === 'u') ed.killStart();
    else if (key.ctrl && input === 'k') ed.killEnd();
    else if (key.ctrl && input === 'w') ed.killWord();
    else if (key.ctrl && input === 'd') ed.del();
    else if (key.meta && input === 'b') ed.wordLeft();
    else if (key.meta && input === 'f') ed.wordRight();
    else if (key.backspace || key.delete) ed.backspace();
    else if (key.escape) return;
    else if (input && !key.ctrl && !key.meta) ed.insert(input);
    else return;
    afterEdit();
    model.changed();
  };

  const stdout = opts.stdout ?? process.stdout;
  stdout.write('\x1b[?1049h\x1b[2J\x1b[H');
  const app = render(h(Screen, { model, onKey }), {
    stdin: opts.stdin ?? process.stdin,
    stdout,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  try {
    await done;
  } finally {
    if (pauseTimer) clearTimeout(pauseTimer);
    app.unmount();
    await app.waitUntilExit().catch(() => undefined);
    stdout.write('\x1b[?1049l');
    // files never answered are not kept
    for (const o of model.offers)
      if (o.state !== 'saved' && o.path) await rm(o.path, { force: true }).catch(() => undefined);
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}
