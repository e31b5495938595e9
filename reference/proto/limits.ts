// The limits a server runs with: the registry's values (generated from spec/registry/limits.json), with operator overrides for the
// limits the registry marks configurable, each checked against the registry's [min, max].
import { LIMIT_SPECS, type LimitName } from '../../codec/index.js';
import { ConfigError } from '../ops/config.js';

interface LimitEntry {
  name: string;
  value: number;
  configurable: boolean;
  min?: number;
  max?: number;
}

/** The registry's limits with their bounds (generated/registry.ts LIMIT_SPECS, from spec/registry/limits.json). */
const TABLE: readonly LimitEntry[] = Object.values(LIMIT_SPECS) as readonly LimitEntry[];

export type { LimitName };

export type ServerLimits = Record<LimitName, number>;

/** The registry's defaults. */
export const REGISTRY_LIMITS: Readonly<ServerLimits> = Object.freeze(
  Object.fromEntries(TABLE.map((l) => [l.name, l.value])) as ServerLimits,
);

/**
 * The registry's limits with `overrides` applied. An unknown name, a limit that is not configurable,
 * or a value outside [min, max] throws ConfigError.
 */
export function resolveLimits(overrides: Partial<Record<string, number>>): ServerLimits {
  const out: Record<string, number> = { ...REGISTRY_LIMITS };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const e = TABLE.find((l) => l.name === name);
    if (!e) throw new ConfigError(`unknown limit ${name} (see spec/registry/limits.json)`);
    if (value === e.value) continue;
    if (!e.configurable) throw new ConfigError(`limit ${name} is not configurable`);
    if (
      !Number.isSafeInteger(value) ||
      (e.min !== undefined && value < e.min) ||
      (e.max !== undefined && value > e.max)
    ) {
      throw new ConfigError(`limit ${name}=${value} outside [${e.min}, ${e.max}]`);
    }
    out[name] = value;
  }
  return out as ServerLimits;
}

/** The decoder limits of a server's links. */
export type ServerWireLimits = Readonly<{
  maxLineLength: number;
  maxHeaders: number;
  maxHeadSize: number;
  maxBodySize: number;
}>;

const WIRE_LIMITS_OF = new WeakMap<ServerLimits, ServerWireLimits>();

/**
 * The decoder limits of a server's links: one frozen object per ServerLimits, shared by all its
 * connections (issue 15, memory per session: the links' decoders then share their resolved limits
 * and the SEALED inner decoder, instead of one copy of each per connection).
 */
export function wireLimits(l: ServerLimits): ServerWireLimits {
  let w = WIRE_LIMITS_OF.get(l);
  if (
    w === undefined ||
    w.maxLineLength !== l.maxLineLength ||
    w.maxHeaders !== l.maxHeaders ||
    w.maxHeadSize !== l.maxHeadSize ||
    w.maxBodySize !== l.maxBodySize
  ) {
    w = Object.freeze({
      maxLineLength: l.maxLineLength,
      maxHeaders: l.maxHeaders,
      maxHeadSize: l.maxHeadSize,
      maxBodySize: l.maxBodySize,
    });
    WIRE_LIMITS_OF.set(l, w);
  }
  return w;
}
