// [§12.6 Buddy relation (at the CRS)]: state-machine fuzzing of the buddy relation at the CRS (spec/machines/buddy-relation.json through
// generated/machines.ts): two online users send each other random ADD, ANSWER grant/deny, REM, BLOCK
// and UNBLOCK. Each request feeds the actor's machine (toward the other) and, where the table says
// so, the other's (GRANT, DENY, PEER_REM, PEER_BLOCK); the answer must be the one the transition's
// actions name, and after every step both users' LIST must show the relations of the model and an
// incoming request exactly when an ADD is pending and not withheld by a block.
import fc from 'fast-check';
import { findTransition, header, type Header, type MachineTransition } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import { fuzzCommands, machineReqs } from '../../lib/model-fuzz.js';
import { rec, type CrsContext, type Session } from '../../lib/crs-context.js';
import { answerOf } from '../../lib/wire-target.js';

type Rel = 'none' | 'pending' | 'buddy' | 'blocked';
/** rel[i]: user i's relation toward the other. */
interface Model {
  rel: [Rel, Rel];
}
interface Real {
  ctx: CrsContext;
  s: [Session, Session];
  log: string[];
}

const take = (state: Rel, event: string, guards: Record<string, boolean> = {}): MachineTransition | null =>
  findTransition('buddy-relation', state as never, event as never, guards as never) as MachineTransition | null;

type Op = 'ADD' | 'GRANT' | 'DENY' | 'REM' | 'BLOCK' | 'UNBLOCK';

class RelationCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly op: Op,
    readonly actor: 0 | 1,
  ) {}
  check(m: Readonly<Model>): boolean {
    // Requests whose answer the text leaves open are not drawn: BLOCK of someone blocked already,
    // UNBLOCK of someone not blocked.
    if (this.op === 'BLOCK') return m.rel[this.actor] !== 'blocked';
    if (this.op === 'UNBLOCK') return m.rel[this.actor] === 'blocked';
    return true;
  }
  toString(): string {
    return `${this.actor === 0 ? 'A' : 'B'}:${this.op}`;
  }
  /**
   * The table's view of the request: the transition of the actor's machine (toward the other) and,
   * where the table says so, of the other's; the answer they name; whether the request is one the
   * table allows at all.
   */
  private expectation(m: Model): {
    tMine: MachineTransition | null;
    tTheirs: MachineTransition | null;
    expected: number | null;
    valid: boolean;
  } {
    const mine = m.rel[this.actor];
    const theirs = m.rel[1 - this.actor]!;
    switch (this.op) {
      case 'ADD': {
        const tMine = take(mine, 'ADD', {
          'blocked-by-peer': theirs === 'blocked',
          'peer-pending': theirs === 'pending',
        });
        const tTheirs = tMine?.name === 'add-crossing' ? take(theirs, 'GRANT') : null;
        return { tMine, tTheirs, expected: answerOf(tMine), valid: true };
      }
      case 'GRANT':
      case 'DENY': {
        // Answering needs an ADD from the other that was delivered (pending, not withheld by my block).
        const valid = theirs === 'pending' && mine !== 'blocked';
        const tTheirs = valid ? take(theirs, this.op) : null;
        const tMine = valid && this.op === 'GRANT' ? take(mine, 'GRANT') : null;
        return { tMine, tTheirs, expected: valid ? 200 : null, valid };
      }
      case 'REM': {
        const tMine = take(mine, 'REM');
        const tTheirs = tMine?.name === 'remove' ? take(theirs, 'PEER_REM') : null;
        const valid = tMine !== null;
        return { tMine, tTheirs, expected: valid ? (answerOf(tMine) ?? 200) : null, valid };
      }
      case 'BLOCK': {
        const tMine = take(mine, 'BLOCK');
        return { tMine, tTheirs: take(theirs, 'PEER_BLOCK'), expected: answerOf(tMine) ?? 200, valid: true };
      }
      case 'UNBLOCK': {
        const tMine = take(mine, 'UNBLOCK');
        return { tMine, tTheirs: null, expected: answerOf(tMine) ?? 200, valid: true };
      }
    }
  }

  /** The request's headers: ADD and ANSWER name the other in To, REM, BLOCK and UNBLOCK in User. */
  private headers(s: Session, o: Session): [string, string][] {
    if (this.op === 'ADD')
      return [
        ['From', s.user.name],
        ['To', o.user.name],
        ['Epoch', s.epoch],
      ];
    if (this.op === 'GRANT' || this.op === 'DENY')
      return [
        ['From', s.user.name],
        ['To', o.user.name],
        ['Decision', this.op === 'GRANT' ? 'grant' : 'deny'],
        ['Epoch', s.epoch],
      ];
    return [
      ['From', s.user.name],
      ['User', o.user.name],
      ['Epoch', s.epoch],
    ];
  }

  /** Both users' LIST must agree with the model: the relation, and an incoming request exactly when one is delivered. */
  private async checkLists(m: Model, r: Real, cite: string): Promise<void> {
    const ctx: CrsContext = r.ctx;
    for (const i of [0, 1] as const) {
      const list = await ctx.list(r.s[i]);
      const peer = r.s[1 - i]!.user.name;
      const c = list.find((x) => rec(x, 'User') === peer);
      const shown = (c ? rec(c, 'Relation') : undefined) ?? 'none';
      const want = m.rel[i];
      ctx.must(
        shown === want,
        want === 'buddy' || shown === 'buddy' ? 'INV-9' : cite,
        `after ${this.toString()}: ${i === 0 ? 'A' : 'B'}'s LIST shows ${peer} as '${shown}', the machine says '${want}'\n  ${r.log.join('\n  ')}`,
      );
      const incoming = list.filter((x: Header[]) => rec(x, 'From') === peer).length;
      const delivered = m.rel[1 - i] === 'pending' && m.rel[i] !== 'blocked' ? 1 : 0;
      ctx.must(
        incoming === delivered,
        'INV-4',
        `after ${this.toString()}: ${i === 0 ? 'A' : 'B'}'s LIST carries ${incoming} request(s) from ${peer}, expected ${delivered}\n  ${r.log.join('\n  ')}`,
      );
    }
  }

  async run(m: Model, r: Real): Promise<void> {
    const ctx: CrsContext = r.ctx;
    const me = this.actor;
    const other = (1 - me) as 0 | 1;
    const { tMine, tTheirs, expected, valid } = this.expectation(m);
    const s = r.s[me];
    const method = this.op === 'GRANT' || this.op === 'DENY' ? 'ANSWER' : this.op;
    const res = await s.ms.req(method, this.headers(s, r.s[other]));
    r.log.push(
      `${this.toString()} with A:${m.rel[0]} B:${m.rel[1]} -> ${res.status} ${header(res, 'Error-code') ?? ''} (transitions ${tMine?.name ?? '-'} / ${tTheirs?.name ?? '-'})`,
    );
    const cite = tMine?.reqs[0] ?? tTheirs?.reqs[0] ?? 'STATE-4';
    if (expected !== null && valid && (tMine || tTheirs)) {
      ctx.must(
        res.status === expected,
        cite,
        `${this.toString()} with A:${m.rel[0]} B:${m.rel[1]}: transition '${tMine?.name ?? tTheirs?.name}' answers ${expected}, got ${res.status} ${header(res, 'Error-code') ?? ''}`,
      );
      if (tMine) m.rel[me] = tMine.to as Rel;
      if (tTheirs) m.rel[other] = tTheirs.to as Rel;
    } else {
      ctx.must(
        res.status >= 400,
        'STATE-4',
        `${this.toString()} with A:${m.rel[0]} B:${m.rel[1]}: nothing in the table allows it, it must be refused; got ${res.status}`,
      );
    }
    await this.checkLists(m, r, cite);
    for (const x of r.s) x.ms.conn.takeEvents();
  }
}

const commands = [
  fc
    .tuple(
      fc.constantFrom<Op>('ADD', 'ADD', 'GRANT', 'GRANT', 'DENY', 'REM', 'REM', 'BLOCK', 'UNBLOCK'),
      fc.constantFrom<0 | 1>(0, 1),
    )
    .map(([op, a]) => new RelationCmd(op, a)),
];

export const relationCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/fuzz/3',
    section: 'fuzz',
    title:
      'state-machine fuzzing of the buddy relation: random ADD, ANSWER, REM, BLOCK and UNBLOCK between two online users follow the machine table, LIST agrees after every step',
    reqs: machineReqs('buddy-relation', [
      'ADD-2',
      'ADD-4',
      'ANSWER-2',
      'ANSWER-3',
      'REM-1',
      'REM-3',
      'BLOCK-1',
      'BLOCK-4',
      'BLOCK-5',
      'INV-4',
      'INV-9',
      'ADD-1',
      'ADD-6',
      'REM-4',
      'STATE-4',
    ]),
    fuzz: true,
    async run(ctx: CrsContext) {
      const m1 = await ctx.enroll();
      const m2 = await ctx.enroll();
      let lastLog: string[] = [];
      const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
        const [a, b] = await ctx.users(2);
        const sa = await ctx.login(m1, a!);
        const sb = await ctx.login(m2, b!);
        const real: Real = { ctx, s: [sa, sb], log: [] };
        lastLog = real.log;
        try {
          await fc.asyncModelRun(() => ({ model: { rel: ['none', 'none'] } as Model, real }), cmds);
        } finally {
          await ctx.logout(sa).catch(() => undefined);
          await ctx.logout(sb).catch(() => undefined);
        }
      };
      await fuzzCommands(ctx, {
        id: 'crs/fuzz/3',
        maxRuns: 20,
        req: 'STATE-4',
        commands,
        maxCommands: 10,
        size: 'medium',
        runOnce,
        log: () => lastLog,
        firstLine: true,
      });
    },
  },
];
