// The spec site as a reader sees it: builds the site (or reuses a fresh build), serves site/ on
// 127.0.0.1, opens every HTML page in headless Debian chromium (playwright-core) and fails on a
// broken internal link (missing file or #anchor), an image that does not load (or has no natural
// width), or any console error or page error. Saves screenshots to site/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  for (const f of ['index.html', 'grammar.html', 'methods.html', 'headers.html', 'status-codes.html', 'errors.html', 'limits.html', 'machines.html', 'requirements.html', 'api/index.html', 'style.css'])
    assert.ok(existsSync(join(OUT, f)), `site/${f} exists`);
});

/** The same facts read from the HTML file alone (ids, links, images), for the bulk of typedoc's pages. */
function readStatically(file: string): PageReport {
  const html = readFileSync(join(OUT, file), 'utf8');
  const unescape = (s: string): string => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'");
  const ids = new Set([...html.matchAll(/\s(?:id|name)="([^"]*)"/g)].map((m) => unescape(m[1])));
  const base = server.url + file;
  const links = [...html.matchAll(/<a\b[^>]*?\shref="([^"]*)"/g)].map((m) => ({ href: new URL(unescape(m[1]), base).href, text: '' }));
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
        if (u.protocol === 'http:' || u.protocol === 'https:') problems.push(`${r.file}: external link (the site must work offline): ${l.href}`);
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

test('screenshots of the front page and a diagram page', async () => {
  const dir = join(OUT, 'screenshots');
  mkdirSync(dir, { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    await page.goto(server.url + 'index.html', { waitUntil: 'load' });
    await page.screenshot({ path: join(dir, 'index.png') });
    // The first spec page with a diagram, else the state machines page.
    const withDiagram =
      [...reports.values()].find((r) => /^[0-9]{2}-/.test(r.file) && r.images.some((i) => i.src.includes('/diagrams/')))?.file ?? 'machines.html';
    await page.goto(server.url + withDiagram, { waitUntil: 'load' });
    const fig = page.locator('figure.diagram').first();
    if ((await fig.count()) > 0) await fig.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(dir, 'diagram.png') });
    await page.goto(server.url + 'machines.html', { waitUntil: 'load' });
    await page.screenshot({ path: join(dir, 'machines.png'), fullPage: false });
  } finally {
    await page.close();
  }
  for (const f of ['index.png', 'diagram.png']) assert.ok(readFileSync(join(dir, f)).length > 1000, `${f} written`);
});
