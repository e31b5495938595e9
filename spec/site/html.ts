// Page layout and the cross-linking pass shared by every page of the spec site.

import { escapeHtml, errorAnchor, headerAnchor, methodAnchor, reqAnchor, sectionAnchor } from './anchors.js';

export interface NavItem {
  href: string;
  label: string;
}

export const NAV: NavItem[] = [
  { href: 'index.html', label: 'Contents' },
  { href: 'grammar.html', label: 'Grammar' },
  { href: 'methods.html', label: 'Methods' },
  { href: 'headers.html', label: 'Headers' },
  { href: 'status-codes.html', label: 'Status codes' },
  { href: 'errors.html', label: 'Errors' },
  { href: 'limits.html', label: 'Limits' },
  { href: 'machines.html', label: 'State machines' },
  { href: 'requirements.html', label: 'Requirements' },
  { href: 'api/index.html', label: 'API' },
  { href: 'spec.html', label: 'One page' },
];

export interface PageOptions {
  /** File name of the page, relative to site/ (for the current-page marker in the navigation). */
  file: string;
  title: string;
  body: string;
  prev?: NavItem;
  next?: NavItem;
  /** The status line under the header (status.ts statusLine()); none on pages that predate it. */
  status?: string;
  /** Whether pagefind indexes the page (default true; false for the single-page copy). */
  searchable?: boolean;
}

export function layout(o: PageOptions): string {
  const nav = NAV.map((n) =>
    n.href === o.file
      ? `<a href="${n.href}" aria-current="page">${escapeHtml(n.label)}</a>`
      : `<a href="${n.href}">${escapeHtml(n.label)}</a>`,
  ).join('\n      ');
  const pager =
    o.prev || o.next
      ? `<nav class="pager" aria-label="Previous and next">${o.prev ? `<a class="prev" href="${o.prev.href}">&larr; ${escapeHtml(o.prev.label)}</a>` : '<span></span>'}${
          o.next ? `<a class="next" href="${o.next.href}">${escapeHtml(o.next.label)} &rarr;</a>` : '<span></span>'
        }</nav>`
      : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(o.title)} &mdash; IMSP</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="style.css">
</head>
<body>
<header class="site">
  <a class="brand" href="index.html">IMSP</a>
  <nav aria-label="Site">
      ${nav}
  </nav>
  <form class="search" action="search.html" role="search"><input type="search" name="q" placeholder="Search the spec" aria-label="Search the specification"></form>
</header>
${o.status ?? ''}
<main${o.searchable === false ? '' : ' data-pagefind-body'}>
${o.body}
${pager}
</main>
<footer class="site">IMSP specification site, built by <code>make site</code> from <code>spec/</code>, <code>grammar/</code> and <code>generated/</code>.</footer>
</body>
</html>
`;
}

/** What the cross-linking pass knows about the site. */
export interface LinkContext {
  /** The page being processed. */
  page: string;
  /** Requirement ID -> the page holding its sentence. */
  reqPage: Map<string, string>;
  /** Requirement ID -> ordinal of its defining occurrence on its page (see scan.ts Occurrence.ordinal). */
  reqOrdinal: Map<string, number>;
  /** Section number ("5.3", "A") -> page. */
  sectionPage: Map<string, string>;
  methods: Set<string>;
  errors: Set<string>;
  /** Lower-case header name -> canonical name. */
  headers: Map<string, string>;
  /** Heading anchor -> page, so that "#section-6-1" written in another file still finds its page. */
  anchorPage?: Map<string, string>;
}

const BRACKET_ID = /\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\]/g;
const BARE_ID = /(?<![\w[/.#-])([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)(?![\w\]-])/g;
const SECNUM = String.raw`(?:[0-9]+(?:\.[0-9]+)*|[A-Z](?:\.[0-9]+)*)\b`;
/** "Section 5.3", "Sections 4.1 to 4.6", "Sections 9.2, 9.3 and 9.5", "Appendix A". */
const SECTION_REF = new RegExp(
  String.raw`\b(Sections?|Appendix|§)((?:\s|&nbsp;)+)(${SECNUM}(?:(?:,\s*|,?\s+(?:and|or|to)\s+|\s*-\s*)${SECNUM})*)`,
  'g',
);
const ONE_SECNUM = new RegExp(SECNUM, 'g');

export function reqHref(id: string, ctx: Pick<LinkContext, 'page' | 'reqPage'>): string {
  const page = ctx.reqPage.get(id);
  if (!page) return `requirements.html#${reqAnchor(id)}`;
  return `${page === ctx.page ? '' : page}#${reqAnchor(id)}`;
}

export function sectionHref(number: string, ctx: Pick<LinkContext, 'page' | 'sectionPage'>): string | null {
  const page = ctx.sectionPage.get(number);
  if (!page) return null;
  return `${page === ctx.page ? '' : page}#${sectionAnchor(number)}`;
}

/** Source files the site renders: a code span naming one links to its page. */
const FILE_PAGES: Record<string, string> = {
  'grammar/imsp.peggy': 'grammar.html',
  'spec/registry/methods.json': 'methods.html',
  'spec/registry/headers.json': 'headers.html',
  'spec/registry/value-types.json': 'headers.html#value-types',
  'spec/registry/status-codes.json': 'status-codes.html',
  'spec/registry/errors.json': 'errors.html',
  'spec/registry/limits.json': 'limits.html',
  'spec/exceptions.json': 'requirements.html',
  'generated/requirements.json': 'requirements.html',
  'generated/requirements.ts': 'requirements.html',
  'generated/machines.ts': 'machines.html',
};

function codeLink(text: string, ctx: LinkContext): string | null {
  const t = text.trim();
  if (FILE_PAGES[t]) return FILE_PAGES[t];
  if (/^spec\/machines\/([a-z0-9-]+)\.json$/.test(t)) return `machines.html#machine-${t.slice(14, -5)}`;
  if (t === 'spec/machines/*.json' || /^generated\/diagrams\//.test(t)) return 'machines.html';
  if (ctx.errors.has(t)) return `errors.html#${errorAnchor(t)}`;
  if (ctx.methods.has(t)) return `methods.html#${methodAnchor(t)}`;
  const h = ctx.headers.get(t.toLowerCase());
  if (h && /^[A-Z]/.test(t)) return `headers.html#${headerAnchor(h)}`;
  return null;
}

/**
 * Cross-links rendered HTML: `[ID]` becomes an anchor (id="req-ID" at the requirement's defining
 * occurrence, linking to the requirement index; a link to the definition elsewhere), bare known IDs
 * and "Section 5.3" link to their targets, and inline code naming an error code, method or header
 * links to its registry entry. Text inside <pre>, <code> (except whole-code links), <a> and
 * headings' own anchors is left alone.
 */
export function linkify(html: string, ctx: LinkContext): string {
  const counts = new Map<string, number>();
  let inPre = 0;
  let inCode = 0;
  let inA = 0;
  let inHeading = 0;
  let out = '';
  const re = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>|[^<]+|</g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(html)) !== null) {
    const tok = m[0];
    if (m[2] !== undefined) {
      const name = m[2].toLowerCase();
      const closing = m[1] === '/';
      const d = closing ? -1 : 1;
      if (name === 'pre' || name === 'script' || name === 'style') inPre = Math.max(0, inPre + d);
      else if (name === 'a') {
        inA = Math.max(0, inA + d);
        const frag = closing ? null : /^<a href="#([^"]+)"/.exec(tok);
        const page = frag ? ctx.anchorPage?.get(frag[1]) : undefined;
        if (frag && page && page !== ctx.page) {
          out += tok.replace(`href="#${frag[1]}"`, `href="${page}#${frag[1]}"`);
          continue;
        }
      } else if (/^h[1-6]$/.test(name)) inHeading = Math.max(0, inHeading + d);
      else if (name === 'code') {
        // Inline code naming a registry entry becomes a link to it.
        if (!closing && tok === '<code>' && inPre === 0 && inA === 0 && inHeading === 0) {
          const rest = /^<code>([^<]*)<\/code>/.exec(html.slice(m.index));
          const href = rest ? codeLink(unescape(rest[1]), ctx) : null;
          if (rest && href) {
            out += `<a class="sym" href="${href}">${rest[0]}</a>`;
            re.lastIndex = m.index + rest[0].length;
            continue;
          }
        }
        inCode = Math.max(0, inCode + d);
      }
      out += tok;
      continue;
    }
    if (inPre > 0 || inCode > 0) {
      out += tok;
      continue;
    }
    out += linkText(tok, ctx, counts, inA > 0, inHeading > 0);
  }
  return out;
}

function unescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function linkText(
  text: string,
  ctx: LinkContext,
  counts: Map<string, number>,
  inA: boolean,
  inHeading: boolean,
): string {
  // 1. Bracketed IDs: count every occurrence (the ordinals must match scan.ts), anchor the definition.
  const parts: string[] = [];
  let last = 0;
  BRACKET_ID.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BRACKET_ID.exec(text)) !== null) {
    const id = m[1];
    const n = counts.get(id) ?? 0;
    counts.set(id, n + 1);
    parts.push(plainLinks(text.slice(last, m.index), ctx, inA || inHeading));
    const isDef = ctx.reqPage.get(id) === ctx.page && ctx.reqOrdinal.get(id) === n;
    if (inA) parts.push(m[0]);
    else if (isDef)
      parts.push(
        `<a class="req" id="${reqAnchor(id)}" href="requirements.html#${reqAnchor(id)}" title="Requirement ${id} in the index">[${id}]</a>`,
      );
    else parts.push(`<a class="req-ref" href="${reqHref(id, ctx)}">[${id}]</a>`);
    last = m.index + m[0].length;
  }
  parts.push(plainLinks(text.slice(last), ctx, inA || inHeading));
  return parts.join('');
}

function plainLinks(text: string, ctx: LinkContext, skip: boolean): string {
  if (skip || text === '') return text;
  let s = text.replace(BARE_ID, (whole: string, id: string) =>
    ctx.reqPage.has(id) ? `<a class="req-ref" href="${reqHref(id, ctx)}">${id}</a>` : whole,
  );
  s = s.replace(SECTION_REF, (whole: string, word: string, sp: string, list: string) => {
    // The first number takes the word with it ("Section 5.3"); later ones in a list link alone.
    let first = true;
    const linked = list.replace(ONE_SECNUM, (num: string) => {
      const href = sectionHref(num, ctx);
      const label = first ? `${word}${sp}${num}` : num;
      first = false;
      return href ? `<a class="xref" href="${href}">${label}</a>` : label;
    });
    return linked;
  });
  return s;
}
