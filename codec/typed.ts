// Typed views of requests: typed(msg, link) validates a request, notification, handshake or envelope
// against the registry and returns its view (generated/messages.ts) with the message itself.
import { HEADER_BY_LOWER, HEADERS, type Role } from '../generated/registry.js';
import type { TypedView } from '../generated/messages.js';
import type { Message, RequestMessage } from './types.js';
import { validate } from './validate.js';

/** A typed view and the message it was read from. */
export type TypedMessage = TypedView & { readonly message: RequestMessage };

/**
 * Validates msg (a request) as sent from link.from to link.to and returns its typed view.
 * Throws the ImspError of the first registry check that fails. [REG-1] [REG-2] [REG-3] [REG-4] [REG-5] [REG-6] [REG-7]
 */
export function typed(msg: Message, link: { from: Role; to: Role }): TypedMessage {
  const err = validate(msg, link);
  if (err) throw err;
  if (msg.kind !== 'request') throw new TypeError('typed() takes a request, notification or envelope');
  const fields: Record<string, string | string[]> = {};
  for (const [n, v] of msg.headers) {
    const canonical = HEADER_BY_LOWER.get(n.toLowerCase());
    if (canonical === undefined) continue;
    if (HEADERS[canonical].repeatable) ((fields[canonical] ??= []) as string[]).push(v);
    else fields[canonical] ??= v;
  }
  return {
    method: msg.method,
    from: link.from,
    to: link.to,
    headers: fields,
    body: msg.body,
    message: msg,
  } as unknown as TypedMessage;
}
