// Speaks the MS side of the CRS link by hand, for CRS tests: enrollment (ENROLL/PROOF on the MS
// key), then raw requests on the SEALED link, recording every push from the CRS.
import net from 'node:net';
import type { RequestMessage, ResponseMessage, ImspError } from '../../codec/index.js';
import { anyHeader } from '../../codec/index.js';
import { Link } from '../../reference/net/link.js';
import { parseHostPort } from '../../reference/net/address.js';
import { b64, unb64 } from '../../reference/crypto/b64.js';
import { generateKeyShare, x25519 } from '../../reference/crypto/keys.js';
import {
  enrollAuthMessage,
  msProof,
  crsProof,
  verifyProof,
  enrollLinkKeys,
  makeNonce,
} from '../../reference/crypto/scram.js';
import { req, type Fields } from '../../reference/proto/messages.js';

export class RawMs {
  readonly link: Link;
  readonly socket: net.Socket;
  readonly pushes: RequestMessage[] = [];
  readonly closed: Promise<ImspError | undefined>;
  private waiters: Array<{ pred: (m: RequestMessage) => boolean; resolve: (m: RequestMessage) => void }> = [];
  private onPing: (() => void) | undefined;

  /** Resolves at the next PING from the CRS. */
  nextPing(): Promise<void> {
    return new Promise((resolve) => (this.onPing = resolve));
  }

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    this.link = new Link(socket, {
      local: 'ms',
      remote: 'crs',
      handler: (m) => {
        if (m.method !== 'PING') return undefined;
        const f = this.onPing;
        this.onPing = undefined;
        f?.();
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

  static connect(address: string): Promise<RawMs> {
    const { host, port } = parseHostPort(address);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port }, () => {
        s.off('error', reject);
        resolve(new RawMs(s));
      });
      s.once('error', reject);
    });
  }

  /** ENROLL + PROOF; returns both responses. With a wrong key the PROOF gets 401. */
  async enroll(
    msKey: Buffer,
    opts: { msId: string; incarnation?: number; listen?: string; capacity?: number },
  ): Promise<{ challenge: ResponseMessage; result?: ResponseMessage; ok: boolean }> {
    const share = generateKeyShare();
    const mnonce = makeNonce();
    const eM = b64(share.publicKey);
    const inc = opts.incarnation ?? Date.now();
    const listen = opts.listen ?? '127.0.0.1:1';
    const capacity = opts.capacity ?? 10;
    const challenge = await this.link.request(
      req('ENROLL', {
        'Imsp-version': 1,
        'Ms-id': opts.msId,
        Incarnation: inc,
        Nonce: mnonce,
        'Key-share': eM,
        Listen: listen,
        Capacity: capacity,
      }),
    );
    if (challenge.status !== 300) return { challenge, ok: false };
    const cnonce = anyHeader(challenge, 'Nonce')!;
    const eR = anyHeader(challenge, 'Key-share')!;
    const auth = enrollAuthMessage({ msId: opts.msId, incarnation: inc, listen, capacity, mnonce, cnonce, eM, eR });
    const keys = enrollLinkKeys('ms', x25519(share.privateKey, unb64(eR)), msKey, auth);
    const p = this.link.request(req('PROOF', { Proof: b64(msProof(msKey, auth)) }));
    this.link.enableSealing(keys);
    const result = await p;
    const ok =
      result.status === 200 && verifyProof(crsProof(msKey, auth), unb64(anyHeader(result, 'Server-proof') ?? ''));
    return { challenge, result, ok };
  }

  request(method: string, fields: Fields = {}): Promise<ResponseMessage> {
    return this.link.request(req(method, fields));
  }

  waitFor(method: string, pred: (m: RequestMessage) => boolean = () => true): Promise<RequestMessage> {
    const match = (m: RequestMessage): boolean => m.method === method && pred(m);
    const seen = this.pushes.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred: match, resolve }));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
