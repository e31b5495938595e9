/**
 * The sending half of a Link, as ws's sender: encodes each message, seals it into SEALED envelopes
 * once sealing is on [§6.4 The SEALED Envelope], corks the socket for the rest of the turn so that a burst leaves in
 * one writev, and tells the Link when the unsent queue passes its bound.
 *
 * With `coalesce`, the messages written in one turn of the event loop are sealed together: one
 * envelope of up to maxRecordsPerEnvelope records and one AEAD operation for them all [SEAL-14]. Its
 * Seq is the number of its first record, so Seq advances by the record count [SEAL-5]; an envelope
 * of one record is the old form, numbered as before [SEAL-13]. With `batchAcks` as well, a run of
 * plain 200s to MSGs (sendAck) leaves as one `200 Count: n` [MSG-7].
 * @module
 */
import type { Duplex } from 'node:stream';
import { encode, LIMITS, type Message } from '../../codec/index.js';
import { TAG_LENGTH } from '../crypto/aead.js';
import { sealEnvelope } from '../crypto/sealed.js';
import { keyView, releaseKey, storeKey } from './key-slots.js';

/**
 * The head of SEALED envelope `seq` with a body of `length` octets, as encode() writes it for
 * { method: 'SEALED', headers: [['Seq', seq]], body } (Content-length appended after the headers).
 */
export function sealedHead(seq: number, length: number): string {
  return `SEALED\r\nSeq: ${seq}\r\nContent-length: ${length}\r\n\r\n`;
}

/**
 * Wire octets of frozen messages, encoded once (issue 15): the MS forwards one push to many local
 * sessions; each envelope is sealed apart, but the inner message's encoding is the same for all.
 * Only a frozen message is cached, so that a caller who edits a message after sending it cannot get
 * stale octets.
 */
const encodedOnce = new WeakMap<Message, Buffer>();
export function encodeShared(msg: Message): Buffer {
  if (!Object.isFrozen(msg)) return encode(msg);
  let b = encodedOnce.get(msg);
  if (!b) {
    b = encode(msg);
    encodedOnce.set(msg, b);
  }
  return b;
}

/** `200 OK` answering `n` MSGs at once [MSG-7] (n = 1: a plain 200), as encode() writes it. */
const ACK_CACHE: Buffer[] = [];
export function ackOctets(n: number): Buffer {
  let b = ACK_CACHE[n];
  if (!b) {
    b = Buffer.from(n === 1 ? '200 OK\r\n\r\n' : `200 OK\r\nCount: ${n}\r\n\r\n`, 'latin1');
    if (n <= 64) ACK_CACHE[n] = b;
  }
  return b;
}

/** Options of the sealed batching. */
export interface SenderBatching {
  /** Seal the messages of one turn together (several records per envelope) [SEAL-14]. */
  coalesce?: boolean;
  /** Most records per envelope (limits maxRecordsPerEnvelope) [SEAL-11]. */
  maxRecords?: number;
  /** Most octets of plaintext per envelope: maxBodySize - 16 [WIRE-LIMIT-4]. */
  maxPlain?: number;
}

export class Sender {
  /** The link key's slot (key-slots.ts), -1 when none or erased. */
  private keySlot = -1;
  /** Sealing was enabled (stays true after erase(): the key is then all zero, as erased). */
  private sealingOn = false;
  /** The number of the next record to seal in this direction [SEAL-5]. */
  private seq = 0;
  private corked = false;
  /** Records of this turn not sealed yet (coalesce): wire octets, or the number of MSGs an ack run answers. */
  private readonly pending: (Buffer | number)[] = [];
  private pendingOctets = 0;
  private flushQueued = false;
  private readonly coalesce: boolean;
  private readonly maxRecords: number;
  private readonly maxPlain: number;
  /** Clock reading of the last octets written. */
  lastSent: number;

  constructor(
    private readonly socket: Duplex,
    private readonly clock: () => number,
    private readonly maxOutboundQueue: number,
    batching: SenderBatching = {},
  ) {
    this.lastSent = clock();
    this.coalesce = batching.coalesce === true;
    this.maxRecords = Math.max(
      1,
      Math.min(batching.maxRecords ?? LIMITS.maxRecordsPerEnvelope, LIMITS.maxRecordsPerEnvelope),
    );
    this.maxPlain = batching.maxPlain ?? LIMITS.maxBodySize - TAG_LENGTH;
  }

  /** Whether outgoing messages are sealed now. */
  get sealing(): boolean {
    return this.sealingOn;
  }

  /** [SEAL-8] the record numbers are used up: sending more could repeat a key and iv pair. */
  get exhausted(): boolean {
    return this.sealingOn && this.seq + this.pending.length > Number.MAX_SAFE_INTEGER;
  }

  /** [CONN-6] more than maxOutboundQueue octets are unsent: the peer does not read. */
  get overflowing(): boolean {
    return this.socket.writableLength + this.pendingOctets > this.maxOutboundQueue;
  }

  /** Seals every message from now on with a copy of `key`. */
  enableSealing(key: Buffer): void {
    this.keySlot = storeKey(key, this.keySlot);
    this.sealingOn = true;
  }

  /** Seals what is pending, then zeroes the key [SEAL-2]. */
  erase(): void {
    this.flush();
    this.keySlot = releaseKey(this.keySlot);
  }

  /** The socket is gone: drops what is pending and zeroes the key [SEAL-2]. */
  release(): void {
    this.pending.length = 0;
    this.pendingOctets = 0;
    this.keySlot = releaseKey(this.keySlot);
  }

  /** Writes one message, sealed when sealing is on. */
  write(msg: Message): void {
    const bytes = encodeShared(msg);
    if (this.sealingOn && this.coalesce) {
      this.add(bytes);
      return;
    }
    this.writeNow(this.sealingOn ? this.seal([bytes], bytes.length) : bytes);
  }

  /**
   * Answers one MSG with 200 [MSG-1]; with batchAcks the answers of one turn that follow each other
   * leave as one `200 Count: n` [MSG-7]. Only for a MSG without Tag that was accepted.
   */
  writeAck(batch: boolean): void {
    if (!(batch && this.sealingOn && this.coalesce)) {
      this.write({ kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) });
      return;
    }
    const last = this.pending.length - 1;
    const run = this.pending[last];
    if (typeof run === 'number' && run < LIMITS.maxAckCount) {
      this.pending[last] = run + 1;
      return;
    }
    this.add(1);
  }

  /** Writes one message in clear even on a sealed link (the answer to an envelope that failed). */
  writeClear(msg: Message): void {
    this.flush(); // what was written before it leaves before it [CONN-9]
    this.socket.write(encode(msg));
    this.lastSent = this.clock();
  }

  /** Seals and writes the records of this turn (coalesce), in envelopes of at most maxRecords. */
  flush(): void {
    this.flushPending(false);
  }

  /** {@link flush}; `last`: this is the end of the turn's coalescing (see {@link writeNow}). */
  private flushPending(last: boolean): void {
    if (this.pending.length === 0 || !this.sealingOn) return;
    const parts: Buffer[] = [];
    let octets = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const r = this.pending[i]!;
      const p = typeof r === 'number' ? ackOctets(r) : r;
      parts.push(p);
      octets += p.length;
    }
    this.pending.length = 0;
    this.pendingOctets = 0;
    this.writeNow(this.seal(parts, octets), last);
  }

  /** Adds one record to this turn's envelope, sealing the envelope first when it is full. */
  private add(bytes: Buffer | number): void {
    const len = typeof bytes === 'number' ? 16 : bytes.length;
    if (this.pending.length >= this.maxRecords || (this.pending.length > 0 && this.pendingOctets + len > this.maxPlain))
      this.flush();
    this.pending.push(bytes);
    this.pendingOctets += len;
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(Sender.flushTurn, this);
    }
    this.lastSent = this.clock();
  }

  /** One envelope of the records `parts` (their wire octets, `octets` in all): Seq, then the ciphertext. */
  private seal(parts: Buffer[], octets: number): Buffer {
    const seq = this.seq;
    this.seq += parts.length; // [SEAL-5] the next envelope's Seq: one more per record
    const plain = parts.length === 1 ? parts[0]! : Buffer.concat(parts, octets);
    // The envelope's head is written straight into the octets in front of its body, exactly as
    // encode() would frame { SEALED, Seq, body }.
    const head = sealedHead(seq, plain.length + TAG_LENGTH);
    const bytes = sealEnvelope(keyView(this.keySlot), seq, plain, head.length);
    bytes.write(head, 0, head.length, 'latin1');
    return bytes;
  }

  /**
   * Writes octets. `last`: they are the envelope that ends this turn's coalescing (flushTurn), written
   * after everything the turn sent: unless the socket is corked already, they go out at once, without
   * corking it for another tick (one nextTick and one stream buffering fewer per envelope, issue 15).
   */
  private writeNow(bytes: Buffer, last = false): void {
    if (last && !this.corked) {
      this.socket.write(bytes);
      this.lastSent = this.clock();
      return;
    }
    if (!this.corked) {
      // Messages written in one turn of the event loop (pipelined answers, a burst of MSGs) leave in
      // one writev instead of one syscall each; the socket is uncorked on the next tick.
      this.corked = true;
      this.socket.cork();
      process.nextTick(Sender.uncork, this);
    }
    this.socket.write(bytes);
    this.lastSent = this.clock();
  }

  private static flushTurn(sender: Sender): void {
    sender.flushQueued = false;
    if (sender.socket.writable) sender.flushPending(true);
  }

  private static uncork(sender: Sender): void {
    sender.corked = false;
    sender.socket.uncork();
  }
}
