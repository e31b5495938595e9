// Contact helpers of the CRS-role cases ([§9 Presence, Contacts and the User's Data]): contact requests through a
// session's MS link, and what to look for in a login bundle, a LIST answer or a push.
import { header, type Header, type RequestMessage, type ResponseMessage } from '../../codec/index.js';
import { rec, type Session } from './crs-context.js';

/** The contact record of `user` in a bundle or a LIST answer. */
export const contactOf = (records: Header[][], user: string): Header[] | undefined =>
  records.find((r) => rec(r, 'User') === user);

/** The stored ADD requests from `user` in a bundle or a LIST answer. */
export const requestsFrom = (records: Header[][], user: string): Header[][] =>
  records.filter((r) => rec(r, 'From') === user);

/** A PRESENCE push about `user` (with this Status, if given). */
export const isPresence =
  (user: string, status?: string) =>
  (m: RequestMessage): boolean =>
    m.method === 'PRESENCE' && header(m, 'User') === user && (status === undefined || header(m, 'Status') === status);

/** ADD from the session's user to `to`: the status of the answer. */
export async function add(from: Session, to: string): Promise<number> {
  const r = await from.ms.req('ADD', [
    ['From', from.user.name],
    ['To', to],
    ['Epoch', from.epoch],
  ]);
  return r.status;
}

/**
 * An ADD from `from` to `blocker`, who blocks `from`'s user: the answer's status, and the ADD push the
 * blocker's MS received within `waitMs`, if any (the BLOCK cases check both; the events the blocker's
 * MS had before the ADD are dropped first).
 */
export async function addFromBlocked(
  from: Session,
  blocker: Session,
  waitMs: number,
): Promise<{ status: number; pushed: RequestMessage | null }> {
  blocker.ms.conn.takeEvents();
  const status = await add(from, blocker.user.name);
  const pushed = await blocker.ms.conn.waitEvent(
    (m) => m.method === 'ADD' && header(m, 'From') === from.user.name,
    waitMs,
  );
  return { status, pushed };
}

/** REM, BLOCK or UNBLOCK of `user` by the session's user. */
export function onUser(s: Session, method: 'REM' | 'BLOCK' | 'UNBLOCK', user: string): Promise<ResponseMessage> {
  return s.ms.req(method, [
    ['From', s.user.name],
    ['User', user],
    ['Epoch', s.epoch],
  ]);
}
