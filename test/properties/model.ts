// The model of the whole IMSP service that the property tests check the real servers against.
// It encodes the spec's rules (spec/text/08 and 09) and nothing of the reference's code: who is
// online where, the buddy relation, unanswered ADDs and block lists, and from those what every
// online client must see once the system is quiet.

export type Status = 'online' | 'busy' | 'away';
export type Relation = 'buddy' | 'pending' | 'blocked';

/** What an online client must show for one other user, once pushes have settled. */
export interface ExpectedView {
  relation: Relation | undefined;
  status: Status | 'offline';
}

export class Model {
  /** user -> index of the MS the user is logged in at (cluster.ms[i]), and the status set. */
  readonly online = new Map<string, { ms: number; status: Status }>();
  /** MSs by index: true while running. */
  readonly msUp: boolean[];
  /** Unordered buddy pairs, key `a|b` with a < b. */
  readonly buddies = new Set<string>();
  /** Unanswered ADDs, key `from>to` (kept while withheld by a block too [BLOCK-6]). */
  readonly pending = new Set<string>();
  /** Block lists, key `blocker>blocked`. */
  readonly blocks = new Set<string>();
  readonly passwords = new Map<string, string>();

  constructor(
    readonly users: readonly string[],
    msCount: number,
  ) {
    this.msUp = Array.from({ length: msCount }, () => true);
    for (const u of users) this.passwords.set(u, `pw-${u}`);
  }

  static pair(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  isOnline(u: string): boolean {
    return this.online.has(u);
  }
  areBuddies(a: string, b: string): boolean {
    return this.buddies.has(Model.pair(a, b));
  }
  hasPending(from: string, to: string): boolean {
    return this.pending.has(`${from}>${to}`);
  }
  blocksUser(blocker: string, blocked: string): boolean {
    return this.blocks.has(`${blocker}>${blocked}`);
  }
  upMs(): number[] {
    return this.msUp.flatMap((up, i) => (up ? [i] : []));
  }

  /** [ADD-3] The requests a user's login bundle must carry: unanswered and not withheld. */
  deliverableRequests(to: string): string[] {
    return this.users.filter((from) => this.hasPending(from, to) && !this.blocksUser(to, from)).sort();
  }

  /** [INV-3] What `viewer` must show for `other` once quiet. */
  expectedView(viewer: string, other: string): ExpectedView {
    let relation: Relation | undefined;
    if (this.areBuddies(viewer, other)) relation = 'buddy';
    else if (this.blocksUser(viewer, other)) relation = 'blocked';
    else if (this.hasPending(viewer, other)) relation = 'pending';
    const o = this.online.get(other);
    const status = relation === 'buddy' && o ? o.status : 'offline';
    return { relation, status };
  }

  /** [INV-6] May `viewer` learn that `other` is online (a buddy, no block either way)? */
  mayWatch(viewer: string, other: string): boolean {
    return this.areBuddies(viewer, other) && !this.blocksUser(viewer, other) && !this.blocksUser(other, viewer);
  }

  /** A copy of the relation sets, to tell "allowed before or after a step" for the leak check. */
  watchSnapshot(): Set<string> {
    const s = new Set<string>();
    for (const a of this.users) for (const b of this.users) if (a !== b && this.mayWatch(a, b)) s.add(`${a}>${b}`);
    return s;
  }

  // ------------------------------------------------------------------ transitions (the spec's rules)

  /** ADD from a to b: the status and error code the spec requires, and the new state. */
  add(a: string, b: string): { status: number; code?: string } {
    if (a === b || this.blocksUser(a, b)) return { status: 403, code: 'ERR_FORBIDDEN' }; // [ADD-6]
    if (this.areBuddies(a, b) || this.hasPending(a, b)) return { status: 409, code: 'ERR_ALREADY_BUDDY' }; // [ADD-4]
    if (this.blocksUser(b, a)) {
      this.pending.add(`${a}>${b}`); // [BLOCK-6] stored, never delivered while the block lasts
      return { status: 202 };
    }
    if (this.hasPending(b, a)) {
      this.pending.delete(`${b}>${a}`); // [ADD-8] crossing ADDs grant at once
      this.buddies.add(Model.pair(a, b));
      return { status: 200 };
    }
    this.pending.add(`${a}>${b}`);
    return { status: this.isOnline(b) ? 200 : 202 }; // [ADD-2]
  }

  answer(b: string, a: string, decision: 'grant' | 'deny'): { status: number; code?: string } {
    if (!this.hasPending(a, b) || this.blocksUser(b, a)) return { status: 404, code: 'ERR_NO_PENDING' }; // [ADD-9]
    this.pending.delete(`${a}>${b}`);
    if (decision === 'grant') this.buddies.add(Model.pair(a, b)); // [ANSWER-2]
    return { status: 200 };
  }

  rem(a: string, x: string): { status: number; code?: string } {
    if (this.areBuddies(a, x)) {
      this.buddies.delete(Model.pair(a, x)); // [REM-1]
      return { status: 200 };
    }
    if (this.hasPending(a, x)) {
      this.pending.delete(`${a}>${x}`); // [REM-3]
      return { status: 200 };
    }
    if (this.blocksUser(a, x)) {
      this.blocks.delete(`${a}>${x}`); // [REM-4]
      return { status: 200 };
    }
    return { status: 404, code: 'ERR_NOT_CONTACT' }; // [REM-2]
  }

  block(a: string, x: string): { status: number; code?: string } {
    if (a === x) return { status: 403, code: 'ERR_FORBIDDEN' }; // [BLOCK-7]
    this.buddies.delete(Model.pair(a, x)); // [BLOCK-1]
    this.pending.delete(`${a}>${x}`);
    this.pending.delete(`${x}>${a}`);
    this.blocks.add(`${a}>${x}`);
    return { status: 200 };
  }

  unblock(a: string, x: string): { status: number; code?: string } {
    if (!this.blocksUser(a, x)) return { status: 404, code: 'ERR_NOT_CONTACT' }; // [BLOCK-9]
    this.blocks.delete(`${a}>${x}`); // [BLOCK-5]
    return { status: 200 };
  }

  /** Every user of MS i goes offline (crash, lease expiry); the MS is down. */
  crashMs(i: number): string[] {
    this.msUp[i] = false;
    const gone = [...this.online].filter(([, o]) => o.ms === i).map(([u]) => u);
    for (const u of gone) this.online.delete(u);
    return gone;
  }

  toString(): string {
    const on = [...this.online].map(([u, o]) => `${u}@ms${o.ms}:${o.status}`).join(' ');
    return `online[${on}] buddies[${[...this.buddies].join(' ')}] pending[${[...this.pending].join(' ')}] blocks[${[...this.blocks].join(' ')}]`;
  }
}
