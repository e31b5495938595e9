// Reader of the wire fixtures in spec/fixtures/wire/*.md: one reader, shared with the conformance kit
// (conformance/lib/wire-fixtures.ts), which judges targets by the same fixtures.
export * from '../../conformance/lib/wire-fixtures.js';
