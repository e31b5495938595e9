// A small protocol-level client for server tests: speaks the client side of LOGIN/PROOF (SCRAM
// proof and link keys from reference/crypto), then sends requests over the SEALED link and records
// every push. It checks nothing the tests should check themselves; it exposes raw responses.
import net from 'node:net';
import type { RequestMessage, ResponseMessage, ImspError } from '../../codec/index.js';
import { anyHeader, parseRecords, type Header, type HeaderName } from '../../codec/index.js';
import { Link } from '../../reference/net/link.js';
import { parseHostPort } from '../../reference/net/address.js';
import { b64, unb64 } from '../../reference/crypto/b64.js';
import { generateKeyShare, x25519 } from '../../reference/crypto/keys.js';
import {
  makeNonce,
  loginAuthMessage,
  clientLogin,
  verifyServerProof,
  loginLinkKeys,
} from '../../reference/crypto/scram.js';
import { req, type Fields } from '../../reference/proto/messages.js';

export interface LoginOutcome {
  /** The response to LOGIN (300, or an error). */
  challenge: ResponseMessage;
  /** The response to PROOF, when PROOF was sent. */
  result?: ResponseMessage;
  /** True when the Server-proof verified and the link is SEALED. */
  ok: boolean;
}

export class ProtoClient {
  readonly link: Link;
  readonly socket: net.Socket;
  /** Every notification received (PRESENCE, CONTACT, ADD, ANSWER, NOTICE, PING requests excluded). */
  readonly pushes: RequestMessage[] = [];
  /** Resolves when the link closes, with its reason. */
  readonly closed: Promise<ImspError | undefined>;
  private waiters: Array<{ pred: (m: RequestMessage) => boolean; resolve: (m: RequestMessage) => void }> = [];
  user: string | undefined;
  /** PINGs received from the MS (each answered 200). */
  pings = 0;
  private onPing: (() => void) | undefined;

  /** Resolves at the next PING from the MS. */
  nextPing(): Promise<void> {
    return new Promise((resolve) => {
      this.onPing = () => {
        this.onPing = undefined;
        resolve();
      };
    });
  }

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    this.link = new Link(socket, {
      local: 'client',
      remote: 'ms',
      handler: (m) => {
        if (m.method !== 'PING') return undefined;
        this.pings += 1;
        this.onPing?.();
        return { kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) };
      },
    });
    this.link.on('notification', (m) => {
      this.pushes.push(m);
      for (const w of [...this.waiters]) {
        if (w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    this.closed = new Promise((resolve) => this.link.once('close', resolve));
  }

  /** Opens a TCP connection to an MS (host:port). */
  static connect(address: string): Promise<ProtoClient> {
    const { host, port } = parseHostPort(address);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port }, () => {
        s.off('error', reject);
        resolve(new ProtoClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Waits for a push matching `method` (and `pred`); looks at pushes already received first. */
  waitFor(
    method: string,
    pred: (m: RequestMessage) => boolean = () => true,
    opts: { fresh?: boolean } = {},
  ): Promise<RequestMessage> {
    const match = (m: RequestMessage): boolean => m.method === method && pred(m);
    if (!opts.fresh) {
      const seen = this.pushes.find(match);
      if (seen) return Promise.resolve(seen);
    }
    return new Promise((resolve) => this.waiters.push({ pred: match, resolve }));
  }

  /** Pushes of a method seen so far. */
  seen(method: string, pred: (m: RequestMessage) => boolean = () => true): RequestMessage[] {
    return this.pushes.filter((m) => m.method === method && pred(m));
  }

  /**
   * LOGIN then, on a 300, PROOF. `address` is the peer-connection address sent in LOGIN.
   * With `stopAfterChallenge`, returns after the 300 (mid-login tests).
   */
  async login(
    user: string,
    password: string,
    opts: { address?: string; status?: string; stopAfterChallenge?: boolean; extra?: Fields } = {},
  ): Promise<LoginOutcome> {
    const share = generateKeyShare();
    const cnonce = makeNonce();
    const eC = b64(share.publicKey);
    const address = opts.address ?? '127.0.0.1:7200';
    const challenge = await this.link.request(
      req('LOGIN', {
        'Imsp-version': 1,
        User: user,
        Nonce: cnonce,
        'Key-share': eC,
        Address: address,
        Status: opts.status,
        ...opts.extra,
      }),
    );
    if (challenge.status !== 300 || opts.stopAfterChallenge) return { challenge, ok: false };
    const nonce = anyHeader(challenge, 'Nonce')!;
    const salt = anyHeader(challenge, 'Salt')!;
    const iterations = Number(anyHeader(challenge, 'Iterations'));
    const eS = anyHeader(challenge, 'Key-share')!;
    const auth = loginAuthMessage({ user, cnonce, nonce, salt, iterations, eC, eS, address });
    const cl = clientLogin(password, unb64(salt), iterations, auth);
    const keys = loginLinkKeys('client', x25519(share.privateKey, unb64(eS)), cl.clientKey, auth);
    const pending = this.link.request(req('PROOF', { Proof: b64(cl.proof) }));
    this.link.enableSealing(keys);
    const result = await pending;
    if (result.status !== 200) return { challenge, result, ok: false };
    const sp = anyHeader(result, 'Server-proof');
    const ok = sp !== undefined && verifyServerProof(cl.serverKey, auth, unb64(sp));
    if (ok) this.user = user;
    return { challenge, result, ok };
  }

  /** Sends a request and resolves with its response. */
  request(method: string, fields: Fields = {}, body?: Buffer): Promise<ResponseMessage> {
    return this.link.request(req(method, fields, body));
  }

  /** Writes raw octets on the socket (malformed-input tests, before sealing). */
  writeRaw(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.link.close();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The records of a response body as objects (first value of each header name). */
export function recordsOf(msg: ResponseMessage): Array<Record<string, string>> {
  return parseRecords(msg.body).map((r: Header[]) => Object.fromEntries(r.map(([k, v]) => [k, v])));
}

/** A registered header of a message (case-insensitive); a misspelt name does not compile. */
export function h(msg: RequestMessage | ResponseMessage, name: HeaderName): string | undefined {
  return anyHeader(msg, name);
}

/**
 * Writes raw octets to host:port and resolves with everything received: until the peer closes, or
 * (with `untilHead`) as soon as one complete head has arrived; with `end`, half-closes after
 * writing. For malformed-input tests.
 */
export function rawExchange(
  address: string,
  bytes: string | Buffer,
  opts: { untilHead?: boolean; end?: boolean } = {},
): Promise<string> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host, port }, () => {
      s.write(bytes);
      // With `end`, half-close after writing: the server must answer what it got and close.
      if (opts.end) s.end();
    });
    const text = (): string => Buffer.concat(chunks).toString('latin1');
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      if (opts.untilHead && text().includes('\r\n\r\n')) {
        s.destroy();
        resolve(text());
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(text()));
  });
}
