// The contract between `grammar/codegen/generate.ts` and its generator plugins.
// Every file `grammar/codegen/gen-*.ts` default-exports a Generator; generate.ts runs them all,
// stamps each output as generated, and writes it under generated/ (or, with --check, compares).
// A generator is a pure function of the sources it reads: no clock, no randomness, stable order.

export interface GeneratedFile {
  /** Path relative to generated/, with forward slashes. */
  path: string;
  /** File content without the stamp; generate.ts adds the stamp in the file's comment syntax. */
  content: string;
  /** The source files (relative to the repository root) this output derives from, for the stamp. */
  sources: string[];
}

export interface GeneratorContext {
  /** Absolute path of the repository root. */
  root: string;
  readText(relPath: string): string;
  readJson<T>(relPath: string): T;
  /** Relative paths (from the root) of the files under dir matching the suffix, sorted. */
  list(relDir: string, suffix: string): string[];
}

export type Generator = (ctx: GeneratorContext) => GeneratedFile[] | Promise<GeneratedFile[]>;
