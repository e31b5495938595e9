// The store suite on SQLite: each data set is a fresh file in a temporary directory, so that
// reopening (persistence) and a second connection (a second process) work on the same data.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SqliteStore, SQLITE_SCHEMA_VERSION } from '../../reference/store/sqlite.js';
import type { ContactEntry, Presence } from '../../reference/store/store.js';
import { newUser } from './fixtures.js';
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

// SQLite only: the contact-list query (a LEFT JOIN on the users_online partial index) against a
// model of the tables, on relations written straight into the file, including combinations that
// the store's own operations never make (a buddy who also blocks, or is blocked), and the schema
// migration that adds the index to a version 1 file.
describe('sqlite: contact lists and schema', () => {
  async function tempPath(t: TestContext): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'imsp-store-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    return join(dir, 'imsp.db');
  }

  test('[BLOCK-2][BLOCK-3] contact lists (LIST and the login bundle) match a model of random relations: presence only for an online buddy that does not block', async (t) => {
    const path = await tempPath(t);
    const names = Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    const created = await SqliteStore.open(path);
    for (const n of names) assert.deepEqual(await created.registerUser(newUser(n), 1), { ok: true });
    await created.close();
    // a deterministic pseudo-random generator, so that a failure replays
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const online = new Map<string, { status: string; address: string }>();
    const buddy = new Set<string>();
    const adds = new Set<string>();
    const blocks = new Set<string>();
    const db = new Database(path);
    for (const n of names) {
      const x = rnd();
      if (x < 0.4) {
        const st = {
          status: ['online', 'busy', 'away'][Math.floor(rnd() * 3)],
          address: `127.0.0.1:${2000 + online.size}`,
        };
        online.set(n, st);
        db.prepare(
          `UPDATE users SET state = 'online', ms_id = 'ms1', ms_incarnation = 1, address = ?, status = ? WHERE username = ?`,
        ).run(st.address, st.status, n);
      } else if (x < 0.55) {
        db.prepare(
          `UPDATE users SET state = 'locked', ms_id = 'ms1', ms_incarnation = 1, lease_expires_at = 99 WHERE username = ?`,
        ).run(n);
      }
    }
    for (const a of names)
      for (const b of names) {
        if (a === b) continue;
        if (rnd() < 0.35) buddy.add(`${a} ${b}`);
        if (rnd() < 0.15) adds.add(`${a} ${b}`);
        if (rnd() < 0.12) blocks.add(`${a} ${b}`);
      }
    for (const k of buddy)
      db.prepare('INSERT INTO buddies (owner, other, since) VALUES (?, ?, 1)').run(...k.split(' '));
    for (const k of adds)
      db.prepare('INSERT INTO adds (from_user, to_user, time) VALUES (?, ?, 1)').run(...k.split(' '));
    for (const k of blocks) db.prepare('INSERT INTO blocks (owner, blocked) VALUES (?, ?)').run(...k.split(' '));
    const keys = new Map(
      names.map((n) => [n, db.prepare('SELECT public_key FROM users WHERE username = ?').pluck().get(n) as string]),
    );
    db.close();
    const model = (me: string): ContactEntry[] => {
      const out: ContactEntry[] = [];
      for (const o of names) {
        if (o === me) continue;
        // a blocked user shows as blocked only [BLOCK-3]; otherwise one entry per relation, the buddy first
        if (blocks.has(`${me} ${o}`)) {
          out.push({ user: o, relation: 'blocked', status: 'offline' });
          continue;
        }
        if (buddy.has(`${me} ${o}`)) {
          const on = online.get(o);
          out.push(
            on && !blocks.has(`${o} ${me}`)
              ? {
                  user: o,
                  relation: 'buddy',
                  status: on.status as Presence,
                  address: on.address,
                  publicKey: keys.get(o),
                }
              : { user: o, relation: 'buddy', status: 'offline' },
          );
        }
        if (adds.has(`${me} ${o}`)) out.push({ user: o, relation: 'pending', status: 'offline' });
      }
      return out;
    };
    const store = await SqliteStore.open(path);
    t.after(() => store.close());
    let visible = 0;
    let hidden = 0;
    for (const n of names) {
      const want = model(n);
      visible += want.filter((c) => c.address !== undefined).length;
      hidden += want.filter((c) => c.relation === 'buddy' && c.address === undefined && online.has(c.user)).length;
      assert.deepEqual(await store.listContacts(n), want, n);
    }
    // the random data covers both cases of an online buddy
    assert.ok(visible > 0 && hidden > 0, `visible ${visible}, hidden ${hidden}`);
    // the login bundle is the same list, with the presence of the moment
    await store.enrollMs({ msId: 'ms2', incarnation: 1, listen: '127.0.0.1:7100', capacity: 10 }, 1, 60_000);
    const me = names.find((n) => !online.has(n) && model(n).some((c) => c.address !== undefined));
    assert.ok(me);
    const l = await store.tryLock(me, { msId: 'ms2', incarnation: 1 }, 2, 15_000);
    assert.ok(l.ok);
    const o = await store.goOnline(me, l.epoch, { msId: 'ms2', incarnation: 1 }, '127.0.0.1:9999', 'online', 2);
    assert.ok(o.ok);
    assert.deepEqual(o.contacts, model(me));
  });

  test('a version 1 file is migrated to version 3 (users_online, users_by_ms without state) on open, its data kept', async (t) => {
    const path = await tempPath(t);
    const s1 = await SqliteStore.open(path);
    assert.deepEqual(await s1.registerUser(newUser('alice'), 1), { ok: true });
    assert.deepEqual(await s1.registerUser(newUser('bob'), 1), { ok: true });
    await s1.addRequest({ user: 'alice', admin: true }, 'bob', 1);
    await s1.answer({ user: 'bob', admin: true }, 'alice', 'grant', 1);
    await s1.close();
    // back to what version 1 wrote
    const db = new Database(path);
    db.exec('DROP INDEX users_online');
    db.exec(
      `DROP INDEX users_by_ms; CREATE INDEX users_by_ms ON users (ms_id, ms_incarnation) WHERE state <> 'offline'`,
    );
    db.pragma('user_version = 1');
    db.prepare(
      `UPDATE users SET state = 'online', ms_id = 'ms1', ms_incarnation = 1, address = '127.0.0.1:2000', status = 'away' WHERE username = 'bob'`,
    ).run();
    db.close();
    const s2 = await SqliteStore.open(path);
    t.after(() => s2.close());
    const bobKey = (await s2.getUser('bob'))?.publicKey;
    assert.deepEqual(await s2.listContacts('alice'), [
      { user: 'bob', relation: 'buddy', status: 'away', address: '127.0.0.1:2000', publicKey: bobKey },
    ]);
    const check = new Database(path, { readonly: true });
    t.after(() => check.close());
    assert.equal(check.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
    assert.equal(SQLITE_SCHEMA_VERSION, 3);
    assert.equal(
      check.prepare(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'users_online'`).pluck().get(),
      1,
    );
    assert.match(
      String(
        check.prepare(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'users_by_ms'`).pluck().get(),
      ),
      /WHERE ms_id IS NOT NULL$/,
    );
    // the MS's users are still found through it [LOCK-9]
    assert.deepEqual(await s2.offlineAllOfMs('ms1'), { offline: ['bob'], unlocked: [] });
  });

  test('a file of a newer schema version is refused', async (t) => {
    const path = await tempPath(t);
    const db = new Database(path);
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    db.close();
    await assert.rejects(SqliteStore.open(path), /newer than this program/);
  });
});
