// `imsp user`: registration and user administration on the CRS's store (out of band; the
// protocol has no client registration).
//
//   imsp user add alice                                  (password prompted twice, echo off)
//   imsp user add alice --password-file pw.txt --full-name 'Alice Liddell'
//   echo secret | imsp user add bob --password-stdin --store postgres://crs@127.0.0.1/imsp
//   imsp user list [--store ...]
//   imsp user del alice [--force]
//   imsp user del --prefix kit.k20aad.                   (the users a conformance-kit run left)
//
// The store is --store, else $IMSP_STORE, else ./imsp.db (DEFAULT_SQLITE_PATH, the CRS's default).
import { readFile } from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { VALUE_TYPES } from '../../codec/index.js';
import { DEFAULT_SQLITE_PATH, openStore, registerUser, type Profile, type Store } from '../store/index.js';

export { registerUser, type RegisterOptions, type RegisterUserResult } from '../store/index.js';

/** Where the command reads and writes; tests replace it. */
export interface UserIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
}

const defaultIo = (): UserIo => ({
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});

/** Longest password accepted from any source (bounds the input read). */
const MAX_PASSWORD = 1024;

/** Reads a password from a terminal with echo off. */
function promptHidden(io: UserIo, prompt: string): Promise<string> {
  io.stderr.write(prompt);
  const input = io.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: Error): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.setRawMode?.(false);
      input.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onEnd = (): void => finish(new Error('no password given'));
    const onData = (chunk: Buffer | string): void => {
      const chars = [...chunk.toString()];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i];
        if (ch === '\r' || ch === '\n') {
          // what follows the line end (typed ahead, pasted) belongs to the next prompt
          let rest = chars.slice(i + 1).join('');
          if (ch === '\r' && rest.startsWith('\n')) rest = rest.slice(1);
          finish();
          if (rest) (input as NodeJS.ReadableStream & { unshift(c: Buffer): void }).unshift(Buffer.from(rest));
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ' && value.length < MAX_PASSWORD) value += ch;
      }
    };
    input.setRawMode?.(true);
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
}

/** The first line of a stream (bounded). */
async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += chunk.toString();
    const nl = text.search(/\r?\n/);
    if (nl >= 0) return text.slice(0, nl);
    if (text.length > MAX_PASSWORD) break;
  }
  return text.slice(0, MAX_PASSWORD + 1);
}

function lineOf(text: string): string {
  const nl = text.search(/\r?\n/);
  return nl >= 0 ? text.slice(0, nl) : text;
}

class UsageError extends Error {}

async function readPassword(io: UserIo, o: { passwordFile?: string; passwordStdin?: boolean }): Promise<string> {
  if (o.passwordFile && o.passwordStdin) throw new UsageError('give --password-file or --password-stdin, not both');
  let pw: string;
  if (o.passwordFile) pw = lineOf(await readFile(o.passwordFile, 'utf8'));
  else if (o.passwordStdin) pw = await firstLine(io.stdin);
  else if (io.stdin.isTTY) {
    pw = await promptHidden(io, 'Password: ');
    const again = await promptHidden(io, 'Password (again): ');
    if (again !== pw) throw new UsageError('the passwords differ');
  } else throw new UsageError('no password: stdin is not a terminal; use --password-file F or --password-stdin');
  if (pw.length === 0) throw new UsageError('empty password');
  if (pw.length > MAX_PASSWORD) throw new UsageError(`password longer than ${MAX_PASSWORD} characters`);
  return pw;
}

function intIn(min: number, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^[0-9]+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`an integer from ${min} to ${max}`);
    return n;
  };
}

async function withStore<T>(location: string, f: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(location);
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

/** Every user whose name starts with `prefix`, in name order (a paged scan from just below it). */
async function usersWithPrefix(s: Store, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = prefix.length > 1 ? prefix.slice(0, -1) : null;
  for (;;) {
    const page = await s.listUsers(cursor, 500);
    for (const n of page) {
      if (n.startsWith(prefix)) out.push(n);
      else if (n > prefix) return out;
    }
    if (page.length < 500) return out;
    cursor = page[page.length - 1];
  }
}

/** `imsp user del NAME` or `--prefix P`: deletes each, says so; 1 when one could not be deleted. */
async function deleteUsers(io: UserIo, s: Store, which: string[] | string, force: boolean): Promise<number> {
  const names = typeof which === 'string' ? await usersWithPrefix(s, which) : which;
  if (typeof which === 'string') io.stdout.write(`${names.length} users start with ${which}\n`);
  let status = 0;
  for (const n of names) {
    const r = await s.deleteUser(n, force);
    if (r.ok) io.stdout.write(`deleted ${n}\n`);
    else {
      io.stderr.write(
        r.error === 'unknown' ? `imsp user del: no user ${n}\n` : `imsp user del: ${n} is logged in (use --force)\n`,
      );
      status = 1;
    }
  }
  return status;
}

export async function run(argv: string[], io: UserIo = defaultIo()): Promise<number> {
  const [, ...rest] = argv;
  let status = 0;
  const storeOpt = (): string => io.env.IMSP_STORE || DEFAULT_SQLITE_PATH;
  const program = new Command('imsp user')
    .description('Register and manage users in the CRS store (a SQLite file, or postgres://...).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  program
    .command('add')
    .description('register a user: makes the verifier and the key pair, keeps only the sealed private key')
    .argument('<name>', 'username: a lower-case letter, then up to 31 of a-z 0-9 . _ -')
    .option('--store <location>', 'SQLite file or postgres:// URL (default $IMSP_STORE or ./imsp.db)')
    .option('--password-file <file>', 'read the password from the first line of this file')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--full-name <text>', 'profile: full name')
    .option('--location <text>', 'profile: location')
    .option('--about <text>', 'profile: about')
    .option('--iterations <n>', 'PBKDF2 iterations of the verifier', intIn(4096, 1_000_000))
    .option(
      '--log2n <n>',
      'scrypt cost of the sealed key (2^n); 15 by default, 10 only for synthetic users',
      intIn(10, 20),
    )
    .action(
      async (
        name: string,
        o: {
          store?: string;
          passwordFile?: string;
          passwordStdin?: boolean;
          fullName?: string;
          location?: string;
          about?: string;
          iterations?: number;
          log2n?: number;
        },
      ) => {
        const password = await readPassword(io, o);
        const profile: Partial<Profile> = {
          ...(o.fullName !== undefined ? { fullName: o.fullName } : {}),
          ...(o.location !== undefined ? { location: o.location } : {}),
          ...(o.about !== undefined ? { about: o.about } : {}),
        };
        const location = o.store ?? storeOpt();
        const r = await withStore(location, (s) =>
          registerUser(s, name, password, {
            profile,
            ...(o.iterations !== undefined ? { iterations: o.iterations } : {}),
            ...(o.log2n !== undefined ? { log2N: o.log2n } : {}),
          }),
        );
        if (r.ok) {
          io.stdout.write(`registered ${name}\npublic key ${r.publicKey}\n`);
        } else if (r.error === 'exists') {
          io.stderr.write(`imsp user add: ${name} exists already\n`);
          status = 1;
        } else if (r.detail === 'username') {
          // [USER-1] the rule in the registry's words, not only "invalid"
          io.stderr.write(`imsp user add: invalid username '${name}': ${VALUE_TYPES.username.text}\n`);
          status = 1;
        } else {
          io.stderr.write(`imsp user add: invalid ${r.detail}\n`);
          status = 1;
        }
      },
    );

  program
    .command('list')
    .description('list registered users, with their state')
    .option('--store <location>', 'SQLite file or postgres:// URL (default $IMSP_STORE or ./imsp.db)')
    .option('--limit <n>', 'at most this many', intIn(1, 1_000_000), 1000)
    .action(async (o: { store?: string; limit: number }) => {
      await withStore(o.store ?? storeOpt(), async (s) => {
        let cursor: string | null = null;
        let left = o.limit;
        // paged, so that a large user base is streamed rather than loaded at once
        while (left > 0) {
          const page = await s.listUsers(cursor, Math.min(500, left));
          if (page.length === 0) break;
          for (const name of page) {
            const u = await s.getUser(name);
            if (!u) continue;
            const full = u.profile.fullName ? `\t${u.profile.fullName}` : '';
            io.stdout.write(`${name}\t${u.state.kind}${full}\n`);
          }
          left -= page.length;
          cursor = page[page.length - 1];
        }
      });
    });

  program
    .command('del')
    .description(
      'delete a user, or every user whose name starts with --prefix, and every contact, block and pending request naming them',
    )
    .argument('[name]', 'username')
    .option('--prefix <prefix>', "delete every user whose name starts with this (e.g. the conformance kit's kit.RUN.)")
    .option('--store <location>', 'SQLite file or postgres:// URL (default $IMSP_STORE or ./imsp.db)')
    .option('--force', 'delete even while the user is logged in')
    .action(async (name: string | undefined, o: { prefix?: string; store?: string; force?: boolean }) => {
      if ((name === undefined) === (o.prefix === undefined) || o.prefix === '')
        throw new UsageError('del takes a username or a non-empty --prefix, not both');
      const names = name !== undefined ? [name] : undefined;
      status = await withStore(o.store ?? storeOpt(), (s) =>
        deleteUsers(io, s, names ?? o.prefix ?? '', o.force === true),
      );
    });

  try {
    if (rest.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(rest, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError)
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError) {
      io.stderr.write(`imsp user: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`imsp user: ${(e as Error).message}\n`);
    return 1;
  }
  return status;
}
