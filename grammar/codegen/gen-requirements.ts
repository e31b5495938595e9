// Generator plugin: spec/text/*.md -> generated/requirements.ts and generated/requirements.json.
//
// A requirement is a normative sentence of the specification (one with a BCP 14 keyword, see
// spec/text/02-conventions.md) that ends with its ID in brackets, e.g. "... [LOGIN-4]." The
// extraction rules, which the tests in test/spec/ also use:
// - files are read in name order, lines outside fenced code blocks and HTML comments;
// - a heading "## 5.3. LOGIN" opens section "5.3" (anchor "section-5-3"); "# A. ..." opens appendix "A";
// - a block is a paragraph (consecutive lines), a single list item, or a single table row;
// - within a block each bracketed ID closes one requirement; its sentence starts after the previous
//   ID of the block (or the block start), at the last sentence boundary before its first keyword;
// - the level is the strongest keyword in the sentence: MUST (MUST, MUST NOT, REQUIRED, SHALL,
//   SHALL NOT), SHOULD (SHOULD, SHOULD NOT, RECOMMENDED, NOT RECOMMENDED), MAY (MAY, OPTIONAL).
// Keywords inside quotes ("MUST") or code spans are not normative. Stable order: document order.
import type { GeneratedFile, Generator, GeneratorContext } from './plugin.js';

export type RequirementLevel = 'MUST' | 'SHOULD' | 'MAY';

export interface ExtractedRequirement {
  id: string;
  level: RequirementLevel;
  section: string;
  anchor: string;
  heading: string;
  file: string;
  line: number;
  text: string;
}

export interface UntaggedSentence {
  file: string;
  line: number;
  text: string;
}

export interface Extraction {
  requirements: ExtractedRequirement[];
  /** Normative keywords outside any tagged sentence. */
  untagged: UntaggedSentence[];
  /** Tagged sentences without any keyword. */
  keywordless: ExtractedRequirement[];
  /** IDs defined more than once. */
  duplicates: string[];
  /** Every section heading met: number, anchor, title, file. */
  sections: { number: string; anchor: string; title: string; level: number; file: string; line: number }[];
}

export const REQ_ID_RE = /\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\]/g;
const KEYWORD_RE =
  /(?<!["'`A-Za-z])(MUST NOT|MUST|REQUIRED|SHALL NOT|SHALL|SHOULD NOT|SHOULD|NOT RECOMMENDED|RECOMMENDED|MAY|OPTIONAL)(?![A-Za-z"'`])/g;
const HEADING_RE = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const SECTION_RE = /^((?:[0-9]+|[A-Z])(?:\.[0-9]+)*)\.\s+(.*)$/;

/** The HTML anchor of a section number: "5.3" -> "section-5-3", "A" -> "section-a". */
export function sectionAnchor(section: string): string {
  return `section-${section.toLowerCase().replace(/\./g, '-')}`;
}

const LEVEL_OF: Record<string, RequirementLevel> = {
  'MUST NOT': 'MUST',
  MUST: 'MUST',
  REQUIRED: 'MUST',
  'SHALL NOT': 'MUST',
  SHALL: 'MUST',
  'SHOULD NOT': 'SHOULD',
  SHOULD: 'SHOULD',
  'NOT RECOMMENDED': 'SHOULD',
  RECOMMENDED: 'SHOULD',
  MAY: 'MAY',
  OPTIONAL: 'MAY',
};
const RANK: Record<RequirementLevel, number> = { MUST: 3, SHOULD: 2, MAY: 1 };

/** Blank out code spans so that keywords and IDs inside them do not count (positions kept). */
function maskCode(text: string): string {
  return text.replace(/`[^`]*`/g, (m) => ' '.repeat(m.length));
}

/** Keywords of a text (code spans and quoted keywords excluded), with their positions. */
export function keywords(text: string): { word: string; index: number }[] {
  const masked = maskCode(text);
  const out: { word: string; index: number }[] = [];
  for (const m of masked.matchAll(KEYWORD_RE)) out.push({ word: m[1], index: m.index ?? 0 });
  return out;
}

/** The strongest level among the keywords of a sentence, or null when it has none. */
export function levelOf(text: string): RequirementLevel | null {
  let best: RequirementLevel | null = null;
  for (const k of keywords(text)) {
    const l = LEVEL_OF[k.word];
    if (best === null || RANK[l] > RANK[best]) best = l;
  }
  return best;
}

function cleanSentence(s: string): string {
  return s
    .replace(/^\s*(?:[-*+]|\d+\.)\s+/, '')
    .replace(/^\s*\|/, '')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/\*\*/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

interface Block {
  text: string;
  line: number;
}

function blocksOf(source: string, onHeading: (level: number, text: string, line: number) => void): Block[] {
  const lines = source.split(/\r?\n/);
  const blocks: Block[] = [];
  let cur: Block | null = null;
  let fence: string | null = null;
  let comment = false;
  const flush = (): void => {
    if (cur !== null && cur.text.trim() !== '') blocks.push(cur);
    cur = null;
  };
  lines.forEach((raw, i) => {
    const line = raw.replace(/\s+$/, '');
    const fm = /^\s*(```+|~~~+)/.exec(line);
    if (fence !== null) {
      if (fm && fm[1].startsWith(fence)) fence = null;
      return;
    }
    if (fm) {
      flush();
      fence = fm[1];
      return;
    }
    if (comment) {
      if (line.includes('-->')) comment = false;
      return;
    }
    if (/^\s*<!--/.test(line)) {
      flush();
      if (!line.includes('-->')) comment = true;
      return;
    }
    const h = HEADING_RE.exec(line);
    if (h) {
      flush();
      onHeading(h[1].length, h[2], i + 1);
      return;
    }
    if (line.trim() === '') {
      flush();
      return;
    }
    const startsItem = /^\s*(?:[-*+]|\d+\.)\s+/.test(line) || /^\s*\|/.test(line) || /^\s*>/.test(line);
    if (startsItem || cur === null) {
      flush();
      cur = { text: line, line: i + 1 };
    } else cur.text += ' ' + line.trim();
  });
  flush();
  return blocks;
}

// A sentence boundary: . ! ? or : (optionally closing a bold or italic lead-in), space, a capital.
const BOUNDARY_RE = /[.!?:](?:\*\*|\*|_)?\s+(?=[A-Z`"(*_])/g;

/** Extracts every requirement (and every problem) from the spec text files. */
export function extractRequirements(files: { file: string; text: string }[]): Extraction {
  const requirements: ExtractedRequirement[] = [];
  const untagged: UntaggedSentence[] = [];
  const keywordless: ExtractedRequirement[] = [];
  const sections: Extraction['sections'] = [];
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const { file, text } of files) {
    let section = '';
    let heading = '';
    const blocks = blocksOf(text, (level, title, line) => {
      const m = SECTION_RE.exec(title);
      if (m) {
        section = m[1];
        heading = m[2];
        sections.push({ number: m[1], anchor: sectionAnchor(m[1]), title: m[2], level, file, line });
      }
    });
    // blocksOf runs the heading callback in document order, but blocks are consumed after; so
    // recompute the section of each block from the recorded headings.
    const fileSections = sections.filter((s) => s.file === file);
    for (const block of blocks) {
      const owner = [...fileSections].reverse().find((s) => s.line < block.line);
      section = owner?.number ?? '';
      heading = owner?.title ?? '';
      const masked = maskCode(block.text);
      let prevEnd = 0;
      const covered: [number, number][] = [];
      for (const m of masked.matchAll(REQ_ID_RE)) {
        const id = m[1];
        const tagStart = m.index ?? 0;
        const tagEnd = tagStart + m[0].length;
        const region = block.text.slice(prevEnd, tagStart);
        const kws = keywords(region);
        let start = 0;
        if (kws.length > 0) {
          const firstKw = kws[0].index;
          for (const b of maskCode(region).matchAll(BOUNDARY_RE)) {
            const at = (b.index ?? 0) + b[0].length;
            if (at <= firstKw) start = at;
          }
        }
        const sentence = cleanSentence(region.slice(start)).replace(/\s*[,;]?$/, '');
        covered.push([prevEnd + start, tagEnd]);
        const level = levelOf(sentence);
        const req: ExtractedRequirement = {
          id,
          level: level ?? 'MAY',
          section,
          anchor: sectionAnchor(section || '0'),
          heading,
          file,
          line: block.line,
          text: sentence.endsWith('.') ? sentence : `${sentence}.`,
        };
        if (seen.has(id)) duplicates.push(id);
        seen.add(id);
        if (level === null) keywordless.push(req);
        requirements.push(req);
        prevEnd = tagEnd;
        while (prevEnd < block.text.length && /[.)\s]/.test(block.text[prevEnd])) prevEnd++;
      }
      let rest = '';
      let pos = 0;
      for (const [a, b] of covered) {
        rest += block.text.slice(pos, a) + ' ';
        pos = b;
      }
      rest += block.text.slice(pos);
      if (keywords(rest).length > 0) untagged.push({ file, line: block.line, text: cleanSentence(rest) });
    }
  }
  return { requirements, untagged, keywordless, duplicates: [...new Set(duplicates)], sections };
}

/** Reads spec/text/*.md through a generator context. */
export function readSpecText(ctx: Pick<GeneratorContext, 'list' | 'readText'>): { file: string; text: string }[] {
  return ctx.list('spec/text', '.md').map((file) => ({ file, text: ctx.readText(file) }));
}

function requirementsModule(reqs: ExtractedRequirement[]): string {
  const lit = (v: unknown): string => JSON.stringify(v);
  const ids = reqs.map((r) => `  ${lit(r.id)},`).join('\n');
  const rows = reqs
    .map(
      (r) =>
        `  { id: ${lit(r.id)}, level: ${lit(r.level)}, section: ${lit(r.section)}, anchor: ${lit(r.anchor)}, heading: ${lit(r.heading)}, file: ${lit(r.file)}, text: ${lit(r.text)} },`,
    )
    .join('\n');
  return `// Every requirement of the IMSP specification (spec/text/), in document order: its ID, level
// (the strongest BCP 14 keyword of its sentence), section, anchor and sentence.

export type RequirementLevel = 'MUST' | 'SHOULD' | 'MAY';

export const REQUIREMENT_IDS = [
${ids}
] as const;

export type RequirementId = (typeof REQUIREMENT_IDS)[number];

export interface Requirement {
  readonly id: RequirementId;
  readonly level: RequirementLevel;
  /** Section number, e.g. "5.3" or "A". */
  readonly section: string;
  /** HTML anchor of the section, e.g. "section-5-3". */
  readonly anchor: string;
  /** Section title. */
  readonly heading: string;
  /** Spec text file, relative to the repository root. */
  readonly file: string;
  /** The normative sentence without its ID. */
  readonly text: string;
}

export const REQUIREMENTS: readonly Requirement[] = [
${rows}
];

const BY_ID: ReadonlyMap<string, Requirement> = new Map(REQUIREMENTS.map((r) => [r.id, r]));

/** The requirement with this ID, or undefined. */
export function requirement(id: string): Requirement | undefined {
  return BY_ID.get(id);
}

/** True when the string is a defined requirement ID. */
export function isRequirementId(id: string): id is RequirementId {
  return BY_ID.has(id);
}
`;
}

const generate: Generator = (ctx) => {
  const files = readSpecText(ctx);
  const ex = extractRequirements(files);
  if (ex.duplicates.length > 0) throw new Error(`spec/text defines requirement IDs twice: ${ex.duplicates.join(', ')}`);
  const sources = files.map((f) => f.file);
  const json = {
    $comment:
      'Every requirement of spec/text in document order. Produced from the text; see generated/requirements.ts.',
    requirements: ex.requirements.map(({ line: _line, ...r }) => r),
  };
  const out: GeneratedFile[] = [
    { path: 'requirements.ts', content: requirementsModule(ex.requirements), sources },
    { path: 'requirements.json', content: JSON.stringify(json, null, 1) + '\n', sources },
  ];
  return out;
};

export default generate;
