/**
 * The sending half of a Link, as ws's sender: encodes each message, seals it into one SEALED
 * envelope once sealing is on (Seq from 0, spec 6.4), corks the socket for the rest of the turn so
 * that a burst leaves in one writev, and tells the Link when the unsent queue passes its bound.
 * @module
 */
import type { Duplex } from 'node:stream';
import { encode, type Message } from '../../codec/index.js';
import { TAG_LENGTH } from '../crypto/aead.js';
import { sealEnvelope } from '../crypto/sealed.js';

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

export class Sender {
  private key: Buffer | undefined;
  private seq = 0;
  private corked = false;
  /** Clock reading of the last octets written. */
  lastSent: number;

  constructor(
    private readonly socket: Duplex,
    private readonly clock: () => number,
    private readonly maxOutboundQueue: number,
  ) {
    this.lastSent = clock();
  }

  /** Whether outgoing messages are sealed now. */
  get sealing(): boolean {
    return this.key !== undefined;
  }

  /** [SEAL-8] the Seq space is used up: sending more could repeat a key and iv pair. */
  get exhausted(): boolean {
    return this.key !== undefined && this.seq > Number.MAX_SAFE_INTEGER;
  }

  /** [CONN-6] more than maxOutboundQueue octets are unsent: the peer does not read. */
  get overflowing(): boolean {
    return this.socket.writableLength > this.maxOutboundQueue;
  }

  /** Seals every message from now on with a copy of `key`. */
  enableSealing(key: Buffer): void {
    this.key = Buffer.from(key);
  }

  /** [SEAL-2] zeroes the key. */
  erase(): void {
    this.key?.fill(0);
  }

  /** Writes one message, sealed when sealing is on. */
  write(msg: Message): void {
    let bytes = encodeShared(msg);
    if (this.key) {
      const seq = this.seq++;
      // The envelope's head is written straight into the octets in front of its body, exactly as
      // encode() would frame { SEALED, Seq, body } (one inner message per envelope, spec 6.4).
      const head = sealedHead(seq, bytes.length + TAG_LENGTH);
      bytes = sealEnvelope(this.key, seq, bytes, head.length);
      bytes.write(head, 0, head.length, 'latin1');
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

  /** Writes one message in clear even on a sealed link (the answer to an envelope that failed). */
  writeClear(msg: Message): void {
    this.socket.write(encode(msg));
    this.lastSent = this.clock();
  }

  private static uncork(sender: Sender): void {
    sender.corked = false;
    sender.socket.uncork();
  }
}
