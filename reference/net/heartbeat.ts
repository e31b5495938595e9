/**
 * Heartbeats on a Link [HB-1] [HB-2] [HB-3] [HB-4]: sends PING when this side has sent nothing for
 * `interval` ms, and closes the link (ERR_TIMEOUT) when nothing has come from the peer for `timeout` ms.
 * Timers are injectable; node:test's mock.timers also works with the defaults.
 * @module
 */
import { ImspError, type Message, type RequestMessage } from '../../generated/index.js';
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

/**
 * Starts heartbeats on `link`. The check runs every min(interval, timeout) / 4 ms (at least 10 ms),
 * so a PING goes out at most a quarter interval late.
 */
export function startHeartbeat(link: Link, opts: HeartbeatOptions): Heartbeat {
  const timers: HeartbeatTimers = opts.timers ?? {
    setInterval: (fn, ms) => setInterval(fn, ms),
    clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
  };
  const clock = opts.clock ?? Date.now;
  const periods = [opts.interval, opts.timeout].filter((x) => x > 0);
  if (periods.length === 0) return { stop: () => undefined };
  const tick = Math.max(10, Math.floor(Math.min(...periods) / 4));
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    timers.clearInterval(handle);
    link.off('close', stop);
  };
  const handle = timers.setInterval(() => {
    if (link.isClosed) return stop();
    const now = clock();
    if (opts.timeout > 0 && now - link.lastReceived >= opts.timeout) {
      opts.onTimeout?.();
      stop();
      link.close(linkError('ERR_TIMEOUT', `nothing received for ${opts.timeout} ms`)); // [HB-2] [HB-4]
      return;
    }
    if (opts.interval > 0 && now - link.lastSent >= opts.interval) {
      const ping: RequestMessage = opts.ping ? opts.ping() : { kind: 'request', method: 'PING', headers: [], body: Buffer.alloc(0) };
      // [HB-1] [HB-3] the answer (or its absence) does not matter: any octets received count.
      link.request(ping).then((answer) => opts.onAnswer?.(answer), (e: unknown) => {
        if (!(e instanceof ImspError)) throw e;
      });
    }
  }, tick);
  link.on('close', stop);
  return { stop };
}
