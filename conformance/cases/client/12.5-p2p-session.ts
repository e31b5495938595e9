// [§12.5 Peer-to-peer session (at each client)]: state-machine fuzzing of the client's peer sessions
// (spec/machines/p2p-session.json through generated/machines.ts). The kit plays two buddies, one whose
// name sorts before the client's and one after, so that both sides of the tie-break of [P2P-15] are
// drawn. Random sequences of: an INIT from the kit (valid, forged signature, addressed to another
// user, stale Time, replayed nonce), a request in clear before INIT, an INIT the client sends on its
// `init` command (answered by a valid INIT-ACK, a forged one, an error, or left unanswered until the
// client's handshakeTimeout gives it up [CONN-13]), INITs from both sides at
// once, sealed MSG (valid or naming another sender), PING, TYPING and BYE, a forged and a replayed
// envelope, a message in clear after the handshake, the kit dropping the connection, the MS reporting
// the buddy offline, and the user's logout (then a new login). Each step's expected answer is the
// transition the table takes; after each step the client's `sessions`
// ([§90.6 The Client Control Interface]) must list exactly the buddies the model holds an open
// session with, and hold no key when it lists none.
import fc from 'fast-check';
import { encode, findTransition, header, request, response, type MachineTransition } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext, KitAccount, Peer } from '../../lib/client-context.js';
import type { Conn } from '../../lib/conn.js';
import type { ControlEvent, ControlledClient } from '../../lib/control.js';
import { newIdentity } from '../../lib/crypto.js';
import { fuzzCommands, machineReqs } from '../../lib/model-fuzz.js';
import { buildInit, buildInitAck, openInit, openInitAck } from '../../lib/p2p.js';
import { errorSpec } from '../../lib/registry.js';
import { answerOf } from '../../lib/wire-target.js';

type PState = 'idle' | 'init-sent' | 'open' | 'closed';
type Who = 'lo' | 'hi';
type Dir = 'in' | 'out';
const WHO: readonly Who[] = ['lo', 'hi'];

interface Model {
  /** The session on the connection the kit opened (in) and the one the client opened (out), per buddy. */
  s: Record<Who, Record<Dir, PState | null>>;
  loggedIn: boolean;
  /** INITs the client accepted in this sequence (a replayed nonce needs one: a sequence replays alone). */
  accepted: number;
  /** Silent connections the case may still wait out (over all its sequences): its run time stays bounded. */
  silentLeft: number;
}
interface Real {
  ctx: ClientContext;
  c: ControlledClient;
  a: KitAccount;
  peers: Record<Who, Peer>;
  conns: Record<Who, Record<Dir, Conn | null>>;
  nonces: string[];
  log: string[];
  /** How many times each kind of step ran, over all sequences (noted in the report). */
  counts: Map<string, number>;
  /** The silent connections left to the case, over all its sequences. */
  silent: { left: number };
}

const take = (s: PState, e: string, g: Record<string, boolean> = {}): MachineTransition | null =>
  findTransition('p2p-session', s as never, e as never, g as never) as MachineTransition | null;

/** The transition the table must have (a fuzz case over a table without it is a kit error). */
function must(s: PState, e: string, g: Record<string, boolean> = {}): MachineTransition {
  const t = take(s, e, g);
  if (!t) throw new Error(`spec/machines/p2p-session.json has no transition for ${e} in ${s}`);
  return t;
}

const openDir = (m: Readonly<Model>, w: Who): Dir | null =>
  m.s[w].in === 'open' ? 'in' : m.s[w].out === 'open' ? 'out' : null;
const free = (st: PState | null): boolean => st === null || st === 'closed';

/** [P2P-15] of two open sessions with one buddy the one initiated by the user whose name sorts first stays. */
const winner = (w: Who): Dir => (w === 'lo' ? 'in' : 'out');

const textOf = (): string => `fz ${Math.random().toString(36).slice(2, 10)}`;

/** The client's `sessions`: users with a live peer session, session keys held. */
async function sessionsOf(r: Real, loggedIn: boolean): Promise<{ users: string[]; keys: number } | null> {
  const res = await r.c.command('sessions', r.ctx.timeout);
  // A logged-out client may refuse the command: it holds no session then [P2P-14].
  if (!loggedIn && res?.event === 'error') return { users: [], keys: 0 };
  if (res?.event !== 'ok') return null;
  return { users: ((res.sessions as string[] | undefined) ?? []).slice().sort(), keys: Number(res.keys ?? 0) };
}

/**
 * The client's sessions agree with the model: exactly the buddies with an open session, and no key
 * held when there is none. Polled (each poll is one control round trip) until `ctx.timeout`, since a
 * close the kit made reaches the client asynchronously.
 */
async function agree(m: Model, r: Real, req: string, after: string): Promise<void> {
  const want = WHO.filter((w) => openDir(m, w) !== null)
    .map((w) => r.peers[w].name)
    .sort();
  const deadline = Date.now() + r.ctx.timeout;
  let got: { users: string[]; keys: number } | null = null;
  for (;;) {
    got = await sessionsOf(r, m.loggedIn);
    const ok = got !== null && got.users.join() === want.join() && (want.length > 0 || got.keys === 0);
    if (ok || Date.now() >= deadline) break;
  }
  r.ctx.must(
    got !== null && got.users.join() === want.join() && (want.length > 0 || got.keys === 0),
    req,
    `after ${after}: the client's sessions must be [${want.join(', ')}]${want.length === 0 ? ' with no key held' : ''}, it reports ${got ? `[${got.users.join(', ')}] with ${got.keys} keys` : 'no answer to sessions'}`,
  );
}

/** The end of a session the client closes: a BYE first when `bye`, then the close. */
async function expectClosed(r: Real, conn: Conn, req: string, what: string, bye: boolean): Promise<void> {
  if (bye)
    r.ctx.must(
      await conn.waitEvent((e) => e.method === 'BYE', r.ctx.timeout),
      req,
      `${what}: the client must send BYE on the session`,
    );
  r.ctx.must(await conn.closedWithin(r.ctx.timeout), req, `${what}: the client must close the connection`);
}

/** A refusal answered with the error table's status for `code` (when the client answers at all), then the close. */
async function expectRefusal(r: Real, conn: Conn, code: string, req: string, what: string): Promise<void> {
  const e = errorSpec(code);
  const res = await conn.nextResponse(r.ctx.timeout, `the refusal of ${what}`).catch(() => null);
  r.ctx.must(
    !conn.received.some((x) => x.msg.kind === 'request' && x.msg.method === 'INIT-ACK'),
    req,
    `${what}: refused by the table, the client answered INIT-ACK`,
  );
  r.ctx.must(
    res?.status === e.status,
    req,
    `${what}: expected ${e.status} ${code}, got ${res ? `${res.status} ${header(res, 'Error-code') ?? ''}` : 'no answer'}`,
  );
  r.ctx.must(await conn.closedWithin(r.ctx.timeout), req, `${what}: the client must close the connection`);
}

/**
 * A second session with buddy `w` opened while one was open: DUPLICATE for the one that loses the
 * tie-break [P2P-15]. The loser gets BYE and is closed; the winner stays.
 */
async function settleDuplicate(m: Model, r: Real, w: Who): Promise<void> {
  if (m.s[w].in !== 'open' || m.s[w].out !== 'open') return;
  const t = must('open', 'DUPLICATE');
  const lose: Dir = winner(w) === 'in' ? 'out' : 'in';
  await expectClosed(
    r,
    r.conns[w][lose]!,
    t.reqs[0]!,
    `two sessions with ${r.peers[w].name} (${w === 'lo' ? 'its name sorts before the client' : "the client's name sorts first"}): the one the ${lose === 'in' ? 'buddy' : 'client'} opened loses (transition '${t.name}')`,
    true,
  );
  m.s[w][lose] = t.to as PState;
  r.ctx.must(!r.conns[w][winner(w)]!.closed, t.reqs[0]!, `[P2P-15] the session that wins the tie-break must stay open`);
}

/** One step; after it, the client's sessions are checked against the model. */
abstract class Cmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly w: Who) {}
  abstract check(m: Readonly<Model>): boolean;
  abstract step(m: Model, r: Real): Promise<void>;
  abstract toString(): string;
  async run(m: Model, r: Real): Promise<void> {
    r.counts.set(this.toString(), (r.counts.get(this.toString()) ?? 0) + 1);
    await this.step(m, r);
    await agree(m, r, 'P2P-12', this.toString());
  }
}

type InitVariant = 'valid' | 'from a stranger' | 'forged-signature' | 'other-To' | 'stale-Time' | 'replayed-nonce';
const INIT_REFUSAL: Record<Exclude<InitVariant, 'valid'>, [string, string]> = {
  'from a stranger': ['ERR_NOT_BUDDY', 'P2P-3'],
  'forged-signature': ['ERR_BAD_SIGNATURE', 'P2P-6'],
  'other-To': ['ERR_FORBIDDEN', 'P2P-4'],
  'stale-Time': ['ERR_REPLAY', 'P2P-8'],
  'replayed-nonce': ['ERR_REPLAY', 'P2P-8'],
};

/** The kit's buddy opens a connection to the client and sends INIT [§10.1 INIT and INIT-ACK]. */
class KitInit extends Cmd {
  constructor(
    w: Who,
    readonly v: InitVariant,
  ) {
    super(w);
  }
  check(m: Readonly<Model>): boolean {
    return m.loggedIn && free(m.s[this.w].in) && (this.v !== 'replayed-nonce' || m.accepted > 0);
  }
  toString(): string {
    return `INIT from ${this.w} (${this.v})`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a: KitAccount = r.a;
    const p = r.peers[this.w];
    const ok = this.v === 'valid';
    const t = must('idle', 'INIT', { 'init-ok': ok });
    const conn = await ctx.connect(ctx.clientAddress(a), `peer-${this.w}-in`);
    r.conns[this.w].in = conn;
    const stranger = this.v === 'from a stranger' ? newIdentity() : null;
    const built = buildInit(
      stranger ? ctx.uniq('x') : p.name,
      stranger ?? p.identity,
      this.v === 'other-To' ? ctx.uniq('other') : a.name,
      a.identity.publicKey,
      {
        ...(this.v === 'forged-signature' ? { signWith: newIdentity() } : {}),
        ...(this.v === 'stale-Time' ? { time: Date.now() - 3 * ctx.limits.get('maxClockSkew') } : {}),
        ...(this.v === 'replayed-nonce' ? { nI: r.nonces.at(-1)! } : {}),
      },
    );
    conn.send(built.msg);
    if (!ok) {
      const [code, req] = INIT_REFUSAL[this.v as Exclude<InitVariant, 'valid'>];
      await expectRefusal(r, conn, code, req, `${this} in idle (transition '${t.name}')`);
      m.s[this.w].in = t.to as PState;
      r.log.push(`${this} -> refused, closed`);
      return;
    }
    const ack = await conn.waitEvent((e) => e.method === 'INIT-ACK', ctx.timeout);
    const last = conn.received.at(-1)?.msg;
    ctx.must(
      ack,
      t.reqs[0]!,
      `${this} in idle: transition '${t.name}' answers INIT-ACK; got ${last?.kind === 'response' ? `${last.status} ${header(last, 'Error-code') ?? ''}` : conn.closed ? 'a close' : 'nothing'}`,
    );
    const o = openInitAck(built.state, ack, a.identity.publicKey);
    ctx.must('keys' in o, t.reqs[0]!, `${this}: the INIT-ACK does not verify: ${'error' in o ? o.error : ''}`);
    conn.seal({ send: o.keys.i2r, recv: o.keys.r2i, sendSeq: 0, recvSeq: 0 });
    r.nonces.push(built.state.nI);
    m.accepted++;
    m.s[this.w].in = t.to as PState;
    r.log.push(`${this} -> INIT-ACK`);
    await settleDuplicate(m, r, this.w);
  }
}

type AckVariant = 'valid INIT-ACK' | 'INIT-ACK signed by another key' | 'refused 403 ERR_NOT_BUDDY' | 'nothing';

/** The client opens a session to the buddy on its `init` command; the kit's buddy answers. */
class ClientInit extends Cmd {
  constructor(
    w: Who,
    readonly v: AckVariant,
  ) {
    super(w);
  }
  check(m: Readonly<Model>): boolean {
    return (
      m.loggedIn && free(m.s[this.w].out) && m.s[this.w].in !== 'open' && (this.v !== 'nothing' || m.silentLeft > 0)
    );
  }
  toString(): string {
    return `client INIT to ${this.w}, answered ${this.v}`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a: KitAccount = r.a;
    const c: ControlledClient = r.c;
    const p = r.peers[this.w];
    const send = must('idle', 'SEND_INIT');
    const before = p.inbound.length;
    const hs = ctx.limits.get('handshakeTimeout');
    const result = c.command(`init ${p.name}`, ctx.timeout * 3 + (this.v === 'nothing' ? 2 * hs : 0));
    const conn = await waitInbound(r, p, before);
    ctx.must(conn, send.reqs[0]!, `init ${p.name}: the client did not connect to the buddy's Address`);
    r.conns[this.w].out = conn;
    const init = await conn.waitEvent((e) => e.method === 'INIT', ctx.timeout);
    ctx.must(init, send.reqs[0]!, `init ${p.name}: the client must open the session with INIT`);
    const o = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
    ctx.must(
      !('error' in o) && o.signatureOk && o.to === p.name,
      send.reqs[0]!,
      `init ${p.name}: the INIT ${'error' in o ? o.error : `does not verify (signature ${o.signatureOk}, To ${o.to})`}`,
    );
    m.s[this.w].out = send.to as PState;
    if (this.v === 'nothing') return this.gaveUp(m, r, conn, result);
    if (this.v === 'refused 403 ERR_NOT_BUDDY') {
      const t = must('init-sent', 'ERROR');
      conn.send(response(403, [['Error-code', 'ERR_NOT_BUDDY']]));
      await expectClosed(r, conn, t.reqs[0]!, `${this} (transition '${t.name}')`, false);
      const res = await result;
      ctx.must(res?.event === 'error', t.reqs[0]!, `${this}: the init command must fail, got ${JSON.stringify(res)}`);
      m.s[this.w].out = t.to as PState;
      r.log.push(`${this} -> closed`);
      return;
    }
    const good = this.v === 'valid INIT-ACK';
    const t = must('init-sent', 'INIT-ACK', { 'ack-ok': good });
    const { msg, keys } = buildInitAck(o, good ? p.identity : newIdentity());
    const mark = conn.received.length;
    conn.send(msg);
    if (!good) {
      await expectClosed(r, conn, t.reqs[0]!, `${this} (transition '${t.name}')`, false);
      ctx.must(
        conn.received.length === mark,
        t.reqs[0]!,
        `${this}: the client must send nothing further after a bad INIT-ACK`,
      );
      m.s[this.w].out = t.to as PState;
      r.log.push(`${this} -> closed`);
      await result;
      return;
    }
    conn.sealing = { send: keys.r2i, recv: keys.i2r, sendSeq: 0, recvSeq: 0 };
    const res = await result;
    ctx.must(res?.event === 'ok', t.reqs[0]!, `${this}: the init command must succeed, got ${JSON.stringify(res)}`);
    m.s[this.w].out = t.to as PState;
    r.log.push(`${this} -> open`);
  }

  /**
   * The buddy leaves the client's INIT unanswered: transition init-timeout [CONN-13] closes the
   * connection and fails the `init` command once the client's handshakeTimeout has passed since the
   * connection opened. Only the late side is judged (twice the timer plus the answer timeout,
   * [§11.1 Heartbeats]). Drawn a few times a case, from the budget of the silent connections.
   */
  private async gaveUp(m: Model, r: Real, conn: Conn, result: Promise<ControlEvent | null>): Promise<void> {
    const ctx: ClientContext = r.ctx;
    m.silentLeft--;
    r.silent.left--;
    const t = must('init-sent', 'TIMEOUT');
    const req = t.reqs[0]!;
    const hs = ctx.limits.get('handshakeTimeout');
    const t0 = Date.now();
    const closed = await conn.closedWithin(2 * hs + ctx.timeout);
    const after = Date.now() - t0;
    r.log.push(`${this} -> ${closed ? `closed after ${after} ms` : 'still open'} (handshakeTimeout ${hs} ms)`);
    ctx.must(
      closed,
      req,
      `${this}: transition '${t.name}' closes a connection whose INIT the buddy left unanswered for the client's handshakeTimeout (${hs} ms); still open after ${after} ms`,
    );
    const res = await result;
    ctx.must(res?.event === 'error', req, `${this}: the init command must fail, got ${JSON.stringify(res)}`);
    m.s[this.w].out = t.to as PState;
  }
}

/** The next connection the client opens to kit buddy `p` (its count was `before`), or null. */
async function waitInbound(r: Real, p: Peer, before: number): Promise<Conn | null> {
  const deadline = Date.now() + r.ctx.timeout * 2;
  while (p.inbound.length <= before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
  const conn = p.inbound[before] ?? null;
  if (conn) r.ctx.conns.push(conn);
  return conn;
}

/**
 * INITs from both sides at once [P2P-15]: the client's `init` and the buddy's own INIT cross; both
 * are answered INIT-ACK, and then the session the tie-break drops gets BYE and is closed.
 */
class Simultaneous extends Cmd {
  check(m: Readonly<Model>): boolean {
    return m.loggedIn && free(m.s[this.w].in) && free(m.s[this.w].out);
  }
  toString(): string {
    return `simultaneous INIT with ${this.w}`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a: KitAccount = r.a;
    const c: ControlledClient = r.c;
    const p = r.peers[this.w];
    const before = p.inbound.length;
    const result = c.command(`init ${p.name}`, ctx.timeout * 3);
    const out = await waitInbound(r, p, before);
    ctx.must(out, 'P2P-1', `init ${p.name}: the client did not connect to the buddy's Address`);
    r.conns[this.w].out = out;
    const init = await out.waitEvent((e) => e.method === 'INIT', ctx.timeout);
    ctx.must(init, 'P2P-1', `init ${p.name}: the client must open the session with INIT`);
    const o = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
    ctx.must(!('error' in o), 'P2P-1', `init ${p.name}: ${'error' in o ? o.error : ''}`);
    m.s[this.w].out = 'init-sent';
    // The buddy's INIT goes out before its INIT-ACK to the client's: both sessions are being opened.
    const accept = must('idle', 'INIT', { 'init-ok': true });
    const conn = await ctx.connect(ctx.clientAddress(a), `peer-${this.w}-in`);
    r.conns[this.w].in = conn;
    const built = buildInit(p.name, p.identity, a.name, a.identity.publicKey);
    conn.send(built.msg);
    const ack = await conn.waitEvent((e) => e.method === 'INIT-ACK', ctx.timeout);
    ctx.must(
      ack,
      accept.reqs[0]!,
      `${this}: a valid INIT from a buddy while the client's own INIT is in flight must be answered INIT-ACK`,
    );
    const opened = openInitAck(built.state, ack, a.identity.publicKey);
    ctx.must('keys' in opened, accept.reqs[0]!, `${this}: ${'error' in opened ? opened.error : ''}`);
    conn.seal({ send: opened.keys.i2r, recv: opened.keys.r2i, sendSeq: 0, recvSeq: 0 });
    r.nonces.push(built.state.nI);
    m.accepted++;
    m.s[this.w].in = 'open';
    const { msg, keys } = buildInitAck(o, p.identity);
    out.send(msg);
    out.sealing = { send: keys.r2i, recv: keys.i2r, sendSeq: 0, recvSeq: 0 };
    m.s[this.w].out = must('init-sent', 'INIT-ACK', { 'ack-ok': true }).to as PState;
    await result;
    r.log.push(`${this} -> both open`);
    await settleDuplicate(m, r, this.w);
  }
}

type SealedKind = 'MSG' | 'MSG naming another sender' | 'PING' | 'TYPING' | 'BYE';

/** One sealed message from the buddy on its open session. */
class Sealed extends Cmd {
  constructor(
    w: Who,
    readonly k: SealedKind,
  ) {
    super(w);
  }
  check(m: Readonly<Model>): boolean {
    return openDir(m, this.w) !== null;
  }
  toString(): string {
    return `${this.k} from ${this.w}`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a: KitAccount = r.a;
    const c: ControlledClient = r.c;
    const p = r.peers[this.w];
    const d = openDir(m, this.w)!;
    const conn = r.conns[this.w][d]!;
    const where = `${this} on the session the ${d === 'in' ? 'buddy' : 'client'} opened`;
    if (this.k === 'MSG' || this.k === 'MSG naming another sender') {
      const good = this.k === 'MSG';
      const t = must('open', 'MSG', { 'msg-ok': good });
      const text = textOf();
      const mark = c.events.length;
      const res = await conn.request(
        request(
          'MSG',
          [
            ['From', good ? p.name : ctx.uniq('mallory')],
            ['To', a.name],
            ['Content-type', 'text/plain; charset=utf-8'],
          ],
          Buffer.from(text),
        ),
        ctx.timeout,
      );
      const want = good ? [answerOf(t) ?? 200] : [403, 413, 422];
      ctx.must(
        want.includes(res.status),
        t.reqs[0]!,
        `${where}: transition '${t.name}' answers ${want.join(' or ')}, got ${res.status} ${header(res, 'Error-code') ?? ''}`,
      );
      if (good)
        ctx.must(
          await c.waitFor((e) => e.event === 'message' && e.text === text, ctx.timeout, mark),
          t.reqs[0]!,
          `${where}: the message must be delivered to the user`,
        );
      else
        ctx.must(
          !c.events.slice(mark).some((e) => e.event === 'message' && e.text === text),
          t.reqs[0]!,
          `${where}: a refused MSG must not be delivered`,
        );
      m.s[this.w][d] = t.to as PState;
    } else if (this.k === 'PING') {
      const t = must('open', 'PING');
      const res = await conn.request(request('PING', []), ctx.timeout);
      ctx.must(
        res.status === (answerOf(t) ?? 200),
        t.reqs[0]!,
        `${where}: transition '${t.name}' answers ${answerOf(t)}, got ${res.status}`,
      );
    } else if (this.k === 'TYPING') {
      const t = must('open', 'TYPING');
      const mark = c.events.length;
      const state = ['typing', 'paused', 'erased'][r.log.length % 3]!;
      conn.send(
        request('TYPING', [
          ['From', p.name],
          ['To', a.name],
          ['Typing', state],
        ]),
      );
      ctx.must(
        await c.waitFor((e) => e.event === 'typing' && e.from === p.name && e.state === state, ctx.timeout, mark),
        t.reqs[0]!,
        `${where}: the typing state ${state} must be shown (a typing event)`,
      );
    } else {
      const t = must('open', 'BYE');
      conn.send(request('BYE', [['Reason', 'fuzz']]));
      await expectClosed(r, conn, t.reqs[0]!, `${where} (transition '${t.name}')`, false);
      m.s[this.w][d] = t.to as PState;
    }
    r.log.push(`${where} -> ${conn.closed ? 'closed' : 'open'}`);
  }
}

type ForgeKind = 'envelope with a forged tag' | 'replayed envelope' | 'PING in clear';

/** What an attacker on the path, or a broken peer, sends on an open session. */
class Forge extends Cmd {
  constructor(
    w: Who,
    readonly k: ForgeKind,
  ) {
    super(w);
  }
  check(m: Readonly<Model>): boolean {
    return openDir(m, this.w) !== null;
  }
  toString(): string {
    return `${this.k} to ${this.w}'s session`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const d = openDir(m, this.w)!;
    const conn = r.conns[this.w][d]!;
    if (this.k === 'PING in clear') {
      // [P2P-16] after INIT-ACK only SEALED passes: a message in clear closes the session.
      conn.writeRaw(encode(request('PING', [])));
      await expectClosed(r, conn, 'P2P-16', `${this}`, false);
      m.s[this.w][d] = 'closed';
      r.log.push(`${this} -> closed`);
      return;
    }
    const t = must('open', 'SEAL_FAILED');
    let code = 'ERR_DECRYPT';
    if (this.k === 'replayed envelope') {
      const wire = conn.sendBatch([request('PING', [])]);
      const first = await conn.nextResponse(ctx.timeout, 'the answer to PING');
      ctx.must(first?.status === 200, 'HB-7', `a sealed PING must be answered 200, got ${first?.status ?? 'a close'}`);
      conn.writeRaw(wire, 'the same SEALED envelope again');
      code = 'ERR_REPLAY';
    } else conn.sendBatch([request('PING', [])], { tamper: (b) => void (b[b.length - 1]! ^= 1) });
    // The answer may be sealed or in clear [§6.4 The SEALED Envelope]; either carries the code's status.
    const res = await conn.nextResponse(ctx.timeout, `the refusal of ${this}`).catch(() => null);
    const e = errorSpec(code);
    ctx.must(
      res === null || res.status === e.status,
      t.reqs[0]!,
      `${this}: transition '${t.name}' answers ${e.status} ${code}, got ${res?.status} ${res ? (header(res, 'Error-code') ?? '') : ''}`,
    );
    ctx.must(await conn.closedWithin(ctx.timeout), t.reqs[0]!, `${this}: the client must close the session`);
    m.s[this.w][d] = t.to as PState;
    r.log.push(`${this} -> ${res ? res.status : 'no answer'}, closed`);
  }
}

/**
 * A MSG in clear on a new connection, before any INIT: no transition in idle, so it is refused 425
 * ERR_OUT_OF_STATE and, the handshake not being complete, the connection is closed [STATE-5]; the
 * message is not delivered.
 */
class Early extends Cmd {
  check(m: Readonly<Model>): boolean {
    return m.loggedIn;
  }
  toString(): string {
    return `MSG in clear before INIT from ${this.w}`;
  }
  async step(_m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const c: ControlledClient = r.c;
    ctx.must(
      take('idle', 'MSG') === null,
      'STATE-5',
      'the table has a transition for MSG in idle; this step assumes none',
    );
    const p = r.peers[this.w];
    const conn = await ctx.connect(ctx.clientAddress(r.a), `peer-${this.w}-early`);
    const text = textOf();
    const mark = c.events.length;
    conn.send(
      request(
        'MSG',
        [
          ['From', p.name],
          ['To', r.a.name],
          ['Content-type', 'text/plain; charset=utf-8'],
        ],
        Buffer.from(text),
      ),
    );
    await expectRefusal(r, conn, 'ERR_OUT_OF_STATE', 'STATE-5', `${this}`);
    ctx.must(
      !c.events.slice(mark).some((e) => e.event === 'message' && e.text === text),
      'STATE-5',
      `${this}: a MSG before the session is open must not be delivered`,
    );
    r.log.push(`${this} -> refused, closed`);
  }
}

/** The buddy's side of the connection goes away (TCP reset): CLOSED. */
class Drop extends Cmd {
  check(m: Readonly<Model>): boolean {
    return openDir(m, this.w) !== null;
  }
  toString(): string {
    return `${this.w} drops its connection`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const d = openDir(m, this.w)!;
    r.conns[this.w][d]!.destroy();
    m.s[this.w][d] = must('open', 'CLOSED').to as PState;
    r.log.push(`${this}`);
  }
}

/**
 * The buddy opens a connection to the client and sends nothing: the new session's handshake timer
 * fires (TIMEOUT in idle): the client closes it after handshakeTimeout, with no answer (nothing is
 * outstanding), and the other sessions go on. Drawn only when handshakeTimeout is short, a few times a case.
 */
class Silent extends Cmd {
  check(m: Readonly<Model>): boolean {
    return m.loggedIn && m.silentLeft > 0;
  }
  toString(): string {
    return `${this.w} opens a connection and sends nothing`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    m.silentLeft--;
    r.silent.left--;
    const t = must('idle', 'TIMEOUT');
    const hs = ctx.limits.get('handshakeTimeout');
    const conn = await ctx.connect(ctx.clientAddress(r.a), `peer-${this.w}-silent`);
    const t0 = Date.now();
    try {
      const closed = await conn.closedWithin(2 * hs + ctx.timeout);
      const after = Date.now() - t0;
      r.log.push(
        `${this} -> ${closed ? `closed after ${after} ms` : 'still open'} (handshakeTimeout ${hs} ms, transition ${t.name})`,
      );
      const req = t.reqs[0] ?? 'CONN-4';
      ctx.must(
        closed,
        req,
        `${this}: transition '${t.name}' closes a peer connection whose handshake is not done within handshakeTimeout (${hs} ms); still open after ${after} ms`,
      );
      ctx.must(
        after >= hs - 50,
        req,
        `${this}: the client closed the connection ${after} ms after it opened, before its handshakeTimeout of ${hs} ms`,
      );
      ctx.must(
        !conn.received.some((x) => x.msg.kind === 'response'),
        req,
        `${this}: transition '${t.name}' closes without an answer, no request being outstanding`,
      );
    } finally {
      conn.destroy();
    }
  }
}

/** The MS reports the buddy offline, then online again: PEER_UNAVAILABLE [P2P-13]. */
class Unavailable extends Cmd {
  check(m: Readonly<Model>): boolean {
    return m.loggedIn;
  }
  toString(): string {
    return `the MS reports ${this.w} offline, then online`;
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a: KitAccount = r.a;
    const c: ControlledClient = r.c;
    const p = r.peers[this.w];
    const t = must('open', 'PEER_UNAVAILABLE');
    const ms = ctx.ms(a);
    ms.send(
      request('PRESENCE', [
        ['User', p.name],
        ['Status', 'offline'],
      ]),
    );
    for (const d of ['in', 'out'] as const)
      if (m.s[this.w][d] === 'open') {
        await expectClosed(r, r.conns[this.w][d]!, t.reqs[0]!, `${this} (transition '${t.name}')`, true);
        m.s[this.w][d] = t.to as PState;
      }
    const mark = c.events.length;
    ms.send(
      request('PRESENCE', [
        ['User', p.name],
        ['Status', 'online'],
        ['Address', p.address],
        ['Public-key', p.identity.publicKey],
      ]),
    );
    ctx.must(
      await c.waitFor((e) => e.event === 'presence' && e.user === p.name && e.status === 'online', ctx.timeout, mark),
      'PRESENCE-9',
      `${this}: the client must report the buddy online again`,
    );
    r.log.push(`${this}`);
  }
}

/** The user logs out (every session gets BYE and is closed [P2P-14]), then logs in again. */
class Logout extends Cmd {
  constructor() {
    super('lo');
  }
  check(m: Readonly<Model>): boolean {
    return m.loggedIn;
  }
  toString(): string {
    return 'logout, then login';
  }
  async step(m: Model, r: Real): Promise<void> {
    const ctx: ClientContext = r.ctx;
    const a: KitAccount = r.a;
    const c: ControlledClient = r.c;
    const t = must('open', 'LOGOUT');
    const res = await c.command('logout', ctx.timeout * 2);
    ctx.must(res?.event === 'ok', 'CTL-2', `logout failed: ${JSON.stringify(res)}`);
    for (const w of WHO)
      for (const d of ['in', 'out'] as const)
        if (m.s[w][d] === 'open') {
          await expectClosed(r, r.conns[w][d]!, t.reqs[0]!, `${this}: ${w}'s session (transition '${t.name}')`, true);
          m.s[w][d] = t.to as PState;
        }
    m.loggedIn = false;
    await agree(m, r, t.reqs[0]!, 'logout');
    const again = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
    ctx.must(again?.event === 'ok', 'LOGIN-7', `the client could not log in again: ${JSON.stringify(again)}`);
    m.loggedIn = true;
    r.log.push(`${this}`);
  }
}

// One constant per command, buddy and variant: fc.commands draws among them uniformly, whereas a variant
// drawn inside one arbitrary favours the first values.
const INITS: InitVariant[] = [
  'valid',
  'valid',
  'from a stranger',
  'forged-signature',
  'other-To',
  'stale-Time',
  'replayed-nonce',
];
const ACKS: AckVariant[] = ['valid INIT-ACK', 'INIT-ACK signed by another key', 'refused 403 ERR_NOT_BUDDY', 'nothing'];
const SEALED: SealedKind[] = ['MSG', 'MSG', 'MSG naming another sender', 'PING', 'TYPING', 'BYE'];
const FORGED: ForgeKind[] = ['envelope with a forged tag', 'replayed envelope', 'PING in clear'];
const commands = [
  ...WHO.flatMap((w) => [
    ...INITS.map((v) => new KitInit(w, v)),
    ...ACKS.map((v) => new ClientInit(w, v)),
    new Simultaneous(w),
    new Simultaneous(w),
    ...SEALED.map((k) => new Sealed(w, k)),
    ...FORGED.map((k) => new Forge(w, k)),
    new Early(w),
    new Drop(w),
    new Unavailable(w),
  ]),
  new Logout(),
  new Silent('lo'),
].map((x) => fc.constant(x));

export const clientP2pFuzzCases: CaseDef<ClientContext>[] = [
  {
    // Found by client/fuzz/1: the reference client forgot its INIT nonces at each login.
    id: 'client/p2p/30',
    section: 'p2p',
    title: 'an INIT accepted before a logout and replayed (same nonce) after the next login is refused 450 ERR_REPLAY',
    reqs: ['P2P-8', 'P2P-9', 'LOGIN-7', 'CTL-2'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([ctx.buddyRecord(p)]);
      const c = await ctx.startLoggedIn(a);
      const first = await ctx.connect(ctx.clientAddress(a), 'peer');
      const { state } = (() => {
        const b = buildInit(p.name, p.identity, a.name, a.identity.publicKey);
        first.send(b.msg);
        return b;
      })();
      ctx.must(
        await first.waitEvent((e) => e.method === 'INIT-ACK', ctx.timeout),
        'P2P-9',
        'a valid INIT from a buddy must be answered INIT-ACK',
      );
      const out = await c.command('logout', ctx.timeout * 2);
      ctx.must(out?.event === 'ok', 'CTL-2', `logout failed: ${JSON.stringify(out)}`);
      const again = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
      ctx.must(again?.event === 'ok', 'LOGIN-7', `the client could not log in again: ${JSON.stringify(again)}`);
      const conn = await ctx.connect(ctx.clientAddress(a), 'replayer');
      conn.send(buildInit(p.name, p.identity, a.name, a.identity.publicKey, { nI: state.nI }).msg);
      const r: Real = {
        ctx,
        c,
        a,
        peers: { lo: p, hi: p },
        conns: { lo: { in: null, out: null }, hi: { in: null, out: null } },
        nonces: [],
        log: [],
        counts: new Map(),
        silent: { left: 0 },
      };
      await expectRefusal(r, conn, 'ERR_REPLAY', 'P2P-8', 'an INIT whose nonce the client accepted before its logout');
    },
  },
  {
    id: 'client/fuzz/1',
    section: 'fuzz',
    title:
      'state-machine fuzzing of the peer-to-peer session: INIT both ways (valid, forged, stale, replayed), simultaneous INITs, sealed MSG/PING/TYPING/BYE, forged and replayed envelopes, drops, a buddy going offline and logout follow the machine table',
    reqs: machineReqs('p2p-session', [
      'P2P-1',
      'P2P-4',
      'P2P-6',
      'P2P-8',
      'P2P-16',
      'STATE-5',
      'HB-7',
      'MSG-4',
      'PRESENCE-9',
      'LOGIN-7',
      'CTL-2',
      'STATE-4',
    ]),
    fuzz: true,
    timers: ['p2p-session/handshake-timeout', 'p2p-session/init-timeout'],
    async run(ctx: ClientContext) {
      // Buddy names either side of the client's: 'b…' < 'c…' (the account) < 'd…'.
      const lo = await ctx.peer('b');
      const hi = await ctx.peer('d');
      const a = ctx.account([ctx.buddyRecord(lo), ctx.buddyRecord(hi)]);
      let c = await ctx.startLoggedIn(a);
      ctx.pre(lo.name < a.name && a.name < hi.name, 'P2P-15', 'the kit could not name buddies around the client');
      let lastLog: string[] = [];
      const counts = new Map<string, number>();
      // The silent connection (TIMEOUT) waits out handshakeTimeout: a few per case (about 15 s in all),
      // none when it is long, unless --slow.
      const hs = ctx.limits.get('handshakeTimeout');
      const silent = { left: ctx.opts.slow || hs <= 5000 ? Math.min(5, Math.max(1, Math.floor(15000 / hs))) : 0 };
      if (silent.left === 0)
        ctx.note(
          `no silent peer connection (transitions handshake-timeout and init-timeout not fired): handshakeTimeout ${hs} ms; pass --slow, or --set handshakeTimeout=N (N <= 5000) matching the client`,
        );
      const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
        const real: Real = {
          ctx,
          c,
          a,
          peers: { lo, hi },
          conns: { lo: { in: null, out: null }, hi: { in: null, out: null } },
          nonces: [],
          log: [],
          counts,
          silent,
        };
        lastLog = real.log;
        const model: Model = {
          s: { lo: { in: null, out: null }, hi: { in: null, out: null } },
          loggedIn: true,
          accepted: 0,
          silentLeft: silent.left,
        };
        try {
          // A fresh start: logged in (a failed sequence may have stopped between logout and login),
          // and no session left from the sequence before.
          if ((await c.command('sessions', ctx.timeout))?.event !== 'ok') {
            const again = await c.command(`login ${a.name} ${a.password}`, ctx.timeout * 4);
            ctx.must(again?.event === 'ok', 'LOGIN-7', `the client could not log in again: ${JSON.stringify(again)}`);
          }
          await agree(model, real, 'P2P-12', 'the connections of the previous sequence were closed');
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        } finally {
          for (const w of WHO) for (const d of ['in', 'out'] as const) real.conns[w][d]?.destroy();
        }
      };
      await fuzzCommands(ctx, {
        id: 'client/fuzz/1',
        req: 'STATE-4',
        maxRuns: 400,
        unbiased: true,
        commands,
        runOnce,
        log: () => lastLog,
        counts,
        // The transcript's replay runs in a new client process (logged in by runOnce's fresh start),
        // as a printed replay line would.
        fresh: async () => {
          await c.stop();
          c = await ctx.startClient(a);
        },
      });
    },
  },
];
