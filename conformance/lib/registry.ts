// The registries as the kit reads them (spec/registry/*.json, through the tables `make generate`
// derives from them in generated/registry.ts, so the installed kit needs no spec/ files at run time):
// expected outcomes are derived from here, never retyped in a case. Limits can be overridden with
// --set to match the target's config.
import {
  ERRORS,
  HEADERS,
  LIMIT_SPECS,
  METHODS,
  STATUS_CODES,
  VALUE_TYPES as GENERATED_VALUE_TYPES,
} from '../../codec/index.js';

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

// The generated tables are deeply readonly literal types; the kit reads them through these plain shapes.
export const METHOD_LIST = Object.values(METHODS) as unknown as MethodSpec[];
export const METHODS_BY_NAME = new Map(METHOD_LIST.map((m) => [m.name, m]));
export const ERROR_LIST = Object.values(ERRORS) as unknown as ErrorSpec[];
export const ERRORS_BY_CODE = new Map(ERROR_LIST.map((e) => [e.code, e]));
export const HEADER_LIST = Object.values(HEADERS) as unknown as HeaderSpec[];
export const VALUE_TYPES = GENERATED_VALUE_TYPES as unknown as Record<
  string,
  { pattern: string; text: string; max?: number }
>;
export const LIMIT_LIST = Object.values(LIMIT_SPECS) as unknown as LimitSpec[];
export const STATUS_LIST = Object.values(STATUS_CODES) as unknown as { code: number; reason: string; class: string }[];

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
  /** The framing limits the generated decoder takes [WIRE-LIMIT-1] [WIRE-LIMIT-2] [WIRE-LIMIT-3] [WIRE-LIMIT-4]. */
  codec(): { maxLineLength: number; maxHeaders: number; maxHeadSize: number; maxBodySize: number } {
    return {
      maxLineLength: this.get('maxLineLength'),
      maxHeaders: this.get('maxHeaders'),
      maxHeadSize: this.get('maxHeadSize'),
      maxBodySize: this.get('maxBodySize'),
    };
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
export const headerType = (name: string): string | undefined =>
  HEADER_LIST.find((h) => h.name.toLowerCase() === name.toLowerCase())?.type;
