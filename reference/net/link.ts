/**
 * The IMSP link layer over a byte stream (a net.Socket or any Duplex): the Link facade over its
 * parts, split as ws splits a WebSocket:
 * - receiver.ts: framing through the generated streaming Decoder, SEALED envelopes opened;
 * - sender.ts: SEALED envelopes sealed, the socket corked per turn, the unsent queue bounded [CONN-6];
 * - requests.ts: this side's requests matched in order to their responses, with their timeouts [CONN-5];
 * - this file: registry validation for the link's roles, and the peer's requests dispatched to a
 *   handler in order (or pipelined), notifications to listeners, rate limits and closing.
 *
 * Rules it enforces:
 * - A framing error is answered with its status and the connection is closed; a validation error is
 *   answered and the connection goes on [WIRE-14].
 * - Requests get exactly one response each, in order; the peer's requests are handled one at a time, in
 *   order; `Tag` is echoed [CONN-9].
 * - After {@link Link.enableSealing} every outgoing message is one SEALED envelope, Seq from 0; incoming
 *   envelopes must carry the next Seq (else 450 ERR_REPLAY) and authenticate (else 401 ERR_DECRYPT), and
 *   either closes the link [SEAL-3] [SEAL-4].
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  anyHeader,
  closesConnection,
  errorResponse,
  errorRule,
  validate,
  type ErrorSituation,
  type ImspError,
  LIMITS,
  type Header,
  type Message,
  type RequestMessage,
  type ResponseTo,
  type Role,
  type WireLimits,
} from '../../codec/index.js';
import { TAG_LENGTH } from '../crypto/aead.js';
import type { LinkKeys } from '../crypto/scram.js';
import { HandlerQueue, withTag, type Job } from './dispatch.js';
import { linkError } from './link-error.js';
import type { RateLimiter } from './rate-limit.js';
import { Receiver } from './receiver.js';
import { linkRule as registryRule, methodKind, type LinkRule } from './registry.js';
import { RequestTracker } from './requests.js';
import { Sender } from './sender.js';

export { linkError } from './link-error.js';
export { sealedHead } from './sender.js';

/** Handles one request from the peer; returns its response (or, for INIT, the INIT-ACK or an error). */
export type RequestHandler = (req: RequestMessage, link: Link) => Message | undefined | Promise<Message | undefined>;

/** Options of a Link. Timing and size defaults come from spec/registry/limits.json. */
export interface LinkOptions {
  /** This end's role. */
  local: Role;
  /** The peer's role; incoming messages are validated as sent from `remote` to `local`. */
  remote: Role;
  /** Serves the peer's requests (not notifications). Without one, requests get 503 ERR_UNAVAILABLE. */
  handler?: RequestHandler;
  /** Decoder limits (maxLineLength, maxHeaders, maxHeadSize, maxBodySize). */
  limits?: Partial<WireLimits>;
  /** ms before request() gives up (limits requestTimeout) [CONN-5]. */
  requestTimeout?: number;
  /** ms a SEALED envelope may wait for enableSealing (limits handshakeTimeout) [CONN-4]. */
  handshakeTimeout?: number;
  /** Octets queued unsent before the link is closed as a slow reader (limits maxOutboundQueue) [CONN-6]. */
  maxOutboundQueue?: number;
  /** Applied to every incoming request and notification [RATE-1]. */
  rateLimiter?: RateLimiter;
  /**
   * Close the link when a request times out (default true): the spec's SHOULD [CONN-5]. With false,
   * the timed-out request's slot is kept so that later responses still match in order.
   */
  closeOnRequestTimeout?: boolean;
  /**
   * Requests of the peer whose handlers may run at once (default 1: one at a time). Responses are
   * still written in arrival order [CONN-9]; only the handlers overlap. For a link whose handler waits
   * on shared I/O and whose requests do not depend on each other's effects in flight (the CRS's MS
   * links: a commit shared by many logins). With more than 1, a notification is emitted when it is
   * reached, possibly before the responses to earlier requests are written.
   */
  concurrency?: number;
  /** Clock in ms (tests); Date.now by default. */
  clock?: () => number;
  /**
   * Seal the messages written in one turn of the event loop together, up to maxRecordsPerEnvelope per
   * envelope ([§6.4 The SEALED Envelope] [SEAL-14]); default false: one message per envelope. Every receiver accepts
   * both forms [SEAL-13], so this is the sender's choice alone.
   */
  coalesce?: boolean;
  /**
   * With coalesce: answer the accepted MSGs of one turn (without Tag) with one `200 Count: n`
   * [MSG-7]. Only a client -> client link has MSG.
   */
  batchAcks?: boolean;
}

/** Options of one request. */
export interface RequestOptions {
  /** Adds `Tag: <tag>` to the request; the response must echo it. */
  tag?: string;
  /** Overrides the link's requestTimeout for this request. */
  timeout?: number;
}

/** Events a Link emits. */
export interface LinkEvents {
  /** A notification from the peer (a method that gets no response on this link), validated. */
  notification: [msg: RequestMessage];
  /** A protocol problem that was answered or dropped without closing (for logs and metrics). */
  protocolError: [err: ImspError, msg: Message | undefined];
  /** A handler threw something that is not an ImspError (answered 500 ERR_INTERNAL). */
  handlerError: [err: unknown, req: RequestMessage];
  /** The link is closed; `reason` is the typed error that closed it, undefined for an orderly close. */
  close: [reason: ImspError | undefined];
}

/**
 * registryRule, remembered per sender, receiver and method (looked up two or three times per
 * message). Only methods the registry knows are remembered, so a peer's made-up names cannot grow it.
 */
const RULES = new Map<Role, Map<Role, Map<string, LinkRule | undefined>>>();
function linkRule(method: string, from: Role, to: Role): LinkRule | undefined {
  let byTo = RULES.get(from);
  if (!byTo) RULES.set(from, (byTo = new Map()));
  let byMethod = byTo.get(to);
  if (!byMethod) byTo.set(to, (byMethod = new Map()));
  const known = byMethod.get(method);
  if (known !== undefined || byMethod.has(method)) return known;
  const rule = registryRule(method, from, to);
  if (methodKind(method) !== undefined) byMethod.set(method, rule);
  return rule;
}

/**
 * PINGs a link's rate limiter let through free [RATE-8]: no other limit may count them either. One set
 * for every link (a message is decoded by one link only), not a WeakSet per link: ~130 octets of heap
 * per connection, ~2 MB at 15,000 sessions per MS (issue 15).
 */
const FREE_PINGS = new WeakSet<Message>();

/** The Link reading a socket, kept on the socket for the listeners all links share. */
const SOCKET_LINK = Symbol('imsp.link');
type LinkedSocket = Duplex & { [SOCKET_LINK]?: Link };
function linkOf(socket: Duplex): Link {
  return (socket as LinkedSocket)[SOCKET_LINK]!;
}

/** The protocol version this implementation speaks [CONN-2]. */
const PROTOCOL_VERSION = '1';

/** Grace period after an end() before the socket is destroyed if the peer does not close. */
const CLOSE_GRACE_MS = 2000;
/** Incoming requests queued for the handler before the socket is paused (backpressure). */
const HANDLER_QUEUE_HIGH = 64;

/**
 * One IMSP connection. Construct it on a connected socket; it starts reading at once.
 *
 * @example
 * ```ts
 * const link = new Link(socket, { local: 'client', remote: 'ms', handler });
 * const challenge = await link.request(request('LOGIN', [...]));
 * link.on('notification', (m) => ...);
 * link.on('close', (reason) => ...);
 * ```
 */
export class Link extends EventEmitter<LinkEvents> {
  readonly local: Role;
  readonly remote: Role;
  private readonly socket: Duplex;
  private readonly receiver: Receiver;
  private readonly sender: Sender;
  private readonly tracker: RequestTracker;
  private readonly requestTimeout: number;
  private readonly rateLimiter: RateLimiter | undefined;
  private readonly clock: () => number;
  /** [MSG-7] accepted MSGs of one turn are answered with one 200 Count: n. */
  private readonly batchAcks: boolean;

  /** Work on the peer's requests, done strictly in arrival order so that responses keep that order [CONN-9]. */
  private readonly queue: HandlerQueue;
  private paused = false;
  private closing = false;
  private closed = false;
  private closeReason: ImspError | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: Duplex, opts: LinkOptions) {
    super();
    this.socket = socket;
    this.local = opts.local;
    this.remote = opts.remote;
    this.clock = opts.clock ?? Date.now;
    this.requestTimeout = opts.requestTimeout ?? LIMITS.requestTimeout;
    this.rateLimiter = opts.rateLimiter;
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.queue = new HandlerQueue(this, opts.handler, concurrency);
    this.receiver = new Receiver(
      this,
      { local: opts.local, remote: opts.remote },
      opts.limits,
      opts.handshakeTimeout ?? LIMITS.handshakeTimeout,
      this.clock,
    );
    this.sender = new Sender(socket, this.clock, opts.maxOutboundQueue ?? LIMITS.maxOutboundQueue, {
      coalesce: opts.coalesce === true,
      ...(opts.limits?.maxBodySize !== undefined ? { maxPlain: opts.limits.maxBodySize - TAG_LENGTH } : {}),
    });
    this.batchAcks = opts.batchAcks === true;
    this.tracker = new RequestTracker(this, opts.closeOnRequestTimeout ?? true);
    // The socket's listeners are shared by every link and find theirs on the socket: four closures
    // (and their context) per connection less (issue 15, memory per MS session).
    (socket as LinkedSocket)[SOCKET_LINK] = this;
    socket.on('data', Link.onSocketData);
    socket.on('end', Link.onSocketEnd);
    socket.on('error', Link.onSocketError);
    socket.on('close', Link.onSocketClosed);
    socket.resume(); // a socket paused by whoever accepted it (e.g. to sniff its first octets) flows again
    // Small request/response messages: Nagle's algorithm with delayed ACKs would stall pipelines.
    const nodelay = (socket as Duplex & { setNoDelay?: (on: boolean) => unknown }).setNoDelay;
    if (typeof nodelay === 'function') nodelay.call(socket, true);
  }

  /** Clock reading of the last octets received (heartbeats and the session sweep use it). */
  get lastReceived(): number {
    return this.receiver.lastReceived;
  }

  /** Clock reading of the last octets sent (heartbeats use it). */
  get lastSent(): number {
    return this.sender.lastSent;
  }

  /** True once the link is closing or closed: nothing more is sent or dispatched. */
  get isClosed(): boolean {
    return this.closing || this.closed;
  }

  /** True once the link's handshake is complete (sealing enabled): the error table's *handshake* situation is over. */
  get handshakeComplete(): boolean {
    return this.receiver.sealState !== 'clear';
  }

  /** Whether outgoing messages are sealed now. */
  get sealing(): boolean {
    return this.sender.sealing;
  }

  /** Octets written but not yet flushed to the peer. */
  get outboundQueued(): number {
    return this.socket.writableLength;
  }

  /**
   * Switches the link to SEALED envelopes: every message sent from now on is sealed with `keys.send`
   * (Seq from 0); incoming envelopes are opened with `keys.receive` (Seq from 0). Until the first
   * envelope arrives, a clear error response (status >= 400) is still accepted, because a handshake
   * can fail in clear; any other clear message closes the link with ERR_METHOD_NOT_ALLOWED [SEAL-7].
   * Call it exactly at the switch point: the server right before returning the first sealed response,
   * the client right after sending the last clear request (or on reading INIT-ACK).
   * With `strict`, no clear message at all is accepted from now on (both ends of a peer session after
   * INIT-ACK [P2P-16]).
   * The link keeps its own copies of the keys and zeroes them when it closes [SEAL-2]; the caller
   * should erase its own.
   */
  enableSealing(keys: LinkKeys, opts: { strict?: boolean } = {}): void {
    if (this.sender.sealing) throw new Error('sealing is already enabled on this link');
    this.sender.enableSealing(keys.send);
    this.receiver.enableSealing(keys.receive, opts.strict === true);
  }

  /**
   * Sends a request and resolves with its response, matched in order [CONN-5].
   * Rejects with ERR_TIMEOUT after requestTimeout, with the validation error when the response breaks
   * the registry, and with ERR_UNAVAILABLE when the link closes first.
   */
  request<M extends string>(
    msg: RequestMessage & { readonly method: M },
    opts: RequestOptions = {},
  ): Promise<ResponseTo<M>> {
    return this.expect(msg, opts, false) as Promise<ResponseTo<M>>;
  }

  /**
   * Sends a handshake message (INIT) and resolves with the peer's handshake reply (INIT-ACK) or its
   * error response. The caller then checks the reply and calls enableSealing.
   */
  handshake(msg: RequestMessage, opts: RequestOptions = {}): Promise<Message> {
    return this.expect(msg, opts, true);
  }

  /** Sends a message that gets no response (a notification, or a response composed by hand). */
  notify(msg: Message): void {
    this.send(msg);
  }

  private expect(msg: RequestMessage, opts: RequestOptions, handshake: boolean): Promise<Message> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const rule = linkRule(msg.method, this.local, this.remote);
    if (rule && !rule.answered) {
      // a notification gets no response [CONN-11]: waiting for one would only time out
      return Promise.reject(
        linkError(
          'ERR_METHOD_NOT_ALLOWED',
          `${msg.method} gets no response on ${this.local} -> ${this.remote}; use notify()`,
        ),
      );
    }
    const out = opts.tag !== undefined ? (withTag(msg, opts.tag) as RequestMessage) : msg;
    const answered = this.tracker.track(
      out.method,
      anyHeader(out, 'Tag'),
      opts.timeout ?? this.requestTimeout,
      handshake,
    );
    try {
      this.send(out);
    } catch (e) {
      return Promise.reject(e);
    }
    return answered;
  }

  /** Whether the rate limiter let this PING through free, at the heartbeat pace [RATE-8]. */
  isFreePing(msg: Message): boolean {
    return FREE_PINGS.has(msg);
  }

  /**
   * Writes one message, sealed when sealing is on. Returns false when the link is closed.
   * Closes the link (ERR_UNAVAILABLE) when the unsent queue passes maxOutboundQueue [CONN-6].
   */
  send(msg: Message): boolean {
    if (this.isClosed) return false;
    if (this.sender.exhausted) {
      // [SEAL-8] close before a key and iv pair could ever repeat
      this.close(linkError('ERR_INTERNAL', 'Seq space of this link exhausted'));
      return false;
    }
    this.sender.write(msg);
    if (this.sender.overflowing) {
      // [CONN-6] a peer that does not read is cut off instead of growing our memory.
      this.abort(linkError('ERR_UNAVAILABLE', 'outbound queue over maxOutboundQueue (slow reader)'));
      return false;
    }
    return true;
  }

  /**
   * Answers an accepted MSG without Tag with 200 [MSG-1]; with batchAcks, the answers of one turn that
   * follow each other leave as one `200 Count: n` [MSG-7]. Returns false when the link is closed.
   */
  sendAck(): boolean {
    if (this.isClosed) return false;
    if (this.sender.exhausted) {
      this.close(linkError('ERR_INTERNAL', 'Seq space of this link exhausted')); // [SEAL-8]
      return false;
    }
    this.sender.writeAck(this.batchAcks);
    return true;
  }

  /** Closes the link in order: pending requests are rejected, the socket is ended. */
  close(reason?: ImspError): void {
    if (this.isClosed) return;
    this.beginClose(reason);
  }

  private beginClose(reason: ImspError | undefined): void {
    this.closing = true;
    this.closeReason = reason;
    // [SEAL-2] both direction keys are erased when the link closes
    this.sender.erase();
    this.receiver.stop();
    this.tracker.rejectAll(this.closedError());
    this.queue.clear();
    this.socket.end();
    // keep reading (and dropping) so that the peer's end of stream is seen and the socket closes
    this.paused = false;
    this.socket.resume();
    this.graceTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref?.();
  }

  /**
   * @internal Answers `err` (when `answer`), then ends the connection with it as the reason. With
   * `clear`, the answer is sent in clear even on a sealed link: after a failed envelope the peer's keys
   * may be wrong.
   */
  fail(err: ImspError, answer: boolean, clear = false): void {
    if (this.isClosed) return;
    if (answer) {
      try {
        if (clear) this.sender.writeClear(errorResponse(err));
        else this.sender.write(errorResponse(err));
      } catch {
        // the socket may already be unwritable: closing is all that is left
      }
    }
    this.beginClose(err);
  }

  /** @internal [WIRE-14] a framing error: answered after the requests before it [CONN-9], then closed. */
  framingError(err: ImspError): void {
    this.enqueue({ answer: [errorResponse(err)], close: err });
  }

  /**
   * @internal A malformed SEALED envelope before the link's keys [REG-16]: its refusal takes its place
   * among the answers [CONN-9] and closes only where the error table says [ERR-8].
   */
  refuseEnvelope(err: ImspError, env: Message): void {
    this.emit('protocolError', err, env);
    const r = errorRule(err.code, { method: 'SEALED', handshake: !this.handshakeComplete });
    const out = r.action === 'close' || r.action === 'never' ? [] : [errorResponse(err)];
    this.enqueue(closesConnection(r) ? { answer: out, close: err } : { answer: out });
  }

  /** Drops the connection at once (socket error, slow reader): nothing more is written. */
  private abort(err: ImspError): void {
    if (this.isClosed) return;
    this.beginClose(err);
    this.socket.destroy();
  }

  private closedError(): ImspError {
    return linkError('ERR_UNAVAILABLE', 'link closed');
  }

  private static readonly onSocketData = function (this: Duplex, chunk: Buffer | string): void {
    linkOf(this).receiver.onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };
  private static readonly onSocketEnd = function (this: Duplex): void {
    linkOf(this).onEnd();
  };
  private static readonly onSocketError = function (this: Duplex, e: Error): void {
    linkOf(this).abort(linkError('ERR_UNAVAILABLE', `socket: ${e.message}`));
  };
  private static readonly onSocketClosed = function (this: Duplex): void {
    linkOf(this).onSocketClose();
  };

  /** @internal the registry rule of `method` sent by the peer to this side (the handler queue's dispatch). */
  peerRule(method: string): LinkRule | undefined {
    return linkRule(method, this.remote, this.local);
  }

  /** @internal a response broke the registry or its Tag did not match (the request tracker's report). */
  reportProtocolError(err: ImspError, msg: Message): void {
    this.emit('protocolError', err, msg);
  }

  private onEnd(): void {
    // The peer will send nothing more: a message cut short is a truncation [WIRE-12]. On a half-open
    // socket (servers accept with allowHalfOpen) it is answered, after the requests before it, while
    // our direction can still be written [WIRE-20]; a clean end closes at once.
    if (this.isClosed || this.receiver.broken) return;
    const err = this.receiver.end();
    if (err && this.socket.writable) this.framingError(err);
    else this.beginClose(err);
  }

  private onSocketClose(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    if (!this.closing) {
      this.closing = true;
      // [SEAL-2] the socket went without close(): both direction keys are erased here
      this.sender.release();
      this.receiver.stop();
      this.tracker.rejectAll(this.closedError());
    }
    if (this.closed) return;
    this.closed = true;
    this.emit('close', this.closeReason);
  }

  /** @internal pauses the socket while the receiver holds an envelope or the handler queue is full. */
  updateFlow(): void {
    const shouldPause = this.receiver.holding || this.queue.length >= HANDLER_QUEUE_HIGH;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** @internal the receiver's next message: checked against the registry, then queued in order. */
  dispatch(msg: Message, wasSealed: boolean): void {
    if (msg.kind === 'response') {
      this.tracker.onResponse(msg);
      return;
    }
    if (this.tracker.awaitingHandshake && methodKind(msg.method) === 'handshake') {
      // The peer's handshake reply (INIT-ACK) answers our handshake request (INIT).
      this.tracker.onHandshakeReply(msg);
      return;
    }
    const tag = anyHeader(msg, 'Tag');
    const rule = linkRule(msg.method, this.remote, this.local);
    // [CONN-11] a notification is never answered, not even with an error
    const answers = rule === undefined || rule.answered;
    const tagged = (extra: Header[] = []): Header[] => (tag !== undefined ? [...extra, ['Tag', tag]] : extra);
    // [ERR-8] every refusal below does what the error table (generated/error-handling.ts) says for its
    // code in this situation: answer; answer, then close; NOTICE, then close [ERR-5] [CONN-16].
    const refuse = (err: ImspError, situation: ErrorSituation = {}, extra: Header[] = []): void => {
      this.emit('protocolError', err, msg);
      const r = errorRule(err.code, { method: msg.method, handshake: !this.handshakeComplete, ...situation });
      const out: Message[] = [];
      const notice: Message = {
        kind: 'request',
        method: 'NOTICE',
        headers: [['Error-code', err.code], ...extra.filter(([n]) => n === 'Retry-after')],
        body: Buffer.alloc(0),
      };
      if (r.action === 'notice-close' && linkRule('NOTICE', this.local, this.remote)) out.push(notice);
      else if (r.action !== 'close' && r.action !== 'never' && answers) out.push(errorResponse(err, tagged(extra)));
      this.enqueue(closesConnection(r) ? { answer: out, close: err } : { answer: out });
    };
    if (this.rateLimiter) {
      const verdict = this.rateLimiter.check(this.clock(), msg.method === 'PING');
      if (verdict.action === 'allow' && verdict.free) FREE_PINGS.add(msg);
      if (verdict.action !== 'allow') {
        const err = linkError('ERR_RATE_LIMITED', 'rate limit exceeded'); // [RATE-1]
        const retry: Header[] = [['Retry-after', String(verdict.retryAfter)]];
        if (verdict.action === 'disconnect') {
          // [RATE-3] [RATE-10] warnings used up: the NOTICE alone, no 429, then close (notice-close)
          refuse(err, { final: true }, retry);
          return;
        }
        refuse(err, {}, retry);
        if (verdict.action === 'warn' && linkRule('NOTICE', this.local, this.remote)) {
          // [RATE-3] a warning (NOTICE 429) where the link carries NOTICE
          this.enqueue({
            answer: [
              {
                kind: 'request',
                method: 'NOTICE',
                headers: [['Error-code', 'ERR_RATE_LIMITED'], ...retry],
                body: Buffer.alloc(0),
              },
            ],
          });
        }
        return;
      }
    }
    const verr = validate(msg, { from: this.remote, to: this.local });
    if (verr) {
      refuse(verr);
      return;
    }
    const version = anyHeader(msg, 'Imsp-version');
    if (version !== undefined && version !== PROTOCOL_VERSION) {
      // [CONN-2] a version this receiver does not speak: 400 ERR_VERSION, then close.
      refuse(
        linkError('ERR_VERSION', `Imsp-version ${version} not supported (this receiver speaks ${PROTOCOL_VERSION})`),
      );
      return;
    }
    if (rule && rule.sealed && !wasSealed && this.receiver.sealState === 'clear') {
      // [STATE-5] a session method before the handshake completed has no transition: 425, then close.
      refuse(linkError('ERR_OUT_OF_STATE', `${msg.method} before the handshake completed`), { handshake: true });
      return;
    }
    if (rule && !rule.sealed && wasSealed) {
      // [REG-15] a clear-only (handshake) method inside SEALED is out of state: 425, sealed, and the link goes on
      refuse(linkError('ERR_OUT_OF_STATE', `${msg.method} travels in clear, not inside SEALED`), { handshake: false });
      return;
    }
    if (rule && rule.sealed !== wasSealed) {
      // [REG-2] a method that must travel inside SEALED on this link and did not
      refuse(linkError('ERR_METHOD_NOT_ALLOWED', `${msg.method} must be sealed`));
      return;
    }
    this.enqueue({ req: msg });
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
  }
}
