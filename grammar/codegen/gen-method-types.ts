// Generator plugin: compile-time types per method, from spec/registry/methods.json.
//   generated/methods.ts  RequestsOn<From, To> (the method names one link direction answers: the
//                         keys of the servers' handler tables), and for every method the names of
//                         the headers its requests and its responses may carry, so that reading a
//                         header a method does not have, or a misspelt one, fails to compile
//                         (the accessors are codec/headers.ts, hand-written).
import type { GeneratedFile, Generator } from './plugin.js';
import { loadRegistries, type Registries } from './gen-registry.js';

const union = (names: Iterable<string>): string => {
  const list = [...new Set(names)];
  return list.length === 0 ? 'never' : list.map((n) => JSON.stringify(n)).join(' | ');
};

export function methodTypesModule(reg: Registries): string {
  const err = [...reg.errorResponseHeaders.required, ...reg.errorResponseHeaders.optional];
  const out: string[] = [
    '// Compile-time types per method, from spec/registry/methods.json. Accessors: codec/headers.ts.',
    "import type { METHODS, MethodName, Role } from './registry.js';",
    '',
    "type LinksOf<M extends MethodName> = (typeof METHODS)[M]['links'][number];",
    '',
    '/** Methods that `From` sends to `To` and that get a response there (requests and handshakes). */',
    'export type RequestsOn<From extends Role, To extends Role> = {',
    '  [M in MethodName]: [Extract<LinksOf<M>, { from: From; to: To; responses: object }>] extends [never] ? never : M;',
    '}[MethodName];',
    '',
    '/** Per method: the headers its request (notification, envelope) may carry, on any of its links. */',
    'export interface RequestHeaders {',
  ];
  for (const m of reg.methods)
    out.push(`  readonly ${JSON.stringify(m.name)}: ${union(m.links.flatMap((l) => [...l.required, ...l.optional]))};`);
  out.push(
    '}',
    '',
    '/**',
    ' * Per method: the headers a response to it may carry, on any of its links and with any status',
    " * (an error response's headers included); `never` for a method that gets no response.",
    ' */',
    'export interface ResponseHeaders {',
  );
  for (const m of reg.methods) {
    const answered = m.links.filter((l) => l.responses !== undefined);
    const names = answered.flatMap((l) =>
      Object.values(l.responses ?? {}).flatMap((r) => [...r.required, ...r.optional]),
    );
    out.push(`  readonly ${JSON.stringify(m.name)}: ${answered.length === 0 ? 'never' : union([...names, ...err])};`);
  }
  out.push(
    '}',
    '',
    '/** The header names of a request of method M. */',
    'export type RequestHeaderOf<M extends MethodName> = RequestHeaders[M];',
    '/** The header names of a response to a request of method M. */',
    'export type ResponseHeaderOf<M extends MethodName> = ResponseHeaders[M];',
    '',
  );
  return out.join('\n');
}

const generate: Generator = (ctx): GeneratedFile[] => [
  {
    path: 'methods.ts',
    content: methodTypesModule(loadRegistries(ctx)),
    sources: ['spec/registry/methods.json', 'spec/registry/headers.json'],
  },
];
export default generate;
