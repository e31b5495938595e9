// `imsp --version`: the version of the package this module belongs to, read from its package.json
// (the nearest one above this file: the checkout's, or the installed package's, one level above dist/).
import { existsSync, readFileSync } from 'node:fs';

export function packageVersion(from: string | URL, names: string[]): string {
  let dir = new URL('./', from);
  for (let i = 0; i < 6; i++) {
    const file = new URL('package.json', dir);
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (typeof pkg.name === 'string' && names.includes(pkg.name) && typeof pkg.version === 'string')
        return pkg.version;
    }
    dir = new URL('../', dir);
  }
  return 'unknown';
}
