// The registries as the kit reads them (spec/registry/*.json): expected outcomes are derived from
// here, never retyped in a case. Limits can be overridden with --set to match the target's config.
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const readJson = <T>(rel: string): T => JSON.parse(readFileSync(new URL(rel, root), 'utf8')) as T;

export interface ResponseSpec {
  required: string[];
  optional: string[];
  body: string;
}
export interface LinkSpec {
  from: string;
  to: string;
  sealed: boolean;
  required: string[];
  optional: string[];
  body: string;
  responses?: Record<string, ResponseSpec>;
}
export interface MethodSpec {
  name: string;
  kind: 'request' | 'notification' | 'handshake' | 'envelope';
  section: string;
  summary: string;
  links: LinkSpec[];
  drives?: string;
}
export interface ErrorSpec {
  code: string;
  status: number;
  reason: string;
  req: string;
  text: string;
}
export interface LimitSpec {
  name: string;
  value: number;
  unit: string;
  configurable: boolean;
  min?: number;
  max?: number;
  req: string;
}
export interface HeaderSpec {
  name: string;
  type: string;
  repeatable?: boolean;
}

export const METHOD_LIST = readJson<{ methods: MethodSpec[] }>('spec/registry/methods.json').methods;
export const METHODS_BY_NAME = new Map(METHOD_LIST.map((m) => [m.name, m]));
export const ERROR_LIST = readJson<{ errors: ErrorSpec[] }>('spec/registry/errors.json').errors;
export const ERRORS_BY_CODE = new Map(ERROR_LIST.map((e) => [e.code, e]));
export const HEADER_LIST = readJson<{ headers: HeaderSpec[] }>('spec/registry/headers.json').headers;
export const VALUE_TYPES = readJson<{ types: Record<string, { pattern: string; max?: number }> }>('spec/registry/value-types.json').types;
export const LIMIT_LIST = readJson<{ limits: LimitSpec[] }>('spec/registry/limits.json').limits;
export const STATUS_LIST = readJson<{ statusCodes: { code: number; reason: string; class: string }[] }>('spec/registry/status-codes.json').statusCodes;

export type LimitName = string;

/** Limits in force for this run: the registry's values, overridden by --set name=value. */
export class Limits {
  private readonly values = new Map<string, number>();
  constructor(overrides: Record<string, number> = {}) {
    for (const l of LIMIT_LIST) this.values.set(l.name, l.value);
    for (const [k, v] of Object.entries(overrides)) {
      const spec = LIMIT_LIST.find((l) => l.name === k);
      if (!spec) throw new Error(`--set: unknown limit '${k}' (see spec/registry/limits.json)`);
      this.values.set(k, v);
    }
  }
  get(name: string): number {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`unknown limit ${name}`);
    return v;
  }
  req(name: string): string {
    return LIMIT_LIST.find((l) => l.name === name)?.req ?? 'WIRE-LIMIT-1';
  }
}

export function errorSpec(code: string): ErrorSpec {
  const e = ERRORS_BY_CODE.get(code);
  if (!e) throw new Error(`unknown error code ${code} (not in spec/registry/errors.json)`);
  return e;
}

/** The link entry for a method from one role to another, if the registry defines it. */
export function linkOf(method: string, from: string, to: string): LinkSpec | undefined {
  return METHODS_BY_NAME.get(method)?.links.find((l) => l.from === from && l.to === to);
}

/** Statuses the registry allows for a request on a link (plus the generic error statuses). */
export function allowedStatuses(method: string, from: string, to: string): number[] {
  const l = linkOf(method, from, to);
  return l?.responses ? Object.keys(l.responses).map(Number) : [];
}

export const valueRegex = (type: string): RegExp => new RegExp(VALUE_TYPES[type]!.pattern);
export const headerType = (name: string): string | undefined => HEADER_LIST.find((h) => h.name.toLowerCase() === name.toLowerCase())?.type;
