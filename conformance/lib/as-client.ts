// The kit playing a client against an MS under test: LOGIN / 300 Challenge / PROOF with the kit's
// own SCRAM and link-key derivation [§6.2 Login Proof] [§6.3 Link Keys] [§8.1 Login], then requests on the sealed link.
import { header, request, type ResponseMessage } from '../../codec/index.js';
import type { Conn } from './conn.js';
import {
  b64,
  headerOctets,
  clientProof,
  loginAuth,
  loginLinkKeys,
  loginServerProof,
  nonce18,
  safeEqual,
  scramKeys,
  x25519,
  x25519Pair,
} from './crypto.js';

export interface LoginOutcome {
  challenge: ResponseMessage | null;
  result: ResponseMessage | null;
  serverProofOk: boolean;
  salt: string;
}

export async function loginOn(
  conn: Conn,
  user: string,
  password: string,
  address: string,
  timeoutMs: number,
  tamper?: {
    /** Rewrites the Key-share header's text, which enters auth as sent (ms/login/N: not canonical). */
    keyShareText?: (text: string) => string;
    /** Rewrites the Proof header's text (ms/login/N: a base64url spelling that is not canonical). */
    proofText?: (text: string) => string;
  },
): Promise<LoginOutcome> {
  const eph = x25519Pair();
  const cnonce = nonce18();
  const eC0 = b64(eph.publicKey);
  const eC = tamper?.keyShareText?.(eC0) ?? eC0;
  conn.send(
    request('LOGIN', [
      ['Imsp-version', '1'],
      ['User', user],
      ['Nonce', cnonce],
      ['Key-share', eC],
      ['Address', address],
    ]),
  );
  const challenge = await conn.nextResponse(timeoutMs, 'the LOGIN challenge');
  if (!challenge || challenge.status !== 300) return { challenge, result: null, serverProofOk: false, salt: '' };
  const nonce = header(challenge, 'Nonce') ?? '';
  const salt = header(challenge, 'Salt') ?? '';
  const iterations = header(challenge, 'Iterations') ?? '4096';
  const eS = header(challenge, 'Key-share') ?? '';
  const eSOctets = headerOctets(challenge, 'Key-share');
  const it = Math.min(Number(iterations), 1_000_000);
  const k = scramKeys(password, headerOctets(challenge, 'Salt'), it);
  const auth = loginAuth({ user, cnonce, nonce, salt, iterations, eC, eS, address });
  const proof = b64(clientProof(k.clientKey, k.storedKey, auth));
  conn.send(request('PROOF', [['Proof', tamper?.proofText?.(proof) ?? proof]]));
  try {
    const keys = loginLinkKeys(x25519(eph.privateKey, eSOctets), k.clientKey, auth);
    conn.sealing = { send: keys.up, recv: keys.down, sendSeq: 0, recvSeq: 0 };
  } catch {
    /* a bad key share: the answer will tell */
  }
  const result = await conn.nextResponse(timeoutMs, 'the answer to PROOF');
  const sp = result ? header(result, 'Server-proof') : undefined;
  const serverProofOk = !!sp && safeEqual(headerOctets(result!, 'Server-proof'), loginServerProof(k.serverKey, auth));
  if (!result || result.status !== 200) conn.sealing = null;
  return { challenge, result, serverProofOk, salt };
}
