// How [§14.3 Error Codes] writes the handling of an error code: the one rendering that the spec text and
// spec/registry/errors.json (through generated/error-handling.ts) must agree on [ERR-8].
import { ERROR_HANDLING, type ErrorCode, type ErrorRule } from '../../codec/index.js';

/** One rule as the table writes it: `answer-close, link [WIRE-14]`, `close [REG-10]`, `never sent [WIRE-21]`. */
export function ruleText(r: ErrorRule): string {
  if (r.action === 'never') return `never sent (${r.req})`;
  return `${r.action}${r.answer === 'none' ? '' : `, ${r.answer}`} (${r.req})`;
}

/** The Handling cell of [§14.3 Error Codes] for one error code: the default rule, then each exception. */
export function handlingCell(code: ErrorCode): string {
  const h = ERROR_HANDLING[code];
  return [ruleText(h), ...h.cases.map((c) => `${c.when}: ${ruleText(c)}`)].join('; ');
}
