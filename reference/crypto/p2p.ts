/**
 * The peer-to-peer handshake INIT / INIT-ACK [§10.1 INIT and INIT-ACK].
 *
 * Initiator I (Joe) to responder R (Alice):
 * - INIT: `Imsp-version`, `Key-share` eI, `Nonce` nI; body = AES-256-GCM(k1, iv = 12 zero octets,
 *   aad "imsp1 init", one record From, To, Time, Secret, Signature), where
 *   k1 = HKDF(X25519(eI, R's X25519 public), salt = empty, info = "imsp1 init," + eI + "," + nI, 32) and
 *   Signature = Ed25519(I, `imsp1-init,{from},{to},{time},{nI},{eI},{secret}`).
 * - INIT-ACK: `Key-share` eR, `Nonce` nR; body = AES-256-GCM(okm[64:96], iv = 12 zero octets,
 *   aad "imsp1 init-ack", one record From, To, Time, Signature = Ed25519(R,
 *   `imsp1-init-ack,{from},{to},{time},{nI},{nR},{eI},{eR}`)), where
 *   okm = HKDF(secret || X25519(eR, eI), salt = ASCII(nI + nR), info = "imsp1 p2p," + joe + "," + alice, 96);
 *   okm[0:32] seals I->R, okm[32:64] seals R->I.
 *
 * The functions are pure apart from randomness (which tests and vectors may fix); the responder's
 * knowledge of buddies, blocks and seen nonces is passed in.
 * @module
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { encodeRecords, parseRecords, type Header, type Relation, type RequestMessage } from '../../codec/index.js';
import { aeadOpen, aeadSeal } from './aead.js';
import { b64, unb64 } from './b64.js';
import { cryptoError, CryptoError, type CryptoErrorCode } from './errors.js';
import {
  generateKeyShare,
  parsePublicKey,
  sign,
  verifySignature,
  x25519,
  type Identity,
  type KeyShare,
} from './keys.js';
import type { LinkKeys } from './scram.js';

const ZERO_IV = Buffer.alloc(12);
/** Associated data of the INIT body. */
export const INIT_AAD = 'imsp1 init';
/** Associated data of the INIT-ACK body. */
export const INIT_ACK_AAD = 'imsp1 init-ack';

/** INIT transcript signed by the initiator. */
export function initTranscript(from: string, to: string, time: number, nI: string, eI: string, secret: string): string {
  return `imsp1-init,${from},${to},${time},${nI},${eI},${secret}`;
}
/** INIT-ACK transcript signed by the responder (from = responder, to = initiator). */
export function initAckTranscript(
  from: string,
  to: string,
  time: number,
  nI: string,
  nR: string,
  eI: string,
  eR: string,
): string {
  return `imsp1-init-ack,${from},${to},${time},${nI},${nR},${eI},${eR}`;
}

/** k1 = HKDF(X25519(eI, R's X25519 public), salt = empty, info = "imsp1 init," + eI + "," + nI, 32). */
export function initKey(shared: Uint8Array, eI: string, nI: string): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), `imsp1 init,${eI},${nI}`, 32));
}

/** okm = HKDF(secret || X25519(eR, eI), salt = ASCII(nI + nR), info = "imsp1 p2p," + joe + "," + alice, 96). */
export function p2pOkm(
  secret: Uint8Array,
  shared: Uint8Array,
  nI: string,
  nR: string,
  initiator: string,
  responder: string,
): Buffer {
  return Buffer.from(
    hkdfSync(
      'sha256',
      Buffer.concat([secret, shared]),
      Buffer.from(nI + nR, 'ascii'),
      `imsp1 p2p,${initiator},${responder}`,
      96,
    ),
  );
}

function sessionKeys(okm: Buffer, role: 'initiator' | 'responder'): LinkKeys {
  const i2r = okm.subarray(0, 32);
  const r2i = okm.subarray(32, 64);
  return role === 'initiator' ? { send: i2r, receive: r2i } : { send: r2i, receive: i2r };
}

function field(record: Header[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of record) if (n.toLowerCase() === lower) return v;
  return undefined;
}

function headerOf(msg: { headers: Header[] }, name: string, code: CryptoErrorCode): string {
  const v = field(msg.headers, name);
  if (v === undefined) throw cryptoError(code, `missing ${name}`);
  return v;
}

// [P2P-18] a decrypted inner block that is not one well-formed record is 422 ERR_BAD_RECORDS
function oneRecord(plain: Buffer): Header[] {
  let records: Header[][];
  try {
    records = parseRecords(plain);
  } catch {
    throw cryptoError('ERR_BAD_RECORDS', 'inner block is not a records body');
  }
  if (records.length !== 1) throw cryptoError('ERR_BAD_RECORDS', 'inner block must hold exactly one record');
  return records[0]!;
}

function need(record: Header[], name: string): string {
  const v = field(record, name);
  if (v === undefined) throw cryptoError('ERR_BAD_RECORDS', `inner record lacks ${name}`);
  return v;
}

function parseTime(text: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) throw cryptoError('ERR_BAD_RECORDS', 'bad Time');
  return Number(text);
}

/** What the initiator keeps between INIT and INIT-ACK. Secret material: memory only. */
export interface PendingInit {
  from: string;
  to: string;
  /** The responder's `Public-key` as the MS delivered it. */
  peerPublicKey: string;
  ephemeral: KeyShare;
  nI: string;
  eI: string;
  secret: Buffer;
  time: number;
}

/** Inputs of buildInit; the optional ones are random unless given (test vectors). */
export interface BuildInitParams {
  /** Initiator's username. */
  from: string;
  /** Responder's username. */
  to: string;
  /** Initiator's identity (opened from its key blob). */
  identity: Identity;
  /** Responder's `Public-key` value. */
  peerPublicKey: string;
  /** Time to stamp, ms since the epoch. */
  time: number;
  ephemeralPrivate?: Uint8Array;
  nonce?: string;
  secret?: Uint8Array;
}

/** Builds the INIT request (Content-length is set by encode) and the state to finish the handshake. */
export function buildInit(p: BuildInitParams): { message: RequestMessage; pending: PendingInit } {
  const peer = parsePublicKey(p.peerPublicKey);
  const ephemeral = generateKeyShare(p.ephemeralPrivate);
  const nI = p.nonce ?? b64(randomBytes(18));
  const secret = p.secret ? Buffer.from(p.secret) : randomBytes(32);
  if (secret.length !== 32) throw cryptoError('ERR_BAD_VALUE', 'Secret must be 32 octets');
  const eI = b64(ephemeral.publicKey);
  const time = p.time;
  const signature = sign(p.identity.edSeed, initTranscript(p.from, p.to, time, nI, eI, b64(secret)));
  const record: Header[] = [
    ['From', p.from],
    ['To', p.to],
    ['Time', String(time)],
    ['Secret', b64(secret)],
    ['Signature', b64(signature)],
  ];
  const k1 = initKey(x25519(ephemeral.privateKey, peer.xPublic), eI, nI);
  const body = aeadSeal(k1, ZERO_IV, INIT_AAD, encodeRecords([record]));
  const message: RequestMessage = {
    kind: 'request',
    method: 'INIT',
    headers: [
      ['Imsp-version', '1'],
      ['Key-share', eI],
      ['Nonce', nI],
      ['Content-length', String(body.length)],
    ],
    body,
  };
  return {
    message,
    pending: { from: p.from, to: p.to, peerPublicKey: p.peerPublicKey, ephemeral, nI, eI, secret, time },
  };
}

/** The relation of a user as the responder's contact book knows it. */
export interface PeerLookup {
  relation: Relation;
  /** The `Public-key` the MS delivered for this user, when a buddy. */
  publicKey?: string;
  /** The user is on the responder's block list (implied by relation 'blocked'). */
  blocked?: boolean;
}

/**
 * The INIT nonces accepted within the last window (2 x maxClockSkew) [P2P-7] [P2P-8]. Bounded: when it
 * is full of unexpired nonces, new INITs are refused (503) rather than old nonces forgotten, so that a
 * flood can not make a replay pass.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  /**
   * @param windowMs how long a nonce is remembered: 2 x maxClockSkew [P2P-7]
   * @param maxEntries bound on memory
   */
  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** Records `nonce` at `now` unless it was seen within the window ('seen') or the cache is full ('full'). */
  check(nonce: string, now: number): 'fresh' | 'seen' | 'full' {
    for (const [n, t] of this.seen) {
      if (now - t <= this.windowMs) break;
      this.seen.delete(n); // insertion order = time order: expired ones from the front
    }
    if (this.seen.has(nonce)) return 'seen';
    if (this.seen.size >= this.maxEntries) return 'full';
    this.seen.set(nonce, now);
    return 'fresh';
  }

  /** Like check(); true only for a fresh nonce (now recorded). */
  checkAndAdd(nonce: string, now: number): boolean {
    return this.check(nonce, now) === 'fresh';
  }
  /** Number of remembered nonces. */
  get size(): number {
    return this.seen.size;
  }
}

/** Inputs of openInit. */
export interface OpenInitParams {
  /** Responder's username. */
  self: string;
  /** Responder's identity. */
  identity: Identity;
  /** The responder's knowledge of the initiator. */
  lookup: (user: string) => PeerLookup;
  /** Receiver's clock, ms. */
  now: number;
  /** limits.json maxClockSkew. */
  maxClockSkew: number;
  /** Nonces seen; omitted = no replay check (vectors only). */
  nonces?: NonceCache;
}

/** What the responder learns from a valid INIT. */
export interface AcceptedInit {
  from: string;
  to: string;
  time: number;
  nI: string;
  eI: string;
  secret: Buffer;
  /** The initiator's `Public-key`. */
  peerPublicKey: string;
}

/**
 * Checks an INIT in the order of [§10.1 INIT and INIT-ACK]: decrypts (401 ERR_DECRYPT) and holds one record
 * (422 ERR_BAD_RECORDS) [P2P-18]; To is self (403 ERR_FORBIDDEN) [P2P-4]; From a buddy whose key the MS
 * delivered (403 ERR_NOT_BUDDY) [P2P-3]; From not blocked (403 ERR_BLOCKED) [BLOCK-3]; the signature
 * (401 ERR_BAD_SIGNATURE) [P2P-6]; |Time - now| <= maxClockSkew and nI not seen (450 ERR_REPLAY)
 * [P2P-8]; nonce memory full (503 ERR_UNAVAILABLE) [P2P-7]. On failure the caller answers the error
 * status and closes.
 * @throws CryptoError with the code above
 */
export function openInit(msg: { headers: Header[]; body: Buffer }, p: OpenInitParams): AcceptedInit {
  const eI = headerOf(msg, 'Key-share', 'ERR_DECRYPT');
  const nI = headerOf(msg, 'Nonce', 'ERR_DECRYPT');
  let eIraw: Buffer;
  try {
    eIraw = unb64(eI, 32, 'Key-share');
  } catch {
    throw cryptoError('ERR_DECRYPT', 'bad Key-share');
  }
  let k1: Buffer;
  try {
    k1 = initKey(x25519(p.identity.xPrivate, eIraw), eI, nI);
  } catch {
    throw cryptoError('ERR_DECRYPT', 'bad Key-share'); // [P2P-6] low-order share cannot authenticate
  }
  const record = oneRecord(aeadOpen(k1, ZERO_IV, INIT_AAD, msg.body));
  const from = need(record, 'From');
  const to = need(record, 'To');
  const time = parseTime(need(record, 'Time'));
  const secretText = need(record, 'Secret');
  const sigText = need(record, 'Signature');
  if (to !== p.self) throw cryptoError('ERR_FORBIDDEN', 'INIT addressed to another user'); // [P2P-4]
  const peer = p.lookup(from);
  const blocked = peer.relation === 'blocked' || peer.blocked === true;
  // [P2P-3] a buddy (or a buddy since blocked) whose key the MS delivered
  if ((peer.relation !== 'buddy' && !blocked) || peer.publicKey === undefined) throw cryptoError('ERR_NOT_BUDDY');
  if (blocked) throw cryptoError('ERR_BLOCKED'); // [BLOCK-3]
  let secret: Buffer;
  let signature: Buffer;
  let edPublic: Buffer;
  try {
    secret = unb64(secretText, 32, 'Secret');
    signature = unb64(sigText, 64, 'Signature');
    edPublic = parsePublicKey(peer.publicKey).edPublic;
  } catch {
    throw cryptoError('ERR_BAD_SIGNATURE', 'malformed Secret, Signature or key');
  }
  if (!verifySignature(edPublic, initTranscript(from, to, time, nI, eI, secretText), signature)) {
    throw cryptoError('ERR_BAD_SIGNATURE'); // [P2P-6]
  }
  if (Math.abs(time - p.now) > p.maxClockSkew) throw cryptoError('ERR_REPLAY', 'Time outside the allowed skew'); // [P2P-8]
  const fresh = p.nonces ? p.nonces.check(nI, p.now) : 'fresh';
  if (fresh === 'seen') throw cryptoError('ERR_REPLAY', 'INIT nonce seen before'); // [P2P-8]
  if (fresh === 'full') throw cryptoError('ERR_UNAVAILABLE', 'INIT nonce memory full'); // [P2P-7]
  return { from, to, time, nI, eI, secret, peerPublicKey: peer.publicKey };
}

/** Inputs of buildInitAck; the optional ones are random unless given (test vectors). */
export interface BuildInitAckParams {
  init: AcceptedInit;
  /** Responder's identity. */
  identity: Identity;
  time: number;
  ephemeralPrivate?: Uint8Array;
  nonce?: string;
}

/** Builds the INIT-ACK and the responder's session keys. */
export function buildInitAck(p: BuildInitAckParams): { message: RequestMessage; keys: LinkKeys } {
  const { init } = p;
  const ephemeral = generateKeyShare(p.ephemeralPrivate);
  const eR = b64(ephemeral.publicKey);
  const nR = p.nonce ?? b64(randomBytes(18));
  const okm = p2pOkm(init.secret, x25519(ephemeral.privateKey, unb64(init.eI, 32)), init.nI, nR, init.from, init.to);
  const signature = sign(p.identity.edSeed, initAckTranscript(init.to, init.from, p.time, init.nI, nR, init.eI, eR));
  const record: Header[] = [
    ['From', init.to],
    ['To', init.from],
    ['Time', String(p.time)],
    ['Signature', b64(signature)],
  ];
  const body = aeadSeal(okm.subarray(64, 96), ZERO_IV, INIT_ACK_AAD, encodeRecords([record]));
  const message: RequestMessage = {
    kind: 'request',
    method: 'INIT-ACK',
    headers: [
      ['Key-share', eR],
      ['Nonce', nR],
      ['Content-length', String(body.length)],
    ],
    body,
  };
  return { message, keys: sessionKeys(okm, 'responder') };
}

/** Inputs of openInitAck. */
export interface OpenInitAckParams {
  now: number;
  maxClockSkew: number;
}

/**
 * The initiator's check of INIT-ACK [P2P-10]: decrypts (ERR_DECRYPT) into one record (ERR_BAD_RECORDS),
 * From/To are the expected pair and the responder's signature holds (ERR_BAD_SIGNATURE), Time within the
 * skew (ERR_REPLAY). On any failure the initiator closes without sending anything.
 * @returns the initiator's session keys
 * @throws CryptoError
 */
export function openInitAck(
  msg: { headers: Header[]; body: Buffer },
  pending: PendingInit,
  p: OpenInitAckParams,
): LinkKeys {
  const eR = headerOf(msg, 'Key-share', 'ERR_DECRYPT');
  const nR = headerOf(msg, 'Nonce', 'ERR_DECRYPT');
  let okm: Buffer;
  try {
    okm = p2pOkm(
      pending.secret,
      x25519(pending.ephemeral.privateKey, unb64(eR, 32, 'Key-share')),
      pending.nI,
      nR,
      pending.from,
      pending.to,
    );
  } catch (e) {
    if (e instanceof CryptoError) throw cryptoError('ERR_DECRYPT', 'bad Key-share');
    throw e;
  }
  const record = oneRecord(aeadOpen(okm.subarray(64, 96), ZERO_IV, INIT_ACK_AAD, msg.body));
  const from = need(record, 'From');
  const to = need(record, 'To');
  const time = parseTime(need(record, 'Time'));
  const sigText = need(record, 'Signature');
  if (from !== pending.to || to !== pending.from)
    throw cryptoError('ERR_BAD_SIGNATURE', 'INIT-ACK from or to the wrong user');
  let ok = false;
  try {
    ok = verifySignature(
      parsePublicKey(pending.peerPublicKey).edPublic,
      initAckTranscript(from, to, time, pending.nI, nR, pending.eI, eR),
      unb64(sigText, 64, 'Signature'),
    );
  } catch {
    ok = false;
  }
  if (!ok) throw cryptoError('ERR_BAD_SIGNATURE'); // [P2P-6]
  if (Math.abs(time - p.now) > p.maxClockSkew) throw cryptoError('ERR_REPLAY', 'Time outside the allowed skew'); // [P2P-8]
  return sessionKeys(okm, 'initiator');
}
