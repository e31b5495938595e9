/**
 * The SEALED envelope body [§6.4 The SEALED Envelope]: AES-256-GCM under the key of one link
 * direction, iv = 4 zero octets || Seq as 8-octet big-endian, aad = "imsp1 sealed", plaintext = the
 * complete wire encoding of one inner message. Framing the envelope (SEALED, Seq, Content-length) and
 * checking the Seq order belong to the link layer (reference/net).
 * @module
 */
import { aeadOpen, aeadSeal } from './aead.js';
import { cryptoError } from './errors.js';

/** The associated data of every SEALED envelope. */
export const SEALED_AAD = 'imsp1 sealed';
const SEALED_AAD_OCTETS = Buffer.from(SEALED_AAD, 'ascii');

const TWO_32 = 2 ** 32;

/** The 12-octet GCM iv of envelope `seq`: 4 zero octets, then seq as an unsigned 64-bit big-endian number. */
export function sealedIv(seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0) throw cryptoError('ERR_REPLAY', `bad Seq ${seq}`);
  const iv = Buffer.alloc(12);
  // seq < 2^53: the high 32 bits and the low 32 bits, each exact in a double (no BigInt per envelope)
  iv.writeUInt32BE(Math.floor(seq / TWO_32), 4);
  iv.writeUInt32BE(seq % TWO_32, 8);
  return iv;
}

/**
 * The iv of envelope `seq` written into one scratch buffer: the cipher copies its iv when it is made,
 * so seal and open (synchronous) need no new buffer per envelope.
 */
const IV_SCRATCH = Buffer.alloc(12);
function scratchIv(seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0) throw cryptoError('ERR_REPLAY', `bad Seq ${seq}`);
  IV_SCRATCH.writeUInt32BE(Math.floor(seq / TWO_32), 4);
  IV_SCRATCH.writeUInt32BE(seq % TWO_32, 8);
  return IV_SCRATCH;
}

/**
 * Seals one inner message's wire octets as envelope `seq`. With `headroom`, the body starts after
 * that many octets left for the caller (the envelope's head), see aeadSeal.
 */
export function sealEnvelope(key: Uint8Array, seq: number, inner: Uint8Array, headroom = 0): Buffer {
  return aeadSeal(key, scratchIv(seq), SEALED_AAD_OCTETS, inner, headroom);
}

/**
 * Opens envelope `seq` [SEAL-4].
 * @throws CryptoError ERR_DECRYPT when it does not authenticate under this key and Seq
 */
export function openEnvelope(key: Uint8Array, seq: number, body: Uint8Array): Buffer {
  return aeadOpen(key, scratchIv(seq), SEALED_AAD_OCTETS, body);
}
