/**
 * IMSP cryptography on node:crypto only [§6 Cryptography and Link Protection]: base64url, SCRAM login and MS
 * enrollment proofs and link keys, identity keys, the sealed key blob, SEALED envelopes and the
 * peer-to-peer INIT / INIT-ACK handshake.
 * @module
 */
export * from './b64.js';
export * from './errors.js';
export * from './aead.js';
export * from './keys.js';
export * from './scram.js';
export * from './sealed.js';
export * from './key-blob.js';
export * from './p2p.js';
