// The MS's per-session contact list (reference/ms/contact-list.ts) and its index of who watches whom
// (reference/ms/mod-presence.ts Pushes), kept compact for memory (issue 15): both must behave as the Map
// and the Map of Sets they replaced. Property tests against those models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RequestMessage } from '../../codec/index.js';
import { ContactList } from '../../reference/ms/contact-list.js';
import type { ClientConn, Push, Relation, Session } from '../../reference/ms/context.js';
import { Pushes } from '../../reference/ms/mod-presence.js';
import { req } from '../../reference/proto/messages.js';

const users = ['ann', 'bob', 'carol', 'dave', 'eve', 'Zed', 'ann.b', 'b_2', 'x-1'] as const;
const relation = fc.constantFrom<Relation>('buddy', 'pending', 'blocked');
const user = fc.constantFrom(...users);

type Op = { op: 'set'; user: string; relation: Relation } | { op: 'delete'; user: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), user, relation }),
  fc.record({ op: fc.constant('delete' as const), user }),
);

test('ContactList behaves as a Map of relations: get, has, size, set and delete (true when new / when present), keys in order', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(user, relation), { maxLength: 12 }), fc.array(op, { maxLength: 40 }), (init, ops) => {
      const model = new Map<string, Relation>(init);
      const list = new ContactList(init);
      const agree = (): void => {
        assert.equal(list.size, model.size);
        assert.deepEqual([...list.keys()], [...model.keys()].sort());
        for (const u of users) {
          assert.equal(list.get(u), model.get(u), u);
          assert.equal(list.has(u), model.has(u), u);
        }
      };
      agree();
      for (const o of ops) {
        if (o.op === 'set') {
          assert.equal(list.set(o.user, o.relation), !model.has(o.user));
          model.set(o.user, o.relation);
        } else {
          assert.equal(list.delete(o.user), model.delete(o.user));
        }
        agree();
      }
    }),
  );
});

/** A session whose client link records what the MS forwards to it. */
function fakeSession(name: string, got: string[]): Session {
  const conn = {
    link: { notify: (m: RequestMessage) => void got.push(`${name} <- ${m.method} ${m.headers[0]?.[1]}`) },
    buffered: null,
  } as unknown as ClientConn;
  const s = {
    user: name,
    contacts: new ContactList(),
    conn,
  } as unknown as Session;
  (conn as { session: Session }).session = s;
  return s;
}

type IndexOp =
  | { op: 'set'; s: number; user: string; relation: Relation }
  | { op: 'unset'; s: number; user: string }
  | { op: 'unindex'; s: number };

test('[PRESENCE-4] the watch index sends a PRESENCE to exactly the sessions that list the user as a buddy, through setContact, unsetContact and unindex', () => {
  // Few users and sessions, so that several sessions often watch one user.
  const s = fc.nat({ max: 3 });
  const few = fc.constantFrom(...users.slice(0, 3));
  const ops: fc.Arbitrary<IndexOp> = fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('set' as const), s, user: few, relation }), weight: 4 },
    { arbitrary: fc.record({ op: fc.constant('unset' as const), s, user: few }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('unindex' as const), s }), weight: 1 },
  );
  fc.assert(
    fc.property(fc.array(ops, { maxLength: 40 }), (script) => {
      const got: string[] = [];
      const sessions = ['s0', 's1', 's2', 's3'].map((n) => fakeSession(n, got));
      const live = new Set(sessions);
      const model = sessions.map(() => new Map<string, Relation>());
      const pushes = new Pushes({
        sessions: new Map(),
        onlining: new Set(),
        metrics: { pushes: { inc: () => undefined } },
      } as unknown as ConstructorParameters<typeof Pushes>[0]);
      for (const o of script) {
        const ses = sessions[o.s]!;
        if (!live.has(ses)) continue;
        if (o.op === 'set') {
          pushes.setContact(ses, o.user, o.relation);
          model[o.s]!.set(o.user, o.relation);
        } else if (o.op === 'unset') {
          pushes.unsetContact(ses, o.user);
          model[o.s]!.delete(o.user);
        } else {
          pushes.unindex(ses);
          live.delete(ses);
        }
        for (const u of users) {
          got.length = 0;
          pushes.onPush(req('PRESENCE', { User: u, Status: 'online' }) as Push);
          const want = sessions
            .filter((x, i) => live.has(x) && model[i]!.get(u) === 'buddy')
            .map((x) => `${x.user} <- PRESENCE ${u}`);
          assert.deepEqual([...got].sort(), want.sort(), `PRESENCE of ${u}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});
