// Renders terminal captures (tmux capture-pane -e, saved by the tmux tests with IMSP_SCREENS=DIR)
// to PNG with Debian's chromium: ANSI SGR colours become spans in a page with a monospace font, and
// chromium --screenshot takes the picture. For the note's screenshots, not a test.
//
//   IMSP_SCREENS=DIR node --import tsx --test --test-name-pattern='login prompts' test/client/tui.test.ts
//   node --import tsx test/client/screens.ts DIR
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM } from '../../spec/site/mermaid.js';

const PALETTE = ['#1e1e1e', '#cd3131', '#0dbc79', '#e5e510', '#2472c8', '#bc3fbc', '#11a8cd', '#e5e5e5'];
const BRIGHT = ['#666666', '#f14c4c', '#23d18b', '#f5f543', '#3b8eea', '#d670d6', '#29b8db', '#ffffff'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function ansiToHtml(text: string): string {
  let fg: string | undefined;
  let bg: string | undefined;
  let bold = false;
  let dim = false;
  let inverse = false;
  let out = '';
  const open = () => {
    const f = inverse ? (bg ?? '#1e1e1e') : fg;
    const b = inverse ? (fg ?? '#d4d4d4') : bg;
    const st = [
      f ? `color:${f}` : '',
      b ? `background:${b}` : '',
      bold ? 'font-weight:bold' : '',
      dim ? 'opacity:0.6' : '',
    ]
      .filter(Boolean)
      .join(';');
    return st ? `<span style="${st}">` : '<span>';
  };
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    const m = /^\x1b\[([0-9;]*)m$/.exec(part);
    if (!m) {
      if (part) out += open() + esc(part) + '</span>';
      continue;
    }
    const codes = m[1] === '' ? [0] : m[1].split(';').map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) [fg, bg, bold, dim, inverse] = [undefined, undefined, false, false, false];
      else if (c === 1) bold = true;
      else if (c === 2) dim = true;
      else if (c === 7) inverse = true;
      else if (c === 22) [bold, dim] = [false, false];
      else if (c === 27) inverse = false;
      else if (c >= 30 && c <= 37) fg = PALETTE[c - 30];
      else if (c >= 90 && c <= 97) fg = BRIGHT[c - 90];
      else if (c === 39) fg = undefined;
      else if (c >= 40 && c <= 47) bg = PALETTE[c - 40];
      else if (c === 49) bg = undefined;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        const n = codes[i + 2];
        const col = n < 8 ? PALETTE[n] : n < 16 ? BRIGHT[n - 8] : '#888';
        if (c === 38) fg = col;
        else bg = col;
        i += 2;
      }
    }
  }
  return out;
}

const dir = process.argv[2];
if (dir) {
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ansi'))) {
    const html = join(dir, f.replace(/\.ansi$/, '.html'));
    const png = join(dir, f.replace(/\.ansi$/, '.png'));
    const body = ansiToHtml(readFileSync(join(dir, f), 'utf8'));
    writeFileSync(
      html,
      `<!doctype html><meta charset="utf-8"><style>body{margin:0;background:#1e1e1e;color:#d4d4d4}pre{margin:8px;font:14px/1.25 "DejaVu Sans Mono","Noto Sans Mono CJK JP",monospace}</style><pre>${body}</pre>`,
    );
    execFileSync(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
        '--hide-scrollbars',
        `--screenshot=${png}`,
        '--window-size=1000,600',
        `file://${html}`,
      ],
      { stdio: 'ignore', timeout: 60_000 },
    );
    process.stdout.write(`${png}\n`);
  }
}
