// Renders the spec text (spec/text/NN-slug.md) with marked: numbered headings with stable anchors,
// mermaid blocks as <img> of SVGs rendered later, other code blocks escaped, links to .md files
// turned into links to their pages.

import { createHash } from 'node:crypto';
import { Marked, type Tokens } from 'marked';
import { AnchorSet, escapeHtml, headingAnchor, pageForSource, splitHeadingNumber } from './anchors.js';

export interface Heading {
  depth: number;
  /** Section number, or null when unnumbered. */
  number: string | null;
  /** Full heading text as written ("5.3. LOGIN"), plain. */
  text: string;
  title: string;
  anchor: string;
}

export interface Diagram {
  /** Content hash; the SVG is diagrams/<hash>.svg. */
  hash: string;
  definition: string;
  /** Where it came from, for error messages. */
  origin: string;
  alt: string;
}

export interface RenderedPage {
  source: string;
  page: string;
  title: string;
  headings: Heading[];
  /** Body HTML before cross-linking. */
  html: string;
  diagrams: Diagram[];
}

/** Bumped whenever the diagram rendering options change, so cached SVGs are redone. */
export const DIAGRAM_RENDER_VERSION = 'mermaid-11/htmlLabels-false/default-theme/dejavu/wrap-170-90/state-elk/v4';

export function diagramHash(definition: string): string {
  return createHash('sha256')
    .update(DIAGRAM_RENDER_VERSION)
    .update('\0')
    .update(definition.trim())
    .digest('hex')
    .slice(0, 20);
}

export function diagramKind(definition: string): string {
  const first = definition.trim().split('\n')[0].trim();
  if (/^sequenceDiagram/.test(first)) return 'Sequence diagram';
  if (/^stateDiagram/.test(first)) return 'State diagram';
  if (/^(flowchart|graph)\b/.test(first)) return 'Flowchart';
  if (/^classDiagram/.test(first)) return 'Class diagram';
  return 'Diagram';
}

/** The diagram's own title (a `title ...` or `accTitle: ...` line), if any. */
export function diagramTitle(definition: string): string | null {
  const m = /^\s*(?:title\s+|accTitle\s*:\s*)(.+)$/m.exec(definition);
  return m ? m[1].trim() : null;
}

export function figureHtml(d: Diagram, caption: string | null): string {
  return `<figure class="diagram"><a href="diagrams/${d.hash}.svg"><img src="diagrams/${d.hash}.svg" alt="${escapeHtml(d.alt)}" loading="eager"></a>${
    caption ? `<figcaption>${escapeHtml(caption)}</figcaption>` : ''
  }</figure>`;
}

/** Rewrites a link target written against the Markdown sources to the rendered site. */
export function rewriteHref(href: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#') || href.startsWith('/')) return href;
  const m = /^(?:\.\/)?(?:.*\/)?([^/#?]+)\.md(#.*)?$/.exec(href);
  if (m && /^[0-9]{2}-/.test(m[1])) return `${m[1]}.html${m[2] ?? ''}`;
  return href;
}

export function renderMarkdown(markdown: string, source: string): RenderedPage {
  const page = pageForSource(source);
  const anchors = new AnchorSet();
  const headings: Heading[] = [];
  const diagrams: Diagram[] = [];
  let current = '';
  const marked = new Marked({ gfm: true });
  marked.use({
    renderer: {
      heading(this: { parser: { parseInline(t: Tokens.Heading['tokens']): string } }, token: Tokens.Heading): string {
        const inner = this.parser.parseInline(token.tokens);
        const plain = token.text.replace(/[`*_]/g, '');
        const { number, title } = splitHeadingNumber(plain);
        const anchor = anchors.unique(headingAnchor(plain));
        headings.push({ depth: token.depth, number, text: plain, title, anchor });
        current = plain;
        return `<h${token.depth} id="${anchor}">${inner} <a class="self" href="#${anchor}" aria-label="Link to this section" data-pagefind-ignore>&para;</a></h${token.depth}>\n`;
      },
      code(token: Tokens.Code): string {
        const lang = (token.lang ?? '').trim().split(/\s+/)[0];
        if (lang === 'mermaid') {
          const hash = diagramHash(token.text);
          const title = diagramTitle(token.text);
          const alt = `${diagramKind(token.text)}${title ? `: ${title}` : current ? ` in ${current}` : ''}`;
          const d: Diagram = { hash, definition: token.text, origin: `${source} (${current || 'top'})`, alt };
          diagrams.push(d);
          return figureHtml(d, title) + '\n';
        }
        const cls = lang ? ` class="language-${escapeHtml(lang)}"` : '';
        return `<pre><code${cls}>${escapeHtml(token.text)}</code></pre>\n`;
      },
      link(this: { parser: { parseInline(t: Tokens.Link['tokens']): string } }, token: Tokens.Link): string {
        const inner = this.parser.parseInline(token.tokens);
        const title = token.title ? ` title="${escapeHtml(token.title)}"` : '';
        return `<a href="${escapeHtml(rewriteHref(token.href))}"${title}>${inner}</a>`;
      },
      html(token: Tokens.HTML | Tokens.Tag): string {
        // Comments are dropped; other raw HTML in the spec text is shown as text, so the site
        // says what the Markdown says.
        if (/^\s*<!--[\s\S]*-->\s*$/.test(token.text)) return '';
        return escapeHtml(token.text);
      },
    },
  });
  const html = marked.parse(markdown.replace(/\r\n?/g, '\n'), { async: false }) as string;
  const h1 = headings.find((h) => h.depth === 1) ?? headings[0];
  return { source, page, title: h1 ? h1.text : page.replace(/\.html$/, ''), headings, html, diagrams };
}
