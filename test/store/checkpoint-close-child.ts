// Child process of sqlite-checkpoint.test.ts (not a test itself): opens the SQLite store given as
// argv[2], commits once, asks its checkpoint worker for a checkpoint and closes the store before the
// worker can have replied; prints "closed" when close() resolved. Nothing else holds the event loop,
// so a worker left unref'd while close() waits ends the process with close() pending (exit code 13).
import { SqliteStore } from '../../reference/store/sqlite.js';
import { CHECKPOINT_EVERY } from '../../reference/store/sqlite-checkpointer.js';
import { newUser } from './fixtures.js';

const [path] = process.argv.slice(2);
if (!path) throw new Error('usage: checkpoint-close-child.ts FILE');
const store = await SqliteStore.open(path, { durability: 'normal' });
await store.registerUser(newUser('ck'), 1);
for (let i = 0; i < CHECKPOINT_EVERY; i++) store.checkpointer?.committed();
await store.close();
process.stdout.write('closed\n');
