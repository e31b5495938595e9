// Child process of durability.test.ts (not a test itself): opens the SQLite store given as argv[2]
// with the given durability (argv[3]), registers users d00000, d00001, ... one after the other and
// prints each one's name and public key on stdout once the store has reported it done. It runs until
// it is killed (the test kills it with SIGKILL) or has written argv[4] users (a bound, never reached
// in the test).
import { SqliteStore } from '../../reference/store/sqlite.js';
import { newUser } from './fixtures.js';

const [path, level, most] = process.argv.slice(2);
if (!path || (level !== 'normal' && level !== 'full'))
  throw new Error('usage: durability-writer.ts FILE normal|full [MOST]');
const store = await SqliteStore.open(path, { durability: level });
const bound = Number(most ?? 100_000);
for (let i = 0; i < bound; i++) {
  const u = newUser(`d${String(i).padStart(5, '0')}`);
  const r = await store.registerUser(u, Date.now());
  if (!r.ok) throw new Error(`register ${u.username}: ${JSON.stringify(r)}`);
  // Reported done: the store's promise resolved (the CRS answers only after this, [PERSIST-1]).
  process.stdout.write(`${u.username} ${u.publicKey}\n`);
}
await store.close();
