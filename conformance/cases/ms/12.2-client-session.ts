// [§12.2 Client session (at the MS)]: state-machine fuzzing of the client session at an MS (spec/machines/client-session.json through
// generated/machines.ts): random sequences of LOGIN (known or unknown user), PROOF (right or wrong
// password), PING, STATUS, LOGOUT on one client connection, in and out of state. The expected
// answer of each event is the "answer NNN" of the transition the table takes (following the
// MS's automatic steps: LOCK_GRANTED / LOCK_UNKNOWN after LOGIN, ONLINE_OK after a good PROOF);
// an event with no transition must be refused with ERR_OUT_OF_STATE and the session goes on.
import fc from 'fast-check';
import {
  closesConnection,
  errorRule,
  findTransition,
  header,
  request,
  type MachineTransition,
  type ResponseMessage,
} from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { fuzzCommands, machineReqs } from '../../lib/model-fuzz.js';
import type { Conn } from '../../lib/conn.js';
import {
  b64,
  headerOctets,
  clientProof,
  loginAuth,
  loginLinkKeys,
  nonce18,
  scramKeys,
  x25519,
  x25519Pair,
} from '../../lib/crypto.js';
import type { KitUser } from '../../lib/as-crs.js';
import { type MsContext, sentSince, since } from '../../lib/ms-context.js';
import { answerOf } from '../../lib/wire-target.js';

type State = 'idle' | 'locking' | 'challenged' | 'onlining' | 'active' | 'ended';
interface Model {
  state: State;
  known: boolean;
  /** Stalls the case may still wait out (over all its sequences): its run time stays bounded. */
  stallsLeft: number;
}
interface Real {
  ctx: MsContext;
  conn: Conn;
  /** When the connection opened: handshakeTimeout runs from then [CONN-4]. */
  opened: number;
  user: KitUser;
  pending: {
    user: string;
    known: boolean;
    cnonce: string;
    eC: string;
    ePriv: Buffer;
    challenge: ResponseMessage;
  } | null;
  log: string[];
  /** How many times each kind of step ran, over all runs (noted in the report). */
  counts: Map<string, number>;
  /** The stalls left to the case, over all its sequences. */
  stalls: { left: number };
}

const count = (r: Real, what: string): void => {
  r.counts.set(what, (r.counts.get(what) ?? 0) + 1);
};

const take = (state: State, event: string, guards: Record<string, boolean> = {}): MachineTransition | null =>
  findTransition('client-session', state as never, event as never, guards as never) as MachineTransition | null;

type Ev = 'LOGIN' | 'PROOF' | 'PING' | 'STATUS' | 'LOGOUT';

class SessionCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly ev: Ev,
    readonly variant: boolean,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.state !== 'ended';
  }
  toString(): string {
    const v =
      this.ev === 'LOGIN'
        ? this.variant
          ? '(known user)'
          : '(unknown user)'
        : this.ev === 'PROOF'
          ? this.variant
            ? '(right password)'
            : '(wrong password)'
          : '';
    return `${this.ev}${v}`;
  }
  /** The machine's view: the transition the event takes, its answer, and the state after the automatic steps that follow it. */
  private expectation(m: Model): { t: MachineTransition | null; expected: number | null; next: State } {
    if (this.ev === 'LOGIN') {
      const t = take(m.state, 'LOGIN', { 'login-allowed': true });
      const follow = t ? take(t.to as State, this.variant ? 'LOCK_GRANTED' : 'LOCK_UNKNOWN') : null;
      return { t, expected: answerOf(follow), next: (follow?.to ?? t?.to ?? m.state) as State };
    }
    if (this.ev === 'PROOF') {
      const t = take(m.state, 'PROOF', { 'proof-ok': m.known && this.variant });
      const follow = t && t.to === 'onlining' ? take('onlining', 'ONLINE_OK') : null;
      return { t, expected: answerOf(follow ?? t), next: (follow?.to ?? t?.to ?? m.state) as State };
    }
    const t = take(m.state, this.ev === 'STATUS' ? 'REQUEST' : this.ev);
    return { t, expected: t ? (answerOf(t) ?? 200) : null, next: (t?.to ?? m.state) as State };
  }

  /** LOGIN for the kit's user or an unknown one; only a LOGIN the machine takes replaces the login in progress. */
  private sendLogin(r: Real, taken: boolean): void {
    const eph = x25519Pair();
    const name = this.variant ? r.user.name : r.ctx.uniq('ghost');
    const cnonce = nonce18();
    r.conn.send(
      request('LOGIN', [
        ['Imsp-version', '1'],
        ['User', name],
        ['Nonce', cnonce],
        ['Key-share', b64(eph.publicKey)],
        ['Address', '127.0.0.1:9'],
      ]),
    );
    if (taken)
      r.pending = {
        user: name,
        known: this.variant,
        cnonce,
        eC: b64(eph.publicKey),
        ePriv: eph.privateKey,
        challenge: null as unknown as ResponseMessage,
      };
  }

  /**
   * PROOF: after a 300 challenge, a real proof (of the right password, or a wrong one) and the link
   * sealed from then on (unsealed again by run() when it is not answered 200); otherwise a junk proof.
   */
  private sendProof(m: Model, r: Real): void {
    const p = r.pending;
    if (!(m.state === 'challenged' && p && p.challenge && p.challenge.status === 300)) {
      r.conn.send(request('PROOF', [['Proof', b64(Buffer.alloc(32, 7))]]));
      return;
    }
    const g = (n: string): string => header(p.challenge, n) ?? '';
    const pw = this.variant && p.known ? r.user.password : 'wrong-password';
    const k = scramKeys(pw, headerOctets(p.challenge, 'Salt'), Math.min(Number(g('Iterations')), 1_000_000));
    const auth = loginAuth({
      user: p.user,
      cnonce: p.cnonce,
      nonce: g('Nonce'),
      salt: g('Salt'),
      iterations: g('Iterations'),
      eC: p.eC,
      eS: g('Key-share'),
      address: '127.0.0.1:9',
    });
    r.conn.send(request('PROOF', [['Proof', b64(clientProof(k.clientKey, k.storedKey, auth))]]));
    const eS = headerOctets(p.challenge, 'Key-share');
    try {
      const keys = loginLinkKeys(x25519(p.ePriv, eS), k.clientKey, auth);
      r.conn.sealing = { send: keys.up, recv: keys.down, sendSeq: 0, recvSeq: 0 };
    } catch {
      /* answered in clear */
    }
  }

  /**
   * An event no transition allows: it must be refused and the state stays [STATE-5]. The exact answer
   * (425 ERR_OUT_OF_STATE, and a close before the handshake completes) is checked strictly by
   * ms/state/1; here a different refusal is a warning and the model follows what the MS did.
   */
  private async refused(m: Model, r: Real, res: ResponseMessage | null): Promise<void> {
    const ctx: MsContext = r.ctx;
    ctx.must(
      res === null || res.status >= 400,
      'STATE-5',
      `${this.toString()} in state ${m.state}: no transition allows it, it must be refused; got ${res?.status}`,
    );
    if (res)
      ctx.should(
        res.status === 425 && header(res, 'Error-code') === 'ERR_OUT_OF_STATE',
        'STATE-5',
        `${this.toString()} in state ${m.state}: expected 425 ERR_OUT_OF_STATE, got ${res.status} ${header(res, 'Error-code') ?? ''}`,
      );
    if (m.state !== 'active' && (res === null || (await r.conn.closedWithin(Math.min(ctx.timeout, 400))))) {
      m.state = 'ended';
      return;
    }
    // [STATE-6] what the MS does comes from the error table: before the handshake an out-of-state refusal closes.
    const rule = errorRule('ERR_OUT_OF_STATE', { handshake: m.state !== 'active', method: this.ev });
    if (closesConnection(rule))
      ctx.must(
        false,
        'STATE-6',
        `${this.toString()} in state ${m.state}: before the handshake completes an out-of-state request is answered and the connection closed (${rule.action}, ${rule.req}); the MS went on`,
      );
  }

  async run(m: Model, r: Real): Promise<void> {
    const ctx: MsContext = r.ctx;
    const conn: Conn = r.conn;
    const { t, expected, next } = this.expectation(m);
    count(r, this.toString());
    if (this.ev === 'LOGIN') this.sendLogin(r, t !== null);
    else if (this.ev === 'PROOF') this.sendProof(m, r);
    else conn.send(request(this.ev, this.ev === 'STATUS' ? [['Status', 'busy']] : []));
    const res = await conn.nextResponse(ctx.timeout, `the answer to ${this.ev}`);
    if (this.ev === 'PROOF' && m.state === 'challenged' && (!res || res.status !== 200)) conn.sealing = null;
    if (this.ev === 'LOGIN' && t && r.pending && res) r.pending.challenge = res;
    r.log.push(
      `${this.toString()} in ${m.state} -> ${res ? `${res.status} ${header(res, 'Error-code') ?? ''}` : 'closed'} (transition ${t?.name ?? 'none'}, expected ${expected ?? 'refusal'})`,
    );
    if (!t) return this.refused(m, r, res);
    if (expected !== null)
      ctx.must(
        res && res.status === expected,
        t.reqs[0] ?? 'STATE-1',
        `${this.toString()} in state ${m.state}: transition '${t.name}' answers ${expected}, got ${res ? res.status : 'a close'}`,
      );
    if (this.ev === 'LOGIN') m.known = this.variant;
    m.state = next;
    if (m.state === 'ended') {
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        t.reqs[0] ?? 'STATE-1',
        `after '${t.name}' the MS must close the connection`,
      );
    }
  }
}

/**
 * The client says nothing more: before the session is active the MS's handshake timer fires (TIMEOUT:
 * close, no answer since no request is outstanding, UNLOCK if the login holds a lock), once it is
 * active its session timer does (SILENCE: NOTICE ERR_SESSION_ENDED, OFFLINE to the CRS, close). Each
 * costs a whole timer, so it is drawn rarely and only when the timers are short (see the case).
 */
class StallCmd implements fc.AsyncCommand<Model, Real> {
  /**
   * In which state the client goes quiet: the state it is in, or challenged or active, reached first
   * by LOGIN of the known user (and PROOF of the right password) when the client is still idle: most
   * sequences end early (an out-of-state request before login closes), so few would get there alone.
   */
  constructor(readonly at: 'now' | 'challenged' | 'active') {}
  check(m: Readonly<Model>): boolean {
    if (m.stallsLeft <= 0) return false;
    if (this.at === 'now') return m.state !== 'ended';
    return m.state === 'idle' || m.state === this.at;
  }
  toString(): string {
    return this.at === 'now' ? 'nothing more from the client' : `nothing more from the client once ${this.at}`;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ctx: MsContext = r.ctx;
    const conn: Conn = r.conn;
    if (m.state === 'idle' && this.at !== 'now') {
      await new SessionCmd('LOGIN', true).run(m, r);
      if (this.at === 'active' && (m.state as State) === 'challenged') await new SessionCmd('PROOF', true).run(m, r);
    }
    if (m.state === 'ended') return;
    m.stallsLeft--;
    r.stalls.left--;
    const n = since(ctx);
    const active = m.state === 'active';
    count(r, `nothing more in ${m.state}`);
    const t = take(m.state, active ? 'SILENCE' : 'TIMEOUT');
    if (!t) throw new Error(`kit: the client-session table has no ${active ? 'SILENCE' : 'TIMEOUT'} in ${m.state}`);
    const limit = ctx.limits.get(active ? 'sessionTimeout' : 'handshakeTimeout');
    // Silent: not even the MS's PINGs are answered (an answer is traffic that restarts the session timer).
    conn.auto = () => undefined;
    const quiet = Date.now();
    const from = active ? quiet : r.opened;
    const answered = conn.unclaimedResponses();
    const closed = await conn.closedWithin(Math.max(0, from + 2 * limit - Date.now()) + ctx.timeout);
    const after = Date.now() - from;
    r.log.push(
      `${this} in ${m.state} -> ${closed ? `closed after ${after} ms` : 'still open'} (${active ? 'sessionTimeout' : 'handshakeTimeout'} ${limit} ms, transition ${t.name})`,
    );
    const req = t.reqs[0] ?? 'STATE-1';
    ctx.must(
      closed,
      req,
      `${this} in state ${m.state}: transition '${t.name}' ends the session ${limit} ms after ${active ? "the client's last message" : 'the connection opened'}; still open after ${after} ms`,
    );
    ctx.must(
      after >= limit - 50,
      req,
      `${this} in state ${m.state}: the MS closed ${after} ms after ${active ? "the client's last message" : 'the connection opened'}, before its ${active ? 'sessionTimeout' : 'handshakeTimeout'} of ${limit} ms`,
    );
    if (active) {
      ctx.must(
        conn.received.some(
          (x) =>
            x.msg.kind === 'request' &&
            x.msg.method === 'NOTICE' &&
            header(x.msg, 'Error-code') === 'ERR_SESSION_ENDED',
        ),
        req,
        `${this} in state active: transition '${t.name}' tells the client NOTICE ERR_SESSION_ENDED before it closes`,
      );
      ctx.must(
        await ctx.crs.until(() => !!sentSince(ctx, n, 'OFFLINE', r.user.name), ctx.timeout),
        req,
        `${this} in state active: transition '${t.name}' sends OFFLINE to the CRS`,
      );
    } else {
      ctx.must(
        conn.unclaimedResponses() === answered,
        req,
        `${this} in state ${m.state}: transition '${t.name}' closes without an answer, no request being outstanding`,
      );
      // [CONN-4] a login that holds a lock (challenged after LOCK_GRANTED) gives it back.
      if (m.state === 'challenged' && m.known && r.pending)
        ctx.must(
          await ctx.crs.until(() => !!sentSince(ctx, n, 'UNLOCK', r.pending!.user), ctx.timeout),
          req,
          `${this} in state challenged: transition '${t.name}' sends UNLOCK for the lock the login holds`,
        );
    }
    m.state = 'ended';
  }
}

const sessionCmd = fc
  .tuple(fc.constantFrom<Ev>('LOGIN', 'LOGIN', 'PROOF', 'PROOF', 'PING', 'STATUS', 'LOGOUT'), fc.boolean())
  .map(([ev, v]): fc.AsyncCommand<Model, Real> => new SessionCmd(ev, v));
/** The longest timer a stall waits out without --slow. */
const STALL_MAX_MS = 5000;
/** Three stalls in about twenty commands: at most one per sequence, since it ends the session. */
const STALL_WEIGHT = 3;
const commandsWith = (stall: boolean): fc.Arbitrary<fc.AsyncCommand<Model, Real>>[] => [
  stall
    ? fc.oneof(
        { arbitrary: sessionCmd, weight: 20 - STALL_WEIGHT },
        {
          arbitrary: fc
            .constantFrom<StallCmd['at']>('now', 'challenged', 'active', 'active')
            .map((at) => new StallCmd(at)),
          weight: STALL_WEIGHT,
        },
      )
    : sessionCmd,
];

/** Clear requests that have no transition in the idle state of the client session. */
const FIRST_OUT_OF_STATE: [string, [string, string][]][] = [
  ['PROOF', [['Proof', 'A'.repeat(43)]]],
  ['PING', []],
  ['STATUS', [['Status', 'busy']]],
  ['LOGOUT', []],
];

export const msStateCases: CaseDef<MsContext>[] = [
  {
    id: 'ms/state/1',
    section: 'state',
    title:
      'a request with no transition before login (PROOF without a challenge, PING, STATUS, LOGOUT) is answered 425 ERR_OUT_OF_STATE and the connection closed',
    reqs: ['STATE-5', 'STATE-2'],
    async run(ctx: MsContext) {
      for (const [method, hs] of FIRST_OUT_OF_STATE) {
        const t = take('idle', method === 'STATUS' ? 'REQUEST' : method);
        ctx.must(
          t === null,
          'STATE-5',
          `the machine table has a transition for ${method} in idle; this case assumes none`,
        );
        const conn = await ctx.connect('cl');
        conn.send(request(method, hs));
        const res = await conn.nextResponse(ctx.timeout, `the answer to ${method}`);
        const req = method === 'PROOF' ? 'STATE-2' : 'STATE-5';
        ctx.must(
          res,
          req,
          `${method} before login must be answered 425 ERR_OUT_OF_STATE; the connection closed without an answer`,
        );
        ctx.must(
          res.status === 425 && header(res, 'Error-code') === 'ERR_OUT_OF_STATE',
          req,
          `${method} before login: expected 425 ERR_OUT_OF_STATE, got ${res.status} ${header(res, 'Error-code') ?? ''}`,
        );
        const rule = errorRule('ERR_OUT_OF_STATE', { handshake: true, method });
        if (closesConnection(rule))
          ctx.must(
            await conn.closedWithin(ctx.timeout),
            rule.req,
            `${method} before login: the connection must be closed after the 425 (${rule.action})`,
          );
      }
    },
  },
  {
    id: 'ms/fuzz/2',
    section: 'fuzz',
    title:
      'state-machine fuzzing of the client session: LOGIN, PROOF, PING, STATUS and LOGOUT in and out of state, and a client gone quiet (handshake and session timers), follow the machine table',
    reqs: machineReqs('client-session', [
      'STATE-5',
      'STATE-6',
      'LOGIN-4',
      'AUTH-8',
      'AUTH-9',
      'LOGIN-7',
      'LOGOUT-1',
      'STATE-1',
    ]),
    fuzz: true,
    timers: ['client-session/handshake-timeout', 'client-session/silence'],
    async run(ctx: MsContext) {
      // The stall (TIMEOUT, SILENCE) waits out a timer: drawn only when both are short, or with --slow.
      const hs = ctx.limits.get('handshakeTimeout');
      const st = ctx.limits.get('sessionTimeout');
      const stall = ctx.opts.slow || (hs <= STALL_MAX_MS && st <= STALL_MAX_MS);
      // Each stall costs up to twice its timer: about 20 s of stalls in all, and at least one.
      const stalls = { left: Math.min(8, Math.max(1, Math.floor(20000 / Math.max(hs, st)))) };
      if (!stall)
        ctx.note(
          `no stall drawn (transitions handshake-timeout and silence not fired): handshakeTimeout ${hs} ms, sessionTimeout ${st} ms; pass --slow, or --set handshakeTimeout=N --set sessionTimeout=N (N <= ${STALL_MAX_MS}) matching the MS`,
        );
      let lastLog: string[] = [];
      const counts = new Map<string, number>();
      const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
        const conn = await ctx.connect('cl');
        const real: Real = { ctx, conn, opened: Date.now(), user: ctx.user(), pending: null, log: [], counts, stalls };
        lastLog = real.log;
        try {
          await fc.asyncModelRun(
            () => ({ model: { state: 'idle', known: false, stallsLeft: stalls.left } as Model, real }),
            cmds,
          );
        } finally {
          conn.destroy();
        }
      };
      await fuzzCommands(ctx, {
        id: 'ms/fuzz/2',
        maxRuns: 25,
        req: 'STATE-1',
        commands: commandsWith(stall),
        maxCommands: 8,
        runOnce,
        log: () => lastLog,
        counts,
      });
    },
  },
];
