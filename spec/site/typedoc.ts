// The API reference: typedoc over the public modules named in typedoc.json (entry points that do
// not exist yet are skipped), written to site/api/. Skipped when its inputs have not changed.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles } from './scan.js';

export interface TypedocResult {
  ran: boolean;
  ok: boolean;
  entryPoints: string[];
  message: string;
}

interface TypedocConfig {
  entryPoints?: string[];
}

/** Expands typedoc.json's entry points: literal paths that exist, and `dir/*\/file` patterns. */
export function resolveEntryPoints(root: string, patterns: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of patterns) {
    const star = p.indexOf('*');
    if (star < 0) {
      if (existsSync(join(root, p))) out.push(p);
      continue;
    }
    // One '*' standing for one directory level: prefix/*/suffix.
    const m = /^(.*?)\/?\*\/(.+)$/.exec(p);
    if (!m) continue;
    const [, prefix, suffix] = m;
    const candidates = listFiles(root, prefix, [suffix.split('/').pop() ?? suffix]);
    for (const c of candidates) {
      const rest = c.slice(prefix.length + 1);
      const parts = rest.split('/');
      if (parts.length === suffix.split('/').length + 1 && parts.slice(1).join('/') === suffix) out.push(c);
    }
  }
  return [...new Set(out)].sort();
}

function inputsHash(root: string, entryPoints: readonly string[]): string {
  const h = createHash('sha256');
  h.update(readFileSync(join(root, 'typedoc.json')));
  h.update(entryPoints.join('\n'));
  for (const dir of ['generated', 'codec', 'reference', 'conformance']) {
    for (const f of listFiles(root, dir, ['.ts'])) {
      h.update(f);
      h.update(readFileSync(join(root, f)));
    }
  }
  return h.digest('hex');
}

function placeholder(outDir: string, message: string): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, 'index.html'),
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>API reference &mdash; IMSP</title><link rel="icon" href="data:,"><link rel="stylesheet" href="../style.css"></head><body><main><h1>API reference</h1><p>${message}</p><p><a href="../index.html">Back to the specification</a></p></main></body></html>\n`,
  );
}

/**
 * typedoc.json's navigation link to the specification is written as `__SPEC_ROOT__/index.html`;
 * each page gets the relative path from its own folder to the site root.
 */
function relinkSpecRoot(root: string, outDir: string): void {
  for (const f of listFiles(outDir, '.', ['.html'])) {
    const depth = f.split('/').length - 1; // folders below site/api
    const up = '../'.repeat(depth + 1);
    const p = join(outDir, f);
    const html = readFileSync(p, 'utf8');
    if (html.includes('__SPEC_ROOT__/')) writeFileSync(p, html.replace(/__SPEC_ROOT__\//g, up));
  }
  void root;
}

export async function buildApiDocs(
  root: string,
  outDir: string,
  opts: { force?: boolean; reuse?: boolean } = {},
): Promise<TypedocResult> {
  const force = opts.force === true;
  const cfgPath = join(root, 'typedoc.json');
  const cfg = existsSync(cfgPath) ? (JSON.parse(readFileSync(cfgPath, 'utf8')) as TypedocConfig) : {};
  const entryPoints = resolveEntryPoints(root, cfg.entryPoints ?? ['codec/index.ts']);
  if (entryPoints.length === 0) {
    placeholder(
      outDir,
      'No public module exists yet (typedoc.json lists codec/index.ts and the reference and conformance entry points).',
    );
    return { ran: false, ok: true, entryPoints, message: 'no entry points yet; wrote a placeholder' };
  }
  const stampPath = join(outDir, '.imsp-stamp');
  if (opts.reuse && !force && existsSync(stampPath) && existsSync(join(outDir, 'index.html'))) {
    return { ran: false, ok: true, entryPoints, message: 'kept the existing build (reuse)' };
  }
  const hash = inputsHash(root, entryPoints);
  if (
    !force &&
    existsSync(stampPath) &&
    existsSync(join(outDir, 'index.html')) &&
    readFileSync(stampPath, 'utf8') === hash
  ) {
    return { ran: false, ok: true, entryPoints, message: 'unchanged; kept the previous build' };
  }
  const td = await import('typedoc');
  const app = await td.Application.bootstrapWithPlugins(
    {
      entryPoints: entryPoints.map((p) => join(root, p)),
      tsconfig: join(root, 'spec/site/tsconfig.typedoc.json'),
      out: outDir,
      logLevel: td.LogLevel.Error,
    },
    // Only typedoc.json and tsconfig.json: no command-line reader, so our own argv is not parsed.
    [new td.TypeDocReader(), new td.TSConfigReader()],
  );
  // The file readers ran after the options above; put back what must win.
  app.options.setValue(
    'entryPoints',
    entryPoints.map((p) => join(root, p)),
  );
  app.options.setValue('out', outDir);
  const project = await app.convert();
  if (!project) {
    placeholder(outDir, 'typedoc could not convert the entry points; see the output of make site.');
    return { ran: true, ok: false, entryPoints, message: 'typedoc conversion failed' };
  }
  rmSync(outDir, { recursive: true, force: true });
  await app.generateDocs(project, outDir);
  relinkSpecRoot(root, outDir);
  writeFileSync(stampPath, hash);
  return { ran: true, ok: true, entryPoints, message: `documented ${entryPoints.length} entry points` };
}
