// The TypeScript files of the repository the tools read (tools/citations.ts, tools/function-length.ts).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every `.ts` file under `dirs` (relative to `root`, sorted; node_modules and dot entries skipped) that `keep` accepts. */
export function tsFiles(root: string, dirs: readonly string[], keep: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of readdirSync(join(root, rel)).sort()) {
      const p = `${rel}/${n}`;
      if (n === 'node_modules' || n.startsWith('.')) continue;
      if (statSync(join(root, p)).isDirectory()) walk(p);
      else if (n.endsWith('.ts') && keep(n)) out.push(p);
    }
  };
  for (const d of dirs) walk(d);
  return out;
}
