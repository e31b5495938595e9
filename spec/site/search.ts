// Full-text search for the spec site with pagefind: a static index written next to the pages
// (site/pagefind/), searched in the browser with pagefind's own UI, no server and no network.
// pagefind's binary comes in a per-platform npm package, so it installs offline from the registry.
//
// Only pages whose <main> carries data-pagefind-body are indexed (layout() sets it on the spec's
// own pages; the single-page version and typedoc's pages are left out so a hit is not listed
// twice). The header of every page has a plain form that opens search.html?q=...

import * as pagefind from 'pagefind';

export interface SearchIndexResult {
  pages: number;
  errors: string[];
}

/** Indexes the HTML pages under `out` into `out/pagefind/`. */
export async function buildSearchIndex(out: string): Promise<SearchIndexResult> {
  const errors: string[] = [];
  try {
    const created = await pagefind.createIndex({ forceLanguage: 'en' });
    if (!created.index) return { pages: 0, errors: created.errors };
    const added = await created.index.addDirectory({ path: out });
    errors.push(...added.errors);
    const written = await created.index.writeFiles({ outputPath: `${out}/pagefind` });
    errors.push(...written.errors);
    return { pages: added.page_count, errors };
  } finally {
    await pagefind.close();
  }
}

/** The body of search.html: pagefind's UI, started on the query of ?q= if there is one. */
export function searchPage(): string {
  return [
    '<h1>Search</h1>',
    '<p class="lede">Full-text search over the specification text, the registries, the grammar, the state machines and the requirement index.</p>',
    '<link rel="stylesheet" href="pagefind/pagefind-ui.css">',
    '<div id="search"></div>',
    '<script src="pagefind/pagefind-ui.js"></script>',
    `<script>
window.addEventListener('DOMContentLoaded', function () {
  // A page opened from a file may not load pagefind's index (a module import, refused to file://
  // pages): the search would say "Searching..." for ever. Say what works instead.
  if (location.protocol === 'file:') {
    document.getElementById('search').innerHTML = '<p class="search-offline">Search needs the site served over HTTP: a browser does not let a page opened from a file load the search index. In the repository, run <code>node --import tsx spec/site/serve.ts</code> and open the address it prints; or open the whole text on one page, <a href="spec.html">spec.html</a>, and use the browser&#39;s find (Ctrl-F).</p>';
    return;
  }
  // Result links relative to this folder, so the site works wherever it is served from.
  var base = location.pathname.replace(/[^/]*$/, '');
  var ui = new PagefindUI({ element: '#search', showSubResults: true, showImages: false, resetStyles: false, baseUrl: base });
  var q = new URLSearchParams(location.search).get('q');
  if (q) ui.triggerSearch(q);
});
</script>`,
  ].join('\n');
}
