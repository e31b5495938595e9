// [§12.4 User record (at the CRS)]: state-machine fuzzing of the user record
// (spec/machines/user-record.json through generated/machines.ts): random sequences of LOCK, UNLOCK,
// ONLINE, OFFLINE and STATUS from two MS links with current and stale epochs, checked against the
// machine table (expected answers are read from each transition's "answer NNN" action).
import fc from 'fast-check';
import { findTransition, header, type MachineTransition, type ResponseMessage } from '../../../codec/index.js';
import type { MsLink } from '../../lib/as-ms.js';
import type { CaseDef } from '../../lib/case.js';
import { fuzzCommands, machineReqs } from '../../lib/model-fuzz.js';
import type { CrsContext, TestUser } from '../../lib/crs-context.js';
import { answerOf } from '../../lib/wire-target.js';

type State = 'offline' | 'locked' | 'online';
interface Model {
  state: State;
  holder: number | null;
  epoch: number;
  /** Lock leases the case may still wait out (over all its sequences): its run time stays bounded. */
  expiriesLeft: number;
}
interface Real {
  ctx: CrsContext;
  links: MsLink[];
  user: TestUser;
  log: string[];
  /** When the kit sent the LOCK the CRS granted last, and the Lease it granted: lockLease runs from then. */
  locked: { at: number; lease: number } | null;
  counts: Map<string, number>;
  /** The expiries left to the case, over all its sequences. */
  expiries: { left: number };
}

type Ev = 'LOCK' | 'UNLOCK' | 'ONLINE' | 'OFFLINE' | 'STATUS';

class EventCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly ev: Ev,
    readonly ms: number,
    readonly epochChoice: 'current' | 'stale',
    readonly status: 'online' | 'busy' | 'away',
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const fenced = this.epochChoice === 'current' && m.holder === this.ms;
    const t = findTransition(
      'user-record',
      m.state as never,
      this.ev as never,
      { fenced, 'lease-expired': false } as never,
    ) as MachineTransition | null;
    const expected = answerOf(t);
    const epoch = this.epochChoice === 'current' ? m.epoch : m.epoch + 1000;
    const link = r.links[this.ms]!;
    const u = r.user.name;
    const headers = this.headers(u, epoch);
    const sent = Date.now();
    r.counts.set(this.ev, (r.counts.get(this.ev) ?? 0) + 1);
    const res: ResponseMessage = await link.req(this.ev, headers);
    r.log.push(
      `${this.toString()} -> ${res.status} ${header(res, 'Error-code') ?? ''} (model: ${m.state}, transition ${t?.name ?? 'none'})`,
    );
    if (this.lapsed(m, r, res, sent)) return;
    const reqs = t ? t.reqs.join(',') : 'STATE-1';
    if (expected !== null) {
      r.ctx.must(
        res.status === expected,
        t!.reqs[0] ?? 'STATE-1',
        `${this.toString()} in state ${m.state}: the machine's transition '${t!.name}' [${reqs}] answers ${expected}, got ${res.status} ${header(res, 'Error-code') ?? ''}`,
      );
    } else if (
      t === null &&
      (this.ev === 'UNLOCK' || this.ev === 'OFFLINE') &&
      this.epochChoice === 'current' &&
      (m.state === 'offline' || m.holder === this.ms)
    ) {
      // [LOCK-8] a repeated cleanup with the record's own epoch is answered 200 and changes nothing;
      // OFFLINE from the holder of a lock (spec/text 8: "On OFFLINE with the current epoch from the
      // holder, the CRS MUST set the record offline") has no row in the machine table: 200 or 410.
      r.ctx.must(
        res.status === 200 || res.status === 410,
        'LOCK-8',
        `${this.toString()} in state ${m.state} with the record's epoch: expected 200 (cleanup) or 410, got ${res.status}`,
      );
      if (res.status === 200) {
        m.state = 'offline';
        m.holder = null;
      }
      return;
    } else if (t === null) {
      r.ctx.must(
        res.status >= 400,
        'LOCK-6',
        `${this.toString()} in state ${m.state}: no transition allows it, it must be refused; got ${res.status}`,
      );
    }
    if (t && (expected === null || expected < 400)) {
      if (this.ev === 'LOCK') {
        const e = Number(header(res, 'Epoch'));
        r.ctx.must(e > m.epoch, 'LOCK-5', `a lock grant must raise the epoch: ${m.epoch} then ${e}`);
        m.epoch = e;
        m.holder = this.ms;
        r.locked = { at: sent, lease: Number(header(res, 'Lease')) || r.ctx.limits.get('lockLease') };
      }
      m.state = t.to as State;
      if (m.state === 'offline') m.holder = null;
    }
  }
  /** The request's headers: User, and Epoch, Address and Status as the method takes them. */
  private headers(u: string, epoch: number): [string, string][] {
    return this.ev === 'LOCK'
      ? [['User', u]]
      : this.ev === 'ONLINE'
        ? [
            ['User', u],
            ['Epoch', String(epoch)],
            ['Address', `127.0.0.1:${40000 + this.ms}`],
            ['Status', this.status],
          ]
        : this.ev === 'STATUS'
          ? [
              ['User', u],
              ['Epoch', String(epoch)],
              ['Status', this.status],
            ]
          : [
              ['User', u],
              ['Epoch', String(epoch)],
            ];
  }
  /**
   * The lock's lease may have run out on its own (a slow step: lockLease is short when the timers are
   * --set): the table then takes lock-expired first, so a LOCK granted again, or an UNLOCK or ONLINE
   * of the holder refused 410, follows that branch instead of the one the model assumed. True when it did.
   */
  private lapsed(m: Model, r: Real, res: ResponseMessage, sent: number): boolean {
    if (!(m.state === 'locked' && r.locked !== null && sent - r.locked.at >= r.locked.lease - 50)) return false;
    if (!expiredBranch(this.ev, res)) return false;
    r.log.push(
      `  (the lock's lease had run out: ${sent - r.locked.at} ms after its LOCK; transition lock-expired first)`,
    );
    m.state = 'offline';
    m.holder = null;
    if (this.ev === 'LOCK') {
      const e = Number(header(res, 'Epoch'));
      r.ctx.must(e > m.epoch, 'LOCK-5', `a lock grant must raise the epoch: ${m.epoch} then ${e}`);
      m.epoch = e;
      m.holder = this.ms;
      m.state = 'locked';
      r.locked = { at: sent, lease: Number(header(res, 'Lease')) || r.ctx.limits.get('lockLease') };
    }
    return true;
  }
  toString(): string {
    return `${this.ev}@ms${this.ms}${this.ev === 'LOCK' ? '' : `(${this.epochChoice} epoch)`}`;
  }
}

/** What the CRS answers once a lock expired, where the model assumed it held: LOCK granted, UNLOCK or ONLINE 410. */
const expiredBranch = (ev: Ev, res: ResponseMessage): boolean =>
  (ev === 'LOCK' && res.status === 200) || ((ev === 'UNLOCK' || ev === 'ONLINE') && res.status === 410);

/**
 * The lock's holder says nothing for lockLease (LOCK_EXPIRED: the record goes offline), then sends
 * ONLINE with the lock's epoch: no transition in offline, so it must be refused (the reference answers
 * 410 ERR_STALE_EPOCH); a CRS that never expires a lock answers 200. Drawn rarely: it waits out the lease.
 */
class ExpireCmd implements fc.AsyncCommand<Model, Real> {
  check(m: Readonly<Model>): boolean {
    return m.state === 'locked' && m.holder !== null && m.expiriesLeft > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ctx: CrsContext = r.ctx;
    const t = findTransition('user-record', 'locked', 'LOCK_EXPIRED') as MachineTransition | null;
    if (!t) throw new Error('kit: the user-record table has no LOCK_EXPIRED in locked');
    m.expiriesLeft--;
    r.expiries.left--;
    r.counts.set('lock lease ran out', (r.counts.get('lock lease ran out') ?? 0) + 1);
    const lock = r.locked ?? { at: Date.now(), lease: ctx.limits.get('lockLease') };
    // Half a lease more: a CRS may notice the expiry on a sweep, not at the very millisecond.
    const wait = lock.at + Math.ceil(lock.lease * 1.5) - Date.now();
    if (wait > 0) await new Promise<void>((res) => setTimeout(res, wait));
    const after = Date.now() - lock.at;
    const holder = m.holder!;
    m.state = t.to as State;
    m.holder = null;
    const next = findTransition('user-record', m.state as never, 'ONLINE' as never, { fenced: false } as never);
    const res = await r.links[holder]!.req('ONLINE', [
      ['User', r.user.name],
      ['Epoch', String(m.epoch)],
      ['Address', `127.0.0.1:${40000 + holder}`],
      ['Status', 'online'],
    ]);
    r.log.push(
      `${this} -> ONLINE ${after} ms after the LOCK: ${res.status} ${header(res, 'Error-code') ?? ''} (transition ${t.name}, then ${next?.name ?? 'none'})`,
    );
    ctx.must(
      next === null && res.status >= 400,
      t.reqs[0] ?? 'LOCK-3',
      `the lock's lease (${lock.lease} ms) ran out ${after - lock.lease} ms before the holder's ONLINE with the lock's epoch: transition '${t.name}' ends the lock, so the ONLINE must be refused; got ${res.status} ${header(res, 'Error-code') ?? ''}`,
    );
  }
  toString(): string {
    return 'the holder silent for lockLease';
  }
}

const eventCmd = fc
  .tuple(
    fc.constantFrom<Ev>('LOCK', 'UNLOCK', 'ONLINE', 'OFFLINE', 'STATUS'),
    fc.integer({ min: 0, max: 1 }),
    fc.constantFrom<'current' | 'stale'>('current', 'current', 'current', 'stale'),
    fc.constantFrom<'online' | 'busy' | 'away'>('online', 'busy', 'away'),
  )
  .map(([ev, ms, ep, st]): fc.AsyncCommand<Model, Real> => new EventCmd(ev, ms, ep, st));
/** The longest lockLease the expiry waits out without --slow. */
const EXPIRE_MAX_MS = 5000;
/** About one expiry in twenty commands (only while a lock is held), when the lease is short. */
const commandsWith = (expire: boolean): fc.Arbitrary<fc.AsyncCommand<Model, Real>>[] => [
  expire
    ? fc.oneof({ arbitrary: eventCmd, weight: 19 }, { arbitrary: fc.constant(new ExpireCmd()), weight: 1 })
    : eventCmd,
];

export const crsUserRecordCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/fuzz/2',
    section: 'fuzz',
    title:
      'state-machine fuzzing of the user record: random LOCK/UNLOCK/ONLINE/OFFLINE/STATUS from two MSs with current and stale epochs, and a lock left to expire, follow the machine table',
    reqs: machineReqs('user-record', [
      'LOCK-1',
      'LOCK-2',
      'LOCK-4',
      'LOCK-5',
      'LOCK-6',
      'LOCK-8',
      'LOGIN-10',
      'LOGOUT-5',
      'INV-1',
      'STATE-1',
    ]),
    fuzz: true,
    timers: ['user-record/lock-expired'],
    async run(ctx: CrsContext) {
      const lease = ctx.limits.get('lockLease');
      const expire = ctx.opts.slow || lease <= EXPIRE_MAX_MS;
      // Each expiry costs one and a half leases: about 20 s of them in all, and at least one.
      const expiries = { left: Math.min(8, Math.max(1, Math.floor(20000 / lease))) };
      if (!expire)
        ctx.note(
          `no lock left to expire (transition lock-expired not fired): lockLease ${lease} ms; pass --slow, or --set lockLease=N (N <= ${EXPIRE_MAX_MS}) matching the CRS`,
        );
      const links = [await ctx.enroll(), await ctx.enroll()];
      let lastLog: string[] = [];
      const counts = new Map<string, number>();
      const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
        const user = await ctx.user();
        const real: Real = { ctx, links, user, log: [], locked: null, counts, expiries };
        lastLog = real.log;
        await fc.asyncModelRun(
          () => ({ model: { state: 'offline', holder: null, epoch: 0, expiriesLeft: expiries.left } as Model, real }),
          cmds,
        );
      };
      await fuzzCommands(ctx, {
        id: 'crs/fuzz/2',
        maxRuns: 30,
        req: 'STATE-1',
        commands: commandsWith(expire),
        runOnce,
        log: () => lastLog,
        counts,
      });
    },
  },
];
