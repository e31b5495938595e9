// One TCP connection as the kit sees it: raw writes for wire tests, encoded messages through the
// generated codec, the SEALED layer [§6.4 The SEALED Envelope] with the kit's own crypto, in-order response
// matching, a queue of the peer's requests and notifications, and a wire transcript of everything.
// Anything the target sends that does not decode, is not sealed when it must be, or fails to
// authenticate, or spells a base64url value other than canonically, is recorded as a violation; the
// runner fails the case on any violation.
import * as net from 'node:net';
import {
  Decoder,
  decode,
  encode,
  header,
  LIMITS,
  type ImspError,
  type Message,
  type RequestMessage,
  type ResponseMessage,
} from '../../codec/index.js';
import { nonCanonicalFields } from './canonical.js';
import { openBody, sealBody } from './crypto.js';
import type { Refusal } from './failure.js';
import { METHODS_BY_NAME } from './registry.js';

const isRequestMethod = (m: string): boolean => METHODS_BY_NAME.get(m)?.kind === 'request';

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(s: string): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:]+)):([0-9]{1,5})$/.exec(s.trim());
  if (!m) throw new Error(`expected host:port, got '${s}'`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}
export const fmtHostPort = (a: HostPort): string =>
  a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;

/** Escape octets for a readable transcript: printable ASCII as is, CR LF as \r\n, others \xNN. */
export function escapeBytes(b: Buffer, max = 4096): string {
  let s = '';
  const n = Math.min(b.length, max);
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 13) s += '\\r';
    else if (c === 10) s += '\\n\n';
    else if (c === 9) s += '\\t';
    else if (c === 92) s += '\\\\';
    else if (c >= 32 && c < 127) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  if (b.length > max) s += `...(${b.length - max} more octets)`;
  return s;
}

export interface WireEntry {
  /** ms since the transcript started */
  t: number;
  conn: string;
  dir: 'out' | 'in' | 'note';
  sealed?: boolean;
  text: string;
}

export class Transcript {
  readonly entries: WireEntry[] = [];
  private readonly t0 = Date.now();
  /** Bound on recorded entries: a fuzz case cannot grow the log without limit. */
  constructor(private readonly max = 5000) {}
  add(conn: string, dir: WireEntry['dir'], text: string, sealed?: boolean): void {
    if (this.entries.length >= this.max) return;
    this.entries.push({ t: Date.now() - this.t0, conn, dir, text, ...(sealed ? { sealed } : {}) });
  }
  note(text: string): void {
    this.add('-', 'note', text);
  }
  render(): string {
    return this.entries
      .map(
        (e) =>
          `${String(e.t).padStart(6)}ms ${e.conn} ${e.dir === 'out' ? '>>' : e.dir === 'in' ? '<<' : '--'}${e.sealed ? ' [sealed]' : ''} ${e.text.replace(/\n(?!$)/g, '\n' + ' '.repeat(12))}`,
      )
      .join('\n');
  }
}

export interface Violation {
  /** Requirement the target broke. */
  req: string;
  text: string;
  /** A value the kit refused (a non-canonical base64url value [CRYPTO-4]), typed. */
  refusal?: Refusal;
}

export interface SealState {
  send: Buffer;
  recv: Buffer;
  sendSeq: number;
  recvSeq: number;
}

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`no ${what} within ${ms} ms`);
  }
}

export class ClosedError extends Error {
  constructor(what: string) {
    super(`connection closed while waiting for ${what}`);
  }
}

/** Handler for requests the peer sends: return a response to send, or undefined to queue it. */
export type AutoHandler = (req: RequestMessage, conn: Conn) => ResponseMessage | undefined;

export class Conn {
  private readonly decoder = new Decoder();
  private readonly responses: ResponseMessage[] = [];
  private readonly events: RequestMessage[] = [];
  private readonly wakers = new Set<() => void>();
  /** Every message received, in order (after unsealing), for checks that need the whole history. */
  readonly received: { msg: Message; sealed: boolean }[] = [];
  readonly violations: Violation[] = [];
  closed = false;
  /** Set when the peer closed or reset; 'reset' when the socket errored. */
  closeKind: 'end' | 'reset' | 'local' | null = null;
  sealing: SealState | null = null;
  auto: AutoHandler | null = null;
  private bytesIn = 0;
  /** One entry per request sent through send()/sendAndForget(), in order: what its response is for. */
  private readonly expecting: { mode: 'keep' | 'drop'; method: string; tag: string | undefined }[] = [];
  private readonly maxBytesIn: number;

  constructor(
    readonly socket: net.Socket,
    readonly name: string,
    readonly tr: Transcript,
    opts: { maxBytesIn?: number } = {},
  ) {
    this.maxBytesIn = opts.maxBytesIn ?? 64 * 1024 * 1024;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.onClose('reset'));
    socket.on('close', () => this.onClose('end'));
  }

  /** `localAddress`: the source address to connect from (e.g. a fresh 127.x.y.z for a per-address limit). */
  static connect(
    addr: HostPort,
    name: string,
    tr: Transcript,
    timeoutMs: number,
    localAddress?: string,
  ): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: addr.host, port: addr.port, ...(localAddress ? { localAddress } : {}) });
      const t = setTimeout(() => {
        s.destroy();
        reject(new TimeoutError(`TCP connect to ${fmtHostPort(addr)}`, timeoutMs));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        tr.add(name, 'note', `connected to ${fmtHostPort(addr)}${localAddress ? ` from ${localAddress}` : ''}`);
        resolve(new Conn(s, name, tr));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(new Error(`cannot connect to ${fmtHostPort(addr)}: ${e.message}`));
      });
    });
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  private onClose(kind: 'end' | 'reset'): void {
    if (this.closed) return;
    this.closed = true;
    this.closeKind = this.closeKind ?? kind;
    this.tr.add(this.name, 'note', kind === 'reset' ? 'connection reset' : 'connection closed');
    this.wake();
  }

  private violate(req: string, text: string, refusal?: Refusal): void {
    this.violations.push({ req, text, ...(refusal ? { refusal } : {}) });
    this.tr.add(this.name, 'note', `VIOLATION [${req}] ${text}`);
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    if (this.bytesIn > this.maxBytesIn) {
      this.violate('CONN-6', `target sent more than ${this.maxBytesIn} octets on one connection`);
      this.destroy();
      return;
    }
    let msgs: Message[];
    try {
      msgs = this.decoder.push(chunk);
    } catch (e) {
      this.tr.add(this.name, 'in', escapeBytes(chunk, 512));
      const err = e as ImspError;
      this.violate(
        'WIRE-1',
        `target sent octets that do not decode: ${err.code ?? ''} ${err.message} (offset ${err.offset ?? '?'})`,
      );
      this.destroy();
      return;
    }
    for (const m of msgs) this.onMessage(m);
    this.wake();
  }

  private onMessage(raw: Message): void {
    if (this.sealing) {
      if (raw.kind === 'request' && raw.method === 'SEALED') {
        const seq = header(raw, 'Seq');
        if (seq !== String(this.sealing.recvSeq)) {
          this.tr.add(this.name, 'in', escapeBytes(encode(raw), 256));
          this.violate('SEAL-5', `SEALED Seq ${seq} where ${this.sealing.recvSeq} was due`);
          this.destroy();
          return;
        }
        const inner = openBody(this.sealing.recv, this.sealing.recvSeq, raw.body);
        if (!inner) {
          this.tr.add(this.name, 'in', escapeBytes(encode(raw), 256));
          this.violate('SEAL-4', `SEALED Seq ${seq} does not authenticate under the link key`);
          this.destroy();
          return;
        }
        let inners: Message[];
        try {
          inners = decode(inner);
        } catch (e) {
          this.violate('SEAL-11', `sealed inner message does not decode: ${(e as Error).message}`);
          this.destroy();
          return;
        }
        // [SEAL-11] one to maxRecordsPerEnvelope records; [SEAL-6] none of them an envelope
        if (inners.length === 0 || inners.length > LIMITS.maxRecordsPerEnvelope) {
          this.violate(
            'SEAL-11',
            `a SEALED envelope must hold 1 to ${LIMITS.maxRecordsPerEnvelope} messages, held ${inners.length}`,
          );
          this.destroy();
          return;
        }
        if (inners.some((m) => m.kind === 'request' && (m as RequestMessage).method === 'SEALED')) {
          this.violate('SEAL-6', 'a SEALED envelope must not hold a SEALED envelope');
          this.destroy();
          return;
        }
        // [SEAL-5] Seq counts records: the next envelope's is this one's plus its record count
        this.sealing.recvSeq += inners.length;
        this.envelopesIn.push(inners.length);
        for (const m of inners) {
          if (this.closed) return;
          this.onRecord(m, true);
        }
        return;
      } else if (!(raw.kind === 'response' && raw.status >= 400)) {
        // Only an error answer may come in clear after keys are set: to the handshake's proof, or the
        // last answer before a close when the sealed layer itself failed.
        this.tr.add(this.name, 'in', escapeBytes(encode(raw), 1024));
        this.violate('SEAL-7', `clear message on a sealed link: ${raw.kind === 'request' ? raw.method : raw.status}`);
        this.destroy();
        return;
      }
    }
    this.onRecord(raw, false);
  }

  /** One message, as it arrived or as one record of an envelope. */
  private onRecord(msg: Message, sealed: boolean): void {
    this.tr.add(this.name, 'in', escapeBytes(encode(msg), 2048), sealed);
    this.received.push({ msg, sealed });
    // Every base64url value the target sends is spelled canonically; the kit reads no other [CRYPTO-4].
    for (const f of nonCanonicalFields(msg)) this.violate(f.req, `${f.message} (on ${this.name})`, f.refusal);
    if (msg.kind === 'response') {
      // Responses come in request order; those of fire-and-forget requests are dropped. A 200 with
      // Count answers that many requests, each a MSG without Tag [MSG-7].
      const count = msg.status === 200 ? header(msg, 'Count') : undefined;
      const n = count === undefined ? 1 : /^[1-9][0-9]{0,3}$/.test(count) ? Number(count) : 0;
      if (count !== undefined) {
        const covered = this.expecting.slice(0, n);
        const bad =
          n === 0 || n > LIMITS.maxAckCount
            ? `Count ${count} is not 1 to ${LIMITS.maxAckCount}`
            : n > this.expecting.length
              ? `Count ${n} where ${this.expecting.length} requests were unanswered`
              : covered.find((e) => e.method !== 'MSG' || e.tag !== undefined);
        if (bad !== undefined) {
          this.violate(
            'MSG-7',
            typeof bad === 'string'
              ? bad
              : `a 200 with Count ${n} answers ${bad.method}${bad.tag !== undefined ? ` with Tag ${bad.tag}` : ''}, not only MSGs without Tag`,
          );
          this.destroy();
          return;
        }
      }
      for (let i = 0; i < n; i++) {
        const pending = this.expecting.shift();
        if (pending?.mode !== 'drop') this.responses.push(msg);
      }
      return;
    }
    if (this.auto) {
      const r = this.auto(msg, this);
      if (r) {
        this.send(r);
        return;
      }
    }
    this.events.push(msg);
  }

  /**
   * Seal the link from now on, and open the SEALED envelopes that already arrived behind the
   * handshake's last clear message, in the same read (a responder may send INIT-ACK and, at once, a
   * sealed BYE): they were queued as clear events before the kit had the keys.
   */
  seal(state: SealState): void {
    this.sealing = state;
    for (const m of this.takeEvents((e) => e.method === 'SEALED')) {
      this.received.splice(
        this.received.findIndex((x) => x.msg === m),
        1,
      );
      this.onMessage(m);
    }
    this.wake();
  }

  /** Write octets as they are (no sealing). */
  writeRaw(buf: Buffer, note?: string): void {
    if (this.closed || this.socket.destroyed) return;
    this.tr.add(this.name, 'out', note ?? escapeBytes(buf, 4096));
    this.socket.write(buf);
  }

  /** The record count of each envelope received, in order. */
  readonly envelopesIn: number[] = [];

  /** Send a request whose response nobody awaits (heartbeats). */
  sendAndForget(msg: RequestMessage): void {
    this.send(msg, 'drop');
  }

  /** Encode and send a message; sealed when the link is sealed. */
  send(msg: Message, expect: 'keep' | 'drop' = 'keep'): void {
    this.expect(msg, expect);
    const wire = encode(msg);
    if (!this.sealing) {
      this.writeRaw(wire);
      return;
    }
    if (this.closed || this.socket.destroyed) return;
    const seq = this.sealing.sendSeq++;
    const body = sealBody(this.sealing.send, seq, wire);
    this.tr.add(this.name, 'out', escapeBytes(wire, 2048), true);
    this.socket.write(
      Buffer.concat([Buffer.from(`SEALED\r\nSeq: ${seq}\r\nContent-length: ${body.length}\r\n\r\n`, 'ascii'), body]),
    );
  }

  /** Notes that `msg`, a request the peer answers, is being sent: its response is matched in order. */
  private expect(msg: Message, mode: 'keep' | 'drop'): void {
    if (msg.kind === 'request' && isRequestMethod(msg.method))
      this.expecting.push({ mode, method: msg.method, tag: header(msg, 'Tag') });
  }

  /**
   * Sends several messages in one SEALED envelope [§6.4 The SEALED Envelope] at the next Seq, or at `o.seq`; the next
   * Seq moves by the record count [SEAL-5]. `o.tamper` changes the sealed octets before they are sent
   * (a forged tag); `o.plain` replaces the plaintext (any octets). Returns the envelope's wire octets
   * (to replay them).
   */
  sendBatch(
    msgs: Message[],
    o: { seq?: number; tamper?: (body: Buffer) => void; plain?: Buffer; note?: string } = {},
  ): Buffer {
    if (!this.sealing) throw new Error('sendBatch needs a sealed link');
    for (const m of msgs) this.expect(m, 'keep');
    const plain = o.plain ?? Buffer.concat(msgs.map((m) => encode(m)));
    const seq = o.seq ?? this.sealing.sendSeq;
    if (o.seq === undefined) this.sealing.sendSeq += msgs.length;
    const body = sealBody(this.sealing.send, seq, plain);
    o.tamper?.(body);
    const wire = Buffer.concat([
      Buffer.from(`SEALED\r\nSeq: ${seq}\r\nContent-length: ${body.length}\r\n\r\n`, 'ascii'),
      body,
    ]);
    if (this.closed || this.socket.destroyed) return wire;
    this.tr.add(
      this.name,
      'out',
      o.note ?? `SEALED Seq ${seq}, ${msgs.length} records:\n${msgs.map((m) => escapeBytes(encode(m), 512)).join('')}`,
      true,
    );
    this.socket.write(wire);
    return wire;
  }

  /** Wait until `check` returns a value, the connection closes (one last check), or the time runs out. */
  async waitUntil<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined || this.closed) return v;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.wakers.delete(done);
          resolve();
        };
        const t = setTimeout(done, remaining);
        this.wakers.add(done);
      });
    }
  }

  /** The next response (in order), or null when the connection closed first. Throws on timeout. */
  async nextResponse(timeoutMs: number, what = 'response'): Promise<ResponseMessage | null> {
    const r = await this.waitUntil(() => this.responses.shift(), timeoutMs);
    if (r) return r;
    if (this.closed) return null;
    throw new TimeoutError(what, timeoutMs);
  }

  /** Send a request and await its response. Throws on timeout or close. */
  async request(msg: RequestMessage, timeoutMs: number): Promise<ResponseMessage> {
    this.send(msg);
    const r = await this.nextResponse(timeoutMs, `response to ${msg.method}`);
    if (!r) throw new ClosedError(`the response to ${msg.method}`);
    return r;
  }

  /** Wait for a request or notification from the peer matching pred; null on timeout or close. */
  async waitEvent(pred: (m: RequestMessage) => boolean, timeoutMs: number): Promise<RequestMessage | null> {
    const found = await this.waitUntil(() => {
      const i = this.events.findIndex(pred);
      return i >= 0 ? this.events.splice(i, 1)[0] : undefined;
    }, timeoutMs);
    return found ?? null;
  }

  /** Queued peer requests/notifications matching pred (removed from the queue). */
  takeEvents(pred: (m: RequestMessage) => boolean = () => true): RequestMessage[] {
    const out: RequestMessage[] = [];
    for (let i = 0; i < this.events.length; ) {
      if (pred(this.events[i]!)) out.push(...this.events.splice(i, 1));
      else i++;
    }
    return out;
  }

  /** How many responses arrived that no request of the kit is waiting for (a response to a notification [CONN-11]). */
  unclaimedResponses(): number {
    return this.responses.length;
  }

  /** Resolves true when the peer closes within the time. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    await this.waitUntil(() => (this.closed ? true : undefined), timeoutMs);
    return this.closed;
  }

  /** Graceful end (FIN) then destroy after a short grace. */
  end(): void {
    if (this.closed) return;
    this.closeKind = 'local';
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 200);
    t.unref();
  }

  destroy(): void {
    if (!this.closed) this.closeKind = this.closeKind ?? 'local';
    this.socket.destroy();
    this.closed = true;
    this.wake();
  }
}
