// The control interface's JSON Schema (spec/registry/control.schema.json, emitted by `make generate` as
// generated/control-schema.ts, so nothing reads spec/ at run time) compiled once with
// ajv: every line a client under test writes on standard output must validate [CTL-7]; the kit checks
// each one and reports the first that does not, with the schema's complaint [CONF-12].
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { CONTROL_SCHEMA } from '../../generated/control-schema.js';

// ajv is CommonJS: under NodeNext its class is the module's `default`.
const Ajv = AjvModule.default;

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled === undefined) {
    compiled = new Ajv({ allErrors: false, strict: false }).compile(CONTROL_SCHEMA);
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
