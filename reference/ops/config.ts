// Configuration of the reference servers: built-in defaults < --config JSON file < IMSP_* environment
// variables < command-line flags. One table of option definitions drives commander, the environment
// names, the config-file keys and the --help text, so the four never disagree.
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';

export type OptionType = 'string' | 'int' | 'bool';

export interface OptionDef {
  /** Key in the resolved config and in the JSON config file (camelCase). */
  key: string;
  /** Long flag, e.g. `--ms-key-file <path>`. */
  flags: string;
  type: OptionType;
  help: string;
  default?: string | number | boolean;
  /** For a string option: the only values accepted (anything else is a ConfigError). */
  choices?: readonly string[];
}

/** The environment variable of an option: IMSP_ + the key in upper snake case (msKeyFile -> IMSP_MS_KEY_FILE). */
export function envName(key: string): string {
  return 'IMSP_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function coerce(def: OptionDef, raw: unknown, source: string): string | number | boolean {
  if (def.type === 'int') {
    const n =
      typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && /^-?[0-9]+$/.test(raw.trim())
          ? Number(raw.trim())
          : NaN;
    if (!Number.isSafeInteger(n))
      throw new ConfigError(`${source}: ${def.key} must be an integer, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (def.type === 'bool') {
    if (typeof raw === 'boolean') return raw;
    if (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw)) return true;
    if (typeof raw === 'string' && /^(0|false|no|off|)$/i.test(raw)) return false;
    throw new ConfigError(`${source}: ${def.key} must be a boolean, got ${JSON.stringify(raw)}`);
  }
  if (typeof raw !== 'string' && typeof raw !== 'number')
    throw new ConfigError(`${source}: ${def.key} must be a string`);
  if (def.choices && !def.choices.includes(String(raw))) {
    throw new ConfigError(`${source}: ${def.key} must be one of ${def.choices.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return String(raw);
}

/** Adds one commander option per definition (no commander defaults: precedence is resolved here). */
export function addOptions(cmd: Command, defs: readonly OptionDef[]): Command {
  for (const d of defs) {
    const help =
      `${d.help}` +
      (d.choices ? ` (${d.choices.join('|')})` : '') +
      ` [env ${envName(d.key)}]` +
      (d.default !== undefined ? ` (default: ${JSON.stringify(d.default)})` : '');
    cmd.addOption(new Option(d.flags, help));
  }
  cmd.addOption(
    new Option(
      '--config <file>',
      'JSON config file; keys are the camelCase option names, plus "limits" [env IMSP_CONFIG]',
    ),
  );
  cmd.addOption(
    new Option(
      '--limit <name=value...>',
      'override a configurable limit of spec/registry/limits.json (repeatable), e.g. --limit msLease=5000',
    ),
  );
  return cmd;
}

export interface Resolved {
  values: Record<string, string | number | boolean | undefined>;
  /** Limit overrides gathered from the config file, IMSP_LIMIT_<NAME> variables and --limit flags. */
  limits: Record<string, number>;
}

/**
 * Resolves the options: flags (as parsed by commander) over environment over the config file over defaults.
 * Throws ConfigError with a clear message on a bad value.
 */
export function resolveOptions(
  defs: readonly OptionDef[],
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Resolved {
  const file = typeof flags.config === 'string' ? flags.config : env.IMSP_CONFIG;
  let fileObj: Record<string, unknown> = {};
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
      fileObj = parsed as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
    }
    const known = new Set([...defs.map((d) => d.key), 'limits']);
    for (const k of Object.keys(fileObj))
      if (!known.has(k)) throw new ConfigError(`config file ${file}: unknown key "${k}"`);
  }
  const values: Resolved['values'] = {};
  for (const d of defs) {
    const ev = env[envName(d.key)];
    if (flags[d.key] !== undefined)
      values[d.key] = coerce(d, flags[d.key], `--${d.flags.split(/[ ,]/)[0]!.replace(/^-+/, '')}`);
    else if (ev !== undefined && ev !== '') values[d.key] = coerce(d, ev, envName(d.key));
    else if (fileObj[d.key] !== undefined) values[d.key] = coerce(d, fileObj[d.key], `config file ${file}`);
    else values[d.key] = d.default;
  }
  const limits: Record<string, number> = {};
  const put = (name: string, raw: unknown, source: string): void => {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n)) throw new ConfigError(`${source}: limit ${name} must be a non-negative integer`);
    limits[name] = n;
  };
  if (fileObj.limits !== undefined) {
    if (fileObj.limits === null || typeof fileObj.limits !== 'object')
      throw new ConfigError(`config file ${file}: "limits" must be an object`);
    for (const [k, v] of Object.entries(fileObj.limits as Record<string, unknown>)) put(k, v, `config file ${file}`);
  }
  for (const [k, v] of Object.entries(env)) {
    const m = /^IMSP_LIMIT_([A-Z0-9_]+)$/.exec(k);
    if (m && v !== undefined)
      put(
        m[1]!.toLowerCase().replace(/_([a-z0-9])/g, (_s, c: string) => c.toUpperCase()),
        v,
        k,
      );
  }
  const flagLimits = flags.limit;
  if (Array.isArray(flagLimits)) {
    for (const item of flagLimits) {
      const m = /^([A-Za-z0-9]+)=(.*)$/.exec(String(item));
      if (!m) throw new ConfigError(`--limit ${String(item)}: expected name=value`);
      put(m[1]!, m[2]!, '--limit');
    }
  }
  return { values, limits };
}
