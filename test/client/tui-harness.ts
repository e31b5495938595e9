// Drives the terminal client (`imsp client`) in a tmux session: keys go in with send-keys, the screen
// comes out with capture-pane. The screen can only be observed by reading it, so checks poll
// capture-pane (every 50 ms, with a deadline) until the expected text shows. `stop()` kills the
// tmux server (and with it the client). With IMSP_SCREENS=DIR, `shot(name)` saves the screen with
// its colours (capture-pane -e) as DIR/name.ansi, for the screenshots of the note.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
export const IMSP = fileURLToPath(new URL('../../reference/bin/imsp.js', import.meta.url));

export async function hasTmux(): Promise<boolean> {
  try {
    await run('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
}

let counter = 0;

export interface Tui {
  screen(): Promise<string>;
  waitScreen(re: RegExp, what: string, timeoutMs?: number): Promise<string>;
  /** Types text literally. */
  keys(text: string): Promise<void>;
  /** Sends tmux key names: Enter, Tab, PPage, NPage, Up, BSpace, C-u... */
  press(...names: string[]): Promise<void>;
  /** Types a line and Enter. */
  line(text: string): Promise<void>;
  shot(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Awaits a promise the test cannot poll for, failing with its name after timeoutMs instead of hanging. */
export async function within<T>(p: Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startTui(args: string[], size = { cols: 110, rows: 30 }): Promise<Tui> {
  const sock = `imsp-tui-${process.pid}-${counter++}`;
  const tmux = (...a: string[]) => run('tmux', ['-L', sock, ...a]);
  const cmd = [process.execPath, IMSP, 'client', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  await tmux(
    'new-session',
    '-d',
    '-s',
    'ui',
    '-x',
    String(size.cols),
    '-y',
    String(size.rows),
    `${cmd}; echo EXITED $?; sleep 60`,
  );
  const screen = async () => (await tmux('capture-pane', '-p', '-t', 'ui')).stdout;
  return {
    screen,
    async waitScreen(re, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await screen();
        if (re.test(s)) return s;
        if (Date.now() > deadline) assert.fail(`screen never showed ${what}:\n${s}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async keys(text) {
      await tmux('send-keys', '-t', 'ui', '-l', text);
    },
    async press(...names) {
      await tmux('send-keys', '-t', 'ui', ...names);
    },
    async line(text) {
      await tmux('send-keys', '-t', 'ui', '-l', text);
      await tmux('send-keys', '-t', 'ui', 'Enter');
    },
    async shot(name) {
      const dir = process.env.IMSP_SCREENS;
      if (!dir) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${name}.ansi`), (await tmux('capture-pane', '-e', '-p', '-t', 'ui')).stdout);
    },
    async stop() {
      await tmux('kill-server').catch(() => undefined);
    },
  };
}
