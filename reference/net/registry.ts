/**
 * What the link layer reads from the method registry (generated METHODS): a method's kind, and for one
 * sender -> receiver link whether the method travels sealed and whether it is answered.
 * @module
 */
import { METHODS, type Role } from '../../codec/index.js';

/** The link-layer view of one method on one link. */
export interface LinkRule {
  /** Travels inside SEALED on this link. */
  sealed: boolean;
  /**
   * Gets a response: a request with at least one registered response status, or a handshake message
   * (INIT, INIT-ACK), which the peer's handshake message or an error status answers. An INIT-ACK has
   * no response of its own, but one that answers no INIT of the receiver's is out of state: 425
   * ERR_OUT_OF_STATE, never ignored as a notification would be [STATE-1] [STATE-5].
   */
  answered: boolean;
}

interface MethodView {
  kind: string;
  links: readonly { from: string; to: string; sealed: boolean; responses?: Readonly<Record<string, unknown>> }[];
}

const TABLE: ReadonlyMap<string, MethodView> = new Map(
  Object.entries(METHODS as unknown as Record<string, MethodView>),
);

/** The registry kind of a method (request, notification, handshake, envelope), or undefined when unknown. */
export function methodKind(method: string): string | undefined {
  return TABLE.get(method)?.kind;
}

/** The rule for `method` sent from `from` to `to`, or undefined when the registry has no such link. */
export function linkRule(method: string, from: Role, to: Role): LinkRule | undefined {
  const m = TABLE.get(method);
  if (!m) return undefined;
  const l = m.links.find((x) => x.from === from && x.to === to);
  if (!l) return undefined;
  const answered = m.kind === 'handshake' || (m.kind === 'request' && Object.keys(l.responses ?? {}).length > 0);
  return { sealed: l.sealed, answered };
}
