// One small fast-check command per protocol action (STYLE.md: fast-check's model-based testing).
// `check` is the precondition on the model, `run` acts on the real system, asserts what the spec
// requires of the immediate answer, updates the model, then waits until the real system's quiet
// state equals the model's (World.settle). `toString` makes shrunk counterexamples readable.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientError } from '../../reference/client/client.js';
import { ProtoClient } from '../helpers/proto-client.js';
import type { Model, Status } from './model.js';
import { FAST_LIMITS, type World } from './world.js';

type Cmd = fc.AsyncCommand<Model, World>;

async function outcome(p: Promise<unknown>): Promise<{ status: number; code?: string }> {
  try {
    const v = await p;
    return { status: v === 'stored' ? 202 : 200 };
  } catch (e) {
    if (e instanceof ClientError) return { status: e.status, code: e.code };
    throw e;
  }
}

function expectOutcome(
  got: { status: number; code?: string },
  want: { status: number; code?: string },
  what: string,
): void {
  assert.equal(
    got.status,
    want.status,
    `${what}: status ${got.status} ${got.code ?? ''}, spec requires ${want.status} ${want.code ?? ''}`,
  );
  if (want.code) assert.equal(got.code, want.code, `${what}: error code`);
}

/** [LOGIN-*][INV-1] [INV-4] Log in at an MS; refused while already online; the bundle carries the pending ADDs. */
export class Login implements Cmd {
  constructor(
    readonly user: string,
    readonly ms: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.msUp[this.ms] === true;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const client = w.newClient(this.user, this.ms);
    const got = await outcome(client.login());
    if (m.isOnline(this.user)) {
      // [LOCK-2] a second login while online is denied; the first session is untouched.
      expectOutcome(got, { status: 409, code: 'ERR_ALREADY_ONLINE' }, `second login of ${this.user}`);
      await client.close();
    } else {
      expectOutcome(got, { status: 200 }, `login of ${this.user}`);
      m.online.set(this.user, { ms: this.ms, status: 'online' });
      w.clients.set(this.user, client);
      // [ADD-3] [INV-4] every unanswered, deliverable ADD is in the login bundle.
      assert.deepEqual(
        [...client.contacts.requests.keys()].sort(),
        m.deliverableRequests(this.user),
        `[INV-4] requests delivered to ${this.user} at login`,
      );
    }
    w.modelChanged();
    await w.settle();
  }
  toString(): string {
    return `login(${this.user}, ms${this.ms})`;
  }
}

export class Logout implements Cmd {
  constructor(readonly user: string) {}
  check(m: Readonly<Model>): boolean {
    return m.isOnline(this.user);
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const c = w.clients.get(this.user)!;
    await c.logout();
    // [INV-5] no session key survives a logout.
    assert.equal(c.sessionKeyCount(), 0, `${this.user} holds session keys after logout`);
    w.clients.delete(this.user);
    m.online.delete(this.user);
    w.modelChanged();
    await w.settle();
  }
  toString(): string {
    return `logout(${this.user})`;
  }
}

/** The client vanishes without LOGOUT (its connection drops): the MS must end the session. */
export class Vanish implements Cmd {
  constructor(readonly user: string) {}
  check(m: Readonly<Model>): boolean {
    return m.isOnline(this.user);
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    w.dropClient(this.user);
    m.online.delete(this.user);
    w.modelChanged();
    await w.settle();
  }
  toString(): string {
    return `vanish(${this.user})`;
  }
}

/** [HB-2] A client that logs in and then says nothing is logged out by the session timeout. */
export class SilentSession implements Cmd {
  constructor(
    readonly user: string,
    readonly ms: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return !m.isOnline(this.user) && m.msUp[this.ms] === true;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const ms = w.cluster.ms[this.ms];
    const p = await ProtoClient.connect(ms.address);
    try {
      const r = await p.login(this.user, m.passwords.get(this.user)!);
      assert.ok(r.ok, `silent login of ${this.user}: ${r.result?.status ?? r.challenge.status}`);
      // Silent means silent: stop reading, so that not even the MS's PINGs are answered [HB-5].
      const ended = new Promise<string>((resolve) => {
        const on = (user: string, reason: string): void => {
          if (user !== this.user) return;
          ms.off('logout', on);
          resolve(reason);
        };
        ms.on('logout', on);
      });
      p.socket.pause();
      // The MS must end the session by itself [HB-2], within a bound; settle() then checks the record.
      let timer: NodeJS.Timeout | undefined;
      const bound = 4 * FAST_LIMITS.sessionTimeout + 5000;
      const outcome = await Promise.race([ended, new Promise<null>((r) => (timer = setTimeout(() => r(null), bound)))]);
      clearTimeout(timer);
      assert.notEqual(outcome, null, `[HB-2] the MS did not end ${this.user}'s silent session within ${bound} ms`);
    } finally {
      p.destroy();
    }
    await w.settle();
  }
  toString(): string {
    return `silentSession(${this.user}, ms${this.ms})`;
  }
}

/** [INV-2] [LOCK-3] A client stops after the challenge and keeps its connection: only the lock lease frees the record. */
export class StallAfterChallenge implements Cmd {
  constructor(
    readonly user: string,
    readonly ms: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return !m.isOnline(this.user) && m.msUp[this.ms] === true;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const p = await ProtoClient.connect(w.cluster.ms[this.ms].address);
    try {
      const r = await p.login(this.user, m.passwords.get(this.user)!, { stopAfterChallenge: true });
      assert.equal(r.challenge.status, 300, 'challenge');
      p.socket.pause();
      // The MS's handshakeTimeout (10 s) is longer than settle's bound: the lease (2 s) must end the lock.
      await w.settle();
    } finally {
      p.destroy();
    }
  }
  toString(): string {
    return `stallAfterChallenge(${this.user}, ms${this.ms})`;
  }
}

/** [INV-2] [LOCK-3] The MS dies between granting the lock (challenge sent) and the proof. */
export class KillMidLogin implements Cmd {
  constructor(
    readonly user: string,
    readonly ms: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return !m.isOnline(this.user) && m.msUp[this.ms] === true && m.upMs().length > 1;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const p = await ProtoClient.connect(w.cluster.ms[this.ms].address);
    const r = await p.login(this.user, m.passwords.get(this.user)!, { stopAfterChallenge: true });
    assert.equal(r.challenge.status, 300, 'challenge');
    w.killMs(this.ms);
    p.destroy();
    w.modelChanged();
    // Settling requires the record offline again: the lock was freed by its lease or the MS's death.
    await w.settle();
  }
  toString(): string {
    return `killMidLogin(${this.user}, ms${this.ms})`;
  }
}

export class CrashMs implements Cmd {
  constructor(readonly ms: number) {}
  check(m: Readonly<Model>): boolean {
    return m.msUp[this.ms] === true && m.upMs().length > 1;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    w.killMs(this.ms);
    w.modelChanged();
    await w.settle();
  }
  toString(): string {
    return `crashMs(ms${this.ms})`;
  }
}

export class StartMs implements Cmd {
  check(m: Readonly<Model>): boolean {
    return m.msUp.length < 5;
  }
  async run(_m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    await w.startMs();
    await w.settle();
  }
  toString(): string {
    return 'startMs()';
  }
}

/** [INV-7] [PERSIST-1] [PERSIST-2] The CRS restarts: sessions end, everything accepted survives. */
export class RestartCrs implements Cmd {
  check(): boolean {
    return true;
  }
  async run(_m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    await w.restartCrs();
    w.modelChanged();
    // Settling compares relations, pending ADDs (at the next logins) and blocks with the model.
    await w.settle();
  }
  toString(): string {
    return 'restartCrs()';
  }
}

export class SetStatus implements Cmd {
  constructor(
    readonly user: string,
    readonly status: Status,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.isOnline(this.user);
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    await w.clients.get(this.user)!.setStatus(this.status);
    m.online.get(this.user)!.status = this.status;
    w.modelChanged();
    await w.settle();
  }
  toString(): string {
    return `status(${this.user}, ${this.status})`;
  }
}

/** ADD, ANSWER, REM, BLOCK, UNBLOCK: the answer the spec requires, then the settled state. */
export class Relate implements Cmd {
  constructor(
    readonly op: 'add' | 'grant' | 'deny' | 'rem' | 'block' | 'unblock',
    readonly user: string,
    readonly other: string,
  ) {}
  check(m: Readonly<Model>): boolean {
    if (!m.isOnline(this.user) || this.user === this.other) return false;
    // An answer is only sent for a request the client was shown.
    if (this.op === 'grant' || this.op === 'deny')
      return m.hasPending(this.other, this.user) && !m.blocksUser(this.user, this.other);
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const c = w.clients.get(this.user)!;
    // The model (the spec's oracle) moves first, and the leak check learns the new relation before
    // the request is sent: the CRS pushes CONTACT before it answers, so pushes may beat the answer.
    let want: { status: number; code?: string };
    let call: () => Promise<unknown>;
    switch (this.op) {
      case 'add':
        want = m.add(this.user, this.other);
        call = () => c.add(this.other);
        break;
      case 'grant':
      case 'deny': {
        const d = this.op;
        want = m.answer(this.user, this.other, d);
        call = () => c.answer(this.other, d);
        break;
      }
      case 'rem':
        want = m.rem(this.user, this.other);
        call = () => c.rem(this.other);
        break;
      case 'block':
        want = m.block(this.user, this.other);
        call = () => c.block(this.other);
        break;
      case 'unblock':
        want = m.unblock(this.user, this.other);
        call = () => c.unblock(this.other);
        break;
    }
    w.modelChanged();
    const got = await outcome(call());
    // 200 and 202 both mean "accepted"; which one is the spec's [ADD-2] choice, checked too.
    expectOutcome(got, want, this.toString());
    await w.settle();
  }
  toString(): string {
    return `${this.op}(${this.user} -> ${this.other})`;
  }
}

/** ADD then grant: two users become buddies (so that presence, sessions and blocks have buddies to act on). */
export class Befriend implements Cmd {
  constructor(
    readonly user: string,
    readonly other: string,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.isOnline(this.user) && m.isOnline(this.other) && this.user !== this.other;
  }
  async run(m: Model, w: World): Promise<void> {
    const add = new Relate('add', this.user, this.other);
    await add.run(m, w);
    const grant = new Relate('grant', this.other, this.user);
    if (grant.check(m)) await grant.run(m, w);
  }
  toString(): string {
    return `befriend(${this.user}, ${this.other})`;
  }
}

/** [P2P-3] [INV-5] [INV-6] A message reaches a buddy; anyone else refuses it and sees nothing. */
export class Send implements Cmd {
  private static n = 0;
  constructor(
    readonly from: string,
    readonly to: string,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.isOnline(this.from) && m.isOnline(this.to) && this.from !== this.to;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const text = `hello ${++Send.n}`;
    const c = w.clients.get(this.from)!;
    const got = await outcome(c.send(this.to, text));
    const key = `${this.from}>${this.to}:${text}`;
    if (m.mayWatch(this.from, this.to)) {
      expectOutcome(got, { status: 200 }, this.toString());
      await w.until(async () => (w.received.includes(key) ? null : `${this.to} has not received ${text}`));
    } else {
      assert.notEqual(got.status, 200, `${this.toString()} to a non-buddy succeeded`);
      assert.ok(!w.received.includes(key), 'a refused message was delivered');
    }
    await w.settle();
  }
  toString(): string {
    return `send(${this.from} -> ${this.to})`;
  }
}

/** [PASSWD-*] A password change: the next login needs the new password, the old one fails. */
export class Passwd implements Cmd {
  private static n = 0;
  constructor(readonly user: string) {}
  check(m: Readonly<Model>): boolean {
    return m.isOnline(this.user);
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const pw = `new-${this.user}-${++Passwd.n}`;
    await w.clients.get(this.user)!.passwd(m.passwords.get(this.user)!, pw);
    m.passwords.set(this.user, pw);
    await w.settle();
  }
  toString(): string {
    return `passwd(${this.user})`;
  }
}

/** [AUTH-8] A wrong password is refused and leaves the user's record as it was. */
export class WrongPassword implements Cmd {
  constructor(
    readonly user: string,
    readonly ms: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return !m.isOnline(this.user) && m.msUp[this.ms] === true;
  }
  async run(m: Model, w: World): Promise<void> {
    w.beginStep(this.toString());
    const c = w.newClient(this.user, this.ms, `not-${m.passwords.get(this.user)}`);
    const got = await outcome(c.login());
    await c.close();
    expectOutcome(got, { status: 401, code: 'ERR_AUTH_FAILED' }, `wrong password for ${this.user}`);
    await w.settle();
  }
  toString(): string {
    return `wrongPassword(${this.user}, ms${this.ms})`;
  }
}

/**
 * [INV-3] [PRESENCE-9] Two users log in at (nearly) the same moment, the second `gapMs` after the
 * first, each over a link that delivers in bursts of `burstMs` (so that the login bundle and the
 * pushes right after it arrive together while the client opens its key blob). Whoever of the two
 * is online logs out first. Both logins must succeed, and settle() then checks that each sees the
 * other as the model says (buddies see each other online) [INV-3].
 */
export class LoginTogether implements Cmd {
  constructor(
    readonly a: string,
    readonly b: string,
    readonly msA: number,
    readonly msB: number,
    readonly gapMs: number,
    readonly burstMs: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return this.a !== this.b && m.msUp[this.msA] === true && m.msUp[this.msB] === true;
  }
  async run(m: Model, w: World): Promise<void> {
    for (const u of [this.a, this.b]) if (m.isOnline(u)) await new Logout(u).run(m, w);
    w.beginStep(this.toString());
    const [ca, cb] = await Promise.all([
      w.newBurstClient(this.a, this.msA, this.burstMs),
      w.newBurstClient(this.b, this.msB, this.burstMs),
    ]);
    // The model moves first: pushes about the two logins may reach their buddies before login() returns.
    m.online.set(this.a, { ms: this.msA, status: 'online' });
    m.online.set(this.b, { ms: this.msB, status: 'online' });
    w.modelChanged();
    // The gap is part of the scenario (two people pressing enter 0 to 40 ms apart), not a wait for a result.
    const second = new Promise<{ status: number; code?: string }>((resolve) =>
      setTimeout(() => resolve(outcome(cb.login())), this.gapMs),
    );
    const [ga, gb] = await Promise.all([outcome(ca.login()), second]);
    // Held by the world either way, so that dispose() closes them if an assertion below fails.
    w.clients.set(this.a, ca);
    w.clients.set(this.b, cb);
    expectOutcome(ga, { status: 200 }, `login of ${this.a}`);
    expectOutcome(gb, { status: 200 }, `login of ${this.b}`);
    await w.settle();
  }
  toString(): string {
    return `loginTogether(${this.a}@ms${this.msA}, ${this.b}@ms${this.msB}, gap ${this.gapMs} ms, burst ${this.burstMs} ms)`;
  }
}

/** The command generators over `users` and MS indexes below `maxMs`. */
export function commandArbitraries(users: readonly string[], maxMs: number): Array<fc.Arbitrary<Cmd>> {
  const user = fc.constantFrom(...users);
  const ms = fc.integer({ min: 0, max: maxMs - 1 });
  const two = fc.tuple(user, user).filter(([a, b]) => a !== b);
  const rel = fc.constantFrom('add', 'add', 'grant', 'deny', 'rem', 'block', 'unblock') as fc.Arbitrary<Relate['op']>;
  const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T>[] =>
    Array.from({ length: weight }, () => arbitrary);
  return [
    ...weighted(
      3,
      fc.tuple(user, ms).map(([u, i]) => new Login(u, i)),
    ),
    user.map((u) => new Logout(u)),
    user.map((u) => new Vanish(u)),
    ...weighted(
      5,
      fc.tuple(rel, two).map(([op, [a, b]]) => new Relate(op, a, b)),
    ),
    ...weighted(
      3,
      two.map(([a, b]) => new Befriend(a, b)),
    ),
    ...weighted(
      2,
      fc
        .tuple(two, ms, ms, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 150 }))
        .map(([[a, b], i, j, gap, burst]) => new LoginTogether(a, b, i, j, gap, burst)),
    ),
    fc.tuple(user, fc.constantFrom<Status>('online', 'busy', 'away')).map(([u, s]) => new SetStatus(u, s)),
    ...weighted(
      3,
      two.map(([a, b]) => new Send(a, b)),
    ),
    ms.map((i) => new CrashMs(i)),
    fc.constant(new StartMs()),
    fc.constant(new RestartCrs()),
    fc.tuple(user, ms).map(([u, i]) => new KillMidLogin(u, i)),
    fc.tuple(user, ms).map(([u, i]) => new StallAfterChallenge(u, i)),
    fc.tuple(user, ms).map(([u, i]) => new SilentSession(u, i)),
    user.map((u) => new Passwd(u)),
    fc.tuple(user, ms).map(([u, i]) => new WrongPassword(u, i)),
  ];
}
