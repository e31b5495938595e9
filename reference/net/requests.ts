/**
 * The request tracker of a Link: this side's requests waiting for their responses, matched in order
 * [CONN-5] (with `Tag` checked when both carry one), and their timeouts, one timer per burst.
 * @module
 */
import {
  anyHeader,
  LIMITS,
  validate,
  validateResponse,
  type ImspError,
  type Message,
  type ResponseMessage,
  type Role,
} from '../../codec/index.js';
import { linkError } from './link-error.js';

interface Pending {
  method: string;
  tag: string | undefined;
  handshake: boolean;
  timedOut: boolean;
  /** Answered, rejected or timed out. */
  settled: boolean;
  /** The timer that watches it, shared with the requests sent in the same turn. */
  batch: TimerBatch;
  resolve: (m: Message) => void;
  reject: (e: ImspError) => void;
}

/**
 * One timer for the requests sent in one turn of the event loop with the same timeout (a pipelined
 * burst sends hundreds): it fires when they all are due [CONN-5], and is cleared when the last is settled.
 */
interface TimerBatch {
  ms: number;
  open: number;
  entries: Pending[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** What the tracker calls on its Link. */
export interface TrackerHost {
  readonly local: Role;
  readonly remote: Role;
  /** A response broke the registry or its Tag did not match (for logs and metrics). */
  reportProtocolError(err: ImspError, msg: Message): void;
  /** A request timed out and the link closes on timeouts [CONN-5], or a response was invalid [REG-10]. */
  close(err: ImspError): void;
}

export class RequestTracker {
  private readonly pending: Pending[] = [];
  private batch: TimerBatch | undefined;

  constructor(
    private readonly host: TrackerHost,
    private readonly closeOnTimeout: boolean,
  ) {}

  /**
   * Registers request `method` (with its `tag`) as the next to be answered, before it is sent; the
   * promise settles with its response (or the peer's handshake reply when `handshake`).
   */
  track(method: string, tag: string | undefined, timeout: number, handshake: boolean): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      const batch = this.timerBatch(timeout);
      const p: Pending = { method, tag, handshake, timedOut: false, settled: false, batch, resolve, reject };
      batch.entries.push(p);
      batch.open += 1;
      this.pending.push(p);
    });
  }

  /** Whether the oldest request waiting is a handshake (INIT), which a handshake message answers. */
  get awaitingHandshake(): boolean {
    return this.pending[0]?.handshake === true;
  }

  /** The peer's handshake reply (INIT-ACK) answers our handshake request (INIT). */
  onHandshakeReply(msg: Message): void {
    const head = this.pending.shift()!;
    if (head.timedOut) return;
    this.settle(head);
    const err = validate(msg, { from: this.host.remote, to: this.host.local });
    if (err) {
      this.host.reportProtocolError(err, msg);
      head.reject(err);
    } else head.resolve(msg);
  }

  /** A response: it answers the oldest request waiting (or, with Count, the n oldest [MSG-8]). */
  onResponse(msg: Message & { kind: 'response' }): void {
    if (msg.status === 200) {
      const count = anyHeader(msg, 'Count');
      if (count !== undefined) {
        this.onCount(msg, count);
        return;
      }
    }
    const p = this.pending.shift();
    if (!p) {
      this.host.reportProtocolError(linkError('ERR_OUT_OF_STATE', 'response to no request'), msg);
      return;
    }
    if (p.timedOut) return;
    this.settle(p);
    const err = validateResponse(msg, p.method, { from: this.host.local, to: this.host.remote });
    if (err) {
      // [REG-10] a response cannot be answered: its request fails with the error, and the link closes
      // (the responses after it could no longer be trusted to match).
      this.host.reportProtocolError(err, msg);
      p.reject(err);
      this.host.close(err);
      return;
    }
    const tag = anyHeader(msg, 'Tag');
    if (p.tag !== undefined && tag !== undefined && tag !== p.tag) {
      const e = linkError('ERR_BAD_VALUE', `Tag ${tag} does not match ${p.tag}`);
      this.host.reportProtocolError(e, msg);
      p.reject(e);
      this.host.close(e); // [REG-10]
      return;
    }
    p.resolve(msg);
  }

  /**
   * [MSG-8] `200 Count: n` answers the n oldest requests, each a MSG without Tag [MSG-7]; any other
   * Count fails every request it would answer with ERR_BAD_VALUE and closes the link [REG-10].
   */
  private onCount(msg: ResponseMessage, count: string): void {
    const n = /^[1-9][0-9]{0,3}$/.test(count) ? Number(count) : 0;
    let bad: string | undefined;
    if (n === 0 || n > LIMITS.maxAckCount) bad = `Count ${count} is not 1 to ${LIMITS.maxAckCount}`;
    else if (n > this.pending.length) bad = `Count ${n}, but ${this.pending.length} requests are unanswered`;
    else {
      for (let i = 0; i < n; i++) {
        const p = this.pending[i]!;
        if (p.method !== 'MSG' || p.tag !== undefined) {
          bad = `Count ${n} would answer ${p.method}${p.tag !== undefined ? ` Tag ${p.tag}` : ''}`;
          break;
        }
      }
    }
    const err =
      bad === undefined ? validateResponse(msg, 'MSG', { from: this.host.local, to: this.host.remote }) : undefined;
    if (bad !== undefined || err) {
      const e = err ?? linkError('ERR_BAD_VALUE', bad!);
      this.host.reportProtocolError(e, msg);
      for (const p of this.pending.splice(0, Math.max(1, Math.min(n, this.pending.length)))) {
        if (p.timedOut) continue;
        this.settle(p);
        p.reject(e);
      }
      this.host.close(e);
      return;
    }
    for (const p of this.pending.splice(0, n)) {
      if (p.timedOut) continue;
      this.settle(p);
      p.resolve(msg);
    }
  }

  /**
   * The link closed: every request still waiting is rejected with `err` now, not when its requestTimeout
   * runs out [CONN-18] (the link passes 503 ERR_UNAVAILABLE).
   */
  rejectAll(err: ImspError): void {
    for (const p of this.pending.splice(0)) {
      if (p.timedOut) continue;
      this.settle(p);
      p.reject(err);
    }
  }

  /** The timer batch of this turn for timeout `ms` (a new one, armed, when there is none yet). */
  private timerBatch(ms: number): TimerBatch {
    const current = this.batch;
    if (current !== undefined && current.ms === ms) return current;
    const b: TimerBatch = { ms, open: 0, entries: [], timer: undefined };
    b.timer = setTimeout(() => this.expire(b), ms);
    if (current === undefined) process.nextTick(RequestTracker.endBatch, this);
    this.batch = b;
    return b;
  }

  /** Requests sent from the next turn on get a timer of their own. */
  private static endBatch(tracker: RequestTracker): void {
    tracker.batch = undefined;
  }

  /** The requests of `b` still unanswered are due [CONN-5]. */
  private expire(b: TimerBatch): void {
    b.timer = undefined;
    if (this.batch === b) this.batch = undefined;
    for (const p of b.entries) {
      if (p.settled) continue;
      // The slot stays in the queue so that later responses still match in order.
      p.timedOut = true;
      this.settle(p);
      const err = linkError('ERR_TIMEOUT', `no response to ${p.method} within ${b.ms} ms`);
      p.reject(err); // [CONN-5]
      if (this.closeOnTimeout) {
        this.host.close(err); // rejects the others as the link closes
        break;
      }
    }
    b.entries.length = 0;
  }

  /** p is answered, rejected or timed out: its batch's timer is cleared with the last of them. */
  private settle(p: Pending): void {
    if (p.settled) return;
    p.settled = true;
    const b = p.batch;
    b.open -= 1;
    if (b.open === 0) {
      if (b.timer !== undefined) clearTimeout(b.timer);
      b.timer = undefined;
      b.entries.length = 0;
      if (this.batch === b) this.batch = undefined;
    }
  }
}
