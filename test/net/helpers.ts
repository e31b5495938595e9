// Test helpers for the link layer: an in-memory duplex pair and a raw peer that reads decoded messages.
import { Duplex } from 'node:stream';
import { anyHeader, Decoder, decode, encode, type Message } from '../../codec/index.js';
import { openEnvelope, sealEnvelope } from '../../reference/crypto/index.js';

/** Two connected in-memory duplex streams (what one writes, the other reads). */
export function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
      destroy(err, cb) {
        const p = peer();
        if (!p.readableEnded && !p.destroyed) p.push(null);
        cb(err);
      },
    });
  sides.push(
    make(() => sides[1]!),
    make(() => sides[0]!),
  );
  return [sides[0]!, sides[1]!];
}

/** A hand-driven peer on a raw stream: writes octets, collects decoded messages (opening SEALED ones). */
export class RawPeer {
  readonly messages: Message[] = [];
  readonly raw: Buffer[] = [];
  /** The record count of each envelope received. */
  readonly envelopes: number[] = [];
  private readonly decoder = new Decoder();
  private waiters: (() => void)[] = [];
  ended = false;
  receiveKey: Buffer | undefined;
  sendKey: Buffer | undefined;
  receiveSeq = 0;
  sendSeq = 0;

  constructor(readonly stream: Duplex) {
    stream.on('data', (c: Buffer) => {
      this.raw.push(c);
      for (const m of this.decoder.push(c)) {
        if (this.receiveKey && m.kind === 'request' && m.method === 'SEALED') {
          // [SEAL-5] an envelope of n records: Seq is its first record's number; the next is Seq + n
          const seq = Number(anyHeader(m, 'Seq'));
          const records = decode(openEnvelope(this.receiveKey, seq, m.body));
          this.messages.push(...records);
          this.envelopes.push(records.length);
          this.receiveSeq = seq + records.length;
        } else this.messages.push(m);
      }
      this.wake();
    });
    stream.on('end', () => {
      // like a net.Socket without allowHalfOpen: the peer's end ends this side too
      this.ended = true;
      stream.end();
      this.wake();
    });
    stream.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when at least n messages have arrived (or the stream ended). */
  async waitFor(n: number): Promise<Message[]> {
    while (this.messages.length < n && !this.ended) await new Promise<void>((r) => this.waiters.push(r));
    return this.messages;
  }

  /** Resolves when the stream has ended. */
  async waitEnd(): Promise<void> {
    while (!this.ended) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Writes raw octets. */
  write(bytes: Buffer | string): void {
    this.stream.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** The wire octets of msg, sealed with sendKey at the next Seq when sealed is true. */
  bytes(msg: Message, sealed = false, seq?: number): Buffer {
    const inner = encode(msg);
    if (!sealed) return inner;
    const s = seq ?? this.sendSeq++;
    return this.envelope(s, inner);
  }

  /** One envelope of several records at the next Seq (or `seq`); the next Seq moves by their count [SEAL-5]. */
  batch(msgs: Message[], seq?: number): Buffer {
    const s = seq ?? this.sendSeq;
    if (seq === undefined) this.sendSeq += msgs.length;
    return this.envelope(s, Buffer.concat(msgs.map((m) => encode(m))));
  }

  /** SEALED envelope `s` around the plaintext `inner`. */
  envelope(s: number, inner: Buffer): Buffer {
    return encode({
      kind: 'request',
      method: 'SEALED',
      headers: [['Seq', String(s)]],
      body: sealEnvelope(this.sendKey!, s, inner),
    });
  }
}
