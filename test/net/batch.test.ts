// Several messages per SEALED envelope and one 200 for several MSGs ([§6.4 The SEALED Envelope] [§10.2.1 Batches: Several MSGs per Envelope, One 200 for Several MSGs], issue 15):
// the sender's batching, the receiver's record numbering, and properties that a batch can be neither
// replayed, reordered, shortened nor forged, and that a Count answers exactly the MSGs it may.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fc from 'fast-check';
import {
  anyHeader,
  type ImspError,
  LIMITS,
  decode,
  encode,
  errorResponse,
  request,
  response,
  type Message,
  type RequestMessage,
  type ResponseMessage,
} from '../../codec/index.js';
import { openEnvelope } from '../../reference/crypto/index.js';
import { Link, linkError, type LinkOptions } from '../../reference/net/index.js';
import { duplexPair, RawPeer } from './helpers.js';

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);
const k = (b: Buffer): Buffer => Buffer.from(b);

const msg = (text: string, tag?: string): RequestMessage =>
  request(
    'MSG',
    {
      From: 'joe',
      To: 'alice',
      'Content-type': 'text/plain; charset=utf-8',
      ...(tag !== undefined ? { Tag: tag } : {}),
    },
    Buffer.from(text),
  );
const ok = (): ResponseMessage => response(200);

/** A sealed client -> client Link on one end, a raw peer holding the other direction's keys. */
function sealedPair(opts: Partial<LinkOptions>): {
  link: Link;
  peer: RawPeer;
  closed: Promise<ImspError | undefined>;
} {
  const [a, b] = duplexPair();
  const link = new Link(a, { local: 'client', remote: 'client', ...opts });
  link.enableSealing({ send: k(K1), receive: k(K2) }, { strict: true });
  const peer = new RawPeer(b);
  peer.sendKey = K2;
  peer.receiveKey = K1;
  const closed = once(link, 'close').then(([r]) => r as ImspError | undefined);
  return { link, peer, closed };
}

/** Two Links talking to each other: a sender and a receiver of MSGs, both batching. */
function linkPair(handler: LinkOptions['handler']): { tx: Link; rx: Link; wire: Buffer[] } {
  const [a, b] = duplexPair();
  const wire: Buffer[] = [];
  b.on('data', () => undefined);
  const tx = new Link(a, { local: 'client', remote: 'client', coalesce: true, batchAcks: true });
  const rx = new Link(b, {
    local: 'client',
    remote: 'client',
    coalesce: true,
    batchAcks: true,
    ...(handler ? { handler } : {}),
  });
  a.on('data', (c: Buffer) => wire.push(c));
  tx.enableSealing({ send: k(K1), receive: k(K2) }, { strict: true });
  rx.enableSealing({ send: k(K2), receive: k(K1) }, { strict: true });
  return { tx, rx, wire };
}

test('[SEAL-14] [SEAL-5] the messages of one turn leave in one envelope; Seq counts records', async (t) => {
  const { link, peer } = sealedPair({ coalesce: true });
  t.after(() => link.close());
  for (let i = 0; i < 10; i++) link.notify(request('TYPING', { From: 'joe', To: 'alice', Typing: 'typing' }));
  await peer.waitFor(10);
  assert.deepEqual(peer.envelopes, [10]);
  link.notify(request('BYE'));
  await peer.waitFor(11);
  assert.equal(peer.receiveSeq, 11); // the second envelope carried Seq 10
  assert.deepEqual(peer.envelopes, [10, 1]);
});

test('[SEAL-11] [SEAL-14] more than maxRecordsPerEnvelope messages in one turn fill several envelopes', async (t) => {
  const { link, peer } = sealedPair({ coalesce: true });
  t.after(() => link.close());
  const n = LIMITS.maxRecordsPerEnvelope * 2 + 5;
  for (let i = 0; i < n; i++) link.notify(request('TYPING', { From: 'joe', To: 'alice', Typing: 'paused' }));
  await peer.waitFor(n);
  assert.deepEqual(peer.envelopes, [LIMITS.maxRecordsPerEnvelope, LIMITS.maxRecordsPerEnvelope, 5]);
});

test('[SEAL-13] without coalesce every message has an envelope of its own, Seq one more each', async (t) => {
  const { link, peer } = sealedPair({});
  t.after(() => link.close());
  for (let i = 0; i < 3; i++) link.notify(request('BYE'));
  await peer.waitFor(3);
  assert.deepEqual(peer.envelopes, [1, 1, 1]);
});

test('[SEAL-12] [SEAL-5] an envelope of several records is acted on in order, and the next Seq is Seq + n', async (t) => {
  const seen: string[] = [];
  const { link, peer, closed } = sealedPair({
    handler: (m) => {
      seen.push(m.body.toString());
      return ok();
    },
  });
  t.after(() => link.close());
  peer.write(peer.batch([msg('a'), msg('b'), msg('c')]));
  await peer.waitFor(3);
  assert.deepEqual(seen, ['a', 'b', 'c']);
  assert.equal(peer.sendSeq, 3);
  // Seq 1 (the old one-per-envelope numbering) is refused: the envelope before held 3 records
  peer.write(peer.batch([msg('d')], 1));
  assert.equal((await closed)?.code, 'ERR_REPLAY');
  assert.deepEqual(seen, ['a', 'b', 'c']);
});

test('[SEAL-11] an envelope of maxRecordsPerEnvelope + 1 records is refused 413 ERR_LIMIT, sealed, and none is acted on', async (t) => {
  let handled = 0;
  const { link, peer, closed } = sealedPair({
    handler: () => {
      handled++;
      return ok();
    },
  });
  t.after(() => link.close());
  const n = LIMITS.maxRecordsPerEnvelope + 1;
  peer.write(peer.batch(Array.from({ length: n }, (_, i) => msg(`m${i}`))));
  assert.equal((await closed)?.code, 'ERR_LIMIT');
  await peer.waitEnd();
  assert.equal(handled, 0);
  const last = peer.messages.at(-1)!;
  assert.ok(last.kind === 'response' && last.status === 413);
  assert.equal(anyHeader(last, 'Error-code'), 'ERR_LIMIT');
  assert.equal(peer.envelopes.length, 1, 'the refusal travels inside SEALED');
});

test('[SEAL-11] exactly maxRecordsPerEnvelope records are accepted', async (t) => {
  let handled = 0;
  const { link, peer } = sealedPair({
    handler: () => {
      handled++;
      return ok();
    },
  });
  t.after(() => link.close());
  const n = LIMITS.maxRecordsPerEnvelope;
  peer.write(peer.batch(Array.from({ length: n }, (_, i) => msg(`m${i}`))));
  await peer.waitFor(n);
  assert.equal(handled, n);
});

test('[SEAL-4] a batch with a forged tag is refused 401 ERR_DECRYPT in clear and none of its records is acted on', async (t) => {
  let handled = 0;
  const { link, peer, closed } = sealedPair({
    handler: () => {
      handled++;
      return ok();
    },
  });
  t.after(() => link.close());
  const env = peer.batch([msg('a'), msg('b')]);
  env[env.length - 1]! ^= 1; // the last octet of the tag
  peer.write(env);
  assert.equal((await closed)?.code, 'ERR_DECRYPT');
  await peer.waitEnd();
  assert.equal(handled, 0);
  assert.equal(peer.envelopes.length, 0);
});

test('[MSG-7] accepted MSGs of one turn are answered with one 200 Count: n; a Tag or a refusal breaks the run', async (t) => {
  const { link, peer } = sealedPair({
    coalesce: true,
    batchAcks: true,
    handler: (m) => (m.body.toString() === 'bad' ? errorResponse(linkError('ERR_BAD_VALUE', 'refused')) : ok()),
  });
  t.after(() => link.close());
  peer.write(peer.batch([msg('1'), msg('2'), msg('3', 't3'), msg('4'), msg('bad'), msg('6'), msg('7'), msg('8')]));
  await peer.waitFor(5);
  assert.deepEqual(peer.envelopes, [5], 'all the answers of the turn in one envelope');
  const summary = peer.messages.map((m) =>
    m.kind === 'response'
      ? `${m.status}${anyHeader(m, 'Count') ? `x${anyHeader(m, 'Count')}` : ''}${anyHeader(m, 'Tag') ?? ''}`
      : '?',
  );
  assert.deepEqual(summary, ['200x2', '200t3', '200', '422', '200x3']);
});

test('[MSG-8] a 200 with Count resolves that many MSGs in order', async (t) => {
  const { link, peer } = sealedPair({ coalesce: true });
  t.after(() => link.close());
  const answers = [1, 2, 3].map((i) => link.request(msg(`m${i}`)));
  await peer.waitFor(3);
  peer.write(peer.batch([response(200, { Count: '3' })]));
  const got = await Promise.all(answers);
  assert.ok(got.every((r) => r.status === 200));
});

test('[MSG-8] a Count greater than the requests waiting fails them with ERR_BAD_VALUE and closes the link', async (t) => {
  const { link, peer, closed } = sealedPair({ coalesce: true });
  t.after(() => link.close());
  const answers = [1, 2].map((i) =>
    link.request(msg(`m${i}`)).then(
      () => 'answered',
      (e: ImspError) => e.code,
    ),
  );
  await peer.waitFor(2);
  peer.write(peer.batch([response(200, { Count: '3' })]));
  assert.deepEqual(await Promise.all(answers), ['ERR_BAD_VALUE', 'ERR_BAD_VALUE']);
  assert.equal((await closed)?.code, 'ERR_BAD_VALUE');
});

test('[MSG-8] a Count over a tagged MSG or a PING is refused and closes the link', async (t) => {
  for (const second of [msg('tagged', 'x1'), request('PING')]) {
    const { link, peer, closed } = sealedPair({ coalesce: true });
    t.after(() => link.close());
    const answers = [link.request(msg('first')), link.request(second)].map((p) =>
      p.then(
        () => 'answered',
        (e: ImspError) => e.code,
      ),
    );
    await peer.waitFor(2);
    peer.write(peer.batch([response(200, { Count: '2' })]));
    assert.deepEqual(await Promise.all(answers), ['ERR_BAD_VALUE', 'ERR_BAD_VALUE']);
    assert.equal((await closed)?.code, 'ERR_BAD_VALUE');
  }
});

// ------------------------------------------------------------------------------------------ properties

/** Splits `n` records into envelopes of the sizes drawn (each 1 to maxRecordsPerEnvelope). */
function envelopesOf(n: number, sizes: number[]): number[] {
  const out: number[] = [];
  let left = n;
  for (let i = 0; left > 0; i++) {
    const s = Math.min(
      left,
      Math.max(1, (sizes[i % Math.max(1, sizes.length)] ?? 1) % LIMITS.maxRecordsPerEnvelope) || 1,
    );
    out.push(s);
    left -= s;
  }
  return out;
}

type Fault =
  | { kind: 'none' }
  | { kind: 'replay'; at: number }
  | { kind: 'swap'; at: number }
  | { kind: 'drop'; at: number }
  | { kind: 'flip'; at: number; octet: number }
  | { kind: 'seq'; at: number; delta: number };

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.constant<Fault>({ kind: 'none' }),
  fc.record({ kind: fc.constant('replay' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), octet: fc.nat() }),
  fc.record({
    kind: fc.constant('seq' as const),
    at: fc.nat(),
    delta: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
  }),
);

test('[SEAL-3] [SEAL-4] [SEAL-5] [SEAL-12] property: a replayed, reordered, dropped, forged or renumbered batch is refused and only a prefix is ever acted on', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 150 }),
      fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 8 }),
      faultArb,
      async (n, sizes, fault) => {
        const texts = Array.from({ length: n }, (_, i) => `m${i}`);
        const sizesOf = envelopesOf(n, sizes);
        const seen: string[] = [];
        const { link, peer, closed } = sealedPair({
          handler: (m) => {
            seen.push(m.body.toString());
            return ok();
          },
        });
        // the envelopes as a correct sender seals them
        const envs: { seq: number; bytes: Buffer; first: number; count: number }[] = [];
        let at = 0;
        for (const s of sizesOf) {
          envs.push({ seq: at, bytes: peer.batch(texts.slice(at, at + s).map((x) => msg(x))), first: at, count: s });
          at += s;
        }
        let wire = envs.map((e) => e.bytes);
        const e = envs.length;
        let applied = fault.kind;
        if (fault.kind === 'replay') {
          const i = fault.at % e;
          wire = [...wire.slice(0, i + 1), wire[i]!, ...wire.slice(i + 1)];
        } else if (fault.kind === 'swap' && e >= 2) {
          const i = fault.at % (e - 1);
          wire = [...wire.slice(0, i), wire[i + 1]!, wire[i]!, ...wire.slice(i + 2)];
        } else if (fault.kind === 'drop' && e >= 2) {
          const i = fault.at % (e - 1); // not the last: a cut at the end is the sender's to see [MSG-9]
          wire = [...wire.slice(0, i), ...wire.slice(i + 1)];
        } else if (fault.kind === 'flip') {
          const i = fault.at % e;
          const b = Buffer.from(wire[i]!);
          const headEnd = b.indexOf('\r\n\r\n') + 4;
          const o = headEnd + (fault.octet % (b.length - headEnd));
          b[o]! ^= 0x40;
          wire[i] = b;
        } else if (fault.kind === 'seq') {
          const i = fault.at % e;
          const s = envs[i]!.seq + fault.delta;
          if (s < 0) applied = 'none';
          else {
            const text = wire[i]!.toString('latin1').replace(/^SEALED\r\nSeq: \d+/, `SEALED\r\nSeq: ${s}`);
            wire[i] = Buffer.from(text, 'latin1');
          }
        } else applied = 'none';
        for (const w of wire) peer.write(w);
        if (applied === 'none') {
          await peer.waitFor(n);
          link.close();
          assert.deepEqual(seen, texts);
          return;
        }
        const reason = await closed;
        assert.ok(
          reason?.code === 'ERR_REPLAY' || reason?.code === 'ERR_DECRYPT',
          `${applied}: closed with ${reason?.code}`,
        );
        // never a record twice, never out of order, never one of the faulty envelope: a prefix made
        // of whole envelopes
        assert.deepEqual(seen, texts.slice(0, seen.length));
        assert.ok(
          seen.length === 0 || envs.some((x) => x.first + x.count === seen.length),
          `${seen.length} records acted on is not a whole number of envelopes`,
        );
      },
    ),
    { numRuns: 150 },
  );
});

test('[MSG-7] [MSG-8] property: with batched answers every MSG gets exactly its own outcome, in order', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({ tag: fc.boolean(), refuse: fc.boolean(), ping: fc.boolean() }, { requiredKeys: ['tag', 'refuse'] }),
        { minLength: 1, maxLength: 200 },
      ),
      async (plan) => {
        const { tx, rx, wire } = linkPair((m) =>
          m.method === 'PING'
            ? ok()
            : m.body.toString().startsWith('bad')
              ? errorResponse(linkError('ERR_BAD_VALUE', 'refused'))
              : ok(),
        );
        const outcomes = await Promise.all(
          plan.map((p, i) => {
            const r = p.ping
              ? tx.request(request('PING', p.tag ? { Tag: `p${i}` } : {}))
              : tx.request(msg(`${p.refuse ? 'bad' : 'ok'}${i}`, p.tag ? `t${i}` : undefined));
            return r.then((res) => `${res.status}${anyHeader(res, 'Tag') ?? ''}`);
          }),
        );
        assert.deepEqual(
          outcomes,
          plan.map((p, i) => `${p.ping || !p.refuse ? 200 : 422}${p.tag ? (p.ping ? `p${i}` : `t${i}`) : ''}`),
        );
        // the answers on the wire: records of the receiver's envelopes, Seq counting records [SEAL-5]
        const records: Message[] = [];
        let seq = 0;
        for (const env of decode(Buffer.concat(wire))) {
          assert.equal(anyHeader(env, 'Seq'), String(seq));
          const recs = decode(openEnvelope(K2, seq, env.body));
          seq += recs.length;
          records.push(...recs);
        }
        const covered = records.reduce((sum, r) => sum + Number(anyHeader(r, 'Count') ?? '1'), 0);
        assert.equal(covered, plan.length, 'every request answered exactly once');
        // a run of two untagged accepted MSGs sent in one turn is answered with one Count
        const run = plan.some((p, i) => i > 0 && [p, plan[i - 1]!].every((q) => !q.ping && !q.tag && !q.refuse));
        if (run) assert.ok(records.some((r) => anyHeader(r, 'Count') !== undefined));
        tx.close();
        rx.close();
      },
    ),
    { numRuns: 80 },
  );
});

test('[MSG-8] property: any Count the sender cannot match fails the requests it covers and closes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 30 }), async (waiting, extra) => {
      const { link, peer, closed } = sealedPair({ coalesce: true });
      const answers = Array.from({ length: waiting }, (_, i) =>
        link.request(msg(`m${i}`)).then(
          () => 'answered',
          (e: ImspError) => e.code,
        ),
      );
      await peer.waitFor(waiting);
      peer.write(peer.batch([response(200, { Count: String(waiting + extra) })]));
      assert.deepEqual(await Promise.all(answers), Array(waiting).fill('ERR_BAD_VALUE'));
      assert.equal((await closed)?.code, 'ERR_BAD_VALUE');
    }),
    { numRuns: 40 },
  );
});

test('[SEAL-13] the wire of a batched sender opens, record by record, to what a one-per-envelope sender sends', async (t) => {
  const one = sealedPair({});
  const many = sealedPair({ coalesce: true });
  t.after(() => {
    one.link.close();
    many.link.close();
  });
  const msgs: Message[] = [msg('a'), request('TYPING', { From: 'joe', To: 'alice', Typing: 'typing' }), msg('b')];
  for (const m of msgs) {
    one.link.notify(m);
    many.link.notify(m);
  }
  await one.peer.waitFor(3);
  await many.peer.waitFor(3);
  assert.deepEqual(
    many.peer.messages.map((m) => encode(m).toString('latin1')),
    one.peer.messages.map((m) => encode(m).toString('latin1')),
  );
  assert.deepEqual(one.peer.envelopes, [1, 1, 1]);
  assert.deepEqual(many.peer.envelopes, [3]);
});
