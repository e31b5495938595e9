// `make site`: builds the static, offline IMSP specification site under site/.
//
//   node --import tsx spec/site/build.ts [--out DIR] [--cache DIR] [--force] [--no-typedoc] [--no-diagrams]
//
// Inputs: spec/text/NN-slug.md (rendered with marked), spec/registry/*.json, grammar/imsp.peggy,
// spec/machines/*.json and generated/diagrams/*.mmd, generated/requirements.json,
// spec/exceptions.json, test/**/*.ts and conformance/**/*.ts (requirement citations), typedoc.json.
// Outputs: index.html, one page per spec file, grammar.html, methods/headers/status-codes/errors/
// limits.html, machines.html, requirements.html, diagrams/*.svg, api/ (typedoc), style.css.
// A rebuild with unchanged inputs is skipped (site/.build.json); diagrams are cached by content
// hash (node_modules/.cache/imsp-site/mermaid) and the API reference by its inputs.

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { escapeHtml, machineAnchor, reqAnchor } from './anchors.js';
import { layout, linkify, sectionHref, type LinkContext, type NavItem } from './html.js';
import { diagramHash, figureHtml, renderMarkdown, type Diagram, type RenderedPage } from './markdown.js';
import { renderDiagrams, type DiagramFailure } from './mermaid.js';
import {
  errorsPage,
  grammarPage,
  headersPage,
  limitsPage,
  machineMermaid,
  machineSection,
  methodsPage,
  requirementsPage,
  statusPage,
  type Linker,
  type MachineDef,
  type Registries,
} from './pages.js';
import { loadKitCaseMap } from './coverage.js';
import { buildReport, listFiles, loadRequirementData, loadSpecSources, stripStamp, type Report } from './scan.js';
import { buildApiDocs, type TypedocResult } from './typedoc.js';
import { withSiteLock } from './lock.js';
import { anchorRequirementsAtSentenceStart } from './req-anchors.js';
import { buildSearchIndex, searchPage } from './search.js';
import { singlePage, type SinglePageSource } from './single-page.js';
import { readStatus, statusLine, statusSection } from './status.js';
import { modelPages } from './model.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, '../..');

export interface BuildOptions {
  root?: string;
  /** Output directory (default <root>/site). */
  out?: string;
  /** Diagram cache (default <root>/node_modules/.cache/imsp-site/mermaid). */
  cacheDir?: string;
  /** Rebuild even when the inputs are unchanged. */
  force?: boolean;
  /** Build the API reference (default); 'reuse' keeps an existing site/api/ even if its sources changed (the browser test uses it: typedoc is the slow part, and its pages' links do not depend on the spec). */
  typedoc?: boolean | 'reuse';
  diagrams?: boolean;
  log?: (line: string) => void;
}

export interface BuildResult {
  /** False when the previous build was still fresh and nothing was written. */
  built: boolean;
  out: string;
  pages: string[];
  diagrams: { total: number; rendered: number; cached: number; failures: DiagramFailure[] };
  typedoc: TypedocResult | null;
  report: Report;
  warnings: string[];
  ms: number;
}

// ---------------------------------------------------------------------------------------------

const INPUT_DIRS: Array<[string, string[]]> = [
  ['spec/text', ['.md']],
  ['spec/registry', ['.json']],
  ['spec/machines', ['.json']],
  ['spec/site', ['.ts', '.css']],
  ['spec/model', ['.json']],
  ['grammar', ['.peggy']],
  ['generated/diagrams', ['.mmd']],
  ['test', ['.ts']],
  ['conformance', ['.ts']],
  ['generated', ['.ts']],
  ['codec', ['.ts']],
  ['reference', ['.ts']],
];
const INPUT_FILES = [
  'generated/imsp.abnf',
  'generated/requirements.json',
  'spec/exceptions.json',
  'typedoc.json',
  'spec/model/mutants.json',
];

/** Hash of every input of the site: equal hashes mean the previous build is still fresh. */
export function siteInputsHash(root: string, opts: Pick<BuildOptions, 'typedoc' | 'diagrams'> = {}): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ typedoc: opts.typedoc !== false, diagrams: opts.diagrams !== false }));
  const files = new Set<string>();
  for (const [dir, suffixes] of INPUT_DIRS) {
    // With typedoc: 'reuse', generated/ is not an input (reference/ still is: its citations are).
    if (opts.typedoc === 'reuse' && (dir === 'generated' || dir === 'codec')) continue;
    for (const f of listFiles(root, dir, suffixes)) files.add(f);
  }
  for (const f of INPUT_FILES) if (existsSync(join(root, f))) files.add(f);
  for (const f of [...files].sort()) {
    h.update(f);
    h.update('\0');
    h.update(readFileSync(join(root, f)));
    h.update('\0');
  }
  return h.digest('hex');
}

function readJson<T>(root: string, rel: string, fallback: T): T {
  const p = join(root, rel);
  if (!existsSync(p)) return fallback;
  try {
    return JSON.parse(stripStamp(readFileSync(p, 'utf8'))) as T;
  } catch (e) {
    throw new Error(`${rel}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function loadRegistries(root: string): Registries {
  return {
    methods: readJson(root, 'spec/registry/methods.json', { methods: [] }),
    headers: readJson(root, 'spec/registry/headers.json', { headers: [] }),
    types: readJson(root, 'spec/registry/value-types.json', { types: {} }),
    statusCodes: readJson(root, 'spec/registry/status-codes.json', { statusCodes: [] }),
    errors: readJson(root, 'spec/registry/errors.json', { errors: [] }),
    limits: readJson(root, 'spec/registry/limits.json', { limits: [] }),
  };
}

function loadMachines(root: string, warnings: string[]): MachineDef[] {
  const out: MachineDef[] = [];
  for (const f of listFiles(root, 'spec/machines', ['.json'])) {
    try {
      const m = JSON.parse(readFileSync(join(root, f), 'utf8')) as MachineDef;
      if (typeof m.name !== 'string' || !Array.isArray(m.states) || !Array.isArray(m.transitions)) {
        warnings.push(`${f}: not a state machine (needs name, states, transitions); skipped`);
        continue;
      }
      out.push(m);
    } catch (e) {
      warnings.push(`${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}

function diagramError(d: Diagram, error: string): string {
  return `<div class="diagram-error" role="note"><p><strong>This diagram failed to render</strong> (${escapeHtml(d.origin)}): ${escapeHtml(error)}</p><pre><code>${escapeHtml(d.definition)}</code></pre></div>`;
}

function localToc(p: RenderedPage): string {
  const items = p.headings.filter((h) => h.depth >= 2 && h.depth <= 3);
  if (items.length < 2) return '';
  const out = [
    `<nav class="toc${items.length > 14 ? ' long' : ''}" aria-label="On this page"><h2>On this page</h2><ul>`,
  ];
  let depth = 2;
  let first = true;
  for (const h of items) {
    if (h.depth > depth) out.push('<ul>');
    else if (h.depth < depth) out.push('</li></ul></li>');
    else if (!first) out.push('</li>');
    depth = h.depth;
    first = false;
    out.push(
      `<li><a href="#${h.anchor}">${h.number ? `<span class="num">${escapeHtml(h.number)}</span> ` : ''}${escapeHtml(h.title)}</a>`,
    );
  }
  out.push('</li>');
  while (depth > 2) {
    out.push('</ul></li>');
    depth--;
  }
  out.push('</ul></nav>');
  return out.join('');
}

function siteToc(pages: readonly RenderedPage[]): string {
  const out = ['<ul>'];
  for (const p of pages) {
    const top = p.headings.find((h) => h.depth === 1) ?? p.headings[0];
    const label = top
      ? `${top.number ? `<span class="num">${escapeHtml(top.number)}</span> ` : ''}${escapeHtml(top.title)}`
      : escapeHtml(p.page);
    out.push(`<li><a href="${p.page}${top ? `#${top.anchor}` : ''}">${label}</a>`);
    const subs = p.headings.filter((h) => h.depth === 2);
    if (subs.length > 0) {
      out.push('<ul>');
      for (const h of subs)
        out.push(
          `<li><a href="${p.page}#${h.anchor}">${h.number ? `<span class="num">${escapeHtml(h.number)}</span> ` : ''}${escapeHtml(h.title)}</a></li>`,
        );
      out.push('</ul>');
    }
    out.push('</li>');
  }
  out.push('</ul>');
  return out.join('');
}

// ---------------------------------------------------------------------------------------------

/** Builds the site, holding the lock of its output directory (see lock.ts). */
export async function buildSite(opts: BuildOptions = {}): Promise<BuildResult> {
  const out = opts.out ?? join(opts.root ?? REPO_ROOT, 'site');
  return withSiteLock(out, () => buildUnlocked(opts));
}

async function buildUnlocked(opts: BuildOptions): Promise<BuildResult> {
  const t0 = Date.now();
  const root = opts.root ?? REPO_ROOT;
  const out = opts.out ?? join(root, 'site');
  const cacheDir = opts.cacheDir ?? join(root, 'node_modules/.cache/imsp-site/mermaid');
  const log = opts.log ?? ((): void => undefined);
  const warnings: string[] = [];

  const stampPath = join(out, '.build.json');
  const hash = siteInputsHash(root, opts);
  const sources = loadSpecSources(root);
  const data = loadRequirementData(root, sources);
  const report = buildReport({ ...data, kitCases: await loadKitCaseMap(root) });
  if (!opts.force && existsSync(stampPath)) {
    try {
      const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { hash?: string; pages?: string[]; ok?: boolean };
      if (stamp.hash === hash && stamp.ok === true && Array.isArray(stamp.pages)) {
        log('site is up to date (inputs unchanged)');
        return {
          built: false,
          out,
          pages: stamp.pages,
          diagrams: { total: 0, rendered: 0, cached: 0, failures: [] },
          typedoc: null,
          report,
          warnings,
          ms: Date.now() - t0,
        };
      }
    } catch {
      // A damaged stamp means a rebuild.
    }
  }

  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(out)) if (f.endsWith('.html')) rmSync(join(out, f));
  rmSync(join(out, 'diagrams'), { recursive: true, force: true });
  rmSync(stampPath, { force: true });

  // 1. Spec text.
  const rendered = sources.map((s) => renderMarkdown(s.markdown, s.source));
  const R = loadRegistries(root);

  // 2. What links need to know.
  const sectionPage = new Map<string, string>();
  for (const p of rendered)
    for (const h of p.headings) if (h.number && !sectionPage.has(h.number)) sectionPage.set(h.number, p.page);
  const reqPage = new Map(data.requirements.map((r) => [r.id, r.page] as const));
  const anchorPage = new Map<string, string>();
  for (const p of rendered) for (const h of p.headings) if (!anchorPage.has(h.anchor)) anchorPage.set(h.anchor, p.page);
  const reqOrdinal = new Map(data.requirements.map((r) => [r.id, r.ordinal] as const));
  const ctxFor = (page: string): LinkContext => ({
    page,
    reqPage,
    reqOrdinal,
    sectionPage,
    methods: new Set(R.methods.methods.map((m) => m.name)),
    errors: new Set(R.errors.errors.map((e) => e.code)),
    headers: new Map(R.headers.headers.map((h) => [h.name.toLowerCase(), h.name] as const)),
    anchorPage,
  });
  const headingsByTitle = rendered.flatMap((p) => p.headings.filter((h) => h.depth >= 2).map((h) => ({ p, h })));
  const L: Linker = {
    req: (id) => (reqPage.has(id) ? `${reqPage.get(id)}#${reqAnchor(id)}` : `requirements.html#${reqAnchor(id)}`),
    knownReq: (id) => reqPage.has(id),
    section: (n) => sectionHref(n, { page: '', sectionPage }),
    methodSection: (name) => {
      const exact = headingsByTitle.find(({ h }) => h.title === name || h.title.replace(/[`*]/g, '') === name);
      const loose =
        exact ??
        headingsByTitle.find(({ h }) =>
          new RegExp(`^${name.replace(/[-]/g, '\\-')}\\b(?![-])`).test(h.title.replace(/[`*]/g, '')),
        );
      if (!loose) return null;
      return { href: `${loose.p.page}#${loose.h.anchor}`, label: `Section ${loose.h.number ?? loose.h.title}` };
    },
  };

  // 3. State machines and their diagrams.
  const machines = loadMachines(root, warnings);
  const machineDiagrams: Array<{ machine: MachineDef | null; name: string; diagram: Diagram }> = [];
  const mmdFiles = listFiles(root, 'generated/diagrams', ['.mmd']);
  const mmdByName = new Map(
    mmdFiles.map(
      (f) =>
        [
          f
            .split('/')
            .pop()
            ?.replace(/\.mmd$/, '') ?? f,
          f,
        ] as const,
    ),
  );
  for (const m of machines) {
    const f = mmdByName.get(m.name);
    const definition = f ? stripStamp(readFileSync(join(root, f), 'utf8')) : machineMermaid(m);
    machineDiagrams.push({
      machine: m,
      name: m.name,
      diagram: {
        hash: diagramHash(definition),
        definition,
        origin: f ?? `spec/machines/${m.name}.json`,
        alt: `State diagram: ${m.title ?? m.name}`,
      },
    });
  }
  for (const [name, f] of mmdByName) {
    if (machines.some((m) => m.name === name)) continue;
    const definition = stripStamp(readFileSync(join(root, f), 'utf8'));
    machineDiagrams.push({
      machine: null,
      name,
      diagram: { hash: diagramHash(definition), definition, origin: f, alt: `State diagram: ${name}` },
    });
  }

  // 4. Diagrams to SVG.
  const modelPageList = modelPages(root); // issue 18: model.html and a page per checked property
  const allDiagrams = [
    ...rendered.flatMap((p) => p.diagrams),
    ...machineDiagrams.map((m) => m.diagram),
    ...modelPageList.flatMap((p) => p.diagrams),
  ];
  let dstats = { rendered: 0, cached: 0, failures: [] as DiagramFailure[] };
  if (opts.diagrams !== false && allDiagrams.length > 0) {
    log(`rendering ${allDiagrams.length} diagrams`);
    const s = await renderDiagrams(allDiagrams, out, cacheDir);
    dstats = s;
    log(`diagrams: ${s.rendered} rendered, ${s.cached} from cache, ${s.failures.length} failed (${s.ms} ms)`);
  }
  const failed = new Map(dstats.failures.map((f) => [f.diagram.hash, f.error] as const));
  if (opts.diagrams === false)
    for (const d of allDiagrams) failed.set(d.hash, 'diagram rendering was disabled (--no-diagrams)');
  const withFigures = (html: string, diagrams: readonly Diagram[]): string => {
    let s = html;
    for (const d of diagrams) {
      const err = failed.get(d.hash);
      if (err === undefined) continue;
      const re = new RegExp(`<figure class="diagram"><a href="diagrams/${d.hash}\\.svg">[\\s\\S]*?</figure>`, 'g');
      s = s.replace(re, diagramError(d, err));
    }
    return s;
  };

  // 5. Pages.
  const pages: string[] = [];
  const siteStatus = readStatus(root);
  const status = statusLine(siteStatus);
  const write = (
    file: string,
    title: string,
    body: string,
    prev?: NavItem,
    next?: NavItem,
    searchable = true,
  ): void => {
    writeFileSync(join(out, file), layout({ file, title, body, prev, next, status, searchable }));
    pages.push(file);
  };
  const onePage: SinglePageSource[] = [];
  copyFileSync(join(HERE, 'style.css'), join(out, 'style.css'));

  rendered.forEach((p, i) => {
    const prev =
      i > 0 ? { href: rendered[i - 1].page, label: rendered[i - 1].title } : { href: 'index.html', label: 'Contents' };
    const next =
      i + 1 < rendered.length
        ? { href: rendered[i + 1].page, label: rendered[i + 1].title }
        : { href: 'grammar.html', label: 'Grammar' };
    let body = withFigures(p.html, p.diagrams);
    body = anchorRequirementsAtSentenceStart(linkify(body, ctxFor(p.page)));
    const top = p.headings.find((h) => h.depth === 1) ?? p.headings[0];
    onePage.push({ page: p.page, title: p.title, topAnchor: top ? top.anchor : null, html: body });
    // The local table of contents goes right after the page's first heading.
    const toc = localToc(p);
    const h1End = body.indexOf('</h1>');
    body = h1End >= 0 ? body.slice(0, h1End + 5) + '\n' + toc + body.slice(h1End + 5) : toc + body;
    write(p.page, p.title, body, prev, next);
  });

  write('spec.html', 'The specification on one page', singlePage(onePage), undefined, undefined, false);
  write('search.html', 'Search', searchPage(), undefined, undefined, false);

  const grammarPath = join(root, 'grammar/imsp.peggy');
  const abnfPath = join(root, 'generated/imsp.abnf');
  write(
    'grammar.html',
    'Grammar',
    grammarPage(
      existsSync(grammarPath) ? readFileSync(grammarPath, 'utf8') : null,
      L,
      existsSync(abnfPath) ? readFileSync(abnfPath, 'utf8') : null,
    ),
  );
  write('methods.html', 'Methods', methodsPage(R, L));
  write('headers.html', 'Headers', headersPage(R, L));
  write('status-codes.html', 'Status codes', statusPage(R, L));
  write('errors.html', 'Error codes', errorsPage(R, L));
  write('limits.html', 'Limits', limitsPage(R, L));

  const machineBody = ['<h1>State machines</h1>'];
  machineBody.push(
    '<p class="lede">The state machines of IMSP as data (<code>spec/machines/*.json</code>); <code>make generate</code> turns them into typed transition tables (<code>generated/machines.ts</code>) and the diagrams below. Transitions are tried in table order; the first whose state, event and guard match is taken.</p>',
  );
  if (machineDiagrams.length === 0) machineBody.push('<p class="missing">No state machine is defined yet.</p>');
  else {
    machineBody.push('<nav class="toc"><h2>Machines</h2><ul>');
    for (const md of machineDiagrams)
      machineBody.push(`<li><a href="#${machineAnchor(md.name)}">${escapeHtml(md.machine?.title ?? md.name)}</a></li>`);
    machineBody.push('</ul></nav>');
  }
  for (const md of machineDiagrams) {
    const fig = withFigures(figureHtml(md.diagram, null), [md.diagram]);
    if (md.machine) machineBody.push(machineSection(md.machine, fig, L));
    else
      machineBody.push(
        `<section class="machine" id="${machineAnchor(md.name)}"><h2>${escapeHtml(md.name)}</h2>${fig}</section>`,
      );
  }
  write('machines.html', 'State machines', machineBody.join('\n'));
  for (const mp of modelPageList) write(mp.file, mp.title, withFigures(mp.body, mp.diagrams));

  const notes: string[] = [];
  if (!data.fromGenerated)
    notes.push('generated/requirements.json is absent: requirements were extracted from spec/text directly.');
  if (data.generatedOnly.length > 0)
    notes.push(
      `generated/requirements.json lists IDs the text does not contain (stale? run make generate): ${data.generatedOnly.join(', ')}`,
    );
  // Cross-linked like the text: "Section 11.2", error codes and IDs in the sentences become links.
  write(
    'requirements.html',
    'Requirement index',
    linkify(requirementsPage(report, L, notes), ctxFor('requirements.html')),
  );

  // 6. API reference.
  let typedoc: TypedocResult | null = null;
  if (opts.typedoc !== false) {
    try {
      typedoc = await buildApiDocs(root, join(out, 'api'), {
        force: opts.force === true,
        reuse: opts.typedoc === 'reuse',
      });
      log(`api: ${typedoc.message}`);
      if (!typedoc.ok) warnings.push(`typedoc: ${typedoc.message}`);
    } catch (e) {
      warnings.push(`typedoc failed: ${e instanceof Error ? e.message : String(e)}`);
      typedoc = { ran: true, ok: false, entryPoints: [], message: 'failed' };
    }
  }
  if (!existsSync(join(out, 'api/index.html'))) {
    mkdirSync(join(out, 'api'), { recursive: true });
    writeFileSync(
      join(out, 'api/index.html'),
      layout({
        file: 'api/index.html',
        title: 'API reference',
        body: '<h1>API reference</h1><p>The API reference was not built (<code>--no-typedoc</code> or typedoc failed).</p>',
      }).replace(/href="(?!data:|#|https?:)([^"]+)"/g, 'href="../$1"'),
    );
  }

  // 7. The front page.
  const c = report.counts;
  const intro = rendered[0];
  const index: string[] = [];
  index.push('<h1>IMSP specification</h1>');
  index.push(
    '<p class="lede">IMSP is the formal, executable specification of a hybrid instant-messaging protocol: one Central Repository Server (CRS), Messaging Servers (MS) that enroll with it and authenticate clients, and clients that talk peer to peer. This site renders the normative text, the grammar, the registries, the state machines, the requirement index and the API reference of the generated codec, the reference implementation and the conformance kit.</p>',
  );
  index.push('<div class="cards">');
  if (intro)
    index.push(
      `<a href="${intro.page}"><strong>Read the specification</strong>Start at ${escapeHtml(intro.title)}.</a>`,
    );
  index.push('<a href="grammar.html"><strong>Grammar</strong>The wire syntax, rule by rule.</a>');
  index.push('<a href="methods.html"><strong>Methods</strong>Every method per link: headers, body, responses.</a>');
  index.push('<a href="headers.html"><strong>Headers</strong>Every header and the syntax of its value.</a>');
  index.push('<a href="status-codes.html"><strong>Status codes</strong>What each status means.</a>');
  index.push('<a href="errors.html"><strong>Error codes</strong>Stable codes, status, reason, requirement.</a>');
  index.push('<a href="limits.html"><strong>Limits</strong>Every size and rate, with defaults.</a>');
  index.push('<a href="machines.html"><strong>State machines</strong>States, events, guards, transitions.</a>');
  index.push(
    `<a href="requirements.html"><strong>Requirement index</strong>${c.total} requirements, ${c.tested} cited by tests.</a>`,
  );
  index.push('<a href="api/index.html"><strong>API reference</strong>typedoc of the codec, reference and kit.</a>');
  index.push('</div>');
  // Links written as index.html#req-ID (the conformance kit's HTML report, for one) land on the index entry.
  index.push(
    `<script>if (/^#req-[A-Z0-9-]+$/.test(location.hash)) location.replace('requirements.html' + location.hash);</script>`,
  );
  index.push(statusSection(siteStatus));
  index.push(
    `<nav class="toc" aria-label="Table of contents"><h2 id="contents">Table of contents</h2>${rendered.length > 0 ? siteToc(rendered) : '<p class="missing">spec/text/ has no sections yet.</p>'}</nav>`,
  );
  writeFileSync(
    join(out, 'index.html'),
    layout({
      file: 'index.html',
      title: 'Contents',
      body: index.join('\n'),
      status,
      next: intro ? { href: intro.page, label: intro.title } : undefined,
    }),
  );
  pages.unshift('index.html');

  // 8. The search index, over the pages written above (typedoc's and the single page excluded).
  const search = await buildSearchIndex(out);
  log(`search: ${search.pages} pages indexed`);
  for (const e of search.errors) warnings.push(`pagefind: ${e}`);
  if (search.pages === 0) warnings.push('pagefind indexed no page');

  for (const f of dstats.failures) warnings.push(`diagram failed: ${f.diagram.origin}: ${f.error.split('\n')[0]}`);
  const ok = dstats.failures.length === 0 && opts.diagrams !== false;
  writeFileSync(stampPath, JSON.stringify({ hash, ok, pages }, null, 1));
  return {
    built: true,
    out,
    pages,
    diagrams: {
      total: new Set(allDiagrams.map((d) => d.hash)).size,
      rendered: dstats.rendered,
      cached: dstats.cached,
      failures: dstats.failures,
    },
    typedoc,
    report,
    warnings,
    ms: Date.now() - t0,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<number> {
  const outIdx = argv.indexOf('--out');
  const cacheIdx = argv.indexOf('--cache');
  const res = await buildSite({
    out: outIdx >= 0 ? resolve(argv[outIdx + 1] ?? 'site') : undefined,
    cacheDir: cacheIdx >= 0 ? resolve(argv[cacheIdx + 1] ?? '.cache') : undefined,
    force: argv.includes('--force'),
    typedoc: !argv.includes('--no-typedoc'),
    diagrams: !argv.includes('--no-diagrams'),
    log: (l) => process.stdout.write(`site: ${l}\n`),
  });
  for (const w of res.warnings) process.stderr.write(`site: warning: ${w}\n`);
  const c = res.report.counts;
  process.stdout.write(
    `site: ${res.built ? 'built' : 'fresh'} ${res.out}: ${res.pages.length} pages, ${res.diagrams.total} diagrams, ${c.total} requirements (${c.tested} tested), ${res.ms} ms\n`,
  );
  return res.diagrams.failures.length > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`site: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
