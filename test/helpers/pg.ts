// A throwaway PostgreSQL cluster for tests: initdb into a temporary directory owned by the
// `postgres` user, pg_ctl start on a free loopback port with its unix socket inside that
// directory, one database; stopped and removed by `stop()`. The shared cluster (`sharedPg()`) is
// stopped when its test process exits, whether or not a test called `stop()` (issue 14: every
// `make test` used to leave three PostgreSQL servers running).
//
// - IMSP_PG_URL set: that server is used as is (nothing is started or removed).
// - No PostgreSQL binaries: an Error with a clear message, unless IMSP_SKIP_PG=1, when
//   `startPg()` resolves to null and the caller skips its PostgreSQL tests.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PgServer {
  /** postgres://... of a database the tests may use freely. */
  url: string;
  /** Stops and removes the cluster (nothing for IMSP_PG_URL). Idempotent. */
  stop(): Promise<void>;
  /** The same, synchronously: for a process's 'exit' handler. Idempotent. */
  stopSync(): void;
}

/** The newest /usr/lib/postgresql/<version>/bin, or null. */
export function findPgBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface PgUser {
  uid: number;
  gid: number;
}
async function postgresUser(): Promise<PgUser | null> {
  try {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    return null;
  }
}

let shared: Promise<PgServer | null> | null = null;

/** One cluster per test process, started on first use, stopped when the process exits. */
export function sharedPg(): Promise<PgServer | null> {
  if (!shared) {
    shared = startPg();
    // 'exit' runs however the test runner ends the process (normal end, process.exit); only
    // synchronous work is possible there, hence stopSync. A test's own after(() => stop()) comes first.
    shared.then(
      (server) => {
        if (server) process.once('exit', () => server.stopSync());
      },
      () => undefined,
    );
  }
  return shared;
}

export async function startPg(): Promise<PgServer | null> {
  const given = process.env.IMSP_PG_URL;
  if (given) return { url: given, stop: async () => {}, stopSync: () => {} };
  const bin = findPgBin();
  if (!bin) {
    if (process.env.IMSP_SKIP_PG === '1') return null;
    throw new Error(
      'PostgreSQL tests: no PostgreSQL binaries under /usr/lib/postgresql/*/bin (install the postgresql package, ' +
        'or set IMSP_PG_URL=postgres://... to use a running server, or IMSP_SKIP_PG=1 to skip these tests)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'imsp-pg-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  // Running as root, the cluster must belong to another user: initdb and postgres refuse root.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? await postgresUser() : null;
  if (asRoot && !owner)
    throw new Error('PostgreSQL tests run as root need a `postgres` system user (from the postgresql package)');
  const as = (cmd: string, args: string[]): [string, string[]] =>
    owner ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    await run(
      ...as(join(bin, 'initdb'), [
        '-D',
        data,
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ]),
      { timeout: 60_000 },
    );
    await run(...as('mkdir', ['-p', sock]));
    const port = await freePort();
    const opts = [
      `-p ${port}`,
      `-k ${sock}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=100',
      '-c shared_buffers=32MB',
    ].join(' ');
    await run(...as(join(bin, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']), {
      timeout: 90_000,
    });
    const url = `postgres://postgres@127.0.0.1:${port}/imsp_test`;
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query('CREATE DATABASE imsp_test');
    } finally {
      await admin.end();
    }
    let stopped = false;
    const stopArgs = as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    return {
      url,
      async stop() {
        if (stopped) return;
        stopped = true;
        await run(...stopArgs, { timeout: 60_000 }).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
      stopSync() {
        if (stopped) return;
        stopped = true;
        spawnSync(stopArgs[0], stopArgs[1], { timeout: 60_000, stdio: 'ignore' });
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await run(...as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'])).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
