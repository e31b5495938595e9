/**
 * The client control interface, version 1: `imsp client --control [--crs HOST:PORT | --ms HOST:PORT]`.
 * It lets a program (the conformance kit, the demo, a test) drive one reference client through
 * its stdin and read what happens on its stdout. It is a test interface, not a user interface.
 *
 * Input: one command per line (LF or CRLF), words separated by spaces. Commands run one at a time,
 * in order; each gets exactly one result line before the next command starts.
 *
 *   login USER PASSWORD          LOCATE (with --crs) or go straight to --ms, then LOGIN/PROOF
 *   logout                       LOGOUT; every peer session is closed and its keys dropped
 *   status online|busy|away      STATUS
 *   add USER                     ADD             answer USER grant|deny    ANSWER
 *   rem USER                     REM             block USER / unblock USER BLOCK / UNBLOCK
 *   list                         LIST; the result carries the contacts and requests
 *   profile [USER]               PROFILE (read)  search QUERY              SEARCH
 *   setprofile full-name|location|about TEXT...   PROFILE (change one's own field)
 *   passwd OLDPASSWORD NEWPASSWORD   PASSWD (old one checked against the key blob; new verifier, blob re-sealed)
 *   init USER                    open a peer session (INIT/INIT-ACK) to an online buddy
 *   send USER TEXT...            MSG text/plain (the rest of the line is the text); opens a session if needed
 *   sendfile USER PATH           send a file as chunked MSGs; opens a session if needed
 *   typing USER typing|paused|erased   TYPING in the open session with USER (result sent:false when none is open)
 *   bye USER                     BYE, session closed
 *   contacts                     the current contact book, without asking the MS
 *   sessions                     users with a live peer session, and the count of session keys held
 *   reconnect on|off             log in again by itself after a session ends without logout (off at start)
 *   quit                         log out if logged in, then exit 0
 *
 * Output: one JSON object per line, each with an `event` field.
 *   {"event":"ready","version":1}                               first line, once
 *   {"event":"ok","n":N,"cmd":"add", ...result fields}           command N succeeded
 *   {"event":"error","n":N,"cmd":"add","code":"ERR_...","status":404,"reason":"..."}
 *                                                                command N failed (code/status from the registry when
 *                                                                the failure is a protocol error, ERR_CONTROL/0 for a bad command line)
 *   Asynchronous events, at any time, with the fields of ClientEvents (events.ts):
 *   login, presence, contact, request, answer, notice, session, session-end, message, typing,
 *   file-progress, file, refused, logout, warning.
 *   e.g. {"event":"presence","user":"bob","status":"busy","address":"127.0.0.1:40123"}
 *
 * End of input acts as `quit`. The exit status is 0 after quit.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { NonceCache } from '../crypto/p2p.js';
import { ImspClient, type ClientOptions } from './client.js';
import type { ClientEventName, ClientEvents } from './events.js';

export const CONTROL_VERSION = 1;

export const CONTROL_EVENTS: readonly ClientEventName[] = [
  'login',
  'presence',
  'contact',
  'request',
  'answer',
  'notice',
  'session',
  'session-end',
  'message',
  'typing',
  'file-progress',
  'file',
  'refused',
  'logout',
  'reconnecting',
  'reconnected',
  'warning',
];

export interface ControlOptions extends Omit<ClientOptions, 'user' | 'password'> {
  input: Readable;
  output: Writable;
}

export interface ParsedCommand {
  cmd: string;
  args: string[];
}

const ARITY: Record<string, [min: number, max: number, restIsText?: boolean]> = {
  login: [2, 2],
  logout: [0, 0],
  status: [1, 1],
  add: [1, 1],
  answer: [2, 2],
  rem: [1, 1],
  block: [1, 1],
  unblock: [1, 1],
  list: [0, 0],
  profile: [0, 1],
  setprofile: [2, 2, true],
  search: [1, 1, true],
  passwd: [2, 2],
  init: [1, 1],
  send: [2, 2, true],
  sendfile: [2, 2, true],
  typing: [2, 2],
  bye: [1, 1],
  contacts: [0, 0],
  sessions: [0, 0],
  reconnect: [1, 1],
  quit: [0, 0],
};

/** Splits a command line; the last argument of `send`, `sendfile` and `search` takes the rest of the line. */
export function parseCommand(line: string): ParsedCommand | { error: string } {
  const trimmed = line.replace(/\r$/, '').trim();
  const m = /^(\S+)\s*(.*)$/.exec(trimmed);
  if (!m) return { error: 'empty command' };
  const cmd = m[1].toLowerCase();
  const spec = ARITY[cmd];
  if (!spec) return { error: `unknown command '${cmd}'` };
  const [min, max, rest] = spec;
  const args: string[] = [];
  let tail = m[2];
  const arity = `'${cmd}' takes ${min === max ? min : `${min} to ${max}`} argument(s)`;
  while (tail.length > 0) {
    if (args.length === max) return { error: arity };
    if (rest && args.length === max - 1) {
      args.push(tail);
      break;
    }
    const w = /^(\S+)\s*(.*)$/.exec(tail) as RegExpExecArray;
    args.push(w[1]);
    tail = w[2];
  }
  if (args.length < min) return { error: arity };
  return { cmd, args };
}

interface ErrorLike {
  code?: unknown;
  status?: unknown;
  reason?: unknown;
  message?: unknown;
}

function errorFields(err: unknown): { code: string; status: number; reason: string } {
  const e = (err ?? {}) as ErrorLike;
  const code = typeof e.code === 'string' && e.code.startsWith('ERR_') ? e.code : 'ERR_CONTROL';
  const status = typeof e.status === 'number' ? e.status : 0;
  const reason = typeof e.message === 'string' ? e.message : typeof e.reason === 'string' ? e.reason : String(err);
  return { code, status, reason };
}

/** Logs `c` in; a client whose login failed is closed. */
async function loginOrClose(c: ImspClient): Promise<void> {
  try {
    await c.login();
  } catch (err) {
    await c.close();
    throw err;
  }
}

/** Runs the control loop until `quit` or end of input. Resolves with the exit status. */
export async function runControl(opts: ControlOptions): Promise<number> {
  const { input, output, ...clientOpts } = opts;
  const write = (obj: Record<string, unknown>) => {
    output.write(JSON.stringify(obj) + '\n');
  };
  let client: ImspClient | undefined;
  let nonces: NonceCache | undefined = clientOpts.nonces;
  // [RECONNECT-1] off until the driver says `reconnect on` (or the options turn it on): a test harness
  // decides itself when a session ends, and sees `reconnecting` when it does.
  let reconnect = clientOpts.reconnect ?? false;
  const attach = (c: ImspClient) => {
    for (const name of CONTROL_EVENTS) {
      c.on(name, ((payload: ClientEvents[typeof name][0]) => write({ event: name, ...payload })) as never);
    }
  };
  write({ event: 'ready', version: CONTROL_VERSION });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of rl) {
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      n++;
      const parsed = parseCommand(line);
      if ('error' in parsed) {
        write({
          event: 'error',
          n,
          cmd: line.trim().split(/\s+/)[0] ?? '',
          code: 'ERR_CONTROL',
          status: 0,
          reason: parsed.error,
        });
        continue;
      }
      const { cmd, args } = parsed;
      if (cmd === 'quit') {
        write({ event: 'ok', n, cmd });
        break;
      }
      try {
        let result: Record<string, unknown> = {};
        if (cmd === 'login') {
          if (client?.loggedIn)
            throw Object.assign(new Error('already logged in'), { code: 'ERR_OUT_OF_STATE', status: 425 });
          // [P2P-8] one INIT nonce memory for the whole process: a replay across logout and login is refused.
          const c = new ImspClient({ ...clientOpts, reconnect, user: args[0], password: args[1], nonces });
          nonces = c.initNonces;
          attach(c);
          await loginOrClose(c);
          client = c;
          result = { user: c.user, address: c.address, ms: c.msAddress };
        } else if (cmd === 'reconnect') {
          if (args[0] !== 'on' && args[0] !== 'off') throw new Error('reconnect on|off');
          reconnect = args[0] === 'on';
          client?.setReconnect(reconnect);
          result = { reconnect };
        } else if (cmd === 'contacts' && !client) {
          result = { contacts: [], requests: [] };
        } else {
          if (!client || !client.loggedIn)
            throw Object.assign(new Error('not logged in'), { code: 'ERR_OUT_OF_STATE', status: 425 });
          result = await execute(client, cmd, args);
        }
        write({ event: 'ok', n, cmd, ...result });
      } catch (err) {
        write({ event: 'error', n, cmd, ...errorFields(err) });
      }
    }
  } finally {
    rl.close();
    if (client) {
      if (client.loggedIn) await client.logout().catch(() => undefined);
      await client.close();
    }
  }
  return 0;
}

async function execute(c: ImspClient, cmd: string, a: string[]): Promise<Record<string, unknown>> {
  switch (cmd) {
    case 'logout':
      await c.logout();
      return {};
    case 'status':
      if (a[0] !== 'online' && a[0] !== 'busy' && a[0] !== 'away') throw new Error('status is online, busy or away');
      await c.setStatus(a[0]);
      return { status: a[0] };
    case 'add':
      return { user: a[0], result: await c.add(a[0]) };
    case 'answer':
      if (a[1] !== 'grant' && a[1] !== 'deny') throw new Error('answer USER grant|deny');
      await c.answer(a[0], a[1]);
      return { user: a[0], decision: a[1] };
    case 'rem':
      await c.rem(a[0]);
      return { user: a[0] };
    case 'block':
      await c.block(a[0]);
      return { user: a[0] };
    case 'unblock':
      await c.unblock(a[0]);
      return { user: a[0] };
    case 'list':
      await c.list();
      return snapshot(c);
    case 'contacts':
      return snapshot(c);
    case 'profile':
      return { profile: await c.profile(a[0]) };
    case 'setprofile': {
      const field = { 'full-name': 'fullName', location: 'location', about: 'about' }[a[0]];
      if (!field) throw new Error('setprofile full-name|location|about TEXT');
      await c.setProfile({ [field]: a[1] });
      return { field: a[0], value: a[1] };
    }
    case 'search':
      return { results: await c.search(a[0]) };
    case 'passwd':
      await c.passwd(a[0], a[1]);
      return {};
    case 'init':
      await c.openSession(a[0]);
      return { user: a[0] };
    case 'send':
      await c.send(a[0], a[1]);
      return { user: a[0] };
    case 'sendfile': {
      const f = await c.sendFile(a[0], a[1]);
      return { user: a[0], fileId: f.fileId, name: f.name, size: f.size, digest: f.digest };
    }
    case 'typing':
      if (a[1] !== 'typing' && a[1] !== 'paused' && a[1] !== 'erased')
        throw new Error('typing USER typing|paused|erased');
      // sent is false when no session with USER is open (TYPING never opens one).
      return { user: a[0], state: a[1], sent: await c.typing(a[0], a[1]) };
    case 'bye':
      await c.bye(a[0]);
      return { user: a[0] };
    case 'sessions':
      return { sessions: c.sessionUsers(), keys: c.sessionKeyCount() };
    default:
      throw new Error(`unknown command '${cmd}'`);
  }
}

function snapshot(c: ImspClient): Record<string, unknown> {
  return { contacts: c.contacts.list(), requests: [...c.contacts.requests.values()] };
}
