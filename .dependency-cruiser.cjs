// Dependency rules of IMSP (issue 16), checked by `make lint` (depcruise). The layering is
// spec/ + grammar/ -> generated/ -> codec/ -> reference/, and conformance/ stands on the codec
// layer (codec/ + generated/) and spec/ only, so that anyone can test an implementation with it.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'generated-is-self-contained',
      comment: 'generated/ imports nothing hand-written: only other generated modules and node built-ins [GEN-3]',
      severity: 'error',
      from: { path: '^generated/' },
      to: { pathNot: ['^generated/', '^node:'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'codec-on-generated-only',
      comment: 'the hand-written codec runtime imports only generated/, itself and node built-ins [GEN-4]',
      severity: 'error',
      from: { path: '^codec/' },
      to: { pathNot: ['^codec/', '^generated/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'conformance-not-on-reference',
      comment: 'the conformance kit never imports the reference implementation (nor tests, benchmarks, the generator)',
      severity: 'error',
      from: { path: '^conformance/' },
      to: { path: '^(reference|test|bench|grammar)/' },
    },
    {
      name: 'reference-not-on-conformance',
      comment:
        'the reference implementation never imports the conformance kit. Known exception: reference/cli/main.ts, ' +
        'whose `imsp conformance` subcommand runs the kit (better: the bin dispatches it to imsp-conformance)',
      severity: 'error',
      from: { path: '^reference/', pathNot: '^reference/cli/main\\.ts$' },
      to: { path: '^conformance/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles (type-only imports are erased and do not count)',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only', 'type-import'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|site|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
