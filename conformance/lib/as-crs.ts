// The kit playing the CRS for an MS under test: it accepts the MS's enrollment (checking its proof
// with the kit's own crypto), answers LOCK/UNLOCK/ONLINE/OFFLINE/STATUS/LIST/PING from a small user
// table, records every request the MS makes, and can push PRESENCE and other notifications.
import * as net from 'node:net';
import {
  encodeRecords,
  header,
  request,
  response,
  type Header,
  type RequestMessage,
  type ResponseMessage,
} from '../../codec/index.js';
import { Conn, Transcript, type HostPort, type Violation } from './conn.js';
import {
  b64,
  enrollAuth,
  enrollLinkKeys,
  enrollProof,
  enrollServerProof,
  nonce18,
  safeEqual,
  strictOctets,
  x25519,
  x25519Pair,
} from './crypto.js';
import type { Limits } from './registry.js';

export interface KitUser {
  name: string;
  password: string;
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
  keyBlob: string;
  publicKey: string;
  /** Contact records delivered in the login bundle. */
  bundle: Header[][];
}

interface Record_ {
  state: 'offline' | 'locked' | 'online';
  epoch: number;
  address?: string;
}

export class KitCrs {
  readonly server: net.Server;
  readonly users = new Map<string, KitUser>();
  readonly records = new Map<string, Record_>();
  /** Every request the MS sent after enrollment, in order. */
  readonly requests: RequestMessage[] = [];
  /** When each of `requests` arrived (Date.now()). */
  readonly times: number[] = [];
  /** The Incarnation of each enrollment, in order. */
  readonly incarnations: number[] = [];
  /** Refuse (close at once) every new connection from the MS: its CRS is unreachable. */
  refuseEnroll = false;
  /**
   * The next enrollment connections, one entry each, on which the kit CRS goes silent: it leaves the
   * ENROLL (or, after its challenge, the PROOF) unanswered and sends nothing more [CONN-13].
   */
  readonly silentEnroll: ('ENROLL' | 'PROOF')[] = [];
  /** The enrollment connections the kit CRS went silent on, with when each opened. */
  readonly silenced: { conn: Conn; opened: number; at: 'ENROLL' | 'PROOF' }[] = [];
  /**
   * A case's own answer to a request of the MS: a response, 'hold' (answer nothing now; this and every
   * later request wait for release(), then are answered in order), 'drop' (never answered), or
   * undefined for the usual answer.
   */
  override: ((req: RequestMessage) => ResponseMessage | 'hold' | 'drop' | undefined) | null = null;
  private held: RequestMessage[] = [];
  private holding = false;
  link: Conn | null = null;
  enrollments = 0;
  lastEnrollError: string | null = null;
  /** The wire violations of enrollments the kit refused (a non-canonical Proof [CRYPTO-4]), for the driver's cleanup. */
  readonly refused: Violation[] = [];
  private waiters: (() => void)[] = [];
  /** Override the answer to LOCK for a user: a status code. */
  lockOverride = new Map<string, number>();
  tr: Transcript = new Transcript(20000);

  constructor(
    readonly msKey: Buffer,
    readonly limits: Limits,
  ) {
    this.server = net.createServer((s) => void this.accept(s));
  }

  listen(addr: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(addr.port, addr.host, () => {
        const a = this.server.address() as net.AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    this.link?.destroy();
    return new Promise((res) => this.server.close(() => res()));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Wait until `pred` holds (checked on every MS request and enrollment), or the time runs out. */
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    return true;
  }

  /** The MS's client address as it enrolled (Listen). */
  listenAddr: string | null = null;

  private async accept(socket: net.Socket): Promise<void> {
    if (this.refuseEnroll) {
      socket.destroy();
      return;
    }
    const conn = new Conn(socket, 'ms-link', this.tr);
    const opened = Date.now();
    const silent = this.silentEnroll.shift();
    const goSilent = (at: 'ENROLL' | 'PROOF'): void => {
      this.silenced.push({ conn, opened, at });
      this.wake();
    };
    const timeout = Math.max(this.limits.get('handshakeTimeout'), 15000);
    try {
      const enroll = await conn.waitEvent(() => true, timeout);
      if (!enroll || enroll.method !== 'ENROLL') {
        this.lastEnrollError = `first message ${enroll?.method ?? 'none'}`;
        conn.destroy();
        return;
      }
      if (silent === 'ENROLL') return goSilent('ENROLL');
      const eph = x25519Pair();
      const cnonce = nonce18();
      const eR = b64(eph.publicKey);
      conn.send(
        response(300, [
          ['Nonce', cnonce],
          ['Key-share', eR],
        ]),
      );
      const proof = await conn.waitEvent(() => true, timeout);
      if (silent === 'PROOF' && proof?.method === 'PROOF') return goSilent('PROOF');
      const g = (n: string): string => header(enroll, n) ?? '';
      const auth = enrollAuth({
        msId: g('Ms-id'),
        incarnation: g('Incarnation'),
        listen: g('Listen'),
        capacity: g('Capacity'),
        mnonce: g('Nonce'),
        cnonce,
        eM: g('Key-share'),
        eR,
      });
      // A Proof or Key-share spelled other than canonically fails as a proof that does not verify; Conn
      // has recorded it as the MS's wire violation [CRYPTO-4].
      const p = proof && proof.method === 'PROOF' ? strictOctets(proof, 'Proof') : Buffer.alloc(0);
      const eM = strictOctets(enroll, 'Key-share');
      if (!p || !eM || !safeEqual(p, enrollProof(this.msKey, auth))) {
        this.lastEnrollError = 'the MS proof did not verify';
        this.refused.push(...conn.violations);
        conn.send(response(401, [['Error-code', 'ERR_AUTH_FAILED']]));
        conn.end();
        return;
      }
      const keys = enrollLinkKeys(x25519(eph.privateKey, eM), this.msKey, auth);
      conn.sealing = { send: keys.down, recv: keys.up, sendSeq: 0, recvSeq: 0 };
      conn.send(
        response(200, [
          ['Server-proof', b64(enrollServerProof(this.msKey, auth))],
          ['Lease', String(this.limits.get('msLease'))],
          ['Heartbeat', String(this.limits.get('msHeartbeatInterval'))],
        ]),
      );
      this.link?.destroy();
      this.link = conn;
      this.listenAddr = g('Listen');
      this.incarnations.push(Number(g('Incarnation')));
      // A new enrollment of the (one) MS under test ends the old one: its records go offline [ENROLL-7].
      for (const r of this.records.values()) r.state = 'offline';
      this.enrollments++;
      conn.auto = (req) => this.serve(req);
      this.wake();
    } catch {
      conn.destroy();
    }
  }

  private rec(user: string): Record_ {
    let r = this.records.get(user);
    if (!r) this.records.set(user, (r = { state: 'offline', epoch: 0 }));
    return r;
  }

  private serve(req: RequestMessage): ResponseMessage | undefined {
    this.requests.push(req);
    this.times.push(Date.now());
    queueMicrotask(() => this.wake());
    const o = this.override?.(req);
    if (o === 'drop') return undefined;
    if (o === 'hold') this.holding = true;
    if (this.holding) {
      this.held.push(req);
      return undefined;
    }
    return o && o !== 'hold' ? o : this.answer(req);
  }

  /** Answer the held requests in order and stop holding. */
  release(): void {
    this.holding = false;
    for (const r of this.held.splice(0)) {
      const o = this.override?.(r);
      this.link?.send(o && o !== 'hold' && o !== 'drop' ? o : this.answer(r));
    }
  }

  /** Close the MS link as a CRS restart would: every record of the MS goes offline [LOCK-9]. */
  dropLink(): void {
    this.link?.destroy();
    this.link = null;
    this.held = [];
    this.holding = false;
    for (const r of this.records.values()) r.state = 'offline';
  }

  /** Back to the usual behaviour after a case. */
  reset(): void {
    this.override = null;
    this.refuseEnroll = false;
    this.silentEnroll.length = 0;
    for (const s of this.silenced.splice(0)) s.conn.destroy();
    if (this.holding) this.release();
  }

  /** The first request with this method (and User or From) received at or after index n. */
  sentSince(n: number, method: string, user?: string): RequestMessage | undefined {
    return this.requests
      .slice(n)
      .find(
        (m) => m.method === method && (user === undefined || header(m, 'User') === user || header(m, 'From') === user),
      );
  }

  private answer(req: RequestMessage): ResponseMessage {
    const tag: Header[] = header(req, 'Tag') ? [['Tag', header(req, 'Tag')!]] : [];
    const err = (status: number, code: string): ResponseMessage => response(status, [...tag, ['Error-code', code]]);
    const user = header(req, 'User') ?? '';
    const u = this.users.get(user);
    switch (req.method) {
      case 'PING':
        return response(200, [...tag, ['Lease', String(this.limits.get('msLease'))]]);
      case 'LOCK': {
        const o = this.lockOverride.get(user);
        if (o === 409) return err(409, 'ERR_ALREADY_ONLINE');
        if (o === 423) return err(423, 'ERR_LOCKED');
        if (!u) return err(404, 'ERR_UNKNOWN_USER');
        const r = this.rec(user);
        if (r.state === 'online') return err(409, 'ERR_ALREADY_ONLINE');
        if (r.state === 'locked') return err(423, 'ERR_LOCKED');
        r.state = 'locked';
        r.epoch++;
        return response(200, [
          ...tag,
          ['Epoch', String(r.epoch)],
          ['Lease', String(this.limits.get('lockLease'))],
          ['Salt', u.salt],
          ['Iterations', String(u.iterations)],
          ['Stored-key', u.storedKey],
          ['Server-key', u.serverKey],
        ]);
      }
      case 'UNLOCK':
      case 'OFFLINE': {
        const r = this.rec(user);
        if (String(r.epoch) !== header(req, 'Epoch') || r.state === 'offline') return err(410, 'ERR_STALE_EPOCH');
        r.state = 'offline';
        return response(200, tag);
      }
      case 'ONLINE': {
        const r = this.rec(user);
        if (!u || String(r.epoch) !== header(req, 'Epoch') || r.state !== 'locked') return err(410, 'ERR_STALE_EPOCH');
        r.state = 'online';
        r.address = header(req, 'Address') ?? '';
        return response(
          200,
          [...tag, ['Key-blob', u.keyBlob], ['Public-key', u.publicKey], ['Content-type', 'application/imsp-records']],
          encodeRecords(u.bundle),
        );
      }
      case 'LIST':
        return response(200, [...tag, ['Content-type', 'application/imsp-records']], encodeRecords(u?.bundle ?? []));
      case 'ADD':
        return response(202, tag);
      case 'PROFILE':
        // The 200 names the user whose profile it is [§9.7 PROFILE]: the User asked for, else the sender.
        return response(200, [...tag, ['User', user || (header(req, 'From') ?? '')]]);
      default:
        return response(200, tag);
    }
  }

  /** Push a notification to the MS (PRESENCE, ADD, CONTACT, NOTICE...). */
  push(method: string, headers: Header[]): void {
    this.link?.send(request(method, headers));
  }
}
