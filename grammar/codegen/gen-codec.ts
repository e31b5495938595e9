// Generator plugin: the codec runtime. The modules under grammar/codegen/runtime/ are
// templates written against generated/ (they type-check in place, importing
// ../../../generated/...); this plugin specializes them into generated/ by rewriting those
// imports to siblings. The data they run on (octet tables from the grammar, registries)
// comes from the other plugins' outputs.
import type { GeneratedFile, Generator } from './plugin.js';

const DIR = 'grammar/codegen/runtime';

export function specialize(source: string): string {
  return source.replace(/(['"])\.\.\/\.\.\/\.\.\/generated\//g, '$1./');
}

const generate: Generator = (ctx): GeneratedFile[] =>
  ctx.list(DIR, '.ts').map((rel) => ({
    path: rel.slice(DIR.length + 1),
    content: specialize(ctx.readText(rel)),
    sources: [rel, 'grammar/imsp.peggy'],
  }));
export default generate;
