// The spec's requirement IDs, for --html levels and for checking that every case cites a defined ID.
// From generated/requirements.ts, completed by a scan of spec/text/*.md (sections not yet generated).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { REQUIREMENTS } from '../../codec/index.js';

export interface Requirements {
  /** ID -> level (MUST, SHOULD, MAY, or '' when unknown). */
  levels: Map<string, string>;
  source: string;
}

const root = new URL('../../', import.meta.url);
const ID = /\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\]/g;

export async function loadRequirements(): Promise<Requirements | null> {
  const levels = new Map<string, string>();
  // The generated table first (it is the spec's own extraction) ...
  for (const r of REQUIREMENTS) levels.set(r.id, r.level);
  // ... then the text itself, for sections written since the last `make generate`.
  const dir = new URL('spec/text/', root);
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.md'))
      .sort()) {
      const text = readFileSync(new URL(f, dir), 'utf8');
      for (const sentence of text.split(/(?<=\])\s/)) {
        for (const m of sentence.matchAll(ID)) {
          if (levels.has(m[1]!)) continue;
          const level = /\b(MUST|SHALL|REQUIRED)\b/.test(sentence)
            ? 'MUST'
            : /\b(SHOULD|RECOMMENDED)\b/.test(sentence)
              ? 'SHOULD'
              : /\b(MAY|OPTIONAL)\b/.test(sentence)
                ? 'MAY'
                : '';
          levels.set(m[1]!, level);
        }
      }
    }
  }
  return levels.size ? { levels, source: 'generated/requirements.ts + spec/text' } : null;
}
