// Requirement citations in the code (issue 16): one form, checked against generated/requirements.json.
//
// The form: each requirement ID in its own square brackets, several separated by one space:
//   // [LOCK-2] [LOCK-6] a stale holder is refused
//   test('[LOGIN-4] ...', ...)
// An ID is its own spec anchor: the site gives every requirement the anchor `#req-<ID>` on the page of
// its section, and generated/requirements.json maps the ID to its file, section and anchor (the check
// below proves every cited ID exists there). A bracketed ID cannot drift the way a cited section number
// or file path does when the text is renumbered or split.
//
// A section is cited the same way, by its number and its title as the heading writes them, so that a
// renumbered or retitled section fails the check instead of pointing elsewhere:
//   // PROFILE [§9.7 PROFILE], [§5.15 PROFILE]; an appendix by its letter: [§B.4 Citations in Code and Tests]
// The form is described in the spec, [§B.4 Citations in Code and Tests] [GEN-5].
// A section number in prose ("spec 6.4", "section 8.3", "§ 4") is refused: it cannot be checked.
// Section numbers of other documents are not ours to check: "RFC 5802 section 5.1" is left alone.
//
//   node --import tsx tools/citations.ts          check: exit 1 on an unknown ID or section, a
//                                                 citation not in the form, or a prose section number
//   node --import tsx tools/citations.ts --fix    codemod: rewrite the other four shapes into the form
//
// The shapes the codemod rewrites: [A][B] -> [A] [B]; (A) -> [A]; a bare A in a comment -> [A];
// ranges ..[A-3], [A-1..3], A-1..A-3 -> [A-1] [A-2] [A-3] (the IDs of that range that exist).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tsFiles } from './ts-files.js';

const DIRS = ['reference', 'conformance', 'codec', 'test', 'bench'];
const ID = String.raw`[A-Z][A-Z0-9]*(?:-[A-Z][A-Z0-9]*)*-[0-9]+`;

interface Finding {
  file: string;
  line: number;
  what: string;
}

function knownIds(root: string): Set<string> {
  const data = JSON.parse(readFileSync(join(root, 'generated/requirements.json'), 'utf8')) as {
    requirements: { id: string }[];
  };
  return new Set(data.requirements.map((r) => r.id));
}

/** Section number -> title, from the headings of spec/text ("## 9.7. PROFILE"). */
export function knownSections(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(join(root, 'spec/text')).sort()) {
    if (!f.endsWith('.md')) continue;
    for (const line of readFileSync(join(root, 'spec/text', f), 'utf8').split('\n')) {
      // "## 9.7. PROFILE", and the appendices' "## B.4. Citations in Code and Tests" (a letter needs its dot)
      const m = /^#+\s+([0-9]+(?:\.[0-9]+)*\.?|[A-Z](?:\.[0-9]+)*\.)\s+(.+?)\s*$/.exec(line);
      if (m) out.set(m[1]!.replace(/\.$/, ''), m[2]!);
    }
  }
  return out;
}

function files(root: string): string[] {
  return tsFiles(root, DIRS);
}

/** The comment part of a line (after // or inside a block comment's * line), or '' when none. */
function commentOf(line: string): { at: number; text: string } | null {
  const t = line.trimStart();
  if (t.startsWith('*') || t.startsWith('/*')) return { at: line.length - t.length, text: t };
  const i = line.indexOf('//');
  if (i >= 0 && !/['"`][^'"`]*$/.test(line.slice(0, i)) && line[i - 1] !== ':') return { at: i, text: line.slice(i) };
  return null;
}

/** The IDs of a range A-n..A-m that exist. */
function expand(prefix: string, from: number, to: number, ids: Set<string>): string[] {
  const out: string[] = [];
  for (let n = from; n <= to && n - from < 100; n++) if (ids.has(`${prefix}-${n}`)) out.push(`${prefix}-${n}`);
  return out;
}

const brackets = (list: string[]): string => list.map((i) => `[${i}]`).join(' ');

/** Rewrites the four other shapes in one comment text into the form. */
export function fixComment(text: string, ids: Set<string>): string {
  let s = text;
  // ranges: ..[A-3], [A-1]..[A-3] with -, A-1..A-3, [A-1..3]
  s = s.replace(
    new RegExp(String.raw`\[?(${ID})\]?\s*(?:\.\.|–)\s*\[?(${ID}|[0-9]+)\]?`, 'g'),
    (m, a: string, b: string) => {
      const pa = /^(.*)-([0-9]+)$/.exec(a)!;
      const pb = /^(?:(.*)-)?([0-9]+)$/.exec(b)!;
      if (pb[1] !== undefined && pb[1] !== pa[1]) return m;
      const list = expand(pa[1]!, Number(pa[2]), Number(pb[2]), ids);
      return list.length > 0 ? brackets(list) : m;
    },
  );
  // [A][B] -> [A] [B]
  s = s.replace(new RegExp(String.raw`\[(${ID})\](?=\[)`, 'g'), '[$1] ');
  // (A) and (A, B) -> [A] [B]
  s = s.replace(new RegExp(String.raw`\((${ID}(?:,\s*${ID})*)\)`, 'g'), (m, list: string) => {
    const parts = list.split(/,\s*/);
    return parts.every((p) => ids.has(p)) ? brackets(parts) : m;
  });
  // bare IDs (known ones only) -> [A]
  s = s.replace(new RegExp(String.raw`(^|[^\[\w-])(${ID})(?![\w\]-])`, 'g'), (m, pre: string, id: string) =>
    ids.has(id) ? `${pre}[${id}]` : m,
  );
  return s;
}

export function checkFile(file: string, src: string, ids: Set<string>, sections: Map<string, string>): Finding[] {
  const out: Finding[] = [];
  src.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(new RegExp(String.raw`\[(${ID})\]`, 'g'))) {
      if (!ids.has(m[1]!) && !m[1]!.includes('A-Z'))
        out.push({ file, line: i + 1, what: `unknown requirement ${m[1]} (not in generated/requirements.json)` });
    }
    const c = commentOf(line);
    if (!c) return;
    if (fixComment(c.text, ids) !== c.text)
      out.push({ file, line: i + 1, what: `citation not in the form [ID] [ID]: ${c.text.trim().slice(0, 100)}` });
    // [§N Title]: the section exists and has that title.
    for (const m of c.text.matchAll(/\[§((?:[0-9]+|[A-Z])(?:\.[0-9]+)*) ([^\]]+)\]/g)) {
      const title = sections.get(m[1]!);
      if (title === undefined)
        out.push({ file, line: i + 1, what: `unknown section §${m[1]} (no such heading in spec/text)` });
      else if (title !== m[2])
        out.push({ file, line: i + 1, what: `section §${m[1]} is titled '${title}', not '${m[2]}'` });
    }
    // Any other section number is prose: refused, unless it is another document's (RFC 5802 section 5.1).
    const rest = c.text.replace(/\[§[^\]]*\]/g, '');
    for (const m of rest.matchAll(
      /(\bRFC\s*[0-9]+,?\s+)?(?:\b(?:spec(?:ification)?|sections?)\s+[0-9]+(?:\.[0-9]+)*|§\s*[0-9]+(?:\.[0-9]+)*)/gi,
    )) {
      if (m[1] !== undefined) continue;
      out.push({
        file,
        line: i + 1,
        what: `prose section number '${m[0]}': cite the requirement ID, or the section as [§N Title]`,
      });
    }
  });
  return out;
}

export function main(argv: string[], root = process.cwd()): number {
  const ids = knownIds(root);
  const sections = knownSections(root);
  const fix = argv.includes('--fix');
  const findings: Finding[] = [];
  let changed = 0;
  for (const f of files(root)) {
    const src = readFileSync(join(root, f), 'utf8');
    if (fix) {
      const next = src
        .split('\n')
        .map((line) => {
          const c = commentOf(line);
          return c ? line.slice(0, c.at) + fixComment(c.text, ids) : line;
        })
        .join('\n');
      if (next !== src) {
        writeFileSync(join(root, f), next);
        changed++;
      }
      continue;
    }
    findings.push(...checkFile(f, src, ids, sections));
  }
  if (fix) {
    process.stdout.write(`citations: rewrote ${changed} files\n`);
    return 0;
  }
  for (const x of findings) process.stdout.write(`${x.file}:${x.line}: ${x.what}\n`);
  process.stdout.write(`citations: ${findings.length} problems\n`);
  return findings.length > 0 ? 1 : 0;
}

if (process.argv[1]?.endsWith('citations.ts')) process.exitCode = main(process.argv.slice(2));
