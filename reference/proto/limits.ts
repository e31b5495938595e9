// The limits a server runs with: spec/registry/limits.json's values, with operator overrides for the
// limits the registry marks configurable, each checked against the registry's [min, max].
import { readFileSync } from 'node:fs';
import { ConfigError } from '../ops/config.js';

interface LimitEntry {
  name: string;
  value: number;
  configurable: boolean;
  min?: number;
  max?: number;
  unit: string;
  text: string;
}

const TABLE: readonly LimitEntry[] = (
  JSON.parse(readFileSync(new URL('../../spec/registry/limits.json', import.meta.url), 'utf8')) as { limits: LimitEntry[] }
).limits;

/** The names of the registry's limits. */
export type LimitName =
  | 'maxLineLength' | 'maxHeaders' | 'maxHeadSize' | 'maxBodySize' | 'maxContentLengthDigits' | 'maxUsernameLength'
  | 'maxTextValue' | 'maxContacts' | 'maxBlocked' | 'maxPendingAdds' | 'maxSearchResults' | 'maxQueryLength'
  | 'maxRecordsPerBody' | 'maxFileSize' | 'fileChunkSize' | 'clientHeartbeatInterval' | 'sessionTimeout'
  | 'msHeartbeatInterval' | 'msLease' | 'lockLease' | 'handshakeTimeout' | 'requestTimeout' | 'rateLimitPerSecond'
  | 'rateLimitBurst' | 'rateLimitWarnings' | 'userRateLimitPerSecond' | 'userRateLimitBurst' | 'maxFailedLoginsPerUser'
  | 'maxFailedLoginsPerAddress' | 'maxAddsPerMinute' | 'maxOutboundQueue' | 'scramMinIterations'
  | 'scramMaxIterations' | 'maxClockSkew';

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
    if (!Number.isSafeInteger(value) || (e.min !== undefined && value < e.min) || (e.max !== undefined && value > e.max)) {
      throw new ConfigError(`limit ${name}=${value} outside [${e.min}, ${e.max}]`);
    }
    out[name] = value;
  }
  return out as ServerLimits;
}

/** The decoder limits of a server's links. */
export function wireLimits(l: ServerLimits): { maxLineLength: number; maxHeaders: number; maxHeadSize: number; maxBodySize: number } {
  return { maxLineLength: l.maxLineLength, maxHeaders: l.maxHeaders, maxHeadSize: l.maxHeadSize, maxBodySize: l.maxBodySize };
}
