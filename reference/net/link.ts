/**
 * The IMSP link layer over a byte stream (a net.Socket or any Duplex): framing through the generated
 * streaming Decoder, registry validation for the link's roles, in-order matching of responses to this
 * side's requests, dispatch of the peer's requests to a handler and of its notifications to listeners,
 * SEALED envelopes after the handshake (spec section 3, 2 and 3.3), an outbound queue bound
 * and an optional per-connection rate limit.
 *
 * Rules it enforces:
 * - A framing error is answered with its status and the connection is closed; a validation error is
 *   answered and the connection goes on (spec section 2).
 * - Requests get exactly one response each, in order; the peer's requests are handled one at a time, in
 *   order; `Tag` is echoed (spec section 1).
 * - After {@link Link.enableSealing} every outgoing message is one SEALED envelope, Seq from 0; incoming
 *   envelopes must carry the next Seq (else 450 ERR_REPLAY) and authenticate (else 401 ERR_DECRYPT), and
 *   either closes the link [SEAL-3] [SEAL-4]. A SEALED envelope that arrives before sealing is enabled
 *   (it may share a TCP chunk with the last clear message) is held, with the socket paused, until
 *   enableSealing is called or handshakeTimeout passes.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  Decoder,
  encode,
  errorResponse,
  header,
  validate,
  validateResponse,
  ImspError,
  isErrorCode,
  LIMITS,
  type ErrorCode,
  type Header,
  type Message,
  type RequestMessage,
  type ResponseMessage,
  type Role,
  type WireLimits,
} from '../../generated/index.js';
import { TAG_LENGTH } from '../crypto/aead.js';
import { openEnvelope, sealEnvelope } from '../crypto/sealed.js';
import type { LinkKeys } from '../crypto/scram.js';
import type { RateLimiter } from './rate-limit.js';
import { linkRule as registryRule, methodKind, type LinkRule } from './registry.js';

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

/** One unit of ordered work: a request for the handler, or a prepared answer (then maybe a close). */
type Job = { req: RequestMessage } | { answer: Message[]; close?: ImspError };

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

const limit = (name: string): number => {
  const v = (LIMITS as Record<string, number>)[name];
  if (typeof v !== 'number') throw new Error(`limit ${name} missing from the registry`);
  return v;
};

/** The typed error the link raises for `code`. */
export function linkError(code: ErrorCode, detail?: string): ImspError {
  return new ImspError(code, -1, detail);
}

function typedError(e: unknown): ImspError {
  if (e instanceof ImspError) return e;
  return linkError('ERR_INTERNAL', e instanceof Error ? e.message : String(e));
}

function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/** Headers of `msg` without Content-length (encode sets it). */
function withTag(msg: Message, tag: string): Message {
  const headers: Header[] = [...msg.headers.filter(([n]) => n.toLowerCase() !== 'tag'), ['Tag', tag]];
  return { ...msg, headers };
}

/**
 * The head of SEALED envelope `seq` with a body of `length` octets, as encode() writes it for
 * { method: 'SEALED', headers: [['Seq', seq]], body } (Content-length appended after the headers).
 */
export function sealedHead(seq: number, length: number): string {
  return `SEALED\r\nSeq: ${seq}\r\nContent-length: ${length}\r\n\r\n`;
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
 * Decoders of the inner messages of SEALED envelopes, one per limits object (DEFAULT_LIMITS for
 * none), shared by the links of the process: an inner message is decoded at once (push, then end),
 * which leaves the decoder idle, so one decoder serves every envelope instead of a new Decoder (and
 * its resolved limits and line table) per envelope. A decoder that failed is dropped.
 */
const INNER_DECODERS = new WeakMap<object, Decoder>();
const DEFAULT_LIMITS = {};

/** decode(plain, { limits }): the messages of one envelope's plaintext; errors as decode() reports them. */
function decodeInner(plain: Buffer, limits: Partial<WireLimits> | undefined): Message[] {
  const key = limits ?? DEFAULT_LIMITS;
  let d = INNER_DECODERS.get(key);
  if (!d) INNER_DECODERS.set(key, (d = new Decoder(limits ? { limits } : undefined)));
  const at = d.offset;
  try {
    const out = d.push(plain);
    d.end(); // a message cut short is ERR_TRUNCATED (or its partial line's error), as decode() says
    return out;
  } catch (e) {
    INNER_DECODERS.delete(key);
    if (!(e instanceof ImspError) || at === 0 || e.offset < 0) throw e;
    // offsets within this plaintext, as decode(plain) gives them
    const r = new ImspError(e.code, e.offset - at);
    r.messageOffset = e.messageOffset;
    r.messages = e.messages;
    throw r;
  }
}

/** The protocol version this implementation speaks (CONN-2). */
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
  private readonly decoder: Decoder;
  private readonly limits: Partial<WireLimits> | undefined;
  private readonly handler: RequestHandler | undefined;
  private readonly requestTimeout: number;
  private readonly handshakeTimeout: number;
  private readonly maxOutboundQueue: number;
  private readonly rateLimiter: RateLimiter | undefined;
  private readonly closeOnRequestTimeout: boolean;
  private readonly concurrency: number;
  /** Pipelined handlers (concurrency > 1): each resolves with the writing of its answer, run in order. */
  private readonly inflight: Array<Promise<() => void>> = [];
  private readonly clock: () => number;

  private sendKey: Buffer | undefined;
  private receiveKey: Buffer | undefined;
  private sendSeq = 0;
  private receiveSeq = 0;
  /** 'clear' before enableSealing; 'armed' after it until the first envelope; 'sealed' after that. */
  private sealState: 'clear' | 'armed' | 'sealed' = 'clear';

  private readonly inbox: Message[] = [];
  private holding = false;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** Work on the peer's requests, done strictly in arrival order so that responses keep that order [CONN-9]. */
  private readonly handlerQueue: Job[] = [];
  private handlerBusy = false;
  private readonly pending: Pending[] = [];
  private paused = false;
  private closing = false;
  /** A framing error was found: the stream is unreadable; its answer waits for the earlier answers. */
  private broken = false;
  private closed = false;
  private closeReason: ImspError | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;

  /** Clock reading of the last octets received / sent (heartbeats use these). */
  lastReceived: number;
  lastSent: number;

  constructor(socket: Duplex, opts: LinkOptions) {
    super();
    this.socket = socket;
    this.local = opts.local;
    this.remote = opts.remote;
    this.limits = opts.limits;
    this.decoder = new Decoder(opts.limits ? { limits: opts.limits } : undefined);
    this.handler = opts.handler;
    this.requestTimeout = opts.requestTimeout ?? limit('requestTimeout');
    this.handshakeTimeout = opts.handshakeTimeout ?? limit('handshakeTimeout');
    this.maxOutboundQueue = opts.maxOutboundQueue ?? limit('maxOutboundQueue');
    this.rateLimiter = opts.rateLimiter;
    this.closeOnRequestTimeout = opts.closeOnRequestTimeout ?? true;
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.clock = opts.clock ?? Date.now;
    this.lastReceived = this.lastSent = this.clock();
    socket.on('data', (chunk: Buffer | string) => this.onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (e: Error) => this.abort(linkError('ERR_UNAVAILABLE', `socket: ${e.message}`)));
    socket.on('close', () => this.onSocketClose());
    socket.resume(); // a socket paused by whoever accepted it (e.g. to sniff its first octets) flows again
    // Small request/response messages: Nagle's algorithm with delayed ACKs would stall pipelines.
    const nodelay = (socket as Duplex & { setNoDelay?: (on: boolean) => unknown }).setNoDelay;
    if (typeof nodelay === 'function') nodelay.call(socket, true);
  }

  /** True once the link is closing or closed: nothing more is sent or dispatched. */
  get isClosed(): boolean {
    return this.closing || this.closed;
  }

  /** Whether outgoing messages are sealed now. */
  get sealing(): boolean {
    return this.sendKey !== undefined;
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
    if (this.sendKey) throw new Error('sealing is already enabled on this link');
    // The link keeps its own copies of the keys and zeroes them when it closes [SEAL-2].
    this.sendKey = Buffer.from(keys.send);
    this.receiveKey = Buffer.from(keys.receive);
    this.sealState = opts.strict ? 'sealed' : 'armed';
    if (this.holding) {
      this.holding = false;
      if (this.holdTimer) clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
      this.updateFlow();
      this.pump();
    }
  }

  /**
   * Sends a request and resolves with its response, matched in order [CONN-5].
   * Rejects with ERR_TIMEOUT after requestTimeout, with the validation error when the response breaks
   * the registry, and with ERR_UNAVAILABLE when the link closes first.
   */
  request(msg: RequestMessage, opts: RequestOptions = {}): Promise<ResponseMessage> {
    return this.expect(msg, opts, false) as Promise<ResponseMessage>;
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
      return Promise.reject(linkError('ERR_METHOD_NOT_ALLOWED', `${msg.method} gets no response on ${this.local} -> ${this.remote}; use notify()`));
    }
    const out = opts.tag !== undefined ? (withTag(msg, opts.tag) as RequestMessage) : msg;
    return new Promise<Message>((resolve, reject) => {
      const batch = this.timerBatch(opts.timeout ?? this.requestTimeout);
      const p: Pending = { method: out.method, tag: header(out, 'Tag'), handshake, timedOut: false, settled: false, batch, resolve, reject };
      batch.entries.push(p);
      batch.open += 1;
      this.pending.push(p);
      this.send(out);
    });
  }

  /** The timer batch of this turn for timeout `ms` (a new one, armed, when there is none yet). */
  private timerBatch(ms: number): TimerBatch {
    const current = this.batch;
    if (current !== undefined && current.ms === ms) return current;
    const b: TimerBatch = { ms, open: 0, entries: [], timer: undefined };
    b.timer = setTimeout(() => this.expire(b), ms);
    if (current === undefined) process.nextTick(Link.endBatch, this);
    this.batch = b;
    return b;
  }

  private batch: TimerBatch | undefined;
  /** Requests sent from the next turn on get a timer of their own. */
  private static endBatch(link: Link): void {
    link.batch = undefined;
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
      if (this.closeOnRequestTimeout) {
        this.close(err); // rejects the others as the link closes
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

  /**
   * Writes one message, sealed when sealing is on. Returns false when the link is closed.
   * Closes the link (ERR_UNAVAILABLE) when the unsent queue passes maxOutboundQueue [CONN-6].
   */
  send(msg: Message): boolean {
    if (this.isClosed) return false;
    if (this.sendKey && this.sendSeq > Number.MAX_SAFE_INTEGER) {
      // [SEAL-8] close before a key and iv pair could ever repeat
      this.close(linkError('ERR_INTERNAL', 'Seq space of this link exhausted'));
      return false;
    }
    this.write(msg);
    if (this.socket.writableLength > this.maxOutboundQueue) {
      // [CONN-6] a peer that does not read is cut off instead of growing our memory.
      this.abort(linkError('ERR_UNAVAILABLE', 'outbound queue over maxOutboundQueue (slow reader)'));
      return false;
    }
    return true;
  }

  private write(msg: Message): void {
    let bytes = encode(msg);
    if (this.sendKey) {
      const seq = this.sendSeq++;
      // The envelope's head is written straight into the octets in front of its body, exactly as
      // encode() would frame { SEALED, Seq, body } (one inner message per envelope, spec 6.4).
      const head = sealedHead(seq, bytes.length + TAG_LENGTH);
      bytes = sealEnvelope(this.sendKey, seq, bytes, head.length);
      bytes.write(head, 0, head.length, 'latin1');
    }
    if (!this.corked) {
      // Messages written in one turn of the event loop (pipelined answers, a burst of MSGs) leave in
      // one writev instead of one syscall each; the socket is uncorked on the next tick.
      this.corked = true;
      this.socket.cork();
      process.nextTick(Link.uncork, this);
    }
    this.socket.write(bytes);
    this.lastSent = this.clock();
  }

  private corked = false;
  private static uncork(link: Link): void {
    link.corked = false;
    link.socket.uncork();
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
    this.sendKey?.fill(0);
    this.receiveKey?.fill(0);
    this.clearTimers();
    this.rejectAll();
    this.inbox.length = 0;
    this.handlerQueue.length = 0;
    this.socket.end();
    // keep reading (and dropping) so that the peer's end of stream is seen and the socket closes
    this.paused = false;
    this.socket.resume();
    this.graceTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref?.();
  }

  /**
   * Answers `err` (when `answer`), then ends the connection with it as the reason. With `clear`, the
   * answer is sent in clear even on a sealed link: after a failed envelope the peer's keys may be wrong.
   */
  private fail(err: ImspError, answer: boolean, clear = false): void {
    if (this.isClosed) return;
    if (answer) {
      try {
        if (clear) {
          this.socket.write(encode(errorResponse(err)));
          this.lastSent = this.clock();
        } else this.write(errorResponse(err));
      } catch {
        // the socket may already be unwritable: closing is all that is left
      }
    }
    this.beginClose(err);
  }

  /** Drops the connection at once (socket error, slow reader): nothing more is written. */
  private abort(err: ImspError): void {
    if (this.isClosed) return;
    this.beginClose(err);
    this.socket.destroy();
  }

  private clearTimers(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  private closedError(): ImspError {
    return linkError('ERR_UNAVAILABLE', 'link closed');
  }

  private rejectAll(): void {
    const err = this.closedError();
    for (const p of this.pending.splice(0)) {
      if (p.timedOut) continue;
      this.settle(p);
      p.reject(err);
    }
  }

  private onEnd(): void {
    // The peer will send nothing more: a message cut short is a truncation [WIRE-12].
    if (this.isClosed || this.broken) return;
    try {
      this.decoder.end();
    } catch (e) {
      this.beginClose(typedError(e));
      return;
    }
    this.beginClose(undefined);
  }

  private onSocketClose(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    if (!this.closing) {
      this.closing = true;
      this.clearTimers();
      this.rejectAll();
    }
    if (this.closed) return;
    this.closed = true;
    this.emit('close', this.closeReason);
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed || this.broken) return;
    this.lastReceived = this.clock();
    let msgs: Message[];
    try {
      msgs = this.decoder.push(chunk);
    } catch (e) {
      // The messages completed before the framing error are processed first; then the error is
      // answered and the link closes (spec section 2).
      const err = typedError(e);
      for (const m of err.messages) this.inbox.push(m);
      this.pump();
      if (this.isClosed) return;
      if (this.holding) {
        this.fail(err, true);
        return;
      }
      // [WIRE-14] answered after the requests before it [CONN-9], then closed; nothing more is read
      this.broken = true;
      this.enqueue({ answer: [errorResponse(err)], close: err });
      return;
    }
    for (const m of msgs) this.inbox.push(m);
    this.pump();
  }

  /** Processes decoded messages in order until the inbox is empty or a SEALED envelope must wait. */
  private pump(): void {
    while (this.inbox.length > 0 && !this.isClosed && !this.holding) {
      const msg = this.inbox[0]!;
      if (msg.kind === 'request' && msg.method === 'SEALED') {
        if (!this.receiveKey) {
          this.hold();
          return;
        }
        this.inbox.shift();
        const inner = this.unseal(msg);
        if (inner) this.dispatch(inner, true);
        continue;
      }
      this.inbox.shift();
      const clearError = msg.kind === 'response' && msg.status >= 400;
      if (this.sealState === 'sealed' && clearError) {
        // The peer's answer to an envelope of ours that failed (sent in clear, spec 6.4): it closes.
        const c = header(msg, 'Error-code');
        this.fail(linkError(c !== undefined && isErrorCode(c) ? c : 'ERR_DECRYPT', `peer refused: ${msg.status} ${msg.reason}`), false);
        return;
      }
      if (this.sealState === 'sealed' || (this.sealState === 'armed' && !clearError)) {
        this.fail(linkError('ERR_METHOD_NOT_ALLOWED', 'clear message on a sealed link'), true, true); // [SEAL-7]
        return;
      }
      this.dispatch(msg, false);
    }
  }

  private hold(): void {
    this.holding = true;
    this.updateFlow();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.fail(linkError('ERR_OUT_OF_STATE', 'SEALED envelope before the handshake completed'), true); // [CONN-4]
    }, this.handshakeTimeout);
  }

  private updateFlow(): void {
    const shouldPause = this.holding || this.handlerQueue.length >= HANDLER_QUEUE_HIGH;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Opens one envelope [SEAL-3] [SEAL-4]; on failure answers, closes and returns undefined. */
  private unseal(env: RequestMessage): Message | undefined {
    const verr = validate(env, { from: this.remote, to: this.local });
    if (verr) {
      this.fail(verr, true, true);
      return undefined;
    }
    const seqText = header(env, 'Seq');
    if (seqText !== String(this.receiveSeq)) {
      this.fail(linkError('ERR_REPLAY', `Seq ${seqText ?? '(none)'}, expected ${this.receiveSeq}`), true, true); // [SEAL-3]
      return undefined;
    }
    let plain: Buffer;
    try {
      plain = openEnvelope(this.receiveKey!, this.receiveSeq, env.body);
    } catch (e) {
      this.fail(typedError(e), true, true); // [SEAL-4]
      return undefined;
    }
    this.receiveSeq += 1;
    this.sealState = 'sealed';
    let inner: Message[];
    try {
      inner = decodeInner(plain, this.limits);
    } catch (e) {
      this.fail(typedError(e), true);
      return undefined;
    }
    if (inner.length !== 1) {
      this.fail(linkError('ERR_TRUNCATED', `SEALED envelope holds ${inner.length} messages, expected 1`), true);
      return undefined;
    }
    const m = inner[0]!;
    if (m.kind === 'request' && m.method === 'SEALED') {
      this.fail(linkError('ERR_DECRYPT', 'SEALED inside SEALED'), true, true); // [SEAL-6]
      return undefined;
    }
    return m;
  }

  private dispatch(msg: Message, wasSealed: boolean): void {
    if (msg.kind === 'response') {
      this.onResponse(msg);
      return;
    }
    const head = this.pending[0];
    if (head?.handshake && methodKind(msg.method) === 'handshake') {
      // The peer's handshake reply (INIT-ACK) answers our handshake request (INIT).
      this.pending.shift();
      if (head.timedOut) return;
      this.settle(head);
      const err = validate(msg, { from: this.remote, to: this.local });
      if (err) {
        this.emit('protocolError', err, msg);
        head.reject(err);
      } else head.resolve(msg);
      return;
    }
    const tag = header(msg, 'Tag');
    const rule = linkRule(msg.method, this.remote, this.local);
    // [CONN-11] a notification is never answered, not even with an error
    const answers = rule === undefined || rule.answered;
    const tagged = (extra: Header[] = []): Header[] => (tag !== undefined ? [...extra, ['Tag', tag]] : extra);
    if (this.rateLimiter) {
      const verdict = this.rateLimiter.check(this.clock(), msg.method === 'PING');
      if (verdict.action !== 'allow') {
        const err = linkError('ERR_RATE_LIMITED', 'rate limit exceeded'); // [RATE-1]
        this.emit('protocolError', err, msg);
        const out: Message[] = answers ? [errorResponse(err, tagged([['Retry-after', String(verdict.retryAfter)]]))] : [];
        if (verdict.action === 'warn' && linkRule('NOTICE', this.local, this.remote)) {
          // [RATE-3] a warning (NOTICE 429) where the link carries NOTICE
          out.push({ kind: 'request', method: 'NOTICE', headers: [['Error-code', 'ERR_RATE_LIMITED'], ['Retry-after', String(verdict.retryAfter)]], body: Buffer.alloc(0) });
        }
        // [RATE-3] warnings used up: disconnect after the 429
        this.enqueue(verdict.action === 'disconnect' ? { answer: out, close: err } : { answer: out });
        return;
      }
    }
    const refuse = (err: ImspError): void => {
      this.emit('protocolError', err, msg);
      if (answers) this.enqueue({ answer: [errorResponse(err, tagged())] });
    };
    const verr = validate(msg, { from: this.remote, to: this.local });
    if (verr) {
      refuse(verr);
      return;
    }
    const version = header(msg, 'Imsp-version');
    if (version !== undefined && version !== PROTOCOL_VERSION) {
      // [CONN-2] a version this receiver does not speak: 400 ERR_VERSION, then close.
      const err = linkError('ERR_VERSION', `Imsp-version ${version} not supported (this receiver speaks ${PROTOCOL_VERSION})`);
      this.emit('protocolError', err, msg);
      this.enqueue({ answer: answers ? [errorResponse(err, tagged())] : [], close: err });
      return;
    }
    if (rule && rule.sealed && !wasSealed && this.sealState === 'clear') {
      // [STATE-5] a session method before the handshake completed has no transition: 425, then close.
      const err = linkError('ERR_OUT_OF_STATE', `${msg.method} before the handshake completed`);
      this.emit('protocolError', err, msg);
      this.enqueue({ answer: answers ? [errorResponse(err, tagged())] : [], close: err });
      return;
    }
    if (rule && rule.sealed !== wasSealed) {
      // [REG-2] a method that must travel inside SEALED on this link and did not (or the reverse)
      refuse(linkError('ERR_METHOD_NOT_ALLOWED', rule.sealed ? `${msg.method} must be sealed` : `${msg.method} must be sent in clear`));
      return;
    }
    this.enqueue({ req: msg });
  }

  private enqueue(job: Job): void {
    this.handlerQueue.push(job);
    this.updateFlow();
    void this.drainHandlers();
  }

  private onResponse(msg: ResponseMessage): void {
    const p = this.pending.shift();
    if (!p) {
      this.emit('protocolError', linkError('ERR_OUT_OF_STATE', 'response to no request'), msg);
      return;
    }
    if (p.timedOut) return;
    this.settle(p);
    const err = validateResponse(msg, p.method, { from: this.local, to: this.remote });
    if (err) {
      this.emit('protocolError', err, msg);
      p.reject(err);
      return;
    }
    const tag = header(msg, 'Tag');
    if (p.tag !== undefined && tag !== undefined && tag !== p.tag) {
      const e = linkError('ERR_BAD_VALUE', `Tag ${tag} does not match ${p.tag}`);
      this.emit('protocolError', e, msg);
      p.reject(e);
      return;
    }
    p.resolve(msg);
  }

  /** Runs the handler on queued requests one at a time, in order (or overlapped, see concurrency). */
  private drainHandlers(): void {
    if (this.concurrency > 1) {
      void this.drainPipelined();
      return;
    }
    if (this.handlerBusy) return;
    this.handlerBusy = true;
    try {
      while (this.handlerQueue.length > 0 && !this.isClosed) {
        const job = this.handlerQueue.shift()!;
        this.updateFlow();
        if ('req' in job) {
          // A handler that answers at once is answered at once; one that returns a promise holds the
          // queue until it settles (one at a time, in order) [CONN-9].
          const wait = this.handleOne(job.req);
          if (wait !== undefined) {
            wait.then(() => this.resumeHandlers(), (e: unknown) => this.handlersFailed(e));
            return; // stays busy
          }
        } else {
          for (const m of job.answer) this.send(m);
          if (job.close) this.close(job.close);
        }
      }
    } catch (e) {
      // not from a handler (handleOne catches those): e.g. a response that cannot be encoded
      this.handlerBusy = false;
      void Promise.reject(e);
      return;
    }
    this.handlerBusy = false;
  }

  private resumeHandlers(): void {
    this.handlerBusy = false;
    this.drainHandlers();
  }

  private handlersFailed(e: unknown): void {
    this.handlerBusy = false;
    void Promise.reject(e);
  }

  /** Starts queued jobs while fewer than `concurrency` are in flight. */
  private fillPipeline(): void {
    while (this.handlerQueue.length > 0 && this.inflight.length < this.concurrency && !this.isClosed) {
      const job = this.handlerQueue.shift()!;
      if ('req' in job) this.inflight.push(this.answerOf(job.req));
      else {
        const { answer, close } = job;
        this.inflight.push(Promise.resolve(() => {
          for (const m of answer) this.send(m);
          if (close) this.close(close);
        }));
      }
    }
    this.updateFlow();
  }

  /** concurrency > 1: handlers overlap, answers are written in arrival order [CONN-9]. */
  private async drainPipelined(): Promise<void> {
    this.fillPipeline();
    if (this.handlerBusy) return;
    this.handlerBusy = true;
    try {
      while (this.inflight.length > 0 && !this.isClosed) {
        const write = await this.inflight[0]!;
        this.inflight.shift();
        if (!this.isClosed) write();
        this.fillPipeline();
      }
    } finally {
      this.inflight.length = 0;
      this.handlerBusy = false;
    }
  }

  /** Runs the handler on one request; resolves with the writing of its answer (never rejects). */
  private async answerOf(req: RequestMessage): Promise<() => void> {
    const rule = linkRule(req.method, this.remote, this.local);
    if (rule && !rule.answered) {
      this.emit('notification', req);
      return () => undefined;
    }
    const tag = header(req, 'Tag');
    let res: Message | undefined;
    try {
      res = this.handler ? await this.handler(req, this) : errorResponse(linkError('ERR_UNAVAILABLE', 'no handler'));
    } catch (e) {
      if (!(e instanceof ImspError)) this.emit('handlerError', e, req);
      res = errorResponse(e instanceof ImspError ? e : linkError('ERR_INTERNAL'));
    }
    return () => {
      if (res === undefined || this.isClosed) return;
      if (tag !== undefined && res.kind === 'response' && header(res, 'Tag') === undefined) res = withTag(res, tag);
      this.send(res);
    };
  }

  /**
   * Runs the handler on one request and sends its answer: at once when the handler returns a message
   * (or nothing), else when its promise settles (the returned promise, which never rejects).
   */
  private handleOne(req: RequestMessage): Promise<void> | undefined {
    const rule = linkRule(req.method, this.remote, this.local);
    if (rule && !rule.answered) {
      this.emit('notification', req);
      return undefined;
    }
    let res: Message | undefined | Promise<Message | undefined>;
    try {
      res = this.handler ? this.handler(req, this) : errorResponse(linkError('ERR_UNAVAILABLE', 'no handler'));
    } catch (e) {
      res = this.handlerFailure(e, req);
    }
    if (isThenable(res)) {
      return Promise.resolve(res).then(
        (r) => this.answer(req, r),
        (e: unknown) => this.answer(req, this.handlerFailure(e, req)),
      );
    }
    this.answer(req, res);
    return undefined;
  }

  /** The answer to a request whose handler threw `e`. */
  private handlerFailure(e: unknown, req: RequestMessage): Message {
    if (!(e instanceof ImspError)) this.emit('handlerError', e, req);
    return errorResponse(e instanceof ImspError ? e : linkError('ERR_INTERNAL'));
  }

  /** Sends the handler's answer to `req`, echoing its Tag. */
  private answer(req: RequestMessage, res: Message | undefined): void {
    if (res === undefined || this.isClosed) return;
    const tag = header(req, 'Tag');
    if (tag !== undefined && res.kind === 'response' && header(res, 'Tag') === undefined) res = withTag(res, tag);
    this.send(res);
  }
}
