// Stable anchors and page names for the spec site. Pure functions: the site builder, the
// requirement index and the tests all derive anchors here, so a link and its target agree.

/** The requirement ID syntax, as used in the spec text, the registries and the tests: `[LOGIN-4]`. */
export const REQ_ID_SOURCE = String.raw`\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\]`;

/** A fresh global regex matching a bracketed requirement ID; group 1 is the ID. */
export function reqIdRegex(): RegExp {
  return new RegExp(REQ_ID_SOURCE, 'g');
}

/** True when `id` (without brackets) is a well-formed requirement ID. */
export function isReqId(id: string): boolean {
  return new RegExp(`^${REQ_ID_SOURCE.slice(2, -2)}$`).test(id);
}

/** Anchor of a requirement's sentence in the text, and of its entry in the requirement index. */
export function reqAnchor(id: string): string {
  return `req-${id}`;
}

export interface HeadingNumber {
  /** The section number without its trailing dot ("5.3", "A", "A.1"), or null when unnumbered. */
  number: string | null;
  /** The title after the number. */
  title: string;
}

/**
 * Splits a heading's text into its explicit number and title:
 * "5.3. LOGIN" -> 5.3 / LOGIN; "5 Messages" -> 5 / Messages; "Appendix A. Decisions" -> A / Decisions;
 * "A.1. Login" -> A.1 / Login; "Abstract" -> null / Abstract.
 */
export function splitHeadingNumber(text: string): HeadingNumber {
  const t = text.trim();
  const appendix = /^Appendix\s+([A-Z](?:\.[0-9]+)*)\.?(?:\s*[:.\u2014-]\s*|\s+)(.*)$/.exec(t);
  if (appendix) return { number: appendix[1], title: appendix[2].trim() };
  const numeric = /^([0-9]+(?:\.[0-9]+)*)\.?\s+(.*)$/.exec(t);
  if (numeric) return { number: numeric[1], title: numeric[2].trim() };
  const lettered = /^([A-Z](?:\.[0-9]+)+|[A-Z])\.\s+(.*)$/.exec(t);
  if (lettered) return { number: lettered[1], title: lettered[2].trim() };
  return { number: null, title: t };
}

/** Lower-case slug of free text: letters and digits joined by single dashes. */
export function slugify(text: string): string {
  const s = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s === '' ? 'section' : s;
}

/** Anchor of a section number, as spec/text/02-conventions.md fixes it: "5.3" -> section-5-3, "A" -> section-a. */
export function sectionAnchor(number: string): string {
  return `section-${number.toLowerCase().replace(/\./g, '-')}`;
}

/** Stable anchor of a heading: `section-5-3` when numbered, else the slug of its text. */
export function headingAnchor(text: string): string {
  const { number } = splitHeadingNumber(text);
  return number !== null ? sectionAnchor(number) : slugify(text);
}

/** Keeps anchors unique within one page: the second "intro" becomes "intro-2", and so on. */
export class AnchorSet {
  private readonly seen = new Map<string, number>();
  unique(anchor: string): string {
    const n = this.seen.get(anchor) ?? 0;
    this.seen.set(anchor, n + 1);
    if (n === 0) return anchor;
    let k = n + 1;
    while (this.seen.has(`${anchor}-${k}`)) k++;
    const out = `${anchor}-${k}`;
    this.seen.set(out, 1);
    return out;
  }
}

/** The HTML page a spec text file renders to: spec/text/05-login.md -> 05-login.html. */
export function pageForSource(source: string): string {
  const base = source.replace(/\\/g, '/').split('/').pop() ?? source;
  return base.replace(/\.md$/i, '') + '.html';
}

// Anchors on the registry pages.
export const methodAnchor = (name: string): string => `method-${name}`;
export const headerAnchor = (name: string): string => `header-${name.toLowerCase()}`;
export const typeAnchor = (name: string): string => `type-${name}`;
export const statusAnchor = (code: number | string): string => `status-${code}`;
export const errorAnchor = (code: string): string => code;
export const limitAnchor = (name: string): string => `limit-${name}`;
export const machineAnchor = (name: string): string => `machine-${slugify(name)}`;
export const ruleAnchor = (name: string): string => `rule-${name}`;

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
