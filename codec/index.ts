// The IMSP codec: the one import for the wire format. The hand-written runtime in this directory
// (decoder, encoder, errors, records, the grammar-driven reference decoder, validation, typed views,
// the canonical base64url rule)
// runs on the tables that `make generate` derives from grammar/ and spec/registry/ into generated/,
// which this module re-exports too. codec/ is part of the codec layer: it imports only generated/
// and Node's built-ins, and conformance/ may import it (see README, spec Appendix B).
export * from '../generated/index.js';
export * from './b64.js';
export * from './decoder.js';
export * from './encoder.js';
export * from './error-rules.js';
export * from './errors.js';
export * from './headers.js';
export * from './records.js';
export * from './reference-decoder.js';
export * from './typed.js';
export * from './types.js';
export * from './validate.js';
