// The MS's link to the CRS [§7.1 Enrollment]: enrollment (challenge-response on the MS key,
// incarnation = start time in ms), one SEALED link PINGed every msHeartbeatInterval, re-enrollment
// with a higher incarnation and exponential backoff when it is lost, and the CRS's pushes.
import net from 'node:net';
import tls from 'node:tls';
import type { RequestMessage, RequestOf, ResponseMessage } from '../../codec/index.js';
import { anyHeader, headerOf, requiredHeaderOf } from '../../codec/index.js';
import { b64, unb64 } from '../crypto/b64.js';
import { generateEphemeralKey, x25519 } from '../crypto/keys.js';
import { enrollAuthMessage, msProof, crsProof, verifyProof, enrollLinkKeys, makeNonce } from '../crypto/scram.js';
import { parseHostPort } from '../net/address.js';
import { withinHandshake } from '../net/handshake-deadline.js';
import { startHeartbeat, type Heartbeat } from '../net/heartbeat.js';
import { Link } from '../net/link.js';
import { serverLinkOptions } from '../net/server-link.js';
import { req, ok, fail } from '../proto/messages.js';
import type { MsContext, Push } from './context.js';

/** What the uplink needs of the MS beyond the module context. */
export interface UplinkHost
  extends Pick<
    MsContext,
    'msId' | 'logger' | 'metrics' | 'limits' | 'capacity' | 'sessions' | 'pushes' | 'endSession' | 'isStopping'
  > {
  readonly listenAddress: string;
  emit(event: 'enrolled', incarnation: number): boolean;
  emit(event: 'enroll-failed' | 'crs-lost', reason: string): boolean;
}

export interface UplinkOptions {
  /** host:port of the CRS. */
  crs: string;
  msKey: Buffer;
  /** The `Listen` address sent in ENROLL; default the bound address. */
  advertise?: string;
  incarnation?: number;
  crsTls?: tls.ConnectionOptions;
  /** First re-enrollment delay (doubles up to 30 s). Default 200 ms. */
  reconnectDelay?: number;
}

export class CrsUplink {
  private link: Link | null = null;
  private socket: net.Socket | null = null;
  private enrolledFlag = false;
  private incarnationValue: number;
  /** The PINGs to the CRS (a field so that tests can stop them). */
  heartbeat: Heartbeat | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay: number;
  private enrollWaiters: Array<() => void> = [];
  /** Why the last connection to the CRS failed, and how many failed in a row (the operators' log line). */
  private lastFailure = '';
  private failures = 0;

  constructor(
    private readonly ms: UplinkHost,
    private readonly opts: UplinkOptions,
  ) {
    this.incarnationValue = opts.incarnation ?? Date.now();
    this.reconnectDelay = opts.reconnectDelay ?? 200;
  }

  get enrolled(): boolean {
    return this.enrolledFlag;
  }
  get incarnation(): number {
    return this.incarnationValue;
  }
  /** The CRS link while it is open (shutdown sends LEAVE on it). */
  get current(): Link | null {
    return this.link;
  }

  /** Resolves when the MS is enrolled with the CRS (at once if it is). */
  ready(): Promise<void> {
    if (this.enrolledFlag) return Promise.resolve();
    return new Promise((resolve) => this.enrollWaiters.push(resolve));
  }

  connect(): void {
    if (this.ms.isStopping) return;
    const { host, port } = parseHostPort(this.opts.crs);
    const socket = this.opts.crsTls ? tls.connect({ host, port, ...this.opts.crsTls }) : net.connect({ host, port });
    socket.on('error', (err) => {
      this.lastFailure = err.message;
      if (!this.enrolledFlag) this.ms.emit('enroll-failed', err.message);
    });
    const link = new Link(
      socket,
      serverLinkOptions(this.ms.limits, 'ms', 'crs', async (m) => this.onRequest(m)),
    );
    this.link = link;
    this.socket = socket;
    link.on('close', (reason) => this.onClosed(link, reason?.message ?? 'closed'));
    link.on('notification', (m) => this.onNotification(m));
    link.on('protocolError', (err) => {
      this.ms.metrics.errors.inc({ code: err.code });
      this.ms.logger.warn({ code: err.code, err: err.message }, 'protocol error on the CRS link');
    });
    const started = (): void => {
      this.enroll(link).catch((err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        this.lastFailure = reason;
        this.ms.logger.warn(
          { event: 'enroll_failed', crs: this.opts.crs, err: reason },
          `enrollment at the CRS ${this.opts.crs} failed: ${reason}`,
        );
        this.ms.emit('enroll-failed', reason);
        link.close();
      });
    };
    if (this.opts.crsTls) socket.once('secureConnect', started);
    else socket.once('connect', started);
  }

  private async enroll(link: Link): Promise<void> {
    const { msId, capacity } = this.ms;
    const msKey = this.opts.msKey;
    const share = generateEphemeralKey();
    const mnonce = makeNonce();
    const eM = b64(share.publicKey);
    const listen = this.opts.advertise ?? this.ms.listenAddress;
    const inc = this.incarnationValue;
    // [CONN-13] the enrollment must complete within handshakeTimeout of the connection's opening.
    const deadline = performance.now() + this.ms.limits.handshakeTimeout;
    const r1 = await withinHandshake(deadline, this.ms.limits, (timeout) =>
      link.request(
        req('ENROLL', {
          'Imsp-version': 1,
          'Ms-id': msId,
          Incarnation: inc,
          Nonce: mnonce,
          'Key-share': eM,
          Listen: listen,
          Capacity: capacity,
        }),
        { timeout },
      ),
    );
    if (r1.status !== 300) {
      const code = headerOf(r1, 'Error-code');
      if (code === 'ERR_MS_CONFLICT') this.incarnationValue = Math.max(this.incarnationValue + 1, Date.now()); // [ENROLL-6] try higher
      throw new Error(`ENROLL refused: ${r1.status} ${code ?? ''}`);
    }
    const cnonce = requiredHeaderOf(r1, 'Nonce');
    const eR = requiredHeaderOf(r1, 'Key-share');
    const auth = enrollAuthMessage({ msId, incarnation: inc, listen, capacity, mnonce, cnonce, eM, eR });
    const keys = enrollLinkKeys('ms', x25519(share.privateKey, unb64(eR)), msKey, auth);
    // [SEAL-1] our PROOF is the last clear message; the CRS's 200 is its first SEALED envelope.
    const proofDone = withinHandshake(deadline, this.ms.limits, (timeout) =>
      link.request(req('PROOF', { Proof: b64(msProof(msKey, auth)) }), { timeout }),
    );
    link.enableSealing(keys);
    const r2 = await proofDone;
    if (r2.status !== 200) throw new Error(`PROOF refused: ${r2.status} ${headerOf(r2, 'Error-code') ?? ''}`);
    // [ENROLL-5] the CRS proves it holds the MS key too.
    if (!verifyProof(crsProof(msKey, auth), unb64(requiredHeaderOf(r2, 'Server-proof'))))
      throw new Error('CRS Server-proof did not verify');
    const hb = Number(headerOf(r2, 'Heartbeat') ?? this.ms.limits.msHeartbeatInterval);
    this.enrolledFlag = true;
    if (this.failures > 0)
      this.ms.logger.info(
        { event: 'crs_reachable', crs: this.opts.crs, failures: this.failures },
        `the CRS ${this.opts.crs} is reachable again`,
      );
    this.failures = 0;
    this.lastFailure = '';
    this.reconnectDelay = this.opts.reconnectDelay ?? 200;
    this.startHeartbeat(link, Math.max(10, Math.min(hb, this.ms.limits.msHeartbeatInterval)));
    this.ms.logger.info(
      { event: 'enrolled', msId, incarnation: inc, crs: this.opts.crs, listen, capacity },
      `enrolled at the CRS ${this.opts.crs} as ${msId}`,
    );
    const waiters = this.enrollWaiters;
    this.enrollWaiters = [];
    for (const w of waiters) w();
    this.ms.emit('enrolled', inc);
  }

  private startHeartbeat(link: Link, interval: number): void {
    this.heartbeat?.stop();
    // [HB-3] PING the CRS when we sent nothing for the interval (it renews all our leases);
    // [ENROLL-12] nothing from the CRS for msLease: the link is lost.
    this.heartbeat = startHeartbeat(link, {
      interval,
      timeout: this.ms.limits.msLease,
      ping: () => req('PING', { Load: this.ms.sessions.size }),
    });
  }

  private onClosed(link: Link, reason: string): void {
    if (this.link !== link) return;
    this.link = null;
    const was = this.enrolledFlag;
    this.enrolledFlag = false;
    this.heartbeat?.stop();
    this.heartbeat = null;
    if (this.ms.isStopping) return;
    if (was) {
      this.ms.logger.error(
        { event: 'crs_lost', crs: this.opts.crs, reason, sessions: this.ms.sessions.size },
        `lost the CRS at ${this.opts.crs} (${reason}): ending every session; clients get 503 until it is back`,
      );
      this.ms.emit('crs-lost', reason);
      // The CRS frees this incarnation's sessions; ours are void [HB-2].
      for (const s of [...this.ms.sessions.values()])
        this.ms.endSession(s, 'ERR_SESSION_ENDED', 'Messaging Server lost the CRS', false);
      this.incarnationValue = Math.max(this.incarnationValue + 1, Date.now()); // [ENROLL-7]
    }
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 30_000);
    if (!was) {
      // Not enrolled: every LOGIN here is answered 503 until the CRS is back. Said at the first
      // failure and then every 10th (each one at debug level), so the log is clear but not flooded.
      this.failures++;
      const fields = {
        event: 'crs_unreachable',
        crs: this.opts.crs,
        err: this.lastFailure || reason,
        failures: this.failures,
        retryInMs: delay,
      };
      const text = `cannot reach the CRS at ${this.opts.crs} (${this.lastFailure || reason}); clients get 503 until it is back; retrying in ${delay} ms`;
      if (this.failures === 1 || this.failures % 10 === 0) this.ms.logger.error(fields, text);
      else this.ms.logger.debug(fields, text);
    }
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** A request to the CRS; a 503 response when the link is down or the CRS does not answer. */
  request(m: RequestMessage): Promise<ResponseMessage> {
    const link = this.link;
    if (!link || !this.enrolledFlag) {
      this.ms.logger.debug({ method: m.method }, `${m.method} to the CRS not sent: not enrolled (503)`);
      return Promise.resolve(fail('ERR_UNAVAILABLE', { Reason: 'CRS unreachable' }));
    }
    const t0 = Date.now();
    return link.request(m).then(
      (r) => {
        if (this.ms.logger.isLevelEnabled('debug'))
          this.ms.logger.debug(
            {
              method: m.method,
              user: anyHeader(m, 'User') ?? anyHeader(m, 'From'),
              status: r.status,
              code: anyHeader(r, 'Error-code'),
              ms: Date.now() - t0,
            },
            `CRS ${m.method} -> ${r.status}`,
          );
        return r;
      },
      (e: unknown) => {
        this.ms.logger.warn(
          { event: 'crs_no_answer', method: m.method, err: e instanceof Error ? e.message : String(e) },
          `the CRS did not answer ${m.method}: 503 to the client`,
        );
        return fail('ERR_UNAVAILABLE', { Reason: 'CRS did not answer' });
      },
    );
  }

  /** Requests from the CRS (PING). */
  private async onRequest(m: RequestMessage): Promise<ResponseMessage | undefined> {
    if (m.method === 'PING') return ok(200);
    return fail('ERR_METHOD_NOT_ALLOWED');
  }

  /** Pushes from the CRS. */
  private onNotification(m: RequestMessage): void {
    switch (m.method) {
      case 'NOTICE': {
        const notice = m as RequestOf<'NOTICE'>;
        const code = headerOf(notice, 'Error-code');
        this.ms.logger.warn({ code, reason: headerOf(notice, 'Reason') }, 'NOTICE from the CRS');
        // [ERR-9] the CRS ends our enrollment: act as on a lost link (end the sessions, enroll again [ENROLL-12]).
        if (code === 'ERR_SHUTDOWN' || code === 'ERR_SESSION_ENDED') this.link?.close();
        return;
      }
      case 'PRESENCE':
      case 'CONTACT':
      case 'ADD':
      case 'ANSWER':
        if (this.ms.logger.isLevelEnabled('debug'))
          this.ms.logger.debug(
            { method: m.method, to: anyHeader(m, 'To'), user: anyHeader(m, 'User') ?? anyHeader(m, 'From') },
            `push ${m.method} from the CRS`,
          );
        this.ms.pushes.onPush(m as Push); // narrowed by the cases above
        return;
    }
  }

  /** [MS-SHUTDOWN-1] LEAVE when enrolled, then close the link. */
  async leave(reason: string): Promise<void> {
    const link = this.link;
    if (link && this.enrolledFlag) await link.request(req('LEAVE', { Reason: reason })).catch(() => undefined);
    this.enrolledFlag = false;
    link?.close();
  }

  /** Stops the timers (stop, freeze, kill). */
  stopTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.heartbeat?.stop();
  }

  /** Pauses the socket: nothing read any more (freeze, for tests). */
  pause(): void {
    this.socket?.pause();
  }

  /** Destroys the socket, nothing said (kill, for tests). */
  destroy(): void {
    this.socket?.destroy();
    this.enrolledFlag = false;
  }
}
