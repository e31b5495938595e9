// The spec site as a reader sees it: builds the site (or reuses a fresh build), serves site/ on
// 127.0.0.1, opens every HTML page in headless Debian chromium (playwright-core) and fails on a
// broken internal link (missing file or #anchor), an image that does not load (or has no natural
// width), or any console error or page error. Saves screenshots to site/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildSite, REPO_ROOT, type BuildResult } from '../../spec/site/build.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../../spec/site/mermaid.js';
import { serveStatic, type StaticServer } from '../../spec/site/serve.js';
import { listFiles } from '../../spec/site/scan.js';
import { acquireSiteLock } from '../../spec/site/lock.js';

const OUT = join(REPO_ROOT, 'site');

interface PageReport {
  file: string;
  ids: Set<string>;
  links: Array<{ href: string; text: string }>;
  images: Array<{ src: string; ok: boolean; width: number }>;
  errors: string[];
}

let build: BuildResult;
let server: StaticServer;
let browser: Browser;
const reports = new Map<string, PageReport>();

let releaseLock: (() => void) | undefined;

before(async () => {
  // Hold the site's lock for the whole file: another build in this working tree waits meanwhile.
  releaseLock = await acquireSiteLock(OUT);
  // typedoc 'reuse': an existing API reference is kept (typedoc is the slow part; `make site` refreshes it).
  build = await buildSite({ typedoc: 'reuse', log: () => undefined });
  server = await serveStatic(OUT);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
});

after(async () => {
  await browser?.close();
  await server?.close();
  releaseLock?.();
});

async function visit(page: Page, file: string): Promise<PageReport> {
  const errors: string[] = [];
  const onConsole = (m: { type(): string; text(): string }): void => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  };
  const onPageError = (e: Error): void => {
    errors.push(`pageerror: ${e.message}`);
  };
  const onFailed = (r: { url(): string; failure(): { errorText: string } | null }): void => {
    errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  };
  page.on('console', onConsole);
  page.on('pageerror', onPageError);
  page.on('requestfailed', onFailed);
  try {
    const res = await page.goto(server.url + file, { waitUntil: 'load' });
    if (!res || res.status() !== 200) errors.push(`HTTP ${res?.status() ?? 'no response'}`);
    // Runs in the page (the project compiles without the DOM library, hence a string).
    const data = (await page.evaluate(`(() => {
      const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
      const names = [...document.querySelectorAll('a[name]')].map((e) => e.getAttribute('name') || '');
      const links = [...document.querySelectorAll('a[href]')].map((a) => ({ href: a.href, text: (a.textContent || '').trim().slice(0, 60) }));
      const images = [...document.images].map((i) => ({ src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth }));
      return { ids: [...ids, ...names], links, images };
    })()`)) as { ids: string[]; links: PageReport['links']; images: PageReport['images'] };
    // Anchors must be unique on a page, or a link lands on the wrong element (typedoc's own pages excepted).
    if (!file.startsWith('api/')) {
      const seen = new Set<string>();
      for (const id of data.ids) {
        if (seen.has(id)) errors.push(`duplicate id "${id}"`);
        seen.add(id);
      }
    }
    return { file, ids: new Set(data.ids), links: data.links, images: data.images, errors };
  } finally {
    page.off('console', onConsole);
    page.off('pageerror', onPageError);
    page.off('requestfailed', onFailed);
  }
}

test('the site builds with every diagram rendered', () => {
  assert.deepEqual(
    build.diagrams.failures.map((f) => `${f.diagram.origin}: ${f.error.split('\n')[0]}`),
    [],
    'diagrams that failed to render',
  );
  for (const f of [
    'index.html',
    'grammar.html',
    'methods.html',
    'headers.html',
    'status-codes.html',
    'errors.html',
    'limits.html',
    'machines.html',
    'requirements.html',
    'api/index.html',
    'style.css',
  ])
    assert.ok(existsSync(join(OUT, f)), `site/${f} exists`);
});

/** The same facts read from the HTML file alone (ids, links, images), for the bulk of typedoc's pages. */
function readStatically(file: string): PageReport {
  const html = readFileSync(join(OUT, file), 'utf8');
  const unescape = (s: string): string =>
    s
      .replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'");
  const ids = new Set([...html.matchAll(/\s(?:id|name)="([^"]*)"/g)].map((m) => unescape(m[1])));
  const base = server.url + file;
  const links = [...html.matchAll(/<a\b[^>]*?\shref="([^"]*)"/g)].map((m) => ({
    href: new URL(unescape(m[1]), base).href,
    text: '',
  }));
  const images = [...html.matchAll(/<img\b[^>]*?\ssrc="([^"]*)"/g)].map((m) => {
    const u = new URL(unescape(m[1]), base);
    const ok = u.protocol === 'data:' || existsSync(join(OUT, decodeURIComponent(u.pathname.slice(1))));
    return { src: u.href, ok, width: ok ? 1 : 0 };
  });
  return { file, ids, links, images, errors: [] };
}

/**
 * The pages opened in the browser: every page of the spec site, and of typedoc's API reference its
 * front pages and the first page of each kind (classes, functions, ...). The other API pages are
 * generated from the same templates; their links and anchors are checked from their HTML.
 */
function browserPages(files: readonly string[]): string[] {
  const picked = new Set<string>();
  const kinds = new Set<string>();
  for (const f of files) {
    if (!f.startsWith('api/')) picked.add(f);
    else if (f.split('/').length === 2) picked.add(f);
    else {
      const kind = f.split('/')[1];
      if (!kinds.has(kind)) {
        kinds.add(kind);
        picked.add(f);
      }
    }
  }
  return [...picked];
}

test('every page opens in chromium without console errors, broken links or missing images', async () => {
  const files = listFiles(OUT, '.', ['.html']).filter((f) => !f.startsWith('screenshots/'));
  assert.ok(files.length >= 10, `expected the site's pages, found ${files.length}`);
  const inBrowser = browserPages(files);
  for (const f of files) if (!inBrowser.includes(f)) reports.set(f, readStatically(f));
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  try {
    // A few tabs in parallel keep the run short when typedoc writes many pages.
    const queue = [...inBrowser];
    const workers = Array.from({ length: 3 }, async () => {
      const page = await context.newPage();
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) reports.set(f, await visit(page, f));
      await page.close();
    });
    await Promise.all(workers);
  } finally {
    await context.close();
  }

  const problems: string[] = [];
  const origin = new URL(server.url).origin;
  for (const r of reports.values()) {
    for (const e of r.errors) problems.push(`${r.file}: ${e}`);
    for (const img of r.images) if (!img.ok) problems.push(`${r.file}: image did not load: ${img.src}`);
    for (const l of r.links) {
      const u = new URL(l.href);
      if (u.origin !== origin) {
        if (u.protocol === 'http:' || u.protocol === 'https:')
          problems.push(`${r.file}: external link (the site must work offline): ${l.href}`);
        continue;
      }
      let target = decodeURIComponent(u.pathname.slice(1));
      if (target === '' || target.endsWith('/')) target += 'index.html';
      if (!existsSync(join(OUT, target))) {
        problems.push(`${r.file}: broken link "${l.text}" -> ${target} (no such file)`);
        continue;
      }
      const frag = decodeURIComponent(u.hash.slice(1));
      if (frag === '' || !target.endsWith('.html')) continue;
      // typedoc's hierarchy page builds its anchors with JavaScript from a data file, after load.
      if (target === 'api/hierarchy.html') continue;
      const tr = reports.get(target);
      if (!tr) problems.push(`${r.file}: link to a page that was not visited: ${target}`);
      else if (!tr.ids.has(frag)) problems.push(`${r.file}: broken anchor "${l.text}" -> ${target}#${frag}`);
    }
  }
  assert.deepEqual(problems.slice(0, 40), [], `${problems.length} problems`);
});

test('requirement anchors: each ID in the index links to its sentence, which links back', () => {
  const index = reports.get('requirements.html');
  assert.ok(index, 'requirements.html was visited');
  for (const row of build.report.rows) {
    const id = `req-${row.req.id}`;
    assert.ok(index.ids.has(id), `index has an entry for ${row.req.id}`);
    const page = reports.get(row.req.page);
    assert.ok(page?.ids.has(id), `${row.req.page} has the anchor ${id}`);
    assert.ok(
      page?.links.some((l) => l.href.endsWith(`/requirements.html#${id}`)),
      `${row.req.page} links ${row.req.id} to the index`,
    );
  }
});

test('index.html#req-ID (as the conformance report links) lands on the requirement index entry', async () => {
  const first = build.report.rows[0]?.req.id;
  if (first === undefined) return;
  const page = await browser.newPage();
  try {
    await page.goto(`${server.url}index.html#req-${first}`, { waitUntil: 'load' });
    await page.waitForURL(`**/requirements.html#req-${first}`);
    assert.equal(await page.locator(`[id="req-${first}"]`).count(), 1);
  } finally {
    await page.close();
  }
});

test('[issue 17] a reader searches the spec: the header form opens search.html, which lists pages that hold the words', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    await page.goto(server.url + '08-login-and-logout.html', { waitUntil: 'load' });
    await page.fill('header.site form.search input[name="q"]', 'fencing epoch');
    await Promise.all([
      page.waitForURL('**/search.html?q=fencing+epoch'),
      page.press('header.site form.search input[name="q"]', 'Enter'),
    ]);
    const first = page.locator('.pagefind-ui__result-link').first();
    await first.waitFor({ timeout: 30_000 });
    const hrefs = await page
      .locator('.pagefind-ui__result-link')
      .evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href));
    assert.ok(hrefs.length > 0, 'search found something');
    // Results are relative to the site's folder and land on pages of the site.
    for (const h of hrefs) {
      const u = new URL(h);
      assert.equal(u.origin, new URL(server.url).origin, h);
      assert.ok(existsSync(join(OUT, u.pathname.slice(1))), `${h} is a page of the site`);
    }
    assert.ok(
      hrefs.some((h) => /\/[0-9]{2}-[a-z0-9-]+\.html/.test(h)),
      `a section of the spec text is among ${hrefs.join(', ')}`,
    );
    await page.screenshot({ path: join(OUT, 'screenshots', 'search.png') });
  } finally {
    await page.close();
  }
});

test('[issue 17] search.html opened from a file says how to search instead of "Searching..." for ever', async () => {
  // A reader who opens site/index.html from disk: pagefind cannot load its index on a file:// page.
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  try {
    await page.goto(`${pathToFileURL(join(OUT, 'search.html')).href}?q=fencing`, { waitUntil: 'load' });
    const note = page.locator('#search .search-offline');
    await note.waitFor({ timeout: 10_000 });
    assert.match((await note.textContent()) ?? '', /served over HTTP.*spec\/site\/serve\.ts/s);
    assert.equal(await note.locator('a[href="spec.html"]').count(), 1, 'it links the one-page text');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});

test('[issue 17] spec.html holds the whole text on one page, every section and requirement anchor included', () => {
  const one = reports.get('spec.html');
  assert.ok(one, 'spec.html was visited (and had no duplicate id, broken link or console error)');
  for (const row of build.report.rows) assert.ok(one.ids.has(`req-${row.req.id}`), `spec.html has req-${row.req.id}`);
  const html = readFileSync(join(OUT, 'spec.html'), 'utf8');
  for (const f of listFiles(OUT, '.', ['.html']).filter((x) => /^[0-9]{2}-[^/]+\.html$/.test(x))) {
    const ids = [...readFileSync(join(OUT, f), 'utf8').matchAll(/<h[1-6] id="([^"]+)"/g)].map((m) => m[1]);
    for (const id of ids)
      assert.ok(one.ids.has(id) || one.ids.has(`${f.replace(/\.html$/, '')}--${id}`), `spec.html has ${f}#${id}`);
  }
  // In-page links only between sections: no link leads back to a page of the multi-page text.
  assert.doesNotMatch(html, /href="[0-9]{2}-[a-z0-9-]+\.html/, 'links between sections stay on the page');
});

/** The text between a requirement's start anchor and its tag: one sentence, starting with its subject. */
function sentenceOf(html: string, id: string): string | null {
  const start = html.indexOf(`<span class="req-start" id="req-${id}"></span>`);
  if (start < 0) return null;
  const tag = html.indexOf(`[${id}]</a>`, start);
  if (tag < 0) return null;
  return html
    .slice(start, tag)
    .replace(/<[^>]+>/g, '')
    .replace(/&[a-z#0-9]+;/g, ' ')
    .replace(/\[[A-Z0-9-]+\]/g, '')
    .trim();
}

test('[issue 17] #req-ID lands at the start of the requirement sentence, not at the tag at its end', async () => {
  const problems: string[] = [];
  for (const row of build.report.rows) {
    const html = readFileSync(join(OUT, row.req.page), 'utf8');
    const sentence = sentenceOf(html, row.req.id);
    if (sentence === null) problems.push(`${row.req.id}: no start anchor before its tag on ${row.req.page}`);
    else if (/[.?!] [A-Z]/.test(sentence.replace(/\b(e\.g|i\.e|cf|vs)\. /g, '')))
      problems.push(`${row.req.id}: the anchor is before another sentence: ${sentence.slice(0, 100)}`);
    else if (sentence.length < 12) problems.push(`${row.req.id}: the anchor is not before its sentence: "${sentence}"`);
  }
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} anchors misplaced`);
  // In the browser: the start of the sentence is in view, below the sticky header.
  const id = build.report.rows.find((r) => r.req.page.startsWith('08-'))?.req.id ?? build.report.rows[0].req.id;
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    const row = build.report.rows.find((r) => r.req.id === id);
    await page.goto(`${server.url}${row?.req.page}#req-${id}`, { waitUntil: 'load' });
    const pos = (await page.evaluate(`(() => {
      const a = document.getElementById('req-${id}').getBoundingClientRect();
      const h = document.querySelector('header.site').getBoundingClientRect();
      return { top: a.top, header: h.bottom, height: innerHeight };
    })()`)) as { top: number; header: number; height: number };
    assert.ok(
      pos.top >= pos.header - 1 && pos.top < pos.height / 2,
      `sentence start at ${pos.top}px, header ends at ${pos.header}px`,
    );
    await page.screenshot({ path: join(OUT, 'screenshots', 'requirement-anchor.png') });
  } finally {
    await page.close();
  }
});

test('[issue 17] every page shows the status block: version, the date of the last spec change, what changed', () => {
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  for (const f of ['index.html', '01-introduction.html', 'grammar.html', 'requirements.html', 'spec.html']) {
    const html = readFileSync(join(OUT, f), 'utf8');
    assert.match(
      html,
      new RegExp(`<div class="status" role="note"><strong>IMSP ${version.replace(/\./g, '\\.')}</strong>`),
      `${f} has the status line`,
    );
  }
  const index = readFileSync(join(OUT, 'index.html'), 'utf8');
  assert.match(index, /<h2 id="status">Status of this document<\/h2>/);
  assert.match(index, /<dt>Date<\/dt><dd><time datetime="[0-9]{4}-[0-9]{2}-[0-9]{2}">/);
  assert.match(index, /<h3 id="changes">What changed<\/h3>\n<ul class="changes">\n<li>/);
});

test('[issue 17] no two edge labels of a state diagram overlap', async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  let diagrams = 0;
  try {
    for (const f of listFiles(OUT, 'diagrams', ['.svg'])) {
      if (!/statediagram/i.test(readFileSync(join(OUT, f), 'utf8').slice(0, 4000))) continue;
      diagrams++;
      await page.goto(server.url + f, { waitUntil: 'load' });
      const boxes = (await page.evaluate(`[...document.querySelectorAll('g.edgeLabel')]
        .map((g) => { const r = g.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height, t: (g.textContent || '').trim() }; })
        .filter((b) => b.w > 1 && b.h > 1)`)) as Array<{ x: number; y: number; w: number; h: number; t: string }>;
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          if (a.x < b.x + b.w - 1 && b.x < a.x + a.w - 1 && a.y < b.y + b.h - 1 && b.y < a.y + a.h - 1)
            problems.push(`${f}: "${a.t}" overlaps "${b.t}"`);
        }
    }
  } finally {
    await page.close();
  }
  assert.ok(diagrams >= 6, `every state machine's diagram was checked (${diagrams})`);
  assert.deepEqual(problems, []);
});

test('screenshots of every page type', async () => {
  const dir = join(OUT, 'screenshots');
  mkdirSync(dir, { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  // One page of each kind a reader meets; the search page and a requirement anchor are shot above.
  const shots: Array<[string, string]> = [
    ['index.png', 'index.html'],
    ['text.png', '08-login-and-logout.html'],
    ['single-page.png', 'spec.html'],
    ['grammar.png', 'grammar.html'],
    ['registry.png', 'methods.html'],
    ['machines.png', 'machines.html'],
    ['requirements.png', 'requirements.html'],
    ['api.png', 'api/index.html'],
  ];
  try {
    for (const [png, file] of shots) {
      await page.goto(server.url + file, { waitUntil: 'load' });
      await page.screenshot({ path: join(dir, png) });
    }
    // The first spec page with a diagram, scrolled to it.
    const withDiagram =
      [...reports.values()].find((r) => /^[0-9]{2}-/.test(r.file) && r.images.some((i) => i.src.includes('/diagrams/')))
        ?.file ?? 'machines.html';
    await page.goto(server.url + withDiagram, { waitUntil: 'load' });
    const fig = page.locator('figure.diagram').first();
    if ((await fig.count()) > 0) await fig.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(dir, 'diagram.png') });
  } finally {
    await page.close();
  }
  for (const [png] of [...shots, ['diagram.png']])
    assert.ok(readFileSync(join(dir, png)).length > 1000, `${png} written`);
});
