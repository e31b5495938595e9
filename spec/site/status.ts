// The status block of the spec site, as Bikeshed and the RFC Editor put one at the top of a
// document: which version this is, when its normative sources last changed, and what changed.
//
// The date is the commit date of the last change to spec/ or grammar/ (not the build time), so
// two builds of one commit are identical. "What changed" lists the newest commits that touched
// the normative text or the registries. Outside a git checkout (a source tarball) the block
// says so instead of inventing a date.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml } from './anchors.js';

export interface SpecChange {
  date: string;
  hash: string;
  subject: string;
}

export interface SiteStatus {
  version: string;
  /** YYYY-MM-DD of the last commit touching spec/ or grammar/, or null outside git. */
  date: string | null;
  /** Abbreviated hash of that commit. */
  commit: string | null;
  changes: SpecChange[];
}

/** The normative sources whose history is the spec's history. */
const SPEC_PATHS = ['spec/text', 'spec/registry', 'spec/machines', 'grammar/imsp.peggy'];

function git(root: string, args: string[]): string | null {
  try {
    return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function readStatus(root: string, maxChanges = 12): SiteStatus {
  let version = 'unversioned';
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') version = pkg.version;
  } catch {
    // A tree without package.json (the site builder's own tests) is unversioned.
  }
  const log = git(root, ['log', `-${maxChanges}`, '--format=%cs%x09%h%x09%s', '--', ...SPEC_PATHS]);
  const changes: SpecChange[] = [];
  for (const line of (log ?? '').split('\n')) {
    const [date, hash, ...rest] = line.split('\t');
    const subject = rest.join('\t');
    // Commit subjects here can be long: the first clause, cut at a word near 140 characters.
    if (date && hash)
      changes.push({
        date,
        hash,
        subject: subject.length <= 140 ? subject : `${subject.slice(0, 140).replace(/\s+\S*$/, '')} …`,
      });
  }
  return { version, date: changes[0]?.date ?? null, commit: changes[0]?.hash ?? null, changes };
}

/** The one-line block shown under the header of every page. */
export function statusLine(s: SiteStatus): string {
  const when = s.date ? `<time datetime="${s.date}">${s.date}</time>` : 'date unknown (not built from a git checkout)';
  const commit = s.commit ? ` <span class="commit">(${escapeHtml(s.commit)})</span>` : '';
  return `<div class="status" role="note"><strong>IMSP ${escapeHtml(s.version)}</strong> &middot; Editor's draft of ${when}${commit} &middot; <a href="index.html#changes">what changed</a></div>`;
}

/** The full block of the front page: version, date and the newest changes to the normative sources. */
export function statusSection(s: SiteStatus): string {
  const out = [
    '<section class="status-block" aria-labelledby="status">',
    '<h2 id="status">Status of this document</h2>',
  ];
  out.push(
    `<dl><dt>Version</dt><dd>${escapeHtml(s.version)}</dd><dt>Date</dt><dd>${s.date ? `<time datetime="${s.date}">${s.date}</time>` : 'unknown (not built from a git checkout)'}</dd>` +
      `<dt>Maturity</dt><dd>Editor's draft: the reference implementation and the conformance kit track this text; it may still change incompatibly.</dd></dl>`,
  );
  out.push('<h3 id="changes">What changed</h3>');
  if (s.changes.length === 0) out.push('<p class="missing">No history available (not built from a git checkout).</p>');
  else {
    out.push('<ul class="changes">');
    for (const c of s.changes)
      out.push(
        `<li><time datetime="${c.date}">${c.date}</time> <code>${escapeHtml(c.hash)}</code> ${escapeHtml(c.subject)}</li>`,
      );
    out.push('</ul>');
  }
  out.push('</section>');
  return out.join('\n');
}
