#!/usr/bin/env node
// The `imsp` command. A thin dispatcher: each subcommand lives with the layer it belongs to.
// TypeScript sources run through tsx's loader, so the command works right after `npm ci`.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
