// Value rules the registry's value types cannot carry, because they depend on the method: a header
// keeps one value type wherever it appears (Nonce is 24 characters in LOGIN and 48 in the 300
// Challenge that joins both nonces). The spec states these rules in its text, each with its
// requirement, and a receiver checks them after registry validation with the same 422
// ERR_BAD_VALUE (Appendix A, "Method-specific value rules"). The kit's wire fuzzer expects that
// refusal, not service, for a message the registry accepts but one of these rules refuses.
import { header, type Message, type Role } from '../../codec/index.js';

export interface ValueRule {
  /** The receiver the rule binds. */
  to: Role;
  method: string;
  header: string;
  /** Whether the value is acceptable (the header is present). */
  ok: (value: string) => boolean;
  req: string;
  text: string;
}

export const METHOD_VALUE_RULES: readonly ValueRule[] = [
  {
    to: 'ms',
    method: 'LOGIN',
    header: 'Nonce',
    ok: (v) => /^[A-Za-z0-9_-]{24}$/.test(v.trim()),
    req: 'AUTH-15',
    text: 'a LOGIN Nonce is exactly 24 characters (18 octets)',
  },
  {
    to: 'ms',
    method: 'LOGIN',
    header: 'Status',
    ok: (v) => v.trim() !== 'offline',
    req: 'LOGIN-14',
    text: 'a LOGIN may not carry Status offline',
  },
];

/** The first method-specific value rule a request to `to` breaks (422 ERR_BAD_VALUE), or null. */
export function brokenValueRule(m: Message, to: Role): ValueRule | null {
  if (m.kind !== 'request') return null;
  for (const r of METHOD_VALUE_RULES) {
    if (r.method !== m.method || r.to !== to) continue;
    const v = header(m, r.header);
    if (v !== undefined && !r.ok(v)) return r;
  }
  return null;
}
