// Factor the repeated subschemas of a JSON Schema into `$defs` (issue 16): a subschema written out
// in two or more places is emitted once, under `$defs`, and each place becomes a `$ref` to it, as a
// hand-written schema would do. Pure and deterministic: the same input gives the same names and order.
//
// A map of schemas (`properties`, `definitions`, ...) is never replaced, only the schemas in it, and
// the values of data keywords such as `enum`, `const` and `required` are not walked. A subschema is factored when it
// occurs at least twice and its JSON is at least MIN_CHARS long (a bare `{"type":"string"}` stays
// inline: a reference would be longer than the schema). The largest repeated subschema goes first; the
// counts are taken again after each, so a repeat inside a factored one is counted once.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/** The shortest subschema worth a `$defs` entry, in characters of canonical JSON. */
export const MIN_CHARS = 40;

/** Keywords whose value is a map from names to schemas (the map itself is not a schema). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependencies']);
/** Keywords whose value is data, not schemas: never walked. */
const DATA = new Set([
  'enum',
  'const',
  'required',
  'examples',
  'default',
  'type',
  'pattern',
  'format',
  'title',
  'description',
  '$comment',
  '$ref',
  '$id',
  '$schema',
]);

const isObj = (x: Json | undefined): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** JSON with object keys sorted: equal schemas give equal strings. */
export function canonical(x: Json): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (isObj(x))
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(x[k]!)}`)
      .join(',')}}`;
  return JSON.stringify(x);
}

/**
 * Calls `visit(sub, name, set)` for every subschema below `s` (not `s` itself): the values of the
 * schema maps, and any other object or array element that is not data. `name` hints a $defs key (the
 * nearest property or definition name); `set` replaces the subschema in its parent.
 */
function eachSubschema(s: Obj, name: string, visit: (sub: Obj, name: string, set: (v: Json) => void) => void): void {
  const at = (sub: Json | undefined, n: string, set: (v: Json) => void): void => {
    if (!isObj(sub)) return;
    visit(sub, n, set);
    eachSubschema(sub, n, visit);
  };
  for (const k of Object.keys(s)) {
    const v = s[k];
    if (DATA.has(k)) continue;
    if (SCHEMA_MAPS.has(k)) {
      if (isObj(v)) for (const p of Object.keys(v)) at(v[p], p, (x) => (v[p] = x));
      continue;
    }
    const n = k === 'items' ? `${name}-item` : SCHEMA_KEYWORDS.has(k) ? name : k;
    if (Array.isArray(v)) v.forEach((sub, i) => at(sub, n, (x) => (v[i] = x)));
    else at(v, n, (x) => (s[k] = x));
  }
}

/** Keywords that hold schemas directly: a subschema below them keeps its parent's name. */
const SCHEMA_KEYWORDS = new Set([
  'items',
  'additionalItems',
  'additionalProperties',
  'contains',
  'propertyNames',
  'if',
  'then',
  'else',
  'not',
  'allOf',
  'anyOf',
  'oneOf',
]);

/** The name given most often; of equals, the first in alphabetical order. */
function mostCommon(names: string[]): string {
  const n = new Map<string, number>();
  for (const x of names) n.set(x, (n.get(x) ?? 0) + 1);
  return [...n.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))[0]![0];
}

/** A copy of `schema` whose repeated subschemas are in `$defs`, each place a `$ref` to its entry. */
export function factorDefs<T extends Obj>(schema: T): T {
  const root = structuredClone(schema) as Obj;
  const defs: Obj = isObj(root.$defs) ? root.$defs : {};
  root.$defs = defs;
  const taken = new Set(Object.keys(defs));
  for (;;) {
    const seen = new Map<string, { sub: Obj; names: string[]; n: number }>();
    eachSubschema(root, 'schema', (sub, name) => {
      if (Object.keys(sub).length === 1 && typeof sub.$ref === 'string') return;
      const key = canonical(sub);
      if (key.length < MIN_CHARS) return;
      const e = seen.get(key);
      if (e) {
        e.n++;
        e.names.push(name);
      } else seen.set(key, { sub, names: [name], n: 1 });
    });
    // The largest repeat first; ties by canonical text, so the order does not depend on the walk.
    const best = [...seen.entries()]
      .filter(([, e]) => e.n > 1)
      .sort(([a], [b]) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0))[0];
    if (!best) break;
    const [key, { sub, names }] = best;
    const name = mostCommon(names).replace(/[^A-Za-z0-9-]/g, '-');
    let def = name;
    for (let i = 2; taken.has(def); i++) def = `${name}-${i}`;
    taken.add(def);
    const entry = structuredClone(sub);
    defs[def] = entry;
    eachSubschema(root, 'schema', (s, _n, set) => {
      if (s !== entry && canonical(s) === key) set({ $ref: `#/$defs/${def}` });
    });
  }
  if (Object.keys(defs).length === 0) delete root.$defs;
  return root as T;
}
