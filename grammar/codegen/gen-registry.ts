// Generator plugin: everything derived from spec/registry/*.json.
//   generated/registry.ts    METHODS, HEADERS, STATUS_CODES, ERRORS, LIMITS, VALUE_TYPES,
//                            ERROR_RESPONSE_HEADERS (all `as const`) and their union types;
//   generated/validators.ts  one compiled validator per value type and per header;
//   generated/messages.ts    one typed interface per method and link (typed() is codec/typed.ts).
import type { GeneratedFile, Generator, GeneratorContext } from './plugin.js';

const R = 'spec/registry/';
type Json = Record<string, unknown>;

interface LinkJson {
  from: string;
  to: string;
  sealed: boolean;
  required: string[];
  optional: string[];
  body: string;
  responses?: Record<string, { required: string[]; optional: string[]; body: string }>;
}
interface MethodJson {
  name: string;
  kind: string;
  section: string;
  summary: string;
  links: LinkJson[];
  drives?: string;
}
interface HeaderJson {
  name: string;
  type: string;
  repeatable?: boolean;
  text: string;
}
interface ValueTypeJson {
  pattern: string;
  max?: number;
  text: string;
}

export interface Registries {
  methods: MethodJson[];
  errorResponseHeaders: { required: string[]; optional: string[] };
  headers: HeaderJson[];
  types: Record<string, ValueTypeJson>;
  statusCodes: Json[];
  errors: Json[];
  limits: Json[];
}

export function loadRegistries(ctx: GeneratorContext): Registries {
  const m = ctx.readJson<{ methods: MethodJson[]; errorResponseHeaders: { required: string[]; optional: string[] } }>(
    `${R}methods.json`,
  );
  return {
    methods: m.methods,
    errorResponseHeaders: m.errorResponseHeaders,
    headers: ctx.readJson<{ headers: HeaderJson[] }>(`${R}headers.json`).headers,
    types: ctx.readJson<{ types: Record<string, ValueTypeJson> }>(`${R}value-types.json`).types,
    statusCodes: ctx.readJson<{ statusCodes: Json[] }>(`${R}status-codes.json`).statusCodes,
    errors: ctx.readJson<{ errors: Json[] }>(`${R}errors.json`).errors,
    limits: ctx.readJson<{ limits: Json[] }>(`${R}limits.json`).limits,
  };
}

/** A JSON value as a TypeScript literal, keys sorted nowhere (registry order is meaningful). */
function lit(v: unknown, indent = ''): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
    return `[\n${v.map((x) => `${inner}${lit(x, inner)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(v as Json).filter(([k]) => k !== '$comment');
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k)}: ${lit(x, inner)},`).join('\n')}\n${indent}}`;
}

function check(reg: Registries): void {
  const headerNames = new Set(reg.headers.map((h) => h.name));
  const lower = new Set<string>();
  for (const h of reg.headers) {
    if (lower.has(h.name.toLowerCase())) throw new Error(`headers.json: ${h.name} twice (names are case-insensitive)`);
    lower.add(h.name.toLowerCase());
    if (!reg.types[h.type]) throw new Error(`headers.json: ${h.name} has unknown type ${h.type}`);
    new RegExp(reg.types[h.type]!.pattern);
  }
  const statuses = new Set(reg.statusCodes.map((s) => String(s.code)));
  for (const m of reg.methods) {
    for (const l of m.links) {
      for (const h of [...l.required, ...l.optional])
        if (!headerNames.has(h))
          throw new Error(`methods.json: ${m.name} ${l.from}->${l.to} names unknown header ${h}`);
      for (const [code, r] of Object.entries(l.responses ?? {})) {
        if (!statuses.has(code))
          throw new Error(`methods.json: ${m.name} response ${code} is not in status-codes.json`);
        for (const h of [...r.required, ...r.optional])
          if (!headerNames.has(h))
            throw new Error(`methods.json: ${m.name} response ${code} names unknown header ${h}`);
      }
    }
  }
  for (const e of reg.errors)
    if (!statuses.has(String(e.status)))
      throw new Error(`errors.json: ${String(e.code)} has unregistered status ${String(e.status)}`);
  for (const h of [...reg.errorResponseHeaders.required, ...reg.errorResponseHeaders.optional])
    if (!headerNames.has(h)) throw new Error(`methods.json errorResponseHeaders: unknown header ${h}`);
}

export function registryModule(reg: Registries): string {
  const byKey = <T extends Json>(xs: T[], key: string): Json => Object.fromEntries(xs.map((x) => [String(x[key]), x]));
  const limitValues = Object.fromEntries(reg.limits.map((l) => [String(l.name), l.value]));
  return `// The protocol registries as typed constants. Source of truth: spec/registry/*.json.

/** The three roles of IMSP. */
export type Role = 'crs' | 'ms' | 'client';
export const ROLES = ['crs', 'ms', 'client'] as const satisfies readonly Role[];

/** Every method, keyed by name: kind, section, and for each link the headers and body it carries. */
export const METHODS = ${lit(byKey(reg.methods as unknown as Json[], 'name'))} as const;
export type MethodName = keyof typeof METHODS;
export type MethodKind = (typeof METHODS)[MethodName]['kind'];

/** Headers an error response may carry in addition to those its status's entry lists. */
export const ERROR_RESPONSE_HEADERS = ${lit(reg.errorResponseHeaders)} as const;

/** Every header, keyed by canonical name. Names are matched case-insensitively. */
export const HEADERS = ${lit(byKey(reg.headers.map((h) => ({ ...h, repeatable: h.repeatable === true })) as unknown as Json[], 'name'))} as const;
export type HeaderName = keyof typeof HEADERS;

/** Lower-cased header name -> canonical name. */
export const HEADER_BY_LOWER: ReadonlyMap<string, HeaderName> = new Map(
  (Object.keys(HEADERS) as HeaderName[]).map((n) => [n.toLowerCase(), n]),
);

/** Every header value syntax: an anchored pattern and, for numbers, a maximum. */
export const VALUE_TYPES = ${lit(reg.types)} as const;
export type ValueTypeName = keyof typeof VALUE_TYPES;

/** Every status code: canonical reason phrase and class. */
export const STATUS_CODES = ${lit(byKey(reg.statusCodes, 'code'))} as const;
export type StatusCode = (typeof STATUS_CODES)[keyof typeof STATUS_CODES]['code'];

/** Every error code: the status to answer with, a fixed reason, and the requirement it enforces. */
export const ERRORS = ${lit(byKey(reg.errors, 'code'))} as const;
export type ErrorCode = keyof typeof ERRORS;

/** The default value of every limit, by name. */
export const LIMITS = ${lit(limitValues)} as const;
export type LimitName = keyof typeof LIMITS;

/** Every limit with its unit, whether it is configurable and within which bounds. */
export const LIMIT_SPECS = ${lit(byKey(reg.limits, 'name'))} as const;

/** The limits a decoder enforces on the wire ([WIRE-LIMIT-1]..[WIRE-LIMIT-4]). */
export interface WireLimits {
  maxLineLength: number;
  maxHeaders: number;
  maxHeadSize: number;
  maxBodySize: number;
}
export const WIRE_LIMITS: Readonly<WireLimits> = {
  maxLineLength: LIMITS.maxLineLength,
  maxHeaders: LIMITS.maxHeaders,
  maxHeadSize: LIMITS.maxHeadSize,
  maxBodySize: LIMITS.maxBodySize,
};
`;
}

export function validatorsModule(reg: Registries): string {
  const lines: string[] = [
    "// Value validators compiled from spec/registry/value-types.json, and each header's validator.",
    "import type { HeaderName, ValueTypeName } from './registry.js';",
    '',
    '/** One predicate per value type: the anchored pattern, and the maximum for numbers. [REG-6] */',
    'export const VALUE_VALIDATORS: { readonly [T in ValueTypeName]: (value: string) => boolean } = {',
  ];
  for (const [name, t] of Object.entries(reg.types)) {
    const re = `/${t.pattern.replace(/\//g, '\\/')}/`;
    new RegExp(t.pattern);
    const max = t.max !== undefined ? ` && Number(v) <= ${t.max}` : '';
    lines.push(`  ${JSON.stringify(name)}: (v) => ${re}.test(v)${max},`);
  }
  lines.push('};', '', '/** The validator of each registered header value. */');
  lines.push('export const HEADER_VALIDATORS: { readonly [H in HeaderName]: (value: string) => boolean } = {');
  for (const h of reg.headers) lines.push(`  ${JSON.stringify(h.name)}: VALUE_VALIDATORS[${JSON.stringify(h.type)}],`);
  lines.push('};', '');
  return lines.join('\n');
}

const pascal = (s: string): string =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase())
    .join('');

export function interfaceName(method: string, from: string, to: string): string {
  return `${pascal(method)}${pascal(from)}${pascal(to)}`;
}

export function messagesModule(reg: Registries): string {
  const repeatable = new Set(reg.headers.filter((h) => h.repeatable).map((h) => h.name));
  const out: string[] = [
    '// One typed view per method and link, generated from spec/registry/methods.json: header',
    '// fields keyed by canonical name, optional ones optional, repeatable ones arrays. Extension',
    '// headers (X-) are left out of the view. codec/typed.ts (hand-written) validates a message',
    '// and returns its view with the message itself: typed(msg, link).',
    '',
  ];
  const names: string[] = [];
  for (const m of reg.methods) {
    for (const l of m.links) {
      const name = interfaceName(m.name, l.from, l.to);
      names.push(name);
      const field = (h: string, opt: boolean): string =>
        `    readonly ${JSON.stringify(h)}${opt ? '?' : ''}: ${repeatable.has(h) ? 'readonly string[]' : 'string'};`;
      out.push(
        `/** ${m.name} ${l.from} -> ${l.to}${l.sealed ? ' (inside SEALED)' : ''}: ${m.summary} Body: ${l.body}. */`,
        `export interface ${name} {`,
        `  readonly method: ${JSON.stringify(m.name)};`,
        `  readonly from: ${JSON.stringify(l.from)};`,
        `  readonly to: ${JSON.stringify(l.to)};`,
        '  readonly headers: {',
        ...l.required.map((h) => field(h, false)),
        ...l.optional.filter((h) => !l.required.includes(h)).map((h) => field(h, true)),
        '  };',
        '  readonly body: Buffer;',
        '}',
        '',
      );
    }
  }
  out.push(
    '/** Every typed request, notification, handshake and envelope view. */',
    `export type TypedView =\n${names.map((n) => `  | ${n}`).join('\n')};`,
    '',
  );
  return out.join('\n');
}

const REG_FILES = [
  'methods.json',
  'headers.json',
  'value-types.json',
  'status-codes.json',
  'errors.json',
  'limits.json',
].map((f) => R + f);

const generate: Generator = (ctx): GeneratedFile[] => {
  const reg = loadRegistries(ctx);
  check(reg);
  return [
    { path: 'registry.ts', content: registryModule(reg), sources: REG_FILES },
    { path: 'validators.ts', content: validatorsModule(reg), sources: [`${R}value-types.json`, `${R}headers.json`] },
    { path: 'messages.ts', content: messagesModule(reg), sources: [`${R}methods.json`, `${R}headers.json`] },
  ];
};
export default generate;
