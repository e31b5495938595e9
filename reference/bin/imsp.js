#!/usr/bin/env node
// The `imsp` command. Installed from the package (`npm pack`, `npm install -g`), it runs the compiled
// JavaScript under dist/ in this very process: no wrapper process, so SIGTERM reaches the server.
// In a source checkout (reference/cli/main.ts next door) it runs the TypeScript sources through tsx,
// so `npx imsp` always runs what is checked out; IMSP_COMPILED=1 runs dist/ there too (`make build`).
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
let main;
if (process.env.IMSP_COMPILED !== '1' && existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../../dist/reference/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
