// `imsp client`: the interactive terminal client, or with --control the line-oriented control
// interface (reference/client/control.ts) that the conformance kit and scripts drive.
//
//   imsp client --crs 127.0.0.1:7000 --user alice                 (password prompted, echo off)
//   imsp client --ms 127.0.0.1:7100 --user alice --password-file pw.txt
//   imsp client --control --crs 127.0.0.1:7000                    (commands on stdin, JSON lines on stdout)
import { readFile } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import type { Status } from '../../codec/index.js';
import { ImspClient, ClientError } from '../client/client.js';
import { runControl } from '../client/control.js';
import { defaultLimits, type ClientLimits } from '../client/options.js';
import { ConfigError } from '../ops/config.js';
import { resolveLimits } from '../proto/limits.js';
import { humanError, retryText, unreachableText } from '../client/messages.js';
import { UnreachableError } from '../client/errors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Flags {
  crs?: string;
  ms?: string;
  user?: string;
  passwordFile?: string;
  listen?: string;
  advertise?: string;
  downloads?: string;
  status?: string;
  control?: boolean;
  logDir?: string;
  limit?: string[];
}

/**
 * `--limit NAME=VALUE` (repeatable): a limit of spec/registry/limits.json that the client uses, e.g.
 * `--limit handshakeTimeout=3000` [CONN-4], so that a test (the conformance kit's `--set`) and the
 * client agree on it. A name the registry lacks, a limit it marks fixed, a value out of its range or
 * a limit the client has no use for throws ConfigError.
 */
export function clientLimits(items: readonly string[]): Partial<ClientLimits> {
  const own = defaultLimits() as unknown as Record<string, number>;
  const out: Record<string, number> = {};
  for (const item of items) {
    const m = /^([A-Za-z0-9]+)=([0-9]{1,15})$/.exec(item);
    if (!m) throw new ConfigError(`--limit ${item}: expected NAME=VALUE with a non-negative integer`);
    const [, name, raw] = m as unknown as [string, string, string];
    const value = Number(raw);
    resolveLimits({ [name]: value }); // known, configurable, in range
    if (!(name in own)) throw new ConfigError(`--limit ${name}: not a limit the client uses`);
    out[name] = value;
  }
  return out as Partial<ClientLimits>;
}

/** Wrong passwords asked again before giving up. */
const MAX_PASSWORD_TRIES = 3;

/** Reads a password from the terminal without echo (or one line from a non-terminal stdin). */
export async function promptPassword(
  prompt: string,
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WriteStream = process.stderr,
): Promise<string> {
  output.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const tty = input.isTTY === true;
    const finish = (err?: Error) => {
      input.off('data', onData);
      input.off('end', onEnd);
      if (tty) input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onEnd = () => finish();
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ' && value.length < 1024) value += ch;
      }
    };
    if (tty) input.setRawMode(true);
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
}

/** Waits `ms`, or until Ctrl-C on a terminal stdin (then true). */
function waitOrCtrlC(ms: number): Promise<boolean> {
  const input = process.stdin;
  return new Promise((resolve) => {
    const finish = (aborted: boolean) => {
      clearTimeout(timer);
      input.off('data', onData);
      if (input.isTTY) input.setRawMode(false);
      input.pause();
      resolve(aborted);
    };
    const onData = (chunk: Buffer) => {
      if (chunk.includes(3)) finish(true);
    };
    const timer = setTimeout(() => finish(false), ms);
    if (input.isTTY) input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
}

export async function run(argv: string[]): Promise<number> {
  const [, ...rest] = argv;
  const cmd = new Command('imsp client')
    .description(
      'Run the interactive IMSP terminal client (or, with --control, the control interface on stdin/stdout).',
    )
    .option('--crs <host:port>', 'CRS to ask (LOCATE) which MS to use')
    .option('--ms <host:port>', 'log in at this MS directly (skips LOCATE)')
    .option('--user <name>', 'username')
    .option('--password-file <path>', 'read the password from this file (first line) instead of prompting')
    .option('--listen <host:port>', 'where to accept peer sessions', '127.0.0.1:0')
    .option('--advertise <host:port>', 'address to announce to buddies (default: the listening address)')
    .option('--downloads <dir>', 'where received files are saved')
    .option('--status <status>', 'initial status: online, busy or away')
    .option('--log-dir <dir>', 'keep a log of every conversation in DIR (one file per buddy, mode 0600)')
    .option('--control', 'line commands on stdin, JSON events on stdout (see reference/client/control.ts)')
    .option(
      '--limit <name=value...>',
      'override a limit of spec/registry/limits.json the client uses (repeatable), e.g. --limit handshakeTimeout=3000',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  try {
    cmd.parse(rest, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 || e.code === 'commander.helpDisplayed' ? 0 : 2;
    throw e;
  }
  const f = cmd.opts<Flags>();
  if (f.status !== undefined && f.status !== 'online' && f.status !== 'busy' && f.status !== 'away') {
    process.stderr.write('imsp client: --status is online, busy or away\n');
    return 2;
  }
  let limits: Partial<ClientLimits>;
  try {
    limits = clientLimits(f.limit ?? []);
  } catch (e) {
    process.stderr.write(`imsp client: ${(e as Error).message}\n`);
    return 2;
  }
  const common = {
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(f.crs ? { crs: f.crs } : {}),
    ...(f.ms ? { ms: f.ms } : {}),
    ...(f.listen ? { listen: f.listen } : {}),
    ...(f.advertise ? { advertise: f.advertise } : {}),
    ...(f.downloads ? { downloadDir: f.downloads } : {}),
    ...(f.status ? { status: f.status as Status } : {}),
  };
  if (f.control) return runControl({ ...common, input: process.stdin, output: process.stdout });
  if (!f.crs && !f.ms) {
    process.stderr.write('imsp client: give --crs HOST:PORT (or --ms HOST:PORT)\n');
    return 2;
  }
  if (!f.user) {
    process.stderr.write('imsp client: give --user NAME\n');
    return 2;
  }
  // Ink renders only the last frame when it believes it runs in CI (is-in-ci reads CI and
  // CONTINUOUS_INTEGRATION when Ink is first imported). An interactive client on a terminal must
  // draw every frame wherever it runs, so those variables are cleared before Ink loads.
  if (process.stdout.isTTY) {
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  // Ink and React load only here: --control (the conformance kit's path) never pays for them.
  const { runTui, stagingDir } = await import('../client/tui.js');
  const downloads = f.downloads ?? join(tmpdir(), `imsp-${f.user}`);
  // A wrong password asks again; a lockout says when the next try is allowed [LOGIN-6] [RATE-4].
  let client: ImspClient | undefined;
  for (let tries = 1; ; tries++) {
    let password: string;
    try {
      password = f.passwordFile
        ? ((await readFile(f.passwordFile, 'utf8')).split(/\r?\n/)[0] ?? '')
        : await promptPassword(`Password for ${f.user}: `);
    } catch (e) {
      process.stderr.write(`imsp client: ${e instanceof Error ? e.message : String(e)}\n`);
      return 2;
    }
    // [RECONNECT-1] a lost MS is not the end: log in again (through LOCATE when a CRS is given)
    const c = new ImspClient({
      ...common,
      downloadDir: stagingDir(downloads),
      user: f.user,
      password,
      reconnect: true,
    });
    try {
      await c.login();
      client = c;
      break;
    } catch (e) {
      await c.close();
      const err = e instanceof ClientError ? e : undefined;
      const text =
        e instanceof UnreachableError
          ? unreachableText(e.address, e.socketCode)
          : err
            ? humanError(err.code, {
                cmd: 'login',
                self: f.user,
                ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
              })
            : e instanceof Error
              ? e.message
              : String(e);
      process.stderr.write(`${text}\n`);
      const wrongPassword = err?.code === 'ERR_AUTH_FAILED' || err?.code === 'ERR_DECRYPT';
      if (err?.code === 'ERR_RATE_LIMITED' && err.retryAfter !== undefined && !f.passwordFile && process.stdin.isTTY) {
        const until = new Date(Date.now() + err.retryAfter);
        process.stderr.write(
          `Waiting until ${until.toLocaleTimeString()} (${retryText(err.retryAfter)}); Ctrl-C to give up.\n`,
        );
        const aborted = await waitOrCtrlC(err.retryAfter);
        if (aborted) return 1;
        continue;
      }
      if (!wrongPassword || f.passwordFile || tries >= MAX_PASSWORD_TRIES) {
        process.stderr.write(`imsp client: login failed${err ? ` (${err.code})` : ''}\n`);
        return 1;
      }
    }
  }
  try {
    await runTui(client, { downloads, ...(f.logDir ? { logDir: f.logDir } : {}) });
  } finally {
    await client.close();
  }
  return 0;
}
