/**
 * Heartbeats on a Link [HB-1] [HB-2] [HB-3] [HB-4]: sends PING when this side has sent nothing for
 * `interval` ms, and closes the link (ERR_TIMEOUT) when nothing has come from the peer for `timeout` ms.
 * Timers are injectable; node:test's mock.timers also works with the defaults.
 * @module
 */
import { ImspError, type Message, type RequestMessage } from '../../codec/index.js';
import { linkError, type Link } from './link.js';

/** Timer functions (defaults: the globals). */
export interface HeartbeatTimers {
  setInterval: (fn: () => void, ms: number) => unknown;
  clearInterval: (handle: unknown) => void;
}

/** Options of startHeartbeat. */
export interface HeartbeatOptions {
  /** Send PING after this many ms without sending (clientHeartbeatInterval / msHeartbeatInterval); 0 = never. */
  interval: number;
  /** Close after this many ms without receiving (sessionTimeout / msLease); 0 = never. */
  timeout: number;
  /** Clock in ms; defaults to the link's clock readings (Date.now). */
  clock?: () => number;
  timers?: HeartbeatTimers;
  /** Builds the PING to send (default: a bare PING request). */
  ping?: () => RequestMessage;
  /** Called when the peer timed out, before the link is closed. */
  onTimeout?: () => void;
  /** Called with the peer's answer to one of our PINGs (e.g. to count it as a sign of life). */
  onAnswer?: (answer: Message) => void;
}

/** A running heartbeat; stop() it (it also stops when the link closes). */
export interface Heartbeat {
  stop(): void;
}

/** Heartbeats that share one interval timer (same period, same setInterval). */
interface Group {
  members: Set<Beat>;
  handle: ReturnType<typeof setInterval>;
  clear: typeof clearInterval;
}
/** Groups by the setInterval function in force when they were made (node:test mock.timers swaps it), then period. */
const GROUPS = new Map<typeof setInterval, Map<number, Group>>();

/** The heartbeat of one link: one object and one closure (a server holds thousands of them). */
class Beat implements Heartbeat {
  private stopped = false;
  /** The injected timers' handle; undefined in a shared group. */
  private handle: unknown;
  private group: Group | undefined;
  private byTick: Map<number, Group> | undefined;

  constructor(
    private readonly link: Link,
    private readonly opts: HeartbeatOptions,
    private readonly clock: () => number,
    private readonly tick: number,
  ) {
    const timers = opts.timers;
    if (timers) this.handle = timers.setInterval(() => this.check(), tick);
    else this.join();
    link.on('close', this.stop);
  }

  /** Joins the interval shared by every heartbeat of this period (made on first use). */
  private join(): void {
    const si = globalThis.setInterval;
    let byTick = GROUPS.get(si);
    if (!byTick) GROUPS.set(si, (byTick = new Map()));
    let group = byTick.get(this.tick);
    if (!group) {
      const members = new Set<Beat>();
      group = {
        members,
        handle: si(() => {
          for (const b of members) b.check();
        }, this.tick),
        clear: globalThis.clearInterval,
      };
      byTick.set(this.tick, group);
    }
    group.members.add(this);
    this.group = group;
    this.byTick = byTick;
  }

  readonly stop = (): void => {
    if (this.stopped) return;
    this.stopped = true;
    const g = this.group;
    if (g) {
      g.members.delete(this);
      if (g.members.size === 0) {
        g.clear(g.handle);
        if (this.byTick!.get(this.tick) === g) this.byTick!.delete(this.tick);
      }
    } else this.opts.timers!.clearInterval(this.handle);
    this.link.off('close', this.stop);
  };

  check(): void {
    if (this.stopped) return;
    const { link, opts } = this;
    if (link.isClosed) return this.stop();
    const now = this.clock();
    if (opts.timeout > 0 && now - link.lastReceived >= opts.timeout) {
      opts.onTimeout?.();
      this.stop();
      link.close(linkError('ERR_TIMEOUT', `nothing received for ${opts.timeout} ms`)); // [HB-2] [HB-4]
      return;
    }
    if (opts.interval > 0 && now - link.lastSent >= opts.interval) {
      const ping: RequestMessage = opts.ping
        ? opts.ping()
        : { kind: 'request', method: 'PING', headers: [], body: Buffer.alloc(0) };
      // [HB-1] [HB-3] the answer (or its absence) does not matter: any octets received count.
      link.request(ping).then(
        (answer) => opts.onAnswer?.(answer),
        (e: unknown) => {
          if (!(e instanceof ImspError)) throw e;
        },
      );
    }
  }
}

/**
 * Starts heartbeats on `link`. The check runs every min(interval, timeout) / 4 ms (at least 10 ms),
 * so a PING goes out at most a quarter interval late. With the default timers, the heartbeats of one
 * period share one interval timer (a link's first check then comes within one period).
 */
export function startHeartbeat(link: Link, opts: HeartbeatOptions): Heartbeat {
  const shortest = Math.min(opts.interval > 0 ? opts.interval : Infinity, opts.timeout > 0 ? opts.timeout : Infinity);
  if (shortest === Infinity) return { stop: () => undefined };
  return new Beat(link, opts, opts.clock ?? Date.now, Math.max(10, Math.floor(shortest / 4)));
}
