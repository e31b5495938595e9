// Renders mermaid diagrams to SVG with @mermaid-js/mermaid-cli's Node API, reusing one headless
// Debian chromium (puppeteer never downloads a browser: PUPPETEER_SKIP_DOWNLOAD and an explicit
// executablePath). Renders are cached by content hash under node_modules/.cache/imsp-site/mermaid,
// so a rebuild renders only diagrams that changed.

import { existsSync, mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'puppeteer';
import type { Diagram } from './markdown.js';

export const CHROMIUM = process.env.IMSP_CHROMIUM ?? '/usr/bin/chromium';

/** Flags that keep Debian's chromium quiet and offline (see /work/shared/TOOLCHAIN.md). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/**
 * The mermaid configuration of every diagram. Labels as SVG text (htmlLabels false: an <img> cannot show HTML labels), and a font that is
 * installed, so that the widths measured at render time match the text drawn in the <img>.
 */
export const MERMAID_CONFIG = {
  htmlLabels: false,
  flowchart: { htmlLabels: false },
  theme: 'default',
  fontFamily: '"DejaVu Sans", "Liberation Sans", Arial, sans-serif',
  securityLevel: 'strict',
  // Sequence diagrams wrap long messages and notes at the actor spacing, so that a five-actor
  // flow fits a window (about 1200 px) at a legible size instead of growing to 3000 px.
  sequence: {
    wrap: true,
    width: 170,
    actorMargin: 90,
    messageFontSize: 14,
    noteFontSize: 13,
    actorFontSize: 14,
    noteMargin: 8,
  },
} as const;

/**
 * The configuration for one diagram. State diagrams use mermaid's ELK layout (bundled with
 * mermaid-cli 11 through @mermaid-js/layout-elk): dagre piled edge labels on one another
 * ("ADD [blocked-by-peer] ADD REM DENY PEER_BLOCK" in one clump); ELK routes edges orthogonally
 * and places each label beside its own edge, and the browser test checks that no two labels
 * overlap. Parallel transitions are already merged into one edge by the diagram generator.
 */
export function configFor(definition: string): Record<string, unknown> {
  if (/^\s*stateDiagram/.test(definition))
    return { ...MERMAID_CONFIG, layout: 'elk', elk: { nodePlacementStrategy: 'NETWORK_SIMPLEX', mergeEdges: false } };
  return { ...MERMAID_CONFIG };
}

export interface DiagramFailure {
  diagram: Diagram;
  error: string;
}

export interface DiagramStats {
  rendered: number;
  cached: number;
  failures: DiagramFailure[];
  ms: number;
}

/**
 * Gives an SVG explicit width and height from its viewBox. mermaid emits width="100%", which
 * leaves an <img> without a natural size; with explicit dimensions it has one and CSS can scale it.
 */
export function sizeSvg(svg: string): string {
  const open = /<svg\b[^>]*>/.exec(svg);
  if (!open) return svg;
  const vb = /viewBox="\s*([-0-9.eE]+)[\s,]+([-0-9.eE]+)[\s,]+([0-9.eE]+)[\s,]+([0-9.eE]+)\s*"/.exec(open[0]);
  if (!vb) return svg;
  const w = Math.max(1, Math.ceil(Number(vb[3])));
  const h = Math.max(1, Math.ceil(Number(vb[4])));
  let tag = open[0].replace(/\s(width|height)="[^"]*"/g, '');
  tag = tag.replace(/^<svg\b/, `<svg width="${w}" height="${h}"`);
  return svg.slice(0, open.index) + tag + svg.slice(open.index + open[0].length);
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set IMSP_CHROMIUM)`);
  process.env.PUPPETEER_SKIP_DOWNLOAD = '1';
  const { default: puppeteer } = await import('puppeteer');
  return puppeteer.launch({ executablePath: CHROMIUM, headless: 'shell', args: CHROMIUM_FLAGS });
}

/**
 * Writes diagrams/<hash>.svg under outDir for every diagram, from the cache or by rendering.
 * A diagram that fails to render is reported, not thrown; the page shows its source instead.
 */
export async function renderDiagrams(
  diagrams: readonly Diagram[],
  outDir: string,
  cacheDir: string,
  concurrency = 2,
): Promise<DiagramStats> {
  const t0 = Date.now();
  const unique = new Map<string, Diagram>();
  for (const d of diagrams) if (!unique.has(d.hash)) unique.set(d.hash, d);
  const dest = join(outDir, 'diagrams');
  mkdirSync(dest, { recursive: true });
  mkdirSync(cacheDir, { recursive: true });
  const todo: Diagram[] = [];
  let cached = 0;
  for (const d of unique.values()) {
    const c = join(cacheDir, `${d.hash}.svg`);
    if (existsSync(c)) {
      copyFileSync(c, join(dest, `${d.hash}.svg`));
      cached++;
    } else todo.push(d);
  }
  const failures: DiagramFailure[] = [];
  if (todo.length === 0) return { rendered: 0, cached, failures, ms: Date.now() - t0 };

  const { renderMermaid } = await import('@mermaid-js/mermaid-cli');
  const browser = await launchBrowser();
  let rendered = 0;
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= todo.length) return;
        const d = todo[i];
        try {
          const r = await withTimeout(
            renderMermaid(browser, d.definition, 'svg', {
              backgroundColor: 'white',
              mermaidConfig: configFor(d.definition),
            }),
            60_000,
            `diagram ${d.hash} (${d.origin})`,
          );
          const svg = sizeSvg(Buffer.from(r.data).toString('utf8'));
          writeFileSync(join(cacheDir, `${d.hash}.svg`), svg);
          writeFileSync(join(dest, `${d.hash}.svg`), svg);
          rendered++;
        } catch (e) {
          failures.push({
            diagram: d,
            error: e instanceof Error ? e.message.split('\n').slice(0, 6).join('\n') : String(e),
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, todo.length)) }, () => worker()));
  } finally {
    await browser.close();
  }
  return { rendered, cached, failures, ms: Date.now() - t0 };
}

/** True when the cached SVG of a diagram exists (used by tests and the freshness check). */
export function isCached(cacheDir: string, hash: string): boolean {
  return existsSync(join(cacheDir, `${hash}.svg`));
}

export function readCached(cacheDir: string, hash: string): string {
  return readFileSync(join(cacheDir, `${hash}.svg`), 'utf8');
}
