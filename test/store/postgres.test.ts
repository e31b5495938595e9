// The store suite on PostgreSQL: one throwaway cluster for this file (test/helpers/pg.ts), one
// schema per data set; a second store instance on a data set is a second pool and LISTEN
// connection, as a second CRS process would have. Plus what only PostgreSQL has: the change
// feed's connection failing and coming back, and the schema created by concurrent processes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { run } from '../../reference/cli/user.js';
import { PostgresStore } from '../../reference/store/postgres.js';
import { openStore } from '../../reference/store/index.js';
import { sharedPg } from '../helpers/pg.js';
import { newUser, nextEvent } from './fixtures.js';
import { storeSuite, type DataSet } from './suite.js';

const server = await sharedPg();

async function admin<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

if (!server) {
  test('PostgreSQL store suite', { skip: 'IMSP_SKIP_PG=1 and no PostgreSQL binaries' }, () => {});
} else {
  const schemas: string[] = [];
  const fresh = (): string => {
    const s = `t_${randomBytes(6).toString('hex')}`;
    schemas.push(s);
    return s;
  };
  // hooks run in the order registered: drop the schemas (an IMSP_PG_URL server keeps running), then stop
  after(() =>
    admin(server.url, async (c) => {
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    }),
  );
  after(() => server.stop());

  storeSuite({
    name: 'postgres',
    separateConnections: true,
    async create(): Promise<DataSet> {
      const schema = fresh();
      return {
        open: (opts) => PostgresStore.connect(server.url, { ...opts, schema, poolSize: 4 }),
        destroy: () =>
          admin(server.url, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).then(() => undefined)),
      };
    },
  });

  test('the change feed survives the loss of its LISTEN connection', async (t) => {
    const schema = fresh();
    const store = await PostgresStore.connect(server.url, { schema, poolSize: 2 });
    t.after(() => store.close());
    await store.registerUser(newUser('alice'), 1);
    await store.enrollMs({ msId: 'ms1', incarnation: 1, listen: '127.0.0.1:7100', capacity: 10 }, 1, 1e12);
    const down = once(store.feed, 'down');
    const up = once(store.feed, 'up');
    const killed = await admin(server.url, (c) =>
      c.query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query = $1`, [
        `LISTEN imsp_store_${schema}`,
      ]),
    );
    assert.equal(killed.rows.length, 1);
    await down;
    await up;
    const heard = nextEvent(store, (e) => e.type === 'presence' && e.user === 'alice');
    const l = await store.tryLock('alice', { msId: 'ms1', incarnation: 1 }, 2, 15_000);
    assert.ok(l.ok);
    assert.ok((await store.goOnline('alice', l.epoch, { msId: 'ms1', incarnation: 1 }, '127.0.0.1:1', 'online', 3)).ok);
    assert.equal((await heard).type, 'presence');
  });

  test('several processes creating the schema at once agree (advisory lock); openStore picks PostgreSQL by URL', async (t) => {
    const schema = fresh();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(server.url, { schema, poolSize: 1 })));
    t.after(async () => {
      for (const s of stores) await s.close();
    });
    assert.ok(stores.every((s) => s.kind === 'postgres'));
    assert.deepEqual(await stores[0].registerUser(newUser('bob'), 1), { ok: true });
    assert.equal((await stores[3].getUser('bob'))?.username, 'bob');
    const version = await admin(server.url, (c) =>
      c.query(`SELECT value FROM ${schema}.meta WHERE key = 'schema_version'`),
    );
    assert.equal(version.rows[0].value, '1');
  });

  test('imsp user add/list/del on a postgres:// store (schema imsp)', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'imsp-pgcli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    t.after(() => admin(server.url, (c) => c.query('DROP SCHEMA IF EXISTS imsp CASCADE').then(() => undefined)));
    await writeFile(join(dir, 'pw'), 'pw\n');
    const out: string[] = [];
    const io = {
      stdin: process.stdin,
      stdout: { write: (x: string) => out.push(x) },
      stderr: { write: (x: string) => out.push(x) },
      env: {},
    };
    assert.equal(
      await run(['user', 'add', 'pgu', '--store', server.url, '--password-file', join(dir, 'pw'), '--log2n', '10'], io),
      0,
    );
    assert.equal(
      await run(['user', 'add', 'pgu', '--store', server.url, '--password-file', join(dir, 'pw'), '--log2n', '10'], io),
      1,
    );
    out.length = 0;
    assert.equal(await run(['user', 'list', '--store', server.url], io), 0);
    assert.equal(out.join(''), 'pgu\toffline\n');
    assert.equal(await run(['user', 'del', 'pgu', '--store', server.url], io), 0);
  });

  test('a connection that cannot be made is an error, not a hang', async () => {
    const url = new URL(server.url);
    url.port = '1';
    await assert.rejects(PostgresStore.connect(url.toString(), { schema: fresh() }));
  });
}
