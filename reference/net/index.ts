/**
 * The IMSP link layer: {@link Link} (framing, validation, request/response matching, SEALED envelopes),
 * heartbeats and rate limiting.
 * @module
 */
export * from './link.js';
export * from './heartbeat.js';
export * from './rate-limit.js';
export * from './registry.js';
