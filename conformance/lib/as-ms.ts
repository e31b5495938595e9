// The kit playing a Messaging Server against a CRS under test: the enrollment handshake
// [§7.1 Enrollment] with the kit's own crypto, then requests on the sealed MS-CRS link.
import { header, request, response, type HeaderInit, type ResponseMessage } from '../../codec/index.js';
import { Conn, type HostPort, type Transcript } from './conn.js';
import {
  b64,
  enrollAuth,
  enrollLinkKeys,
  enrollProof,
  enrollServerProof,
  nonce18,
  safeEqual,
  headerOctets,
  x25519,
  x25519Pair,
} from './crypto.js';

export interface EnrollParams {
  msId: string;
  incarnation: number;
  listen: string;
  capacity: number;
}

export interface EnrollOutcome {
  /** The 300 challenge (or the refusal when the CRS refused the ENROLL itself). */
  challenge: ResponseMessage | null;
  /** The answer to PROOF; null if the connection closed first. */
  result: ResponseMessage | null;
  /** The server proof checked out. */
  serverProofOk: boolean;
  /** The exact octets of ENROLL and PROOF as sent (for replay cases). */
  sentEnroll: Buffer;
  sentProof: Buffer;
}

/** Run ENROLL/PROOF on a fresh connection. Does not judge: the caller asserts on the outcome. */
export async function enrollOn(
  conn: Conn,
  msKey: Buffer,
  p: EnrollParams,
  timeoutMs: number,
  tamper?: {
    proof?: (proof: Buffer) => Buffer;
    /** Awaited between the 300 challenge and the PROOF (crs/enroll/9 holds both PROOFs back). */
    beforeProof?: () => Promise<void>;
    /** Sent as Key-share instead of the fresh ephemeral key (crs/enroll/11: a low-order point). */
    keyShare?: Buffer;
    /** Rewrites the Proof header's text (crs/enroll/12: a base64url spelling that is not canonical). */
    proofText?: (text: string) => string;
    /** Rewrites the Key-share header's text, which enters auth as sent (crs/enroll/13: not canonical). */
    keyShareText?: (text: string) => string;
  },
): Promise<EnrollOutcome> {
  const eph = x25519Pair();
  const mnonce = nonce18();
  const eM0 = b64(tamper?.keyShare ?? eph.publicKey);
  const eM = tamper?.keyShareText?.(eM0) ?? eM0;
  const enroll = request('ENROLL', [
    ['Imsp-version', '1'],
    ['Ms-id', p.msId],
    ['Incarnation', String(p.incarnation)],
    ['Nonce', mnonce],
    ['Key-share', eM],
    ['Listen', p.listen],
    ['Capacity', String(p.capacity)],
  ]);
  const { encode } = await import('../../codec/index.js');
  const sentEnroll = encode(enroll);
  conn.send(enroll);
  const challenge = await conn.nextResponse(timeoutMs, 'the ENROLL challenge');
  const empty: EnrollOutcome = {
    challenge,
    result: null,
    serverProofOk: false,
    sentEnroll,
    sentProof: Buffer.alloc(0),
  };
  if (!challenge || challenge.status !== 300) return empty;
  await tamper?.beforeProof?.();
  const cnonce = header(challenge, 'Nonce') ?? '';
  const eR = header(challenge, 'Key-share') ?? '';
  const eROctets = headerOctets(challenge, 'Key-share');
  const auth = enrollAuth({
    msId: p.msId,
    incarnation: p.incarnation,
    listen: p.listen,
    capacity: p.capacity,
    mnonce,
    cnonce,
    eM,
    eR,
  });
  let proof = enrollProof(msKey, auth);
  if (tamper?.proof) proof = tamper.proof(proof);
  const proofMsg = request('PROOF', [['Proof', tamper?.proofText?.(b64(proof)) ?? b64(proof)]]);
  const sentProof = encode(proofMsg);
  conn.send(proofMsg);
  // From here on the CRS seals (its 200 is the first envelope); a refusal comes in clear.
  let keysOk = true;
  try {
    const shared = x25519(eph.privateKey, eROctets);
    const keys = enrollLinkKeys(shared, msKey, auth);
    conn.sealing = { send: keys.up, recv: keys.down, sendSeq: 0, recvSeq: 0 };
  } catch {
    keysOk = false;
  }
  const result = await conn.nextResponse(timeoutMs, 'the answer to PROOF');
  const sp = result ? header(result, 'Server-proof') : undefined;
  const serverProofOk =
    keysOk && !!sp && safeEqual(headerOctets(result!, 'Server-proof'), enrollServerProof(msKey, auth));
  if (!result || result.status !== 200) conn.sealing = null;
  return { challenge, result, serverProofOk, sentEnroll, sentProof };
}

/** An enrolled MS link held by the kit. */
export class MsLink {
  lease = 0;
  heartbeat = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly conn: Conn,
    readonly params: EnrollParams,
    private readonly timeoutMs: number,
  ) {
    // The CRS may PING us: answer as an MS must.
    conn.auto = (req) => (req.method === 'PING' ? response(200, tagOf(req)) : undefined);
  }

  get msId(): string {
    return this.params.msId;
  }

  req(method: string, headers: HeaderInit = [], body?: Buffer): Promise<ResponseMessage> {
    return this.conn.request(request(method, headers, body), this.timeoutMs);
  }

  /** Keep the lease alive with PINGs (every third of the heartbeat the CRS asked for). */
  startHeartbeat(): void {
    if (this.timer) return;
    const every = Math.max(20, Math.floor((this.heartbeat || 10000) / 3));
    this.timer = setInterval(() => {
      if (this.conn.closed) return this.stopHeartbeat();
      this.conn.sendAndForget(request('PING', []));
    }, every);
    this.timer.unref();
  }

  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Drop PING responses that the heartbeat produced (they are not awaited). */
  close(): void {
    this.stopHeartbeat();
    this.conn.end();
  }
}

export function tagOf(m: { headers: [string, string][] }): HeaderInit {
  const t = m.headers.find(([n]) => n.toLowerCase() === 'tag');
  return t ? [['Tag', t[1]]] : [];
}

export async function connectMs(addr: HostPort, name: string, tr: Transcript, timeoutMs: number): Promise<Conn> {
  return Conn.connect(addr, name, tr, timeoutMs);
}
