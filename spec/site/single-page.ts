// The single-page version of the specification (spec.html), as Bikeshed and the RFC Editor
// publish one: every section of the text in order on one page, for reading offline, printing
// and searching with the browser's own find.
//
// Links between the text's pages become links within the page ("08-login-and-logout.html#x" ->
// "#x"; a link to a page's top goes to its first heading). Anchors stay those of the multi-page
// site, so "#req-LOGIN-4" and "#section-8-2" work on both; an id used by two pages (a heading
// without a number, say) is renamed on the later page, with that page's own links to it.

import { escapeHtml } from './anchors.js';

export interface SinglePageSource {
  page: string;
  title: string;
  /** The first heading's anchor, where a link to the page's top lands. */
  topAnchor: string | null;
  /** The page's body HTML after cross-linking (without its local table of contents). */
  html: string;
}

export function singlePage(sources: readonly SinglePageSource[]): string {
  const pages = new Map(sources.map((s) => [s.page, s] as const));
  const seen = new Set<string>();
  const chunks: string[] = [];
  for (const s of sources) {
    // 1. Ids already used by an earlier page get a page prefix (and this page's links follow).
    const renamed = new Map<string, string>();
    for (const m of s.html.matchAll(/\sid="([^"]+)"/g)) {
      const id = m[1];
      if (seen.has(id) && !renamed.has(id)) renamed.set(id, `${s.page.replace(/\.html$/, '')}--${id}`);
    }
    let html = s.html;
    if (renamed.size > 0) {
      html = html.replace(
        /(\s(?:id|href)=")(#?)([^"]+)"/g,
        (whole: string, pre: string, hash: string, value: string) => {
          const to = renamed.get(value);
          if (!to || (pre.includes('href') && hash !== '#')) return whole;
          return `${pre}${hash}${to}"`;
        },
      );
    }
    for (const m of html.matchAll(/\sid="([^"]+)"/g)) seen.add(m[1]);
    // 2. Links to another page of the text become in-page links.
    html = html.replace(
      /\shref="([0-9][0-9A-Za-z-]*\.html)(#[^"]*)?"/g,
      (whole: string, page: string, frag: string | undefined) => {
        const target = pages.get(page);
        if (!target) return whole;
        if (frag) return ` href="${frag}"`;
        return target.topAnchor ? ` href="#${target.topAnchor}"` : whole;
      },
    );
    chunks.push(`<article class="single-section" data-source="${escapeHtml(s.page)}">\n${html}\n</article>`);
  }
  const toc = sources.map((s) => `<li><a href="#${s.topAnchor ?? ''}">${escapeHtml(s.title)}</a></li>`).join('');
  return [
    '<p class="lede">The whole specification on one page. The multi-page version starts at the <a href="index.html">table of contents</a>; anchors are the same in both.</p>',
    `<nav class="toc" aria-label="Sections"><h2 id="single-contents">Sections</h2><ul>${toc}</ul></nav>`,
    ...chunks,
  ].join('\n');
}
