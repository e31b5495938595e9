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
}
interface Real {
  ctx: CrsContext;
  links: MsLink[];
  user: TestUser;
  log: string[];
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
    const headers: [string, string][] =
      this.ev === 'LOCK'
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
    const res: ResponseMessage = await link.req(this.ev, headers);
    r.log.push(
      `${this.toString()} -> ${res.status} ${header(res, 'Error-code') ?? ''} (model: ${m.state}, transition ${t?.name ?? 'none'})`,
    );
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
      }
      m.state = t.to as State;
      if (m.state === 'offline') m.holder = null;
    }
  }
  toString(): string {
    return `${this.ev}@ms${this.ms}${this.ev === 'LOCK' ? '' : `(${this.epochChoice} epoch)`}`;
  }
}

const commands = [
  fc
    .tuple(
      fc.constantFrom<Ev>('LOCK', 'UNLOCK', 'ONLINE', 'OFFLINE', 'STATUS'),
      fc.integer({ min: 0, max: 1 }),
      fc.constantFrom<'current' | 'stale'>('current', 'current', 'current', 'stale'),
      fc.constantFrom<'online' | 'busy' | 'away'>('online', 'busy', 'away'),
    )
    .map(([ev, ms, ep, st]) => new EventCmd(ev, ms, ep, st)),
];

export const crsUserRecordCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/fuzz/2',
    section: 'fuzz',
    title:
      'state-machine fuzzing of the user record: random LOCK/UNLOCK/ONLINE/OFFLINE/STATUS from two MSs with current and stale epochs follow the machine table',
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
    async run(ctx: CrsContext) {
      const links = [await ctx.enroll(), await ctx.enroll()];
      let lastLog: string[] = [];
      const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
        const user = await ctx.user();
        const real: Real = { ctx, links, user, log: [] };
        lastLog = real.log;
        await fc.asyncModelRun(() => ({ model: { state: 'offline', holder: null, epoch: 0 } as Model, real }), cmds);
      };
      await fuzzCommands(ctx, {
        id: 'crs/fuzz/2',
        maxRuns: 30,
        req: 'STATE-1',
        commands,
        runOnce,
        log: () => lastLog,
      });
    },
  },
];
