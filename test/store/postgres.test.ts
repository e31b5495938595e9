// The store suite on PostgreSQL: one throwaway cluster for this file (test/helpers/pg.ts), one
// schema per data set; a second store instance on a data set is a second pool and LISTEN
// connection, as a second CRS process would have.
import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../reference/store/postgres.js';
import { sharedPg } from '../helpers/pg.js';
import { storeSuite, type DataSet } from './suite.js';
import { test } from 'node:test';

const server = await sharedPg();
if (!server) {
  test('PostgreSQL store suite', { skip: 'IMSP_SKIP_PG=1 and no PostgreSQL binaries' }, () => {});
} else {
  after(() => server.stop());
  storeSuite({
    name: 'postgres',
    separateConnections: true,
    async create(): Promise<DataSet> {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      return {
        open: (opts) => PostgresStore.connect(server.url, { ...opts, schema, poolSize: 4 }),
        async destroy() {
          const c = new pg.Client({ connectionString: server.url });
          await c.connect();
          try {
            await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          } finally {
            await c.end();
          }
        },
      };
    },
  });
}
