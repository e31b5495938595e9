// Process entry for the servers a load run spawns (`--spawn`): `node server-entry.js crs|ms [flags]`,
// the same as `imsp crs` / `imsp ms`, runnable from the tsc output (dist/) as well as through tsx.
import { run } from '../cli/servers.js';

process.exitCode = await run(process.argv.slice(2));
