// The spec's requirement IDs, for --html levels and for checking that every case cites a defined ID.
// Read from generated/requirements.json when it exists, else scanned from spec/text/*.md.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface Requirements {
  /** ID -> level (MUST, SHOULD, MAY, or '' when unknown). */
  levels: Map<string, string>;
  source: string;
}

const root = new URL('../../', import.meta.url);
const ID = /\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\]/g;

export async function loadRequirements(): Promise<Requirements | null> {
  const gen = new URL('generated/requirements.json', root);
  if (existsSync(gen)) {
    const data = JSON.parse(readFileSync(gen, 'utf8')) as unknown;
    const list = Array.isArray(data) ? data : ((data as { requirements?: unknown[] }).requirements ?? []);
    const levels = new Map<string, string>();
    for (const r of list as { id: string; level?: string }[]) levels.set(r.id, r.level ?? '');
    if (levels.size) return { levels, source: 'generated/requirements.json' };
  }
  const dir = new URL('spec/text/', root);
  if (!existsSync(dir)) return null;
  const levels = new Map<string, string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.md')).sort()) {
    const text = readFileSync(new URL(f, dir), 'utf8');
    // A sentence ends with its ID; its level is the strongest keyword in it.
    for (const sentence of text.split(/(?<=\])\s/)) {
      for (const m of sentence.matchAll(ID)) {
        if (levels.has(m[1]!)) continue;
        const level = /\b(MUST|SHALL|REQUIRED)\b/.test(sentence) ? 'MUST' : /\b(SHOULD|RECOMMENDED)\b/.test(sentence) ? 'SHOULD' : /\b(MAY|OPTIONAL)\b/.test(sentence) ? 'MAY' : '';
        levels.set(m[1]!, level);
      }
    }
  }
  return { levels, source: 'spec/text' };
}
