// The store suite on SQLite: each data set is a fresh file in a temporary directory, so that
// reopening (persistence) and a second connection (a second process) work on the same data.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../reference/store/sqlite.js';
import { storeSuite, type DataSet } from './suite.js';

storeSuite({
  name: 'sqlite',
  separateConnections: true,
  async create(): Promise<DataSet> {
    const dir = await mkdtemp(join(tmpdir(), 'imsp-store-'));
    const path = join(dir, 'imsp.db');
    return {
      open: (opts) => SqliteStore.open(path, opts),
      destroy: () => rm(dir, { recursive: true, force: true }),
    };
  },
});
