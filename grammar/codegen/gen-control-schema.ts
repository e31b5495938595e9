// Generator plugin: the control interface's JSON Schema as a module.
//   generated/control-schema.ts  CONTROL_SCHEMA: spec/registry/control.schema.json as a constant, so
//                                that the kit validates a client's output lines (conformance/lib/
//                                control-schema.ts) without reading spec/registry at run time.
//                                A subschema written out more than once is emitted once under `$defs`
//                                and referenced (schema-defs.ts).
import type { GeneratedFile, Generator } from './plugin.js';
import { factorDefs } from './schema-defs.js';

const SOURCE = 'spec/registry/control.schema.json';

const generate: Generator = (ctx): GeneratedFile[] => {
  const schema = ctx.readJson<Record<string, unknown>>(SOURCE);
  if (typeof schema !== 'object' || schema === null || !('$schema' in schema || 'type' in schema || 'oneOf' in schema))
    throw new Error(`${SOURCE}: not a JSON Schema object`);
  const content = [
    `// The control interface's JSON Schema (${SOURCE}), for Ajv. See spec section Control interface.`,
    `export const CONTROL_SCHEMA: Readonly<Record<string, unknown>> = ${JSON.stringify(factorDefs(schema as Parameters<typeof factorDefs>[0]), null, 2)};`,
    '',
  ].join('\n');
  return [{ path: 'control-schema.ts', content, sources: [SOURCE] }];
};
export default generate;
