#!/usr/bin/env node
// The conformance kit as its own command: same as `imsp conformance ...`. Installed from the package
// it runs the compiled JavaScript under dist/; in a source checkout (conformance/cli.ts next door) it
// runs the TypeScript sources through tsx, unless IMSP_COMPILED=1 (then dist/, after `make build`).
import { existsSync } from 'node:fs';

const source = new URL('../cli.ts', import.meta.url);
let main;
if (process.env.IMSP_COMPILED !== '1' && existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../../dist/conformance/cli.js'));
}
// Command lines the kit prints (report, replays) start with the name it was started by.
process.exitCode = await main(process.argv.slice(2), 'imsp-conformance');
