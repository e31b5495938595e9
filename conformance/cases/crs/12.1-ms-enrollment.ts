// [§12.1 MS enrollment (at the CRS)]: state-machine fuzzing of the MS enrollment
// (spec/machines/ms-enrollment.json through generated/machines.ts), the kit playing MSs of one Ms-id:
// random sequences of ENROLL + PROOF (right or wrong MS key; Incarnation higher, equal or lower than
// the enrolled one: takeover and duplicate Ms-id), a handshake left to time out, PROOF before ENROLL,
// ENROLL again on the sealed link, PING, a request, LEAVE, the lease left to expire (silence for
// msLease) and an abrupt close. Each answer is the "answer NNN" of the transition the table takes;
// the events the CRS raises itself (SUPERSEDED, LEASE_EXPIRED, CLOSED, TIMEOUT) are checked by what
// they do on the wire: the old link closed, the lease not cut short, the Ms-id free again at once.
import fc from 'fast-check';
import { findTransition, header, request, type MachineTransition, type ResponseMessage } from '../../../codec/index.js';
import { enrollOn, MsLink } from '../../lib/as-ms.js';
import type { CaseDef } from '../../lib/case.js';
import type { Conn } from '../../lib/conn.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { b64, nonce18, x25519Pair } from '../../lib/crypto.js';
import { fuzzCommands, machineReqs } from '../../lib/model-fuzz.js';
import { answerOf } from '../../lib/wire-target.js';

type State = 'idle' | 'challenged' | 'enrolled' | 'ended';
type Event = 'ENROLL' | 'PROOF' | 'PING' | 'REQUEST' | 'LEAVE';
type Inc = 'higher' | 'equal' | 'lower';

interface Model {
  /** The Incarnation of the enrollment the CRS holds for the Ms-id, or null. */
  enrolled: number | null;
  /** The highest Incarnation used so far. */
  last: number;
}
interface Real {
  ctx: CrsContext;
  msId: string;
  link: MsLink | null;
  log: string[];
  /** How many times each kind of command ran, over all runs (noted in the report). */
  counts: Map<string, number>;
}

const take = (s: State, e: Event | 'TIMEOUT' | 'LEASE_EXPIRED', g: Record<string, boolean> = {}) =>
  findTransition('ms-enrollment', s as never, e as never, g as never) as MachineTransition | null;
const got = (r: ResponseMessage | null): string =>
  r ? `${r.status} ${header(r, 'Error-code') ?? ''}`.trim() : 'close';

const count = (r: Real, what: string): void => {
  r.counts.set(what, (r.counts.get(what) ?? 0) + 1);
};

/** Each transition's first requirement, for the finding that names it. */
const reqOf = (t: MachineTransition | null, fallback: string): string => t?.reqs[0] ?? fallback;

abstract class Cmd implements fc.AsyncCommand<Model, Real> {
  abstract check(m: Readonly<Model>): boolean;
  abstract run(m: Model, r: Real): Promise<void>;
  abstract toString(): string;
}

/** A new connection: ENROLL with an Incarnation relative to the enrolled one, then PROOF. */
class EnrollCmd extends Cmd {
  constructor(
    readonly inc: Inc,
    readonly keyOk: boolean,
  ) {
    super();
  }
  check(): boolean {
    return true;
  }
  toString(): string {
    return `ENROLL(${this.inc} incarnation)+PROOF(${this.keyOk ? 'right' : 'wrong'} key)`;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ctx: CrsContext = r.ctx;
    count(r, this.keyOk ? `ENROLL(${this.inc})` : 'ENROLL(wrong key)');
    const ref = m.enrolled ?? m.last;
    const incarnation = this.inc === 'higher' ? m.last + 1 : this.inc === 'equal' ? ref : Math.max(1, ref - 1);
    const conflict = m.enrolled !== null && m.enrolled >= incarnation;
    const t1 = take('idle', 'ENROLL', { 'ms-conflict': conflict });
    const conn = await ctx.connect('fz');
    const params = { ...ctx.msParams({ msId: r.msId, incarnation }) };
    const out = await enrollOn(
      conn,
      ctx.env.msKey,
      params,
      ctx.timeout,
      this.keyOk ? undefined : { proof: (p) => Buffer.from(p.map((b) => b ^ 0x5a)) },
    );
    const t2 = t1?.to === 'challenged' ? take('challenged', 'PROOF', { 'proof-ok': this.keyOk }) : null;
    r.log.push(
      `${this.toString()} @${incarnation} (enrolled ${m.enrolled ?? 'none'}) -> ${got(out.challenge)}${out.challenge?.status === 300 ? `, ${got(out.result)}` : ''} (transitions ${t1?.name ?? 'none'}${t2 ? `, ${t2.name}` : ''})`,
    );
    ctx.must(
      out.challenge?.status === answerOf(t1),
      reqOf(t1, 'ENROLL-6'),
      `${this.toString()} at Incarnation ${incarnation} with ${m.enrolled === null ? 'no enrollment' : `Incarnation ${m.enrolled} enrolled`}: transition '${t1?.name}' answers ${answerOf(t1)}, got ${got(out.challenge)}`,
    );
    if (t1?.to === 'ended') {
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        reqOf(t1, 'ENROLL-6'),
        `after '${t1.name}' the CRS must close the connection`,
      );
      await stillEnrolled(r, `after a refused ${this.toString()}`);
      return;
    }
    ctx.must(
      out.result?.status === answerOf(t2),
      reqOf(t2, 'ENROLL-4'),
      `${this.toString()}: transition '${t2?.name}' answers ${answerOf(t2)}, got ${got(out.result)}`,
    );
    m.last = Math.max(m.last, incarnation);
    if (t2?.to !== 'enrolled') {
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        reqOf(t2, 'ENROLL-5'),
        `after '${t2?.name}' the CRS must close the connection`,
      );
      await stillEnrolled(r, `after ${this.toString()}`);
      return;
    }
    ctx.must(out.serverProofOk, 'ENROLL-4', 'the 200 to PROOF must carry a valid Server-proof');
    const link = new MsLink(conn, params, ctx.timeout);
    link.lease = Number(header(out.result, 'Lease') ?? 0);
    link.heartbeat = Number(header(out.result, 'Heartbeat') ?? 0);
    link.startHeartbeat();
    ctx.links.push(link);
    // [ENROLL-7] the enrollment with the lower Incarnation is SUPERSEDED: ended, its link closed.
    const old = r.link;
    if (old && !old.conn.closed) {
      count(r, 'takeover');
      old.stopHeartbeat();
      ctx.must(
        await old.conn.closedWithin(ctx.timeout),
        'ENROLL-7',
        `Incarnation ${incarnation} took over Ms-id ${r.msId}: the CRS must end the enrollment of Incarnation ${m.enrolled} and close its connection`,
      );
    }
    r.link = link;
    m.enrolled = incarnation;
  }
}

/** The enrollment the model holds is still served: a PING on its link is answered 200. */
async function stillEnrolled(r: Real, what: string): Promise<void> {
  if (!r.link) return;
  const res = await r.link.req('PING', []).catch(() => null);
  const ctx: CrsContext = r.ctx;
  ctx.must(res?.status === 200, 'ENROLL-6', `${what}, the enrolled MS must keep its enrollment: PING got ${got(res)}`);
}

/** An event on the enrolled link: PING, a request, LEAVE, or ENROLL again (out of state inside SEALED). */
class LinkCmd extends Cmd {
  constructor(readonly ev: Event | 'ENROLL-AGAIN') {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return m.enrolled !== null;
  }
  toString(): string {
    return this.ev === 'ENROLL-AGAIN' ? 'ENROLL on the enrolled link' : this.ev;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ctx: CrsContext = r.ctx;
    const link = r.link!;
    count(r, this.toString());
    const ev: Event = this.ev === 'ENROLL-AGAIN' ? 'ENROLL' : this.ev;
    const t = take('enrolled', ev);
    let res: ResponseMessage | null;
    if (this.ev === 'ENROLL-AGAIN') {
      const p = link.params;
      res = await link
        .req('ENROLL', [
          ['Imsp-version', '1'],
          ['Ms-id', p.msId],
          ['Incarnation', String(p.incarnation + 1)],
          ['Nonce', nonce18()],
          ['Key-share', b64(x25519Pair().publicKey)],
          ['Listen', p.listen],
          ['Capacity', String(p.capacity)],
        ])
        .catch(() => null);
    } else if (ev === 'REQUEST') {
      // LOCK of a user nobody registered: served (404), never refused as out of state.
      res = await link.req('LOCK', [['User', ctx.uniq('nobody')]]).catch(() => null);
    } else res = await link.req(ev, []).catch(() => null);
    r.log.push(`${this.toString()} -> ${got(res)} (transition ${t?.name ?? 'none'})`);
    if (!t) {
      // [REG-15] [STATE-5] a clear-only method inside SEALED is out of state: 425, the link goes on.
      ctx.must(
        res?.status === 425 && header(res, 'Error-code') === 'ERR_OUT_OF_STATE',
        'REG-15',
        `${this.toString()}: no transition in state enrolled; expected 425 ERR_OUT_OF_STATE, got ${got(res)}`,
      );
      ctx.must(!link.conn.closed, 'REG-15', `${this.toString()}: the CRS closed the enrolled link`);
      return;
    }
    const want = answerOf(t) ?? 200;
    if (ev === 'REQUEST')
      ctx.must(
        res !== null && res.status !== 425 && !link.conn.closed,
        reqOf(t, 'HB-4'),
        `a request on the enrolled link must be served (transition '${t.name}'), got ${got(res)}`,
      );
    else
      ctx.must(
        res?.status === want,
        reqOf(t, 'HB-3'),
        `${this.toString()} in state enrolled: transition '${t.name}' answers ${want}, got ${got(res)}`,
      );
    if (ev === 'PING')
      ctx.must(
        Number(header(res!, 'Lease')) > 0,
        'HB-3',
        `the 200 to an MS's PING must carry the Lease granted, carried ${header(res!, 'Lease') ?? 'none'}`,
      );
    if (t.to === 'ended') {
      link.stopHeartbeat();
      ctx.must(await link.conn.closedWithin(ctx.timeout), reqOf(t, 'ENROLL-9'), `after '${t.name}' the CRS must close`);
      await freeAgain(m, r, `after ${this.toString()}`, reqOf(t, 'ENROLL-9'));
    }
  }
}

/** The enrollment ended: the same Ms-id and Incarnation enroll again at once (no conflict left). */
async function freeAgain(m: Model, r: Real, what: string, req: string): Promise<void> {
  const ctx: CrsContext = r.ctx;
  const incarnation = m.enrolled!;
  m.enrolled = null;
  r.link = null;
  const params = ctx.msParams({ msId: r.msId, incarnation });
  // The CRS learns of a close only when it reads it, which may be after it reads our new ENROLL on
  // another connection: a 409 is retried for up to half a lease ("at once", not "after the lease").
  const lease = ctx.limits.get('msLease');
  const start = Date.now();
  let conn: Conn;
  let out: Awaited<ReturnType<typeof enrollOn>>;
  for (;;) {
    conn = await ctx.connect('fz');
    out = await enrollOn(conn, ctx.env.msKey, params, ctx.timeout);
    if (out.challenge?.status !== 409 || Date.now() - start > lease / 2) break;
    conn.destroy();
    await new Promise<void>((res) => setTimeout(res, 25));
  }
  r.log.push(
    `  re-ENROLL @${incarnation} ${what} -> ${got(out.challenge)}, ${got(out.result)} (${Date.now() - start} ms)`,
  );
  ctx.must(
    out.challenge?.status === 300 && out.result?.status === 200,
    req,
    `${what}, the enrollment of Ms-id ${r.msId} is over: the same Incarnation ${incarnation} must enroll again, got ${got(out.challenge)}${out.challenge?.status === 300 ? `, ${got(out.result)}` : ''}`,
  );
  const link = new MsLink(conn, params, ctx.timeout);
  link.lease = Number(header(out.result, 'Lease') ?? 0);
  link.heartbeat = Number(header(out.result, 'Heartbeat') ?? 0);
  link.startHeartbeat();
  ctx.links.push(link);
  r.link = link;
  m.enrolled = incarnation;
}

/** The MS goes silent (LEASE_EXPIRED) or closes its connection (CLOSED). */
class EndCmd extends Cmd {
  constructor(readonly how: 'silence' | 'close') {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return m.enrolled !== null;
  }
  toString(): string {
    return this.how === 'silence' ? 'silence for msLease' : 'close the link';
  }
  async run(m: Model, r: Real): Promise<void> {
    const ctx: CrsContext = r.ctx;
    const link = r.link!;
    count(r, this.toString());
    link.stopHeartbeat();
    if (this.how === 'close') {
      link.conn.destroy();
      r.log.push('close the link');
      // [ENROLL-10] the enrollment ends at once, without waiting for the lease.
      await freeAgain(m, r, 'after the MS closed its connection', 'ENROLL-10');
      return;
    }
    const t = take('enrolled', 'LEASE_EXPIRED');
    // Silent: the MS answers nothing, not even the CRS's PINGs (an answer is traffic that renews the lease).
    link.conn.auto = () => undefined;
    // The heartbeat is stopped; a last PING, sent after `quiet`, is the last thing the CRS hears, so
    // its lease runs out no sooner than `quiet` + Lease.
    const quiet = Date.now();
    const last = await link.req('PING', []).catch(() => null);
    ctx.must(last?.status === 200, 'HB-3', `PING on the enrolled link must be answered 200, got ${got(last)}`);
    const lease = Number(header(last, 'Lease')) || link.lease || ctx.limits.get('msLease');
    const closed = await link.conn.closedWithin(lease * 2 + ctx.timeout);
    const after = Date.now() - quiet;
    r.log.push(
      `silence -> ${closed ? `closed after ${after} ms` : 'still open'} (lease ${lease} ms, transition ${t?.name})`,
    );
    ctx.must(
      closed,
      reqOf(t, 'HB-4'),
      `an MS silent for its lease (${lease} ms) must be declared dead and its link closed; still open after ${after} ms`,
    );
    // The CRS last heard of the MS no earlier than `quiet`: a close sooner than the lease cut it short.
    ctx.must(
      after >= lease - 25,
      reqOf(t, 'HB-4'),
      `the CRS ended the enrollment ${after} ms after the MS's last message, before its lease of ${lease} ms`,
    );
    await freeAgain(m, r, 'after the lease expired', reqOf(t, 'HB-4'));
  }
}

/** Handshake events on a fresh connection: ENROLL then silence (TIMEOUT), or PROOF first (out of state). */
class HandshakeCmd extends Cmd {
  constructor(readonly what: 'stall' | 'proof-first') {
    super();
  }
  check(): boolean {
    return true;
  }
  toString(): string {
    return this.what === 'stall' ? 'ENROLL, then nothing for handshakeTimeout' : 'PROOF before ENROLL';
  }
  async run(_m: Model, r: Real): Promise<void> {
    const ctx: CrsContext = r.ctx;
    count(r, this.toString());
    const conn = await ctx.connect('hs');
    if (this.what === 'proof-first') {
      const res = await conn.request(request('PROOF', [['Proof', 'A'.repeat(43)]]), ctx.timeout).catch(() => null);
      r.log.push(`PROOF before ENROLL -> ${got(res)}`);
      ctx.must(
        !take('idle', 'PROOF') && res?.status === 425 && header(res, 'Error-code') === 'ERR_OUT_OF_STATE',
        'STATE-5',
        `PROOF in state idle has no transition: expected 425 ERR_OUT_OF_STATE, got ${got(res)}`,
      );
      ctx.must(
        await conn.closedWithin(ctx.timeout),
        'STATE-5',
        'an out-of-state request before the handshake completes closes the connection',
      );
    } else {
      const hs = ctx.limits.get('handshakeTimeout');
      const t = take('challenged', 'TIMEOUT');
      const params = ctx.msParams({ msId: ctx.uniq('stall'), incarnation: 1 });
      conn.send(
        request('ENROLL', [
          ['Imsp-version', '1'],
          ['Ms-id', params.msId],
          ['Incarnation', '1'],
          ['Nonce', nonce18()],
          ['Key-share', b64(x25519Pair().publicKey)],
          ['Listen', params.listen],
          ['Capacity', '10'],
        ]),
      );
      const challenge = await conn.nextResponse(ctx.timeout, 'the ENROLL challenge').catch(() => null);
      const closed = await conn.closedWithin(hs * 2 + ctx.timeout);
      r.log.push(`stalled handshake -> ${got(challenge)}, ${closed ? 'closed' : 'still open'}`);
      ctx.must(challenge?.status === 300, 'ENROLL-2', `ENROLL must be answered 300 Challenge, got ${got(challenge)}`);
      ctx.must(
        closed,
        reqOf(t, 'CONN-4'),
        `a handshake not finished within handshakeTimeout (${hs} ms) must be closed (transition '${t?.name}')`,
      );
      ctx.must(
        conn.unclaimedResponses() === 0,
        reqOf(t, 'CONN-4'),
        'the handshake timeout closes without an answer: no request is outstanding',
      );
    }
    await stillEnrolled(r, `after ${this.toString()} on another connection`);
  }
}

const enrollCmd = fc
  .tuple(fc.constantFrom<Inc>('higher', 'higher', 'equal', 'lower'), fc.constantFrom(true, true, false))
  .map(([inc, ok]) => new EnrollCmd(inc, ok));
const commands = [
  enrollCmd,
  enrollCmd,
  fc.constantFrom<Event | 'ENROLL-AGAIN'>('PING', 'REQUEST', 'LEAVE', 'ENROLL-AGAIN').map((e) => new LinkCmd(e)),
  fc.constantFrom<'silence' | 'close'>('silence', 'close').map((h) => new EndCmd(h)),
  fc.constantFrom<'stall' | 'proof-first'>('stall', 'proof-first').map((w) => new HandshakeCmd(w)),
];

export const crsEnrollmentFuzzCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/fuzz/4',
    section: 'fuzz',
    title:
      'state-machine fuzzing of the MS enrollment: ENROLL/PROOF with higher, equal and lower Incarnations and wrong keys, PING, requests, LEAVE, silence past msLease, abrupt closes and stalled handshakes follow the machine table',
    reqs: machineReqs('ms-enrollment', ['ENROLL-6', 'ENROLL-7', 'ENROLL-10', 'HB-4', 'REG-15', 'STATE-5', 'STATE-1']),
    fuzz: true,
    timers: ['ms-enrollment/handshake-timeout', 'ms-enrollment/lease-expired'],
    async run(ctx: CrsContext) {
      const lease = ctx.limits.get('msLease');
      const hs = ctx.limits.get('handshakeTimeout');
      if ((lease > 5000 || hs > 5000) && !ctx.opts.slow)
        ctx.skip(
          `msLease ${lease} ms and handshakeTimeout ${hs} ms: pass --slow, or --set msLease=N --set handshakeTimeout=N matching the CRS`,
        );
      let lastLog: string[] = [];
      const counts = new Map<string, number>();
      const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
        const real: Real = { ctx, msId: ctx.uniq('fz-ms-'), link: null, log: [], counts };
        lastLog = real.log;
        try {
          await fc.asyncModelRun(() => ({ model: { enrolled: null, last: 1000 } as Model, real }), cmds);
        } finally {
          if (real.link) real.link.close();
        }
      };
      await fuzzCommands(ctx, {
        id: 'crs/fuzz/4',
        maxRuns: 12,
        req: 'STATE-1',
        commands,
        maxCommands: 8,
        runOnce,
        log: () => lastLog,
        counts,
      });
    },
  },
];
