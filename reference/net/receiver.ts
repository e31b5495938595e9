/**
 * The receiving half of a Link, as ws's receiver: frames the byte stream with the generated
 * streaming Decoder, opens SEALED envelopes (Seq in order [SEAL-3], authenticated [SEAL-4]) and
 * refuses clear messages on a sealed link [SEAL-7], then hands each message to the Link in order.
 *
 * A SEALED envelope that arrives before sealing is enabled (it may share a TCP chunk with the last
 * clear message) is held, with the socket paused, until enableSealing is called or handshakeTimeout
 * passes [CONN-4].
 * @module
 */
import {
  anyHeader,
  answerSealed,
  errorRule,
  Decoder,
  validate,
  ImspError,
  isErrorCode,
  LIMITS,
  type Message,
  type RequestMessage,
  type Role,
  type WireLimits,
} from '../../codec/index.js';
import { openEnvelope } from '../crypto/sealed.js';
import { linkError, typedError } from './link-error.js';
import { keyView, releaseKey, storeKey } from './key-slots.js';

/** 'clear' before enableSealing; 'armed' after it until the first envelope; 'sealed' after that. */
export type SealState = 'clear' | 'armed' | 'sealed';

/** What the receiver calls on its Link. */
export interface ReceiverHost {
  readonly isClosed: boolean;
  /** One decoded message, opened when it came sealed. */
  dispatch(msg: Message, wasSealed: boolean): void;
  /** Answers `err` (when `answer`, in clear with `clear`), then closes the link. */
  fail(err: ImspError, answer: boolean, clear?: boolean): void;
  /** A framing error: the stream is unreadable from here on. */
  framingError(err: ImspError): void;
  /** A malformed envelope before the link's keys: refused in order with the requests before it, as the error table says. */
  refuseEnvelope(err: ImspError, env: Message): void;
  /** The receiver started or stopped holding (the socket pauses while it holds). */
  updateFlow(): void;
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

export class Receiver {
  private readonly decoder: Decoder;
  /** The link key's slot (key-slots.ts), -1 when none or erased. */
  private keySlot = -1;
  /** Sealing was enabled (envelopes are opened, not held for keys). */
  private keyed = false;
  private seq = 0;
  sealState: SealState = 'clear';
  private readonly inbox: Message[] = [];
  /** A SEALED envelope waits for enableSealing (the socket is paused). */
  holding = false;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** A framing error was found: the stream is unreadable; nothing more is read. */
  broken = false;
  /** Clock reading of the last octets received. */
  lastReceived: number;
  /** [SEAL-11] most records one envelope may hold (limits maxRecordsPerEnvelope). */
  private readonly maxRecords: number;

  constructor(
    private readonly host: ReceiverHost,
    private readonly roles: { local: Role; remote: Role },
    private readonly limits: Partial<WireLimits> | undefined,
    private readonly handshakeTimeout: number,
    private readonly clock: () => number,
  ) {
    this.decoder = new Decoder(limits ? { limits } : undefined);
    this.lastReceived = clock();
    this.maxRecords = LIMITS.maxRecordsPerEnvelope;
  }

  /** Opens envelopes with a copy of `key` from now on; with `strict`, no clear message is accepted. */
  enableSealing(key: Buffer, strict: boolean): void {
    this.keySlot = storeKey(key, this.keySlot);
    this.keyed = true;
    this.sealState = strict ? 'sealed' : 'armed';
    if (this.holding) {
      this.holding = false;
      if (this.holdTimer) clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
      this.host.updateFlow();
      this.pump();
    }
  }

  /** The link closes: nothing more is processed, the key is zeroed [SEAL-2]. */
  stop(): void {
    this.keySlot = releaseKey(this.keySlot);
    this.clearTimers();
    this.inbox.length = 0;
  }

  clearTimers(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  /**
   * The peer ended its stream: the typed error when a message was cut short [WIRE-12], undefined
   * for a clean end.
   */
  end(): ImspError | undefined {
    try {
      this.decoder.end();
    } catch (e) {
      return typedError(e);
    }
    return undefined;
  }

  onData(chunk: Buffer): void {
    if (this.host.isClosed || this.broken) return;
    this.lastReceived = this.clock();
    let msgs: Message[];
    try {
      msgs = this.decoder.push(chunk);
    } catch (e) {
      // The messages completed before the framing error are processed first; then the error is
      // answered and the link closes [WIRE-14].
      const err = typedError(e);
      for (const m of err.messages) this.inbox.push(m);
      this.pump();
      if (this.host.isClosed) return;
      if (this.holding) {
        this.host.fail(err, true);
        return;
      }
      // [WIRE-14] answered after the requests before it [CONN-9], then closed; nothing more is read
      this.broken = true;
      this.host.framingError(err);
      return;
    }
    for (const m of msgs) this.inbox.push(m);
    this.pump();
  }

  /** Processes decoded messages in order until the inbox is empty or a SEALED envelope must wait. */
  private pump(): void {
    while (this.inbox.length > 0 && !this.host.isClosed && !this.holding) {
      const msg = this.inbox[0]!;
      if (msg.kind === 'request' && msg.method === 'SEALED') {
        if (!this.keyed) {
          // [REG-3] registry validation comes before state ([REG-16], Appendix A.7): a malformed
          // envelope is refused at once; only a well-formed one waits for the link's keys.
          const verr = validate(msg, { from: this.roles.remote, to: this.roles.local });
          if (verr) {
            // [CONN-9] answered after the requests before it, and [ERR-8] closing only where the error
            // table says so: a validation error is answered and the connection goes on [REG-9].
            this.inbox.shift();
            this.host.refuseEnvelope(verr, msg);
            continue;
          }
          this.hold();
          return;
        }
        this.inbox.shift();
        const records = this.unseal(msg);
        if (!records) return;
        // [SEAL-12] the records in order, each as if it had come alone; a record that closes the link
        // stops the rest [ERR-5]
        for (let i = 0; i < records.length && !this.host.isClosed; i++) this.host.dispatch(records[i]!, true);
        continue;
      }
      this.inbox.shift();
      const clearError = msg.kind === 'response' && msg.status >= 400;
      if (this.sealState === 'sealed' && clearError) {
        // The peer's answer to an envelope of ours that failed (sent in clear, [§6.4 The SEALED Envelope]): it closes.
        const c = anyHeader(msg, 'Error-code');
        this.host.fail(
          linkError(c !== undefined && isErrorCode(c) ? c : 'ERR_DECRYPT', `peer refused: ${msg.status} ${msg.reason}`),
          false,
        );
        return;
      }
      if (this.sealState === 'sealed' || (this.sealState === 'armed' && !clearError)) {
        // [SEAL-7] refused and closed; [SEAL-9] the refusal travels inside SEALED, as the error table says
        const seal7 = errorRule('ERR_METHOD_NOT_ALLOWED', { clearOnSealed: true });
        this.host.fail(
          linkError('ERR_METHOD_NOT_ALLOWED', 'clear message on a sealed link'),
          seal7.action !== 'close',
          !answerSealed(seal7, true),
        );
        return;
      }
      this.host.dispatch(msg, false);
    }
  }

  private hold(): void {
    this.holding = true;
    this.host.updateFlow();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.host.fail(linkError('ERR_OUT_OF_STATE', 'SEALED envelope before the handshake completed'), true); // [CONN-4]
    }, this.handshakeTimeout);
  }

  /**
   * Opens one envelope [SEAL-3] [SEAL-4] and returns its records (1 to maxRecordsPerEnvelope [SEAL-11]);
   * on failure answers, closes and returns undefined, having acted on none of its records.
   */
  private unseal(env: RequestMessage): Message[] | undefined {
    const verr = validate(env, { from: this.roles.remote, to: this.roles.local });
    if (verr) {
      this.host.fail(verr, true, true);
      return undefined;
    }
    const seqText = anyHeader(env, 'Seq');
    if (seqText !== String(this.seq)) {
      this.host.fail(linkError('ERR_REPLAY', `Seq ${seqText ?? '(none)'}, expected ${this.seq}`), true, true); // [SEAL-3]
      return undefined;
    }
    let plain: Buffer;
    try {
      plain = openEnvelope(keyView(this.keySlot), this.seq, env.body);
    } catch (e) {
      this.host.fail(typedError(e), true, true); // [SEAL-4]
      return undefined;
    }
    this.sealState = 'sealed';
    let inner: Message[];
    try {
      inner = decodeInner(plain, this.limits);
    } catch (e) {
      this.host.fail(typedError(e), true); // [SEAL-11] a record cut short: none acted on
      return undefined;
    }
    if (inner.length === 0) {
      this.host.fail(linkError('ERR_TRUNCATED', 'SEALED envelope holds no message'), true); // [SEAL-11]
      return undefined;
    }
    if (inner.length > this.maxRecords) {
      // [SEAL-11] refused inside SEALED (it authenticated), none of its records acted on, then closed
      this.host.fail(
        linkError('ERR_LIMIT', `SEALED envelope holds ${inner.length} messages, at most ${this.maxRecords}`),
        true,
      );
      return undefined;
    }
    for (const m of inner) {
      if (m.kind === 'request' && m.method === 'SEALED') {
        this.host.fail(linkError('ERR_DECRYPT', 'SEALED inside SEALED'), true, true); // [SEAL-6]
        return undefined;
      }
    }
    this.seq += inner.length; // [SEAL-5] the next envelope's Seq: one more per record
    return inner;
  }
}
