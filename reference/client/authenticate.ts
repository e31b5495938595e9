// The client's SCRAM step of a login [§8 Login and Logout]: LOGIN with the client nonce and key
// share, the 300 challenge checked, PROOF from the password (or the kept ClientKey of the last login
// [RECONNECT-4]), the Server-proof checked [AUTH-11], and the key blob opened. The caller applies the
// login bundle (contacts, presence, heartbeat) once this resolves.
import type { Header, ResponseTo } from '../../codec/index.js';
import { headerOf } from '../../codec/index.js';
import { b64, unb64 } from '../crypto/b64.js';
import { CryptoError } from '../crypto/errors.js';
import { openKeyBlobAsync } from '../crypto/key-blob.js';
import { generateKeyShare, x25519, type Identity } from '../crypto/keys.js';
import {
  clientKey as deriveClientKey,
  clientLogin,
  clientProof,
  loginAuthMessage,
  loginLinkKeys,
  makeNonce,
  saltedPassword,
  serverKey as deriveServerKey,
  verifyServerProof,
} from '../crypto/scram.js';
import { withinHandshake } from '../net/handshake-deadline.js';
import type { Link } from '../net/link.js';
import { req } from './connect.js';
import type { SettableStatus } from './contacts.js';
import { ClientError, fromResponse, TRY_NEXT_SERVER } from './errors.js';
import type { ClientLimits, ProofKeys } from './options.js';

/** What one login needs to know about the client. */
export interface LoginCredentials {
  readonly user: string;
  /** The peer address LOGIN announces. */
  readonly address: string;
  readonly status: SettableStatus | undefined;
  readonly limits: ClientLimits;
  /** The password: for the first login, and after a logout [RECONNECT-4]. */
  readonly password: string | undefined;
  /** ClientKey and ServerKey of the last login, with their Salt and Iterations [RECONNECT-4]. */
  readonly proofKeys: ProofKeys | undefined;
  /** The private keys already open (a reconnect) [RECONNECT-6]. */
  readonly identity: Identity | undefined;
  /**
   * performance.now() by which the 200 to PROOF must have come: the connection's opening plus this
   * client's handshakeTimeout [CONN-13].
   */
  readonly deadline: number;
}

/** A login the MS accepted and proved. */
export interface LoginResult {
  /** The 200 to PROOF: the login bundle. */
  readonly bundle: ResponseTo<'PROOF'>;
  readonly identity: Identity;
  /** Copies of this login's ClientKey and ServerKey [RECONNECT-4]. */
  readonly proofKeys: ProofKeys;
  /** The sealed key blob as delivered. */
  readonly keyBlob: string;
}

/** The SCRAM values of a checked 300 challenge. */
interface Challenge {
  nonce: string;
  salt: string;
  iterations: number;
  eS: string;
}

/** LOGIN / 300 / PROOF / 200 on `link`; the link is sealed from the answer to PROOF on. */
export async function scramLogin(link: Link, c: LoginCredentials): Promise<LoginResult> {
  const eph = generateKeyShare();
  const cnonce = makeNonce();
  const eC = b64(eph.publicKey);
  const loginHeaders: Header[] = [
    ['Imsp-version', '1'],
    ['User', c.user],
    ['Nonce', cnonce],
    ['Key-share', eC],
    ['Address', c.address],
  ];
  if (c.status) loginHeaders.push(['Status', c.status]);
  const ch = checkChallenge(
    await withinHandshake(c.deadline, c.limits, (timeout) => link.request(req('LOGIN', loginHeaders), { timeout })),
    cnonce,
    c.limits,
  );
  const auth = loginAuthMessage({
    user: c.user,
    cnonce,
    nonce: ch.nonce,
    salt: ch.salt,
    iterations: ch.iterations,
    eC,
    eS: ch.eS,
    address: c.address,
  });
  const scram = proofFor(c, ch.salt, ch.iterations, auth);
  const keys = loginLinkKeys('client', x25519(eph.privateKey, unb64(ch.eS, 32)), scram.clientKey, auth);
  const proofDone = withinHandshake(c.deadline, c.limits, (timeout) =>
    link.request(req('PROOF', [['Proof', b64(scram.proof)]]), { timeout }),
  );
  // The PROOF was the last clear message: its answer is the first SEALED envelope (or a clear error).
  link.enableSealing(keys);
  keys.send.fill(0);
  keys.receive.fill(0);
  const ok = await proofDone;
  if (ok.status !== 200) throw fromResponse(ok, 'PROOF');
  checkServerProof(ok, scram.serverKey, auth);
  const keyBlob = headerOf(ok, 'Key-blob') ?? '';
  const identity = await openIdentity(c, keyBlob, headerOf(ok, 'Public-key') ?? '');
  // Copied before the caller wipes the old keys: on a login with kept keys, scram.clientKey IS the kept
  // buffer, and wiping it first left zeros to copy, so the second reconnect failed with 401 and the
  // client stopped reconnecting (found by `make chaos`, issue 14) [RECONNECT-4].
  const proofKeys: ProofKeys = {
    salt: ch.salt,
    iterations: ch.iterations,
    clientKey: Buffer.from(scram.clientKey),
    serverKey: Buffer.from(scram.serverKey),
  };
  return { bundle: ok, identity, proofKeys, keyBlob };
}

/** The 300 challenge, checked: its nonce extends ours, its Iterations are in bounds [AUTH-6]. */
function checkChallenge(challenge: ResponseTo<'LOGIN'>, cnonce: string, limits: ClientLimits): Challenge {
  if (challenge.status !== 300) {
    const err = fromResponse(challenge, 'LOGIN');
    if (challenge.status === 503) TRY_NEXT_SERVER.add(err); // [LOCATE-4]
    throw err;
  }
  const nonce = headerOf(challenge, 'Nonce') ?? '';
  const salt = headerOf(challenge, 'Salt') ?? '';
  const iterations = Number(headerOf(challenge, 'Iterations'));
  const eS = headerOf(challenge, 'Key-share') ?? '';
  // The server's nonce must extend ours, or an old challenge could be replayed to us.
  if (!nonce.startsWith(cnonce) || nonce.length <= cnonce.length)
    throw new ClientError('ERR_AUTH_FAILED', 401, 'challenge nonce does not extend the client nonce');
  // [AUTH-6] a server cannot make us work without bound (nor accept a verifier below the minimum).
  if (
    !Number.isSafeInteger(iterations) ||
    iterations < limits.scramMinIterations ||
    iterations > limits.scramMaxIterations
  ) {
    throw new ClientError(
      'ERR_BAD_VALUE',
      422,
      `challenge Iterations ${iterations} outside ${limits.scramMinIterations}..${limits.scramMaxIterations}`,
    );
  }
  return { nonce, salt, iterations, eS };
}

/**
 * The SCRAM proof for this challenge: from the password when the client has it, else from the kept
 * ClientKey when the challenge's Salt and Iterations are those it was derived from [RECONNECT-4];
 * other ones mean the password changed, and only the user can go on [RECONNECT-5].
 */
function proofFor(
  c: LoginCredentials,
  salt: string,
  iterations: number,
  auth: string,
): { proof: Buffer; clientKey: Buffer; serverKey: Buffer } {
  if (c.password !== undefined) return clientLogin(c.password, unb64(salt), iterations, auth);
  const k = c.proofKeys;
  if (!k || k.salt !== salt || k.iterations !== iterations)
    throw new ClientError('ERR_AUTH_FAILED', 401, 'the password has changed: it is needed to log in again');
  return { proof: clientProof(k.clientKey, auth), clientKey: k.clientKey, serverKey: k.serverKey };
}

/** [AUTH-11] the MS must prove it holds the verifier before anything in the response is used. */
function checkServerProof(ok: ResponseTo<'PROOF'>, serverKey: Buffer, auth: string): void {
  const serverProof = headerOf(ok, 'Server-proof') ?? '';
  let proven = false;
  try {
    proven = verifyServerProof(serverKey, auth, unb64(serverProof, 32));
  } catch {
    proven = false;
  }
  if (!proven)
    throw new ClientError('ERR_AUTH_FAILED', 401, 'the MS did not prove it holds the verifier (Server-proof)');
}

/** The private keys: the key blob opened with the password, or the ones already open [RECONNECT-6]. */
async function openIdentity(c: LoginCredentials, blob: string, publicKey: string): Promise<Identity> {
  if (c.password === undefined && c.identity) {
    // [RECONNECT-6] logged in with kept keys: the private keys are those already open, and the
    // bundle must name the same public key; no KDF, no password.
    if (c.identity.publicKey !== publicKey)
      throw new ClientError('ERR_BAD_VALUE', 422, 'the Public-key the MS delivered is not the one this client holds');
    return c.identity;
  }
  let identity: Identity;
  try {
    identity = await openKeyBlobAsync(c.password ?? '', c.user, blob);
  } catch (e) {
    throw new ClientError(
      e instanceof CryptoError ? e.code : 'ERR_DECRYPT',
      401,
      'the key blob does not open with this password',
    );
  }
  if (identity.publicKey !== publicKey)
    throw new ClientError('ERR_BAD_VALUE', 422, 'the key blob does not match the Public-key the MS delivered');
  return identity;
}

/**
 * The keep-alive of the session the bundle opens: [HB-1] PING when nothing else was sent for an
 * interval; [HB-6] an MS silent for the Session-timeout it announced [HB-11] ends the session (three
 * Heartbeat intervals when it announced none; never under two).
 */
export function heartbeatTiming(ok: ResponseTo<'PROOF'>, limits: ClientLimits): { interval: number; timeout: number } {
  const hb = Number(headerOf(ok, 'Heartbeat'));
  const interval =
    Number.isSafeInteger(hb) && hb >= 50
      ? Math.min(hb, limits.clientHeartbeatInterval)
      : limits.clientHeartbeatInterval;
  const st = Number(headerOf(ok, 'Session-timeout'));
  const timeout = Math.max(Number.isSafeInteger(st) && st > 0 ? st : 3 * interval, 2 * interval);
  return { interval, timeout };
}

/** [RECONNECT-4] the proof keys of a new verifier, kept after PASSWD (the password itself is not kept). */
export function proofKeysFor(password: string, salt: string, iterations: number): ProofKeys {
  const salted = saltedPassword(password, unb64(salt), iterations);
  const keys = { salt, iterations, clientKey: deriveClientKey(salted), serverKey: deriveServerKey(salted) };
  salted.fill(0);
  return keys;
}
