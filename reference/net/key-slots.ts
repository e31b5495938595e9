/**
 * Link keys in shared slabs (issue 15, memory per MS session). A 32-octet key in a Buffer of its own
 * costs about 300 octets of RSS (the Buffer and ArrayBuffer objects, the native backing store and its
 * malloc block); two per session were ~600 B of the MS's ~12 kB per session. Here a key is a slot
 * number into 32 KiB slabs: a session holds two small integers, and a view of the key is made only
 * while an envelope is sealed or opened. A released slot is zeroed at once [SEAL-2] and reused; the
 * slabs are kept (their size follows the peak of concurrent sealed links: 64 octets per link).
 * A key in a pooled Buffer (Buffer.from) would pin an 8 KiB pool slab instead, which is what
 * keyCopy's allocUnsafeSlow avoided before.
 * @module
 */

/** Octets of one link key (AES-256). */
export const KEY_OCTETS = 32;
const SLOTS_PER_SLAB = 1024;

const slabs: Buffer[] = [];
const free: number[] = [];
let next = 0;

/** An all-zero key: what a link whose keys were erased would seal or open with. */
const ZERO_KEY: Buffer = Buffer.alloc(KEY_OCTETS);

/** Slots in use (tests). */
export function keySlotsInUse(): number {
  return next - free.length;
}

/** Stores a copy of `key` (32 octets) in a free slot, or in `slot` when one is given; returns the slot. */
export function storeKey(key: Uint8Array, slot = -1): number {
  if (key.length !== KEY_OCTETS) throw new RangeError(`link key of ${key.length} octets, expected ${KEY_OCTETS}`);
  let s = slot;
  if (s < 0) {
    s = free.pop() ?? next++;
    const slab = Math.floor(s / SLOTS_PER_SLAB);
    if (slab === slabs.length) slabs.push(Buffer.allocUnsafeSlow(SLOTS_PER_SLAB * KEY_OCTETS).fill(0));
  }
  slabs[Math.floor(s / SLOTS_PER_SLAB)]!.set(key, (s % SLOTS_PER_SLAB) * KEY_OCTETS);
  return s;
}

/** A view of the key in `slot` for one AEAD operation (do not keep it); the zero key for -1. */
export function keyView(slot: number): Buffer {
  if (slot < 0) return ZERO_KEY;
  const off = (slot % SLOTS_PER_SLAB) * KEY_OCTETS;
  return slabs[Math.floor(slot / SLOTS_PER_SLAB)]!.subarray(off, off + KEY_OCTETS);
}

/** Zeroes the key in `slot` and frees the slot [SEAL-2]; -1 is ignored. Returns -1 (the caller's new slot). */
export function releaseKey(slot: number): -1 {
  if (slot >= 0) {
    const off = (slot % SLOTS_PER_SLAB) * KEY_OCTETS;
    slabs[Math.floor(slot / SLOTS_PER_SLAB)]!.fill(0, off, off + KEY_OCTETS);
    free.push(slot);
  }
  return -1;
}
