#!/usr/bin/env node
// The conformance kit as its own command: same as `imsp conformance ...`.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli.ts');
process.exitCode = await main(process.argv.slice(2));
