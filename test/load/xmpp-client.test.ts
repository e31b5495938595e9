// The lean XMPP load generator of `make bench-xmpp` (issue 15): its SCRAM-SHA-256 client against
// RFC 7677's example, its marker scan across every chunk border, and a PLAIN and a SCRAM login with
// a marked presence against a scripted in-process server; and the /proc CPU reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import { XmppClient, markedPresence, scanMarks, scramFinal, type Mechanism } from '../../bench/xmpp/client.js';
import { cpuSeconds, cpuWindow, findPids, waitGroupsIdleOrBound, waitIdleOrBound } from '../../reference/load/cpu.js';
import { spawn } from 'node:child_process';
import { unfinishedReport, type StormResult } from '../../bench/xmpp/storm.js';

test('SCRAM-SHA-256 client-final and server signature match RFC 7677 section 3', () => {
  const r = scramFinal(
    'pencil',
    'n=user,r=rOprNGfwEbeRWgbNEkqO',
    'rOprNGfwEbeRWgbNEkqO',
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  );
  assert.equal(
    r.final,
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  );
  assert.equal(r.serverSignature, '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

test('SCRAM: a server nonce that does not extend ours, or a low iteration count, is refused', () => {
  assert.throws(() => scramFinal('p', 'n=u,r=abc', 'abc', 'r=xyz123,s=AAAA,i=4096'), /nonce/);
  assert.throws(() => scramFinal('p', 'n=u,r=abc', 'abc', 'r=abc123,s=AAAA,i=100'), /iteration/);
});

test('scanMarks counts every marker once, wherever the stream is cut', () => {
  const stream = `<presence from='a'/>${markedPresence(7)}<presence>x</presence>${markedPresence(1234567)}${markedPresence(0)}<message/>`;
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 8 }), (cuts) => {
      const at = [0, ...cuts.sort((a, b) => a - b), stream.length];
      const seen: number[] = [];
      let tail = '';
      for (let i = 1; i < at.length; i++)
        tail = scanMarks(tail, stream.slice(at[i - 1], at[i]), 0, (u) => seen.push(u));
      assert.deepEqual(seen, [7, 1234567, 0]);
    }),
  );
});

/** A scripted XMPP server: one account, PLAIN and SCRAM-SHA-256, bind, and an echo of the presence. */
async function fakeServer(
  t: { after: (f: () => void) => void },
  password: string,
): Promise<{ port: number; presences: string[] }> {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, 4096, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  const presences: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let buf = '';
    let authed = false;
    let scram: { bare: string; first: string } | null = null;
    const features = (): string =>
      authed
        ? "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
        : "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>";
    const text = (el: string): string =>
      Buffer.from(
        buf.slice(buf.indexOf('>', buf.indexOf(el)) + 1, buf.indexOf('</', buf.indexOf(el))),
        'base64',
      ).toString();
    s.on('data', (d) => {
      buf += d.toString();
      for (;;) {
        if (buf.startsWith('<?xml') && buf.includes("'>", buf.indexOf('<stream:stream'))) {
          buf = buf.slice(buf.indexOf("'>", buf.indexOf('<stream:stream')) + 2);
          s.write(
            `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' version='1.0'>${features()}`,
          );
        } else if (buf.includes('</auth>') && buf.includes("mechanism='PLAIN'")) {
          authed = text('<auth') === `\0alice\0${password}`;
          buf = buf.slice(buf.indexOf('</auth>') + 7);
          s.write(
            authed
              ? "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
              : "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
          );
        } else if (buf.includes('</auth>')) {
          const bare = text('<auth').slice(3);
          const first = `r=${bare.split('r=')[1]}srv,s=${salt.toString('base64')},i=4096`;
          scram = { bare, first };
          buf = buf.slice(buf.indexOf('</auth>') + 7);
          s.write(
            `<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(first).toString('base64')}</challenge>`,
          );
        } else if (buf.includes('</response>') && scram) {
          const final = text('<response');
          const withoutProof = final.slice(0, final.indexOf(',p='));
          const auth = `${scram.bare},${scram.first},${withoutProof}`;
          const proof = Buffer.from(final.slice(final.indexOf(',p=') + 3), 'base64');
          const sig = createHmac('sha256', storedKey).update(auth).digest();
          for (let i = 0; i < sig.length; i++) sig[i]! ^= proof[i]!;
          authed = createHash('sha256').update(sig).digest().equals(storedKey);
          buf = buf.slice(buf.indexOf('</response>') + 11);
          s.write(
            authed
              ? `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(`v=${createHmac('sha256', serverKey).update(auth).digest('base64')}`).toString('base64')}</success>`
              : "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
          );
        } else if (buf.includes('</iq>')) {
          buf = buf.slice(buf.indexOf('</iq>') + 5);
          s.write(
            "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/load</jid></bind></iq>",
          );
        } else if (buf.includes('</presence>') || buf.includes('<presence/>')) {
          const end = buf.includes('</presence>') ? buf.indexOf('</presence>') + 11 : buf.indexOf('<presence/>') + 11;
          presences.push(buf.slice(0, end));
          // Echo it to the user's own resource (RFC 6121 4.2.2), then a contact's marked presence (the
          // next user's marker), cut in two writes.
          const p = buf.slice(0, end);
          buf = buf.slice(end);
          s.write(p);
          const m = /<status>P(\d+)\./.exec(p);
          const contact = m ? markedPresence(Number(m[1]) + 1) : p;
          s.write(contact.slice(0, 12));
          s.write(contact.slice(12));
        } else if (buf.includes('</stream:stream>')) {
          s.end('</stream:stream>');
          buf = '';
        } else break;
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, presences };
}

for (const mechanism of ['PLAIN', 'SCRAM-SHA-256'] as Mechanism[]) {
  test(`a ${mechanism} login binds, sends the marked presence, counts a contact's marker once and not its own echo`, async (t) => {
    const srv = await fakeServer(t, 'secret');
    const marks: number[] = [];
    let recording = false;
    const c = new XmppClient(
      3,
      'alice',
      (u) => marks.push(u),
      () => recording,
    );
    t.after(() => c.close());
    recording = true;
    const r = await c.login(
      {
        host: '127.0.0.1',
        port: srv.port,
        domain: 'localhost',
        password: 'secret',
        mechanism,
        starttls: false,
        timeoutMs: 5000,
      },
      markedPresence(3),
    );
    assert.equal(r.ok, true, r.error);
    assert.ok(r.tDone >= r.tStart && r.tPresence >= r.tDone);
    await c.logout();
    assert.deepEqual(srv.presences, [markedPresence(3)]);
    assert.deepEqual(marks, [4]);
  });
}

test('a wrong password fails the login with a typed record, not a throw or a hang', async (t) => {
  const srv = await fakeServer(t, 'secret');
  for (const mechanism of ['PLAIN', 'SCRAM-SHA-256'] as Mechanism[]) {
    const c = new XmppClient(
      0,
      'alice',
      () => undefined,
      () => false,
    );
    const r = await c.login({
      host: '127.0.0.1',
      port: srv.port,
      domain: 'localhost',
      password: 'wrong',
      mechanism,
      starttls: false,
      timeoutMs: 5000,
    });
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /SASL failure/);
    c.close();
  }
});

test('a server that offers no STARTTLS is refused when TLS is required', async (t) => {
  const srv = await fakeServer(t, 'secret');
  const c = new XmppClient(
    0,
    'alice',
    () => undefined,
    () => false,
  );
  const r = await c.login({
    host: '127.0.0.1',
    port: srv.port,
    domain: 'localhost',
    password: 'secret',
    mechanism: 'PLAIN',
    starttls: true,
    timeoutMs: 5000,
  });
  assert.equal(r.ok, false);
  assert.match(r.error ?? '', /STARTTLS/);
  c.close();
});

test('cpuSeconds reads this process from /proc and a CPU window sees work done in it', () => {
  assert.ok((cpuSeconds(process.pid) ?? -1) >= 0);
  assert.equal(cpuSeconds(2 ** 22 + 12345), null);
  const w = cpuWindow([{ name: 'self', pid: process.pid, role: 'generator' }]);
  // Spin for 100 ms of this process's own CPU time (wall time would depend on the machine's load).
  const c0 = process.cpuUsage();
  let x = 0;
  const used = (): number => {
    const d = process.cpuUsage(c0);
    return (d.user + d.system) / 1e6;
  };
  while (used() < 0.1) x += Math.sqrt(x + 1);
  const r = w();
  const own = used();
  assert.ok(x > 0);
  // /proc counts in ticks of 10 ms.
  assert.ok(Math.abs(r.uses[0]!.seconds - own) <= 0.03, `/proc ${r.uses[0]!.seconds} s, cpuUsage ${own} s`);
  assert.ok(r.machineBusySeconds >= r.uses[0]!.seconds - 0.03);
  assert.ok(findPids('node').includes(process.pid));
});

test('waitIdleOrBound tells a server still busy at the bound from one that went idle (issue 15: an anchor cut short gives no ratio)', async (t) => {
  // A spinning process stays busy for the whole bound; a sleeping one is idle at its first step.
  const busy = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  const asleep = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => {
    busy.kill('SIGKILL');
    asleep.kill('SIGKILL');
  });
  // share 0.005 of a core: a spinning process gets far more than that even on a loaded machine.
  const b = await waitIdleOrBound([busy.pid], { share: 0.005, stepMs: 200, maxMs: 1000 });
  assert.equal(b.idle, false);
  assert.ok(b.waitedMs >= 1000);
  const s = await waitIdleOrBound([asleep.pid], { share: 0.005, stepMs: 200, maxMs: 5000 });
  assert.equal(s.idle, true);
  assert.ok(s.waitedMs < 5000);
});

test('waitGroupsIdleOrBound waits until every group is idle on its own: a busy generator holds the wait, sleeping groups do not (issue 15)', async (t) => {
  const busy = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  const a = spawn('sleep', ['30'], { stdio: 'ignore' });
  const b = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => {
    for (const c of [busy, a, b]) c.kill('SIGKILL');
  });
  const held = await waitGroupsIdleOrBound([[a.pid], [busy.pid]], { share: 0.005, stepMs: 200, maxMs: 1000 });
  assert.equal(held.idle, false);
  // At the bound the shares name the group still busy (a report of an anchor that did not finish says
  // whether the server or its generator was busy): the spinning one above the threshold, the sleeping one at 0.
  assert.equal(held.shares.length, 2);
  assert.equal(held.shares[0], 0);
  assert.ok(held.shares[1]! > 0.005, `busy group's share ${held.shares[1]}`);
  const free = await waitGroupsIdleOrBound([[a.pid], [b.pid]], { share: 0.005, stepMs: 200, maxMs: 5000 });
  assert.equal(free.idle, true);
  assert.ok(free.waitedMs < 5000);
});

test('an anchor that did not finish is reported with what it did and its own account, not dropped (issue 15, Appendix A.8)', () => {
  const bounds = { loginMaxMs: 600_000, idleMaxMs: 300_000 };
  const sum = { n: 10, p50: 5, p99: 9, max: 9 };
  const done: StormResult = {
    server: 'ejabberd SCRAM+TLS',
    users: 1000,
    attempted: 1000,
    ok: 1000,
    perSecond: 250,
    latency: sum,
    fanout: sum,
    expected: 500,
    delivered: 500,
    cpu: { uses: [{ name: 'ejabberd', role: 'server', seconds: 4 }], wallSeconds: 10, machineBusySeconds: 8, cores: 2 },
    tailMs: 2000,
    idle: true,
    errors: {},
  };
  assert.equal(unfinishedReport(done, bounds), null);
  const busy = unfinishedReport(
    {
      ...done,
      idle: false,
      tailMs: 300_400,
      busyAtBound: { server: 0.83, generator: 0.02, diagnosis: 'run queue 3\nlongest message queues: []' },
    },
    bounds,
  );
  assert.ok(busy);
  assert.match(busy, /^ejabberd SCRAM\+TLS at 1000: did not finish in 300 s: 1000\/1000 logged in/);
  assert.match(busy, /server 83% of a core, load generator 2%/);
  assert.match(busy, /500\/500 pushes delivered/);
  // the server's own account follows, indented, line by line
  assert.match(busy, /\n {4}ejabberd SCRAM\+TLS at the bound: run queue 3\n {4}longest message queues/);
  const cut = unfinishedReport({ ...done, attempted: 700, ok: 690 }, bounds);
  assert.match(cut ?? '', /did not finish in 600 s: 690\/1000 logged in .*logins cut at the 600 s bound \(700 tried\)/);
});
