// `make pack-kit`: the conformance kit as its own npm package, `imsp-conformance`, for implementers
// who never clone this repository. It holds the compiled kit (dist/conformance, dist/codec, dist/generated), the
// spec data the kit reads at run time (dist/spec/fixtures), the same launcher as the repository's
// (conformance/bin/imsp-conformance.js, which runs dist/ when no TypeScript source is beside it) and
// its run-time libraries (KIT_RUNTIME_DEPENDENCIES) bundled (bundleDependencies): installing it
// asks no registry, compiles nothing (no better-sqlite3: the kit never stores anything) and needs no
// tsx. Usage: node --import tsx conformance/package/pack.ts [--dist DIR] [--out DIR]  (after `make build`)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Manifest {
  name: string;
  version: string;
  description?: string;
  license?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** The libraries the compiled kit imports at run time: commander (options), fast-check (fuzzing) and
 * ajv (the control schema a client under test is held to [CTL-7]). test/build/package.test.ts checks
 * that every package the staged kit imports is one of these or part of Node. */
export const KIT_RUNTIME_DEPENDENCIES = ['ajv', 'commander', 'fast-check'] as const;

const root = fileURLToPath(new URL('../../', import.meta.url));
const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

/** `name` and every package it depends on, transitively, as installed under `nodeModules` (flat). */
function closure(nodeModules: string, names: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    const dir = join(nodeModules, name);
    if (!existsSync(join(dir, 'package.json')))
      throw new Error(`pack-kit: ${name} is not installed in ${nodeModules} (run make install)`);
    seen.add(name);
    for (const dep of Object.keys(readManifest(dir).dependencies ?? {})) visit(dep);
  };
  for (const n of names) visit(n);
  return [...seen].sort();
}

export interface PackResult {
  tarball: string;
  stage: string;
}

/** Stage the kit package under `out`/imsp-conformance and `npm pack` it into `out`. */
export function packKit(opts: { dist?: string; out?: string } = {}): PackResult {
  const dist = resolve(opts.dist ?? join(root, 'dist'));
  const out = resolve(opts.out ?? join(root, 'dist'));
  if (!existsSync(join(dist, 'conformance', 'cli.js')))
    throw new Error(`pack-kit: no compiled kit in ${dist} (run make build)`);
  const rootManifest = readManifest(root);
  const stage = join(out, 'imsp-conformance');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, 'conformance', 'bin'), { recursive: true });
  const onlyJs = (src: string): boolean => !src.endsWith('.map') && !src.endsWith('.d.ts');
  cpSync(join(dist, 'conformance'), join(stage, 'dist', 'conformance'), { recursive: true, filter: onlyJs });
  cpSync(join(dist, 'generated'), join(stage, 'dist', 'generated'), { recursive: true, filter: onlyJs });
  cpSync(join(dist, 'codec'), join(stage, 'dist', 'codec'), { recursive: true, filter: onlyJs });
  if (existsSync(join(dist, 'spec', 'fixtures')))
    cpSync(join(dist, 'spec', 'fixtures'), join(stage, 'dist', 'spec', 'fixtures'), { recursive: true });
  cpSync(
    join(root, 'conformance', 'bin', 'imsp-conformance.js'),
    join(stage, 'conformance', 'bin', 'imsp-conformance.js'),
  );
  cpSync(join(root, 'conformance', 'README.md'), join(stage, 'README.md'));
  const version = (name: string): string =>
    rootManifest.dependencies?.[name] ?? rootManifest.devDependencies?.[name] ?? '*';
  const bundled = closure(join(root, 'node_modules'), KIT_RUNTIME_DEPENDENCIES);
  for (const name of bundled)
    cpSync(join(root, 'node_modules', name), join(stage, 'node_modules', name), { recursive: true, dereference: true });
  const manifest = {
    name: 'imsp-conformance',
    version: rootManifest.version,
    description: 'IMSP conformance kit: tests a CRS, an MS or a client against the IMSP specification',
    license: rootManifest.license,
    type: 'module',
    engines: rootManifest.engines,
    bin: { 'imsp-conformance': './conformance/bin/imsp-conformance.js' },
    files: ['conformance/bin/imsp-conformance.js', 'dist/**/*.js', 'dist/spec/**'],
    dependencies: Object.fromEntries(KIT_RUNTIME_DEPENDENCIES.map((n) => [n, version(n)])),
    bundleDependencies: [...KIT_RUNTIME_DEPENDENCIES],
  };
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const name = execFileSync(
    'npm',
    ['pack', '--pack-destination', out, '--ignore-scripts', '--offline', '--silent', '--no-fund', '--no-audit'],
    {
      cwd: stage,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
    .trim()
    .split('\n')
    .pop()!;
  return { tarball: join(out, name), stage };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const opt = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const { tarball } = packKit({ dist: opt('--dist'), out: opt('--out') });
  process.stdout.write(`${tarball}\n`);
}
