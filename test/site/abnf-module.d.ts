// Types for the part of the `abnf` package (no bundled declarations) that test/site/abnf.test.ts uses.
declare module 'abnf' {
  export interface AbnfRules {
    /** Upper-cased name of the first rule. */
    first: string | null;
    /** Rules by upper-cased name. */
    defs: Record<string, unknown>;
    toFormat(opts: {
      format: 'peggy' | 'pest';
      startRule?: string | string[];
      stubs?: boolean;
      unused?: boolean;
    }): string;
  }
  export function parseString(text: string, grammarSource?: string): AbnfRules;
}
