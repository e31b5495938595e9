// `imsp admin`: ask a running server through its admin socket (reference/ops/admin.ts).
//
//   imsp admin --socket /run/imsp-crs/admin.sock sessions     who is online, on which MS
//   imsp admin --socket /run/imsp-crs/admin.sock ms           the enrolled MSs
//   imsp admin --socket /run/imsp-ms-ms-1/admin.sock kick bob end bob's session at that MS
//
// The socket is --socket, else $IMSP_ADMIN_SOCKET. --json prints the server's answer as is.
import { Command, CommanderError } from 'commander';
import { adminRequest, type AdminRequest } from '../ops/admin.js';
import type { MsRow, SessionRow } from '../ops/admin-handlers.js';

export interface AdminIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
}

/**
 * The rows as a text table. A column no row has a value for is left out: the CRS and an MS answer
 * with different fields (a CRS knows when an MS enrolled, an MS whether it is enrolled).
 */
function table(rows: Record<string, unknown>[], all: string[]): string {
  const cols = all.filter((c) => rows.some((r) => r[c] !== undefined));
  const cells = rows.map((r) =>
    cols.map((c) =>
      r[c] === undefined
        ? '-'
        : typeof r[c] === 'number' && /At$|^since$/.test(c)
          ? new Date(r[c] as number).toISOString()
          : String(r[c]),
    ),
  );
  const w = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (xs: string[]) =>
    xs
      .map((x, i) => x.padEnd(w[i]))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

export async function run(
  argv: string[],
  io: AdminIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  const [, ...rest] = argv;
  let status = 0;
  const program = new Command('imsp admin')
    .description(
      "Ask a running CRS or MS through its admin socket (the server's --admin-socket; owner-only, mode 0600).",
    )
    .option('--socket <path>', 'the admin socket (default $IMSP_ADMIN_SOCKET)')
    .option('--json', 'print the answer as JSON')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  const ask = async (req: AdminRequest, show: (result: unknown) => string) => {
    const o = program.opts<{ socket?: string; json?: boolean }>();
    const socket = o.socket ?? io.env.IMSP_ADMIN_SOCKET;
    if (!socket) {
      io.stderr.write("imsp admin: give --socket PATH (the server's --admin-socket) or set IMSP_ADMIN_SOCKET\n");
      status = 2;
      return;
    }
    try {
      const r = await adminRequest(socket, req);
      if (!r.ok) {
        io.stderr.write(`imsp admin: ${r.error}\n`);
        status = 1;
        return;
      }
      io.stdout.write(o.json ? JSON.stringify(r.result) + '\n' : show(r.result));
    } catch (e) {
      io.stderr.write(`imsp admin: ${(e as Error).message}\n`);
      status = 1;
    }
  };
  program
    .command('sessions')
    .description('the sessions: user, MS, status, client address')
    .action(() =>
      ask({ cmd: 'sessions' }, (r) =>
        (r as SessionRow[]).length === 0
          ? 'no sessions\n'
          : table(r as unknown as Record<string, unknown>[], ['user', 'ms', 'status', 'address', 'since']),
      ),
    );
  program
    .command('ms')
    .description('the Messaging Servers: id, incarnation, address, load/capacity, lease')
    .action(() =>
      ask({ cmd: 'ms' }, (r) =>
        (r as MsRow[]).length === 0
          ? 'no MS enrolled\n'
          : table(r as unknown as Record<string, unknown>[], [
              'msId',
              'incarnation',
              'listen',
              'load',
              'capacity',
              'enrolled',
              'enrolledAt',
              'leaseExpiresAt',
              'crs',
            ]),
      ),
    );
  program
    .command('kick')
    .description("end USER's session (at an MS's socket; the CRS's says which MS)")
    .argument('<user>', 'the user')
    .action((user: string) => ask({ cmd: 'kick', user }, () => `kicked ${user}\n`));
  try {
    if (rest.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(rest, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError)
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  return status;
}
