// `make build`: the shipped code (generated/, reference/, conformance/ without its dev-only tools;
// see tsconfig.build.json) compiled by tsc to dist/, plus the spec data read at run time:
// spec/fixtures (the kit's wire expectations). The registries reach the code through generated/ only
// (issue 16; test/codec/no-registry-at-runtime.test.ts), so spec/registry is not copied. The
// installed `imsp` and `imsp-conformance` bins run this tree.
// Usage: node --import tsx conformance/package/build.ts [--out DIR]   (default: dist)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Spec data the compiled code reads at run time, relative to the repository root and to dist/. */
export const RUNTIME_DATA = ['spec/fixtures'].filter((d) => existsSync(join(root, d)));

/** Compile into `out` (replacing what an earlier build left there) and copy the run-time data. */
export function buildDist(out: string = join(root, 'dist')): string {
  const dist = resolve(out);
  for (const d of ['generated', 'codec', 'reference', 'conformance', 'spec'])
    rmSync(join(dist, d), { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', dist],
    { cwd: root, stdio: 'inherit' },
  );
  for (const d of RUNTIME_DATA) cpSync(join(root, d), join(dist, d), { recursive: true });
  return dist;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const i = process.argv.indexOf('--out');
  process.stdout.write(`${buildDist(i > 0 ? process.argv[i + 1] : undefined)}\n`);
}
