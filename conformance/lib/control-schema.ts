// The control interface's JSON Schema (spec/registry/control.schema.json, spec 90.6) compiled once with
// ajv: every line a client under test writes on standard output must validate [CTL-7]; the kit checks
// each one and reports the first that does not, with the schema's complaint [CONF-12].
import { readFileSync } from 'node:fs';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';

const SCHEMA_URL = new URL('../../spec/registry/control.schema.json', import.meta.url);
// ajv is CommonJS: under NodeNext its class is the module's `default`.
const Ajv = AjvModule.default;

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const schema = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as object;
    compiled = new Ajv({ allErrors: false, strict: false }).compile(schema);
  }
  return compiled as ValidateFunction;
}

function explain(errors: readonly ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'does not match the schema';
  return `${e.instancePath || '(the object)'} ${e.message ?? 'is invalid'}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`;
}

/** Checks one output line; returns null when valid, else why not. */
export function checkControlLine(line: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not a JSON object';
  }
  const v = validator();
  return v(value) ? null : explain(v.errors);
}
