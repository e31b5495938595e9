// The `imsp` command: one dispatcher, each subcommand in the module of the layer it belongs to.
// Each module exports `run(argv)`, parses its own flags (commander) and returns an exit status.
// Subcommand modules are imported only when named, so `imsp --help` and `--version` load nothing else.
import { packageVersion } from './version.js';
import { quietOnEpipe } from './epipe.js';

type Runner = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: Runner }> }> = {
  decode: { summary: 'decode IMSP messages from stdin to JSON lines', load: () => import('./codec.js') },
  encode: { summary: 'encode JSON lines from stdin to IMSP messages', load: () => import('./codec.js') },
  crs: { summary: 'run the Central Repository Server', load: () => import('./servers.js') },
  ms: { summary: 'run a Messaging Server', load: () => import('./servers.js') },
  user: { summary: 'manage registered users (user add NAME)', load: () => import('./user.js') },
  client: { summary: 'run the interactive terminal client', load: () => import('./client.js') },
  conformance: { summary: 'test a CRS, MS or client against the spec', load: () => import('../../conformance/cli.js') },
  load: { summary: 'drive simulated clients against running servers', load: () => import('./load.js') },
  admin: { summary: 'ask a running server: admin sessions | ms | kick USER', load: () => import('./admin.js') },
  key: { summary: 'create or check the shared MS key file (key generate FILE)', load: () => import('./key.js') },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: imsp <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'imsp <command> --help' for a command's options, 'imsp --version' for the version.\n`;
}

export async function main(argv: string[]): Promise<number> {
  // `imsp user list | head`: the reader went away; stop quietly, as the shell's own tools do.
  quietOnEpipe();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`imsp ${packageVersion(import.meta.url, ['imsp'])}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`imsp: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  // decode/encode, crs/ms share a module: the module sees its own name first.
  return mod.run([name, ...rest]);
}
