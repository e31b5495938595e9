// Requirement scanning, shared by the site builder (spec/site/build.ts) and the report
// (spec/site/requirements.ts): requirement IDs and their sentences from the spec text,
// the tests that cite each ID, the IDs deliberately left untested, and the coverage report.

import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Lexer, type Token, type Tokens } from 'marked';
import { headingAnchor, pageForSource, reqIdRegex, splitHeadingNumber } from './anchors.js';

export type Level = 'MUST' | 'SHOULD' | 'MAY' | 'INFO';

/** One occurrence of a bracketed requirement ID in the spec text. */
export interface Occurrence {
  id: string;
  /** Spec text file, relative to the repository root (spec/text/05-login.md). */
  source: string;
  /** Page the source renders to (05-login.html). */
  page: string;
  /** 1-based line in the source. */
  line: number;
  /** 0-based index of this occurrence among the occurrences of the same ID in the same source, in document order. */
  ordinal: number;
  /** The sentence the ID closes, without the ID itself. */
  sentence: string;
  /** The strongest BCP 14 keyword of the sentence, or INFO when it has none. */
  level: Level;
  /** Number of the enclosing section ("5.3"), or its title when unnumbered. */
  section: string;
  sectionTitle: string;
  /** Anchor of the enclosing heading. */
  sectionAnchor: string;
}

/** A requirement: its defining occurrence plus the other places that mention it. */
export interface Requirement extends Occurrence {
  /** Other occurrences of the ID in the text (cross-references). */
  mentions: Occurrence[];
}

export interface Citation {
  /** File relative to the repository root, with forward slashes. */
  file: string;
  line: number;
}

export interface Untested {
  id: string;
  reason: string;
}

// ---------------------------------------------------------------------------------------------
// Sentences and levels

const MUST_RE = /\b(?:MUST|SHALL|REQUIRED)\b/;
const SHOULD_RE = /\b(?:SHOULD|RECOMMENDED)\b/;
const MAY_RE = /\b(?:MAY|OPTIONAL)\b/;

/** The strongest BCP 14 keyword in a sentence (upper case only, as RFC 8174 asks). */
export function levelOf(sentence: string): Level {
  if (MUST_RE.test(sentence)) return 'MUST';
  if (SHOULD_RE.test(sentence)) return 'SHOULD';
  if (MAY_RE.test(sentence)) return 'MAY';
  return 'INFO';
}

const ABBREVIATIONS = /(?:\be\.g|\bi\.e|\betc|\bcf|\bvs|\bapprox|\bSect|\bFig|\bNo)\.$/i;

/**
 * The sentence that ends at `end` in `text` (the position of a requirement ID): from the previous
 * sentence boundary (a '.', '!' or '?' followed by white space, or the end of an earlier ID)
 * up to `end`, whitespace collapsed. A period right before the ID ("... refuse it. [X-1]") ends
 * this sentence rather than the previous one.
 */
export function sentenceBefore(text: string, end: number): string {
  let stop = end;
  let prefix = text.slice(0, stop);
  // Skip IDs directly before this one ("... [A-1] [A-2]") and the whitespace between them.
  for (let guard = 0; guard < 64; guard++) {
    const m = /\[[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+\][\s,;]*$/.exec(prefix);
    if (!m) break;
    stop = m.index;
    prefix = text.slice(0, stop);
  }
  const body = prefix.replace(/[\s]+$/, '');
  // The last character may close this very sentence; do not treat it as the previous boundary.
  const searchIn = body.replace(/[.!?]$/, '');
  let start = 0;
  const boundary = /([.!?])(["')\]]?)\s+|\]\s+/g;
  let m: RegExpExecArray | null;
  while ((m = boundary.exec(searchIn)) !== null) {
    const before = searchIn.slice(0, m.index + 1);
    if (m[1] === '.' && ABBREVIATIONS.test(before)) continue;
    if (m[0].startsWith(']')) {
      // Only the end of a requirement ID is a boundary, not any closing bracket.
      if (!/\[[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+\]$/.test(searchIn.slice(0, m.index + 1))) continue;
    }
    start = m.index + m[0].length;
  }
  return body.slice(start).replace(/\s+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------
// Extraction from Markdown

const OPEN_MASK = '\u0001';
const CLOSE_MASK = '\u0002';
const unmask = (s: string): string => s.replace(/\u0001/g, '[').replace(/\u0002/g, ']');

/** Plain text of inline tokens (code spans kept in backticks, their brackets masked). */
export function inlineText(tokens: readonly Token[] | undefined): string {
  if (!tokens) return '';
  let out = '';
  for (const t of tokens) {
    switch (t.type) {
      case 'codespan':
        // Kept as `code`, with its brackets masked so an ID quoted in code is not an occurrence.
        out += '`' + (t as Tokens.Codespan).text.replace(/\[/g, OPEN_MASK).replace(/\]/g, CLOSE_MASK) + '`';
        break;
      case 'br':
        out += ' ';
        break;
      case 'html':
        break;
      case 'image':
        out += (t as Tokens.Image).text;
        break;
      default: {
        const withTokens = t as Token & { tokens?: Token[]; text?: string };
        if (withTokens.tokens && withTokens.tokens.length > 0) out += inlineText(withTokens.tokens);
        else if (typeof withTokens.text === 'string') out += withTokens.text;
      }
    }
  }
  return out;
}

interface Block {
  kind: 'heading' | 'text';
  text: string;
  depth?: number;
}

/** Block-level texts of a token, in document order (the order the HTML renderer emits them). */
function blocksOf(token: Token, out: Block[]): void {
  switch (token.type) {
    case 'heading': {
      const h = token as Tokens.Heading;
      out.push({ kind: 'heading', text: inlineText(h.tokens), depth: h.depth });
      return;
    }
    case 'paragraph':
    case 'text': {
      const p = token as Tokens.Paragraph;
      out.push({ kind: 'text', text: p.tokens ? inlineText(p.tokens) : p.text });
      return;
    }
    case 'list':
      for (const item of (token as Tokens.List).items) for (const t of item.tokens) blocksOf(t, out);
      return;
    case 'table': {
      const table = token as Tokens.Table;
      for (const cell of table.header) out.push({ kind: 'text', text: inlineText(cell.tokens) });
      for (const row of table.rows) for (const cell of row) out.push({ kind: 'text', text: inlineText(cell.tokens) });
      return;
    }
    case 'blockquote':
      for (const t of (token as Tokens.Blockquote).tokens) blocksOf(t, out);
      return;
    default:
      return; // code (including mermaid), html, hr, space, def: no requirement sentences
  }
}

function lineAt(src: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < src.length; i++) if (src.charCodeAt(i) === 10) n++;
  return n;
}

/**
 * Every requirement-ID occurrence in one Markdown source, in document order, with its sentence,
 * level, enclosing section and line.
 */
export function extractOccurrences(markdown: string, source: string): Occurrence[] {
  const src = markdown.replace(/\r\n?/g, '\n');
  const tokens = new Lexer({ gfm: true }).lex(src);
  const page = pageForSource(source);
  const out: Occurrence[] = [];
  const ordinals = new Map<string, number>();
  let section = '';
  let sectionTitle = '';
  let sectionAnchor = '';
  let offset = 0;
  for (const top of tokens) {
    const raw = top.raw ?? '';
    // Locate the token in the source (raws concatenate to the source, give or take normalisation).
    const found = raw.length > 0 ? src.indexOf(raw, offset) : -1;
    const start = found >= 0 ? found : offset;
    const blocks: Block[] = [];
    blocksOf(top, blocks);
    let cursor = 0;
    for (const b of blocks) {
      if (b.kind === 'heading') {
        const { number, title } = splitHeadingNumber(b.text);
        section = number ?? title;
        sectionTitle = title;
        sectionAnchor = headingAnchor(b.text);
      }
      const re = reqIdRegex();
      let m: RegExpExecArray | null;
      while ((m = re.exec(b.text)) !== null) {
        const id = m[1];
        const ordinal = ordinals.get(id) ?? 0;
        ordinals.set(id, ordinal + 1);
        const at = raw.indexOf(`[${id}]`, cursor);
        if (at >= 0) cursor = at + 1;
        const sentence = unmask(
          b.kind === 'heading' ? b.text.replace(reqIdRegex(), '').trim() : sentenceBefore(b.text, m.index),
        );
        out.push({
          id,
          source,
          page,
          line: lineAt(src, start + (at >= 0 ? at : 0)),
          ordinal,
          sentence,
          level: levelOf(sentence),
          section,
          sectionTitle,
          sectionAnchor,
        });
      }
    }
    if (found >= 0) offset = found + raw.length;
  }
  return out;
}

/**
 * Groups occurrences into requirements. The defining occurrence of an ID is the first whose
 * sentence carries a BCP 14 keyword, else its first occurrence; the others are mentions.
 * Requirements keep the document order of their definitions.
 */
export function groupRequirements(occurrences: readonly Occurrence[]): Requirement[] {
  const byId = new Map<string, Occurrence[]>();
  for (const o of occurrences) {
    const list = byId.get(o.id);
    if (list) list.push(o);
    else byId.set(o.id, [o]);
  }
  const order = new Map(occurrences.map((o, i) => [o, i] as const));
  const defs: Array<{ at: number; req: Requirement }> = [];
  for (const list of byId.values()) {
    const def = list.find((o) => o.level !== 'INFO') ?? list[0];
    defs.push({ at: order.get(def) ?? 0, req: { ...def, mentions: list.filter((o) => o !== def) } });
  }
  defs.sort((a, b) => a.at - b.at);
  const reqs = defs.map((d) => d.req);
  return reqs;
}

// ---------------------------------------------------------------------------------------------
// Citations in tests

/** Every `[ID]` in a source file, with its 1-based line. */
export function scanCitations(content: string, file: string): Array<Citation & { id: string }> {
  const out: Array<Citation & { id: string }> = [];
  const lines = content.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const re = reqIdRegex();
    let m: RegExpExecArray | null;
    const seen = new Set<string>();
    while ((m = re.exec(lines[i])) !== null) {
      // A character class in a regular expression ("[A-Z0-9]*") is not a citation.
      const after = lines[i].charAt(m.index + m[0].length);
      const before = lines[i].charAt(m.index - 1);
      if ((after !== '' && '*+?{'.includes(after)) || before === '\\' || before === ']') continue;
      if (seen.has(m[1])) continue;
      seen.add(m[1]);
      out.push({ id: m[1], file, line: i + 1 });
    }
  }
  return out;
}

/** Files under dir (relative to root) whose names end with one of the suffixes, sorted; skips node_modules and dot-dirs. */
export function listFiles(root: string, dir: string, suffixes: readonly string[]): string[] {
  const out: string[] = [];
  const base = join(root, dir);
  if (!existsSync(base)) return out;
  const walk = (abs: string, depth: number): void => {
    if (depth > 32) return;
    for (const entry of readdirSync(abs, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const p = join(abs, entry.name);
      if (entry.isDirectory()) walk(p, depth + 1);
      else if (entry.isFile() && suffixes.some((s) => entry.name.endsWith(s)))
        out.push(relative(root, p).replace(/\\/g, '/'));
    }
  };
  if (statSync(base).isDirectory()) walk(base, 0);
  return out;
}

/**
 * Tests whose NAME cites a requirement: test('... [LOGIN-4] ...') (also it, describe, suite) in
 * test/. An [ID] in a comment, a helper or an assertion message is not a test of it (issue 12).
 */
export function collectNamedTests(root: string): Map<string, Array<Citation & { name: string }>> {
  const map = new Map<string, Array<Citation & { name: string }>>();
  const call = /\b(?:test|it|describe|suite)(?:\.(?:skip|only|todo))?\(\s*(`|'|")((?:\\.|(?!\1)[^\\])*)\1/g;
  const id = /\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\]/g;
  for (const file of listFiles(root, 'test', ['.ts'])) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const m of text.matchAll(call)) {
      const name = m[2]!;
      const line = text.slice(0, m.index).split('\n').length;
      for (const x of new Set([...name.matchAll(id)].map((y) => y[1]!))) {
        const t = { file, line, name: name.replace(/\s+/g, ' ').slice(0, 200) };
        const list = map.get(x);
        if (list) list.push(t);
        else map.set(x, [t]);
      }
    }
  }
  return map;
}

/** Where the tests cite requirement IDs: scans test/ (every .ts file) and conformance/ cases. */
export function collectCitations(
  root: string,
  dirs: readonly string[] = ['test', 'conformance'],
): Map<string, Citation[]> {
  const map = new Map<string, Citation[]>();
  for (const dir of dirs) {
    for (const file of listFiles(root, dir, ['.ts'])) {
      if (file.endsWith('.d.ts')) continue;
      for (const c of scanCitations(readFileSync(join(root, file), 'utf8'), file)) {
        const list = map.get(c.id);
        const cite = { file: c.file, line: c.line };
        if (list) list.push(cite);
        else map.set(c.id, [cite]);
      }
    }
  }
  return map;
}

/**
 * Reads spec/untested.json in any of the shapes a person might write it:
 * `[{"id", "reason"}]`, `{"untested": [...]}`, `{"requirements": [...]}`, or `{"ID": "reason"}`.
 */
export function parseUntested(json: unknown): Untested[] {
  const out: Untested[] = [];
  const fromEntry = (e: unknown, key?: string): void => {
    if (typeof e === 'string' && key) out.push({ id: key, reason: e });
    else if (typeof e === 'string') out.push({ id: e, reason: '' });
    else if (e && typeof e === 'object') {
      const o = e as Record<string, unknown>;
      const id = typeof o.id === 'string' ? o.id : typeof o.req === 'string' ? o.req : key;
      const reason =
        typeof o.reason === 'string'
          ? o.reason
          : typeof o.why === 'string'
            ? o.why
            : typeof o.text === 'string'
              ? o.text
              : '';
      if (id) out.push({ id: id.replace(/^\[|\]$/g, ''), reason });
    }
  };
  if (Array.isArray(json)) json.forEach((e) => fromEntry(e));
  else if (json && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    const list = Array.isArray(o.untested) ? o.untested : Array.isArray(o.requirements) ? o.requirements : null;
    if (list) list.forEach((e) => fromEntry(e));
    else if (Array.isArray(o.exceptions)) {
      // spec/exceptions.json: only the requirements no wire peer can observe excuse a missing test.
      o.exceptions
        .filter(
          (e) =>
            !e ||
            typeof e !== 'object' ||
            (e as { kind?: unknown }).kind === undefined ||
            ((e as { kind?: unknown }).kind === 'unobservable' && !(e as { roles?: unknown }).roles),
        )
        .forEach((e) => fromEntry(e));
    } else for (const [k, v] of Object.entries(o)) if (!k.startsWith('$')) fromEntry(v, k);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// generated/requirements.json (from the spec engineer's generator), when present

export interface GeneratedRequirement {
  id: string;
  section?: string;
  anchor?: string;
  level?: string;
  text?: string;
}

export function parseGeneratedRequirements(json: unknown): GeneratedRequirement[] {
  const list = Array.isArray(json)
    ? json
    : json && typeof json === 'object'
      ? (((json as Record<string, unknown>).requirements ??
          Object.values(json as Record<string, unknown>).find(Array.isArray)) as unknown)
      : null;
  if (!Array.isArray(list)) return [];
  const out: GeneratedRequirement[] = [];
  for (const e of list) {
    if (!e || typeof e !== 'object') continue;
    const o = e as Record<string, unknown>;
    if (typeof o.id !== 'string') continue;
    const str = (v: unknown): string | undefined =>
      typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
    out.push({
      id: o.id,
      section: str(o.section),
      anchor: str(o.anchor),
      level: str(o.level),
      text: str(o.text ?? o.sentence),
    });
  }
  return out;
}

function normaliseLevel(level: string | undefined): Level | undefined {
  if (!level) return undefined;
  const l = level.toUpperCase();
  if (l.startsWith('MUST') || l.startsWith('SHALL') || l === 'REQUIRED') return 'MUST';
  if (l.startsWith('SHOULD') || l === 'RECOMMENDED') return 'SHOULD';
  if (l === 'MAY' || l === 'OPTIONAL') return 'MAY';
  return 'INFO';
}

// ---------------------------------------------------------------------------------------------
// Loading everything from a repository

export interface SpecSource {
  /** Relative path, e.g. spec/text/05-login.md. */
  source: string;
  markdown: string;
}

export function loadSpecSources(root: string): SpecSource[] {
  return listFiles(root, 'spec/text', ['.md']).map((source) => ({
    source,
    markdown: readFileSync(join(root, source), 'utf8'),
  }));
}

export interface RequirementData {
  requirements: Requirement[];
  /** All occurrences in the text, in document order (the renderer places anchors from these). */
  occurrences: Occurrence[];
  citations: Map<string, Citation[]>;
  /** Where the reference implementation cites each ID (code that enforces it, `// [ID]`). */
  codeCitations: Map<string, Citation[]>;
  untested: Map<string, string>;
  /** Where the data came from, for messages. */
  fromGenerated: boolean;
  /** IDs in generated/requirements.json that the text does not contain (a stale generated file). */
  generatedOnly: string[];
}

/** Removes a leading stamp line ("# Generated by ...", "// ...") that generated files may carry. */
export function stripStamp(text: string): string {
  return text.replace(/^(?:[ \t]*(?:#|\/\/|%%)[^\n]*\n)+/, '');
}

function readJsonIfExists(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(stripStamp(readFileSync(path, 'utf8'))) as unknown;
  } catch {
    return undefined;
  }
}

/** Requirements from the text (sentences, anchors, lines), refined by generated/requirements.json when present. */
export function loadRequirementData(root: string, sources: SpecSource[] = loadSpecSources(root)): RequirementData {
  const occurrences = sources.flatMap((s) => extractOccurrences(s.markdown, s.source));
  const requirements = groupRequirements(occurrences);
  const generated = parseGeneratedRequirements(readJsonIfExists(join(root, 'generated/requirements.json')));
  const byId = new Map(requirements.map((r) => [r.id, r] as const));
  const generatedOnly: string[] = [];
  for (const g of generated) {
    const r = byId.get(g.id);
    if (!r) {
      generatedOnly.push(g.id);
      continue;
    }
    // The generator is the authority on level and sentence; the text scan supplies page, line and anchor.
    const level = normaliseLevel(g.level);
    if (level) r.level = level;
    if (g.text && g.text.trim() !== '') r.sentence = g.text.replace(/\s+/g, ' ').trim();
  }
  const untested = new Map(
    parseUntested(readJsonIfExists(join(root, 'spec/exceptions.json'))).map((u) => [u.id, u.reason] as const),
  );
  return {
    requirements,
    occurrences,
    // A test is a test of an ID when its name cites it (issue 12), not any [ID] under test/.
    citations: new Map(
      [...collectNamedTests(root)].map(([k, v]) => [k, v.map(({ file, line }) => ({ file, line }))] as const),
    ),
    codeCitations: collectCitations(root, ['reference']),
    untested,
    fromGenerated: generated.length > 0,
    generatedOnly,
  };
}

// ---------------------------------------------------------------------------------------------
// The coverage report

export type Coverage = 'tested' | 'untested' | 'none';

/** A conformance-kit case that declares a requirement in its reqs. */
export interface KitCaseRef {
  role: string;
  id: string;
  title: string;
  file: string;
}

export interface ReportRow {
  req: Requirement;
  /** Tests whose name cites the ID. */
  citations: Citation[];
  /** Kit cases that declare the ID ("a kit case checks it"). */
  kit: KitCaseRef[];
  /** Code of the reference implementation that cites the ID (not a test). */
  code: Citation[];
  coverage: Coverage;
  /** The reason from spec/exceptions.json when coverage is 'untested'. */
  reason?: string;
}

export interface Report {
  rows: ReportRow[];
  /** MUSTs with no citing test and not listed as deliberately untested. */
  mustsWithoutTest: ReportRow[];
  /** IDs cited by tests that the text does not define (typos or removed requirements). */
  unknownCited: Array<{ id: string; citations: Citation[] }>;
  /** IDs in spec/exceptions.json that the text does not define. */
  unknownUntested: string[];
  counts: {
    total: number;
    must: number;
    should: number;
    may: number;
    info: number;
    tested: number;
    untested: number;
    none: number;
  };
}

export function buildReport(
  data: Pick<RequirementData, 'requirements' | 'citations' | 'untested'> &
    Partial<Pick<RequirementData, 'codeCitations'>> & { kitCases?: Map<string, KitCaseRef[]> },
): Report {
  const rows: ReportRow[] = data.requirements.map((req) => {
    const citations = data.citations.get(req.id) ?? [];
    const kit = data.kitCases?.get(req.id) ?? [];
    const code = data.codeCitations?.get(req.id) ?? [];
    if (citations.length > 0 || kit.length > 0) return { req, citations, kit, code, coverage: 'tested' };
    const reason = data.untested.get(req.id);
    if (reason !== undefined) return { req, citations, kit, code, coverage: 'untested', reason };
    return { req, citations, kit, code, coverage: 'none' };
  });
  const known = new Set(data.requirements.map((r) => r.id));
  const unknownCited = [...data.citations.entries()]
    .filter(([id]) => !known.has(id))
    .map(([id, citations]) => ({ id, citations }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const unknownUntested = [...data.untested.keys()].filter((id) => !known.has(id)).sort();
  const count = (f: (r: ReportRow) => boolean): number => rows.filter(f).length;
  return {
    rows,
    mustsWithoutTest: rows.filter((r) => r.req.level === 'MUST' && r.coverage === 'none'),
    unknownCited,
    unknownUntested,
    counts: {
      total: rows.length,
      must: count((r) => r.req.level === 'MUST'),
      should: count((r) => r.req.level === 'SHOULD'),
      may: count((r) => r.req.level === 'MAY'),
      info: count((r) => r.req.level === 'INFO'),
      tested: count((r) => r.coverage === 'tested'),
      untested: count((r) => r.coverage === 'untested'),
      none: count((r) => r.coverage === 'none'),
    },
  };
}
