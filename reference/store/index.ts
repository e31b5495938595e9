// The CRS's storage: the Store interface, its SQLite and PostgreSQL implementations, and
// `openStore(location)` choosing between them by the location's form.
export * from './store.js';
export { SqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite.js';
export { PostgresStore, PG_SCHEMA_VERSION, type PostgresStoreOptions } from './postgres.js';
export { registerUser, type RegisterOptions, type RegisterUserResult } from './register.js';
import { DEFAULT_SQLITE_PATH, type OpenStoreOptions, type Store } from './store.js';
import { SqliteStore } from './sqlite.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres.js';

/** True when `location` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * Opens the store at `location`: `postgres://...` or `postgresql://...` connects to PostgreSQL
 * (schema created if missing); anything else is a SQLite file path (':memory:' for a private,
 * throwaway one), created if missing. Default: DEFAULT_SQLITE_PATH (./imsp.db).
 */
export async function openStore(
  location: string = DEFAULT_SQLITE_PATH,
  opts: OpenStoreOptions & Pick<PostgresStoreOptions, 'schema' | 'poolSize'> = {},
): Promise<Store> {
  if (isPostgresLocation(location)) return PostgresStore.connect(location, opts);
  return SqliteStore.open(location, opts);
}
