// The client's reconnect timer [§8.5 Reconnecting]: when a session ends without LOGOUT, log in
// again after a delay with backoff and jitter [RECONNECT-2], not before the last refusal's
// Retry-after [LOGIN-6], until a login succeeds or the credentials are refused [RECONNECT-5].
import type { EventEmitter } from 'node:events';
import { asClientError, type ClientError } from './errors.js';
import type { ClientEvents } from './events.js';
import type { ClientLimits } from './options.js';

/** What the reconnect timer needs from the client. */
export interface ReconnectHost {
  readonly events: EventEmitter<ClientEvents>;
  readonly limits: ClientLimits;
  /** `reloginDelayMax` (older option): the base of the backoff instead of clientReconnectDelay. */
  readonly baseDelay: number | undefined;
  /** The client is closing: no attempt starts. */
  closing(): boolean;
  /** A session (or a login) is on the MS link already: a failed attempt's outcome is moot. */
  linked(): boolean;
  /** One complete login [RECONNECT-3]. */
  relogin(): Promise<void>;
  /** The credentials were refused: only the user can go on [RECONNECT-5]. */
  giveUp(err: ClientError): void;
}

export class Reconnector {
  private timer: NodeJS.Timeout | undefined;
  /** Attempts since the session ended; 0 when none is pending. */
  private attempts = 0;
  /** Retry-after (ms) of the last refused attempt [LOGIN-6]. */
  private retryAfterMs = 0;

  constructor(private readonly host: ReconnectHost) {}

  /** Whether a reconnect is pending (the session ended; the client will log in again by itself). */
  get pending(): boolean {
    return this.attempts > 0;
  }

  /** Whether an attempt is waiting for its delay. */
  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  /** Whether no attempt came before (the first login, not a reconnect). */
  get idle(): boolean {
    return this.attempts === 0;
  }

  /**
   * [RECONNECT-2] The delay before attempt n: uniform in [b/2, b], b = min(max, base x 2^(n-1)), and
   * not before the last refusal's Retry-after [LOGIN-6].
   */
  delay(attempt: number, random: () => number = Math.random): number {
    const { limits } = this.host;
    const base = this.host.baseDelay ?? limits.clientReconnectDelay;
    const b = Math.min(limits.clientReconnectMaxDelay, base * 2 ** Math.min(attempt - 1, 30));
    return Math.max(Math.round(b / 2 + random() * (b / 2)), this.retryAfterMs);
  }

  /** Schedules the next attempt; `reason` says why the session (or the last attempt) ended. */
  schedule(reason: string): void {
    this.attempts++;
    const attempt = this.attempts;
    const delayMs = this.delay(attempt);
    this.retryAfterMs = 0;
    this.host.events.emit('reconnecting', { attempt, delayMs, reason });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.host.closing()) return;
      this.host.relogin().then(
        () => {
          this.attempts = 0;
          this.host.events.emit('reconnected', {});
        },
        (e: unknown) => this.failed(asClientError(e)),
      );
    }, delayMs);
    this.timer.unref();
  }

  private failed(err: ClientError): void {
    if (this.host.closing() || this.host.linked()) return;
    // [RECONNECT-5] refused credentials (or another identity): only the user can go on.
    if (err.status === 401 || err.code === 'ERR_BAD_VALUE') {
      this.attempts = 0;
      this.host.giveUp(err);
      return;
    }
    this.retryAfterMs = Math.min(err.retryAfter ?? 0, this.host.limits.clientReconnectMaxDelay);
    this.schedule(`${err.code}: ${err.message}`);
  }

  /** Stops a pending reconnect (the user logs in, logs out or closes). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.attempts = 0;
    this.retryAfterMs = 0;
  }
}
