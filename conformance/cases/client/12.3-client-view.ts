// [§12.3 Client session (at the client)]: state-machine fuzzing of the client's session with its MS
// (spec/machines/client-view.json through generated/machines.ts), the kit playing the MS. Random
// sequences of: a login the kit answers well or wrongly (a challenge whose Nonce is not the client's,
// Iterations over scramMaxIterations, LOGIN refused 503, PROOF refused 401, a Server-proof that does
// not verify, an MS that goes silent after LOGIN or after PROOF until the client's handshakeTimeout
// gives up [CONN-13]), and in the active session a PING from the MS, NOTICE ERR_RATE_LIMITED, NOTICE
// ERR_SESSION_ENDED, the user's logout, the MS's connection lost, the MS falling silent past the
// Session-timeout it announced (short: the kit announces it in the login response [HB-11]), and
// PRESENCE pushes about a buddy in random order. Each step's expected outcome is the transition the
// table takes, seen through the control interface ([§90.6 The Client Control Interface]: the result
// of `login`, the `logout` event, `contacts`) and on the wire (PROOF sent or not, the link closed).
import fc from 'fast-check';
import { findTransition, request, response, type MachineTransition } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext, KitAccount, Peer } from '../../lib/client-context.js';
import type { Conn } from '../../lib/conn.js';
import type { ControlEvent, ControlledClient } from '../../lib/control.js';
import { fuzzCommands, machineReqs } from '../../lib/model-fuzz.js';

type VState = 'connected' | 'login-sent' | 'proof-sent' | 'active' | 'logout-sent' | 'ended';
interface Model {
  state: VState;
  /** The buddy's status as the last push said. */
  buddy: string;
  /** Silent logins the case may still wait out (over all its sequences): its run time stays bounded. */
  silentLeft: number;
}
interface Real {
  ctx: ClientContext;
  c: ControlledClient;
  a: KitAccount;
  p: Peer;
  /** The kit MS's end of the active session. */
  ms: Conn | null;
  log: string[];
  counts: Map<string, number>;
  /** The silent logins left to the case, over all its sequences. */
  silent: { left: number };
}

/** Heartbeat and Session-timeout the kit MS announces: short, so that SILENCE costs a few seconds. */
const HEARTBEAT = 1000;
const SESSION_TIMEOUT = 3000;

function must(s: VState, e: string, g: Record<string, boolean> = {}): MachineTransition {
  const t = findTransition('client-view', s as never, e as never, g as never) as MachineTransition | null;
  if (!t) throw new Error(`spec/machines/client-view.json has no transition for ${e} in ${s}`);
  return t;
}

/** The session ended at the client: its `logout` event after `mark`, and the MS link closed. */
async function expectEnded(r: Real, mark: number, req: string, what: string): Promise<void> {
  const ctx: ClientContext = r.ctx;
  ctx.must(
    await r.c.waitFor((e) => e.event === 'logout', ctx.timeout, mark),
    req,
    `${what}: the client must end its session (a logout event)`,
  );
  if (r.ms) ctx.must(await r.ms.closedWithin(ctx.timeout), req, `${what}: the client must close the MS connection`);
  r.ms = null;
}

/** The session is still active: a PING from the MS is answered 200 [HB-5]. */
async function expectActive(r: Real, req: string, what: string): Promise<void> {
  const ctx: ClientContext = r.ctx;
  const ms = r.ms;
  ctx.must(ms && !ms.closed, req, `${what}: the session must go on; the client closed the MS connection`);
  const res = await ms.request(request('PING', []), ctx.timeout).catch(() => null);
  ctx.must(res?.status === 200, req, `${what}: the session must go on; a PING got ${res ? res.status : 'no answer'}`);
}

abstract class Cmd implements fc.AsyncCommand<Model, Real> {
  abstract check(m: Readonly<Model>): boolean;
  abstract step(m: Model, r: Real): Promise<void>;
  abstract toString(): string;
  async run(m: Model, r: Real): Promise<void> {
    r.counts.set(this.toString(), (r.counts.get(this.toString()) ?? 0) + 1);
    await this.step(m, r);
    r.log.push(`${this} -> ${m.state}`);
  }
}

type LoginVariant =
  | 'well answered'
  | 'challenge Nonce not the client nonce'
  | 'challenge Iterations over scramMaxIterations'
  | 'LOGIN refused 503'
  | 'PROOF refused 401'
  | 'Server-proof that does not verify'
  | 'LOGIN unanswered'
  | 'PROOF unanswered';

/** The variants in which the kit MS goes silent: each waits out the client's handshakeTimeout. */
const SILENT: Partial<Record<LoginVariant, 'LOGIN' | 'PROOF'>> = {
  'LOGIN unanswered': 'LOGIN',
  'PROOF unanswered': 'PROOF',
};

class Login extends Cmd {
  constructor(readonly v: LoginVariant) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return m.state !== 'active' && (SILENT[this.v] === undefined || m.silentLeft > 0);
  }
  toString(): string {
    return `login, ${this.v}`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a = r.a;
    // A new connection: a new instance of the machine, in connected.
    a.foreignNonce = this.v === 'challenge Nonce not the client nonce';
    a.badServerProof = this.v === 'Server-proof that does not verify';
    if (this.v === 'challenge Iterations over scramMaxIterations')
      a.challengeIterations = ctx.limits.get('scramMaxIterations') + 1;
    else delete a.challengeIterations;
    a.loginFault = () =>
      this.v === 'LOGIN refused 503'
        ? {
            refuse: response(503, [
              ['Error-code', 'ERR_UNAVAILABLE'],
              ['Retry-after', '60000'],
            ]),
          }
        : this.v === 'PROOF refused 401'
          ? { proof401: true }
          : SILENT[this.v]
            ? { silent: SILENT[this.v] }
            : undefined;
    // What the client sends in answer to this step arrives after this mark (an order, not a time:
    // the last PROOF of the step before can share the millisecond this step starts in).
    const mark = ctx.svc.mark;
    const send = must('connected', 'SEND_LOGIN');
    const silent = SILENT[this.v];
    if (silent) {
      m.silentLeft--;
      r.silent.left--;
    }
    // A silent MS is given up at the client's handshakeTimeout, judged late after twice it [§11.1 Heartbeats].
    const hs = ctx.limits.get('handshakeTimeout');
    const res = await r.c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4 + (silent ? 2 * hs : 0));
    const login = ctx.handshakesAfter(mark, a).find((h) => h.method === 'LOGIN');
    ctx.must(login, send.reqs[0]!, `${this}: the client must send LOGIN`);
    const proofSent = ctx.handshakesAfter(mark, a).some((h) => h.method === 'PROOF');
    if (silent === 'LOGIN') {
      ctx.must(!proofSent, send.reqs[0]!, `${this}: the client sent PROOF to a LOGIN nobody answered`);
      return this.gaveUp(m, r, res, 'login-sent');
    }
    if (this.v === 'LOGIN refused 503') {
      const t = must('login-sent', 'REFUSED');
      ctx.must(
        res?.event === 'error' && !proofSent,
        t.reqs[0]!,
        `${this}: transition '${t.name}' reports the error and sends nothing more; got ${JSON.stringify(res)}${proofSent ? ', and a PROOF' : ''}`,
      );
      m.state = t.to as VState;
      return;
    }
    const challengeOk = !a.foreignNonce && a.challengeIterations === undefined;
    const ch = must('login-sent', 'CHALLENGE', { 'challenge-ok': challengeOk });
    if (!challengeOk) {
      ctx.must(
        !proofSent && res?.event === 'error',
        ch.reqs[0]!,
        `${this}: transition '${ch.name}' closes without PROOF; got ${JSON.stringify(res)}${proofSent ? ', and a PROOF' : ''}`,
      );
      m.state = ch.to as VState;
      return;
    }
    ctx.must(proofSent, ch.reqs[0]!, `${this}: transition '${ch.name}' sends PROOF; the client sent none`);
    if (silent) return this.gaveUp(m, r, res, 'proof-sent');
    await this.answered(m, r, res, mark);
  }

  /**
   * The kit MS went silent in `state` (login-sent: LOGIN unanswered; proof-sent: PROOF unanswered):
   * transition handshake-timeout [CONN-13] fails the login and closes the connection once the client's
   * handshakeTimeout has passed since it opened. The kit judges only the late side (twice the timer
   * plus its answer timeout [§11.1 Heartbeats]): a client may give up sooner on its own requestTimeout [CONN-5].
   */
  private async gaveUp(m: Model, r: Real, res: ControlEvent | null, state: VState): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const t = must(state, 'TIMEOUT');
    const req = t.reqs[0]!;
    const hs = ctx.limits.get('handshakeTimeout');
    const s = ctx.svc.silenced.get(r.a.name);
    ctx.must(s, req, `${this}: the kit MS saw no login connection to go silent on`);
    try {
      const closed = await s.conn.closedWithin(Math.max(0, s.opened + 2 * hs + ctx.timeout - Date.now()));
      const after = Date.now() - s.opened;
      r.log.push(
        `${this} -> ${closed ? `closed after ${after} ms` : 'still open'} (handshakeTimeout ${hs} ms, transition ${t.name})`,
      );
      ctx.must(
        closed,
        req,
        `${this}: transition '${t.name}' closes a login connection whose handshake the MS left unanswered for the client's handshakeTimeout (${hs} ms); still open after ${after} ms`,
      );
      ctx.must(
        res?.event === 'error',
        req,
        `${this}: transition '${t.name}' reports the login failed; got ${JSON.stringify(res)}`,
      );
    } finally {
      s.conn.destroy();
      ctx.svc.silenced.delete(r.a.name);
    }
    m.state = t.to as VState;
  }

  /** What the kit answered to PROOF: 401, a Server-proof that does not verify, or the login's 200. */
  private async answered(m: Model, r: Real, res: ControlEvent | null, mark: number): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a = r.a;
    if (this.v === 'PROOF refused 401') {
      const t = must('proof-sent', 'REFUSED');
      ctx.must(
        res?.event === 'error',
        t.reqs[0]!,
        `${this}: transition '${t.name}' reports the error; got ${JSON.stringify(res)}`,
      );
      m.state = t.to as VState;
      return;
    }
    const good = !a.badServerProof;
    const t = must('proof-sent', 'ACCEPTED', { 'server-proof-ok': good });
    if (!good) {
      const ms = ctx.svc.sessions.get(a.name);
      ctx.must(
        res?.event === 'error',
        t.reqs[0]!,
        `${this}: transition '${t.name}' closes without using the response; the login succeeded: ${JSON.stringify(res)}`,
      );
      ctx.must(
        !ms || (await ms.closedWithin(ctx.timeout)),
        t.reqs[0]!,
        `${this}: the client must close the connection`,
      );
      ctx.must(
        !ctx.svc.requests.some((q) => q.user === a.name && q.seq > mark),
        t.reqs[0]!,
        `${this}: the client must not use the session (it sent a request on it)`,
      );
      m.state = t.to as VState;
      return;
    }
    ctx.must(res?.event === 'ok', t.reqs[0]!, `${this}: transition '${t.name}' logs in; got ${JSON.stringify(res)}`);
    r.ms = ctx.ms(a);
    m.state = t.to as VState;
    m.buddy = 'online';
  }
}

type ActiveEvent =
  | 'PING from the MS'
  | 'NOTICE ERR_RATE_LIMITED'
  | 'NOTICE ERR_SESSION_ENDED'
  | 'logout'
  | 'the MS connection lost'
  | 'the MS silent past Session-timeout';

class Active extends Cmd {
  constructor(readonly ev: ActiveEvent) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return m.state === 'active';
  }
  toString(): string {
    return this.ev;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const ms = r.ms!;
    const mark = r.c.events.length;
    switch (this.ev) {
      case 'PING from the MS': {
        const t = must('active', 'PING');
        const res = await ms.request(request('PING', []), ctx.timeout).catch(() => null);
        ctx.must(
          res?.status === 200,
          t.reqs[0]!,
          `${this}: transition '${t.name}' answers 200; got ${res ? res.status : 'no answer'}`,
        );
        m.state = t.to as VState;
        return;
      }
      case 'NOTICE ERR_RATE_LIMITED': {
        const t = must('active', 'NOTICE_RATE');
        ms.send(
          request('NOTICE', [
            ['Error-code', 'ERR_RATE_LIMITED'],
            ['Retry-after', '100'],
          ]),
        );
        await expectActive(r, t.reqs[0]!, `${this} (transition '${t.name}')`);
        m.state = t.to as VState;
        return;
      }
      case 'NOTICE ERR_SESSION_ENDED': {
        const t = must('active', 'NOTICE_END');
        ms.send(request('NOTICE', [['Error-code', 'ERR_SESSION_ENDED']]));
        await expectEnded(r, mark, t.reqs[0]!, `${this} (transition '${t.name}')`);
        m.state = t.to as VState;
        return;
      }
      case 'logout': {
        const t = must('active', 'SEND_LOGOUT');
        const done = must(t.to as VState, 'ACCEPTED');
        const mark0 = ctx.svc.mark;
        const res = await r.c.command('logout', ctx.timeout * 2);
        ctx.must(
          ctx.msRequests(r.a, 'LOGOUT').some((q) => q.seq > mark0),
          t.reqs[0]!,
          `${this}: transition '${t.name}' sends LOGOUT`,
        );
        ctx.must(res?.event === 'ok', done.reqs[0]!, `${this}: the logout must succeed; got ${JSON.stringify(res)}`);
        await expectEnded(r, mark, done.reqs[0]!, `${this} (transition '${done.name}')`);
        m.state = done.to as VState;
        return;
      }
      case 'the MS connection lost': {
        const t = must('active', 'CLOSED');
        ms.destroy();
        await expectEnded(r, mark, t.reqs[0]!, `${this} (transition '${t.name}')`);
        m.state = t.to as VState;
        return;
      }
      case 'the MS silent past Session-timeout': {
        const t = must('active', 'SILENCE');
        ms.auto = null; // no answer, no push
        const t0 = Date.now();
        const out = await r.c.waitFor((e) => e.event === 'logout', SESSION_TIMEOUT + 3 * ctx.timeout, mark);
        ctx.must(
          out,
          t.reqs[0]!,
          `${this}: the MS was silent for ${Date.now() - t0} ms (Session-timeout ${SESSION_TIMEOUT}): transition '${t.name}' ends the session`,
        );
        ctx.must(
          Date.now() - t0 >= SESSION_TIMEOUT - 2 * HEARTBEAT,
          t.reqs[0]!,
          `${this}: the client ended the session after ${Date.now() - t0} ms of silence, long before the Session-timeout ${SESSION_TIMEOUT}`,
        );
        ctx.must(await ms.closedWithin(ctx.timeout), t.reqs[0]!, `${this}: the client must close the MS connection`);
        r.ms = null;
        m.state = t.to as VState;
        return;
      }
    }
  }
}

type BuddyStatus = 'online' | 'away' | 'busy' | 'offline';

/** A PRESENCE push about the buddy: the client's view of it follows the last push [PRESENCE-9]. */
class Presence extends Cmd {
  constructor(readonly s: BuddyStatus) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return m.state === 'active';
  }
  toString(): string {
    return `PRESENCE ${this.s}`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const p = r.p;
    r.ms!.send(
      request('PRESENCE', [
        ['User', p.name],
        ['Status', this.s],
        ...(this.s === 'offline'
          ? []
          : ([
              ['Address', p.address],
              ['Public-key', p.identity.publicKey],
            ] as [string, string][])),
      ]),
    );
    m.buddy = this.s;
    const deadline = Date.now() + ctx.timeout;
    let seen: string | undefined;
    for (;;) {
      const res = await r.c.command('contacts', ctx.timeout);
      const list = (res?.contacts as { user?: string; status?: string }[] | undefined) ?? [];
      seen = list.find((x) => x.user === p.name)?.status;
      if (seen === this.s || Date.now() >= deadline) break;
    }
    ctx.must(
      seen === this.s,
      'PRESENCE-9',
      `${this}: the client's view of the buddy must follow the last push (${this.s}); contacts says ${seen}`,
    );
  }
}

// One constant per command and variant: fc.commands draws among them uniformly, whereas a variant drawn
// inside one arbitrary favours the first values, and the last ones were rarely reached in 30 sequences.
const LOGINS: LoginVariant[] = [
  'well answered',
  'well answered',
  'well answered',
  'challenge Nonce not the client nonce',
  'challenge Iterations over scramMaxIterations',
  'LOGIN refused 503',
  'PROOF refused 401',
  'Server-proof that does not verify',
  'LOGIN unanswered',
  'PROOF unanswered',
];
const ACTIVE: ActiveEvent[] = [
  'PING from the MS',
  'NOTICE ERR_RATE_LIMITED',
  'NOTICE ERR_SESSION_ENDED',
  'logout',
  'the MS connection lost',
  'the MS silent past Session-timeout',
];
const commands = [
  ...LOGINS.map((v) => fc.constant(new Login(v))),
  ...ACTIVE.map((e) => fc.constant(new Active(e))),
  ...(['online', 'away', 'busy', 'offline'] as const).map((st) => fc.constant(new Presence(st))),
];

export const clientViewFuzzCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/fuzz/2',
    section: 'fuzz',
    title:
      "state-machine fuzzing of the client's session with its MS: logins answered well or wrongly, PING, NOTICE ERR_RATE_LIMITED and ERR_SESSION_ENDED, logout, the connection lost, silence past Session-timeout and PRESENCE pushes follow the machine table",
    reqs: machineReqs('client-view', ['PRESENCE-9', 'STATE-4']),
    fuzz: true,
    timers: ['client-view/silence', 'client-view/handshake-timeout'],
    async run(ctx: ClientContext) {
      // A silent login (TIMEOUT) waits out the client's handshakeTimeout: a few per case (about 15 s in
      // all), none when it is long, unless --slow.
      const hs = ctx.limits.get('handshakeTimeout');
      const silent = { left: ctx.opts.slow || hs <= 5000 ? Math.min(5, Math.max(1, Math.floor(15000 / hs))) : 0 };
      if (silent.left === 0)
        ctx.note(
          `no silent login (transition handshake-timeout not fired): handshakeTimeout ${hs} ms; pass --slow, or --set handshakeTimeout=N (N <= 5000) matching the client`,
        );
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)], { heartbeat: HEARTBEAT, sessionTimeout: SESSION_TIMEOUT });
      let c = await ctx.startClient(a);
      let lastLog: string[] = [];
      const counts = new Map<string, number>();
      const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
        const real: Real = { ctx, c, a, p, ms: null, log: [], counts, silent };
        lastLog = real.log;
        // Nothing of an earlier sequence is still on its way: the client runs its commands in order,
        // so once this one is answered every earlier one (say, a login that outlived a failed check)
        // has finished, and what arrives from now on belongs to this sequence.
        await c.command('contacts', ctx.readyTimeout);
        // A fresh start: not logged in (a sequence may end in the active state).
        const left = ctx.svc.sessions.get(a.name);
        if (left && !left.closed) {
          await c.command('logout', ctx.timeout * 2);
          left.destroy();
        }
        await fc.asyncModelRun(
          () => ({ model: { state: 'connected', buddy: 'online', silentLeft: silent.left } as Model, real }),
          cmds,
        );
      };
      await fuzzCommands(ctx, {
        id: 'client/fuzz/2',
        req: 'STATE-4',
        maxRuns: 400,
        unbiased: true,
        commands,
        runOnce,
        log: () => lastLog,
        counts,
        // The transcript's replay runs in a new client process, as a printed replay line would.
        fresh: async () => {
          await c.stop();
          c = await ctx.startClient(a);
        },
      });
    },
  },
];
