// `imsp key`: the shared MS key file ([§7.1 Enrollment]: the CRS and every MS hold it).
//
//   imsp key generate ms.key          32 random octets, base64url, written 0600; refuses to overwrite
//   imsp key generate ms.key --force  replaces an existing file (atomically, still 0600)
//   imsp key check ms.key             decodes it (base64 or base64url) and checks its permissions
//
// A key file readable by group or others is reported (the servers log a warning at start too).
import { randomBytes } from 'node:crypto';
import { chmodSync, openSync, closeSync, readFileSync, renameSync, statSync, writeSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { CryptoError } from '../crypto/errors.js';
import { parseMsKey } from '../crypto/scram.js';

export interface KeyIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** A key file's text that is no MS key: the message says what is wrong and the format [ENROLL-14]. */
export class MsKeyFileError extends Error {
  override name = 'MsKeyFileError';
}

/**
 * The MS key in a key file's text (base64url or standard base64, at least 32 octets). Anything else
 * throws MsKeyFileError naming the fault and the format, in words an operator can act on: `imsp key
 * check` and the servers at start say the same [ENROLL-14].
 */
export function decodeMsKeyFile(text: string): Buffer {
  try {
    return parseMsKey(text);
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    const detail = /\((.*)\)$/s.exec(e.message)?.[1] ?? e.message;
    throw new MsKeyFileError(
      `${detail}. The file must hold the MS key as base64url text on one line, at least 32 octets, or standard base64 (openssl rand -base64 32); make one with: imsp key generate FILE`,
    );
  }
}

/** Writes `text` to `path` with mode 0600 from the first octet on (O_EXCL unless `force`) [ENROLL-16]. */
export function writeSecretFile(path: string, text: string, force = false): void {
  const target = force ? join(dirname(path), `.${basename(path)}.${process.pid}.tmp`) : path;
  const fd = openSync(target, 'wx', 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  // the umask cannot widen 0600, but a pre-set ACL or an odd umask could narrow it oddly: be explicit
  chmodSync(target, 0o600);
  if (force) {
    try {
      renameSync(target, path);
    } catch (e) {
      unlinkSync(target);
      throw e;
    }
  }
}

/** The permission problem of a secret file, or undefined when only its owner can read it [ENROLL-16]. */
export function looseMode(path: string): string | undefined {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `${path} has mode ${mode.toString(8).padStart(4, '0')}: readable by ${mode & 0o007 ? 'everyone' : 'its group'}; chmod 600 ${path}`;
}

export async function run(
  argv: string[],
  io: KeyIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [, ...rest] = argv;
  let status = 0;
  const program = new Command('imsp key')
    .description('Create or check the shared MS key file (base64url, 32 random octets, mode 0600).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  program
    .command('generate')
    .description('write a new MS key: 32 random octets in base64url, file mode 0600')
    .argument('<file>', 'where to write it')
    .option('--force', 'replace an existing file')
    .action((file: string, o: { force?: boolean }) => {
      try {
        writeSecretFile(file, randomBytes(32).toString('base64url') + '\n', o.force === true);
        io.stdout.write(`wrote ${file} (mode 0600)\n`);
      } catch (e) {
        const code = (e as { code?: string }).code;
        io.stderr.write(
          code === 'EEXIST'
            ? `imsp key: ${file} exists already (--force replaces it)\n`
            : `imsp key: ${(e as Error).message}\n`,
        );
        status = 1;
      }
    });
  program
    .command('check')
    .description('decode a key file (base64 or base64url) and check that only its owner can read it')
    .argument('<file>', 'the key file')
    .action((file: string) => {
      try {
        const key = decodeMsKeyFile(readFileSync(file, 'utf8'));
        const loose = looseMode(file);
        if (loose) {
          io.stderr.write(`imsp key: ${loose}\n`);
          status = 1;
        }
        io.stdout.write(`${file}: ${key.length} octets${loose ? '' : ', mode 0600'}\n`);
      } catch (e) {
        io.stderr.write(`imsp key: ${file}: ${(e as Error).message}\n`);
        status = 1;
      }
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
    throw e;
  }
  return status;
}
