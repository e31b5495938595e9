// Reader of the wire fixtures in spec/fixtures/wire/*.md (format: that directory's README). The kit
// judges wire rules by them as well as by the generated codec (issue 12), so that a codec fault the kit
// shares with an implementation cannot hide the implementation's fault; test/codec reads them here too.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WireLimits } from '../../codec/index.js';

export interface FixtureCase {
  file: string;
  title: string;
  /** Requirement IDs the heading cites. */
  reqs: string[];
  kind: 'wire' | 'records';
  input: Buffer;
  limits?: Partial<WireLimits>;
  json?: unknown;
  error?: { code: string; offset: number };
}

export const FIXTURE_DIR = 'spec/fixtures/wire';

/** The fixtures beside the kit: spec/fixtures/wire in a checkout, dist/spec/fixtures/wire when built. */
export const KIT_FIXTURE_DIR = fileURLToPath(new URL('../../spec/fixtures/wire/', import.meta.url));

/** Expands \rep{N}{text} (nestable), textually. */
export function expandRep(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const k = s.indexOf('\\rep{', i);
    if (k === -1) return out + s.slice(i);
    out += s.slice(i, k);
    const close = s.indexOf('}', k + 5);
    const n = Number(s.slice(k + 5, close));
    if (s[close + 1] !== '{' || !Number.isInteger(n)) throw new Error(`bad \\rep at ${k}`);
    let depth = 1;
    let j = close + 2;
    for (; j < s.length && depth > 0; j++) {
      if (s[j] === '{') depth++;
      else if (s[j] === '}') depth--;
    }
    if (depth !== 0) throw new Error(`unbalanced \\rep at ${k}`);
    out += expandRep(s.slice(close + 2, j - 1)).repeat(n);
    i = j;
  }
  return out;
}

/** The octets of an input block: lines joined, \rep expanded, escapes decoded. */
export function decodeInput(block: string): Buffer {
  const s = expandRep(block.split('\n').join(''));
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      bytes.push(c.charCodeAt(0));
      continue;
    }
    const e = s[++i];
    if (e === 'r') bytes.push(13);
    else if (e === 'n') bytes.push(10);
    else if (e === 't') bytes.push(9);
    else if (e === '\\') bytes.push(92);
    else if (e === 'x') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`unknown escape \\${e ?? ''}`);
  }
  return Buffer.from(bytes);
}

export function parseFixtureFile(file: string, text: string): FixtureCase[] {
  const cases: FixtureCase[] = [];
  let cur: Partial<FixtureCase> & { title?: string } = {};
  const flush = (): void => {
    if (cur.title === undefined) return;
    if (!cur.kind || !cur.input) throw new Error(`${file}: "${cur.title}" has no input block`);
    if (cur.json === undefined && cur.error === undefined)
      throw new Error(`${file}: "${cur.title}" has no expected result`);
    cases.push(cur as FixtureCase);
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('## ')) {
      flush();
      const title = line.slice(3).trim();
      cur = { file, title, reqs: [...title.matchAll(/\[([A-Z][A-Z0-9-]*-\d+)\]/g)].map((m) => m[1]!) };
      continue;
    }
    const fence = /^```(\w+)\s*$/.exec(line);
    if (!fence) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    const lang = fence[1]!;
    const content = body.join('\n');
    if (lang === 'wire' || lang === 'records') {
      cur.kind = lang;
      cur.input = decodeInput(content);
    } else if (lang === 'limits') cur.limits = JSON.parse(content) as Partial<WireLimits>;
    else if (lang === 'json') cur.json = JSON.parse(expandRep(content));
    else if (lang === 'error') {
      const [code, offset] = content.trim().split(/\s+/);
      cur.error = { code: code!, offset: Number(offset) };
    }
  }
  flush();
  return cases;
}

export function loadFixtures(dir = FIXTURE_DIR): FixtureCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md') && f !== 'README.md')
    .sort()
    .flatMap((f) => parseFixtureFile(f, readFileSync(join(dir, f), 'utf8')));
}
