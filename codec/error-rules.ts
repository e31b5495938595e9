// Reading the error table (generated/error-handling.ts, from spec/registry/errors.json): which rule
// applies to an error code in a situation, and what the rule means for the connection. Hand-written
// runtime over the generated table [ERR-8].
import { ERROR_HANDLING, type ErrorCondition, type ErrorRule } from '../generated/error-handling.js';
import type { ErrorCode } from '../generated/registry.js';

/** The situation in which an error is found; every flag defaults to false. */
export interface ErrorSituation {
  /** The request the error answers (its method). */
  method?: string;
  /** The connection's handshake is not complete. */
  handshake?: boolean;
  /** The error was found in a response, which cannot be answered. */
  response?: boolean;
  /** The connection can no longer be written (the peer closed it, not only half-closed it). */
  closed?: boolean;
  /** A message arrived in clear on a sealed link. */
  clearOnSealed?: boolean;
  /** The refusal after the warnings are used up [RATE-3]. */
  final?: boolean;
  /** No request is outstanding on the connection. */
  noRequest?: boolean;
  /** The receiver ends the session on its own, with no request to answer. */
  unsolicited?: boolean;
}

const HOLDS: { readonly [K in ErrorCondition]: (s: ErrorSituation) => boolean } = {
  handshake: (s) => s.handshake === true,
  response: (s) => s.response === true,
  closed: (s) => s.closed === true,
  'clear-on-sealed': (s) => s.clearOnSealed === true,
  final: (s) => s.final === true,
  'no-request': (s) => s.noRequest === true,
  unsolicited: (s) => s.unsolicited === true,
};

function holds(when: string, s: ErrorSituation): boolean {
  return Object.hasOwn(HOLDS, when) ? HOLDS[when as ErrorCondition](s) : s.method === when;
}

/** The rule for `code` in situation `s`: the first exception that holds, else the default [ERR-8]. */
export function errorRule(code: ErrorCode, s: ErrorSituation = {}): ErrorRule {
  const h = ERROR_HANDLING[code];
  for (const c of h.cases) if (holds(c.when, s)) return { action: c.action, answer: c.answer, req: c.req };
  return { action: h.action, answer: h.answer, req: h.req };
}

/** Does this rule end the connection? */
export function closesConnection(r: ErrorRule): boolean {
  return r.action !== 'answer';
}

/** Is the answer (response or NOTICE) sent inside SEALED, on a link that is or is not sealed? */
export function answerSealed(r: ErrorRule, linkSealed: boolean): boolean {
  return r.answer === 'link' && linkSealed;
}
