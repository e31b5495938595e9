// Shared readers for the spec tests: the text files, the registries and the machines, read from disk
// the same way the generator plugins read them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GeneratorContext } from '../../grammar/codegen/plugin.js';
import { extractRequirements, readSpecText, type Extraction } from '../../grammar/codegen/gen-requirements.js';
import { loadMachines, type MachineSpec } from '../../grammar/codegen/gen-machines.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function context(root = ROOT): GeneratorContext {
  return {
    root,
    readText: (rel) => readFileSync(join(root, rel), 'utf8'),
    readJson: <T>(rel: string): T => JSON.parse(readFileSync(join(root, rel), 'utf8')) as T,
    list: (relDir, suffix) => {
      const out: string[] = [];
      const walk = (d: string): void => {
        if (!existsSync(d)) return;
        for (const name of readdirSync(d).sort()) {
          const p = join(d, name);
          if (statSync(p).isDirectory()) walk(p);
          else if (name.endsWith(suffix)) out.push(relative(root, p).split(sep).join('/'));
        }
      };
      walk(join(root, relDir));
      return out.sort();
    },
  };
}

export interface SpecFile {
  file: string;
  text: string;
}

let cachedText: SpecFile[] | null = null;
export function specText(): SpecFile[] {
  cachedText ??= readSpecText(context());
  return cachedText;
}

let cachedEx: Extraction | null = null;
export function extraction(): Extraction {
  cachedEx ??= extractRequirements(specText());
  return cachedEx;
}

export function machines(): MachineSpec[] {
  return loadMachines(context()).map((l) => l.machine);
}

export function registry<T>(name: string): T {
  return JSON.parse(readFileSync(join(ROOT, 'spec', 'registry', `${name}.json`), 'utf8')) as T;
}

/** The text of the spec file whose name starts with the given section number ("14" -> 14-*.md). */
export function sectionFile(num: string): SpecFile {
  const f = specText().find((s) =>
    s.file
      .split('/')
      .pop()!
      .startsWith(`${num.padStart(2, '0')}-`),
  );
  if (!f) throw new Error(`no spec/text file for section ${num}`);
  return f;
}

/** Strip fenced code blocks (keeps line count). */
export function withoutCode(text: string): string {
  return text.replace(/```[\s\S]*?```/g, (m) => m.replace(/[^\n]/g, ''));
}

export interface MachineRow {
  name: string;
  from: string[];
  event: string;
  guard: string | null;
  to: string;
  actions: string;
  reqs: string[];
}

/** The transition tables of the text: each preceded by a `<!-- machine: NAME -->` comment. */
export function textMachineTables(): Map<string, MachineRow[]> {
  const tables = new Map<string, MachineRow[]>();
  for (const { text } of specText()) {
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const m = /^<!--\s*machine:\s*([a-z0-9-]+)\s*-->$/.exec(lines[i].trim());
      if (!m) continue;
      const rows: MachineRow[] = [];
      let j = i + 3; // the marker, the header row, the separator row
      for (; j < lines.length && lines[j].trim().startsWith('|'); j++) {
        const cells = lines[j]
          .trim()
          .replace(/^\||\|$/g, '')
          .split('|')
          .map((c) => c.trim());
        const [name, from, event, guard, to, actions, reqs] = cells;
        rows.push({
          name,
          event,
          to,
          actions,
          from: from.split(',').map((s) => s.trim()),
          guard: guard === '—' || guard === '' ? null : guard,
          reqs: reqs
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
        });
      }
      if (tables.has(m[1])) throw new Error(`two transition tables for machine ${m[1]}`);
      tables.set(m[1], rows);
    }
  }
  return tables;
}
