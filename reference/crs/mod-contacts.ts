// CRS contacts [§9.3 ADD] [§9.4 ANSWER: Grant and Deny] [§9.5 REM, LIST and CONTACT] [§9.6 Block and Allow Lists]: ADD, ANSWER, REM, BLOCK, UNBLOCK and LIST on the store, and the
// contact and incoming-request records of LIST and of the login bundle.
import { requiredHeaderOf } from '../../codec/index.js';
import type { Decision, Header, RequestOf, ResponseMessage } from '../../codec/index.js';
import type { Actor, AddResult, ContactEntry, PendingAdd, Presence } from '../store/store.js';
import { WindowLimiter } from '../net/rate-limit.js';
import { ok, fail, records } from '../proto/messages.js';
import type { CrsContext, MsConn, MsHandlers } from './context.js';

/** The session an MS request acts for: its From user, at its Epoch, held through this MS [LOCK-6]. */
function sender(ms: MsConn, m: RequestOf<'ADD' | 'ANSWER' | 'REM' | 'BLOCK' | 'UNBLOCK'>): Actor {
  return { user: requiredHeaderOf(m, 'From'), epoch: Number(requiredHeaderOf(m, 'Epoch')), ms: ms.ref };
}

/** The answer to an ADD, from the store's outcome. */
function addAnswer(r: AddResult): ResponseMessage {
  if (r.ok) {
    switch (r.outcome) {
      case 'delivered':
      case 'granted':
        return ok(200);
      case 'stored':
      case 'blocked-silently': // [BLOCK-4] answered like a stored ADD: blocking is not revealed
        return ok(202);
    }
  }
  switch (r.error) {
    case 'unknown':
      return fail('ERR_UNKNOWN_USER');
    case 'buddy':
    case 'duplicate':
      return fail('ERR_ALREADY_BUDDY'); // [ADD-4]
    case 'self': // [ADD-6]
      return fail('ERR_FORBIDDEN', { Reason: 'cannot ADD oneself' });
    case 'forbidden': // [ADD-6]
      return fail('ERR_FORBIDDEN', { Reason: 'the user is on your block list' });
    case 'limit':
      return fail('ERR_LIMIT', {
        Reason: r.which === 'contacts' ? 'contact list full' : 'too many pending requests for that user',
      });
    case 'stale':
      return fail('ERR_STALE_EPOCH');
  }
  return fail('ERR_INTERNAL');
}

export function contactsModule(
  crs: CrsContext,
): Pick<MsHandlers, 'ADD' | 'ANSWER' | 'REM' | 'BLOCK' | 'UNBLOCK' | 'LIST'> {
  const s = crs.store;
  // [ADD-LIMIT-3] the ADDs of one user within any minute, whichever MS they come through (Appendix A.2).
  const adds = new WindowLimiter(crs.limits.maxAddsPerMinute, 60_000, crs.now());
  return {
    async ADD(ms, m, now) {
      const from = requiredHeaderOf(m, 'From');
      const wait = adds.take(from, now);
      if (wait > 0) return fail('ERR_RATE_LIMITED', { 'Retry-after': wait, Reason: 'too many ADD requests' });
      return addAnswer(await s.addRequest(sender(ms, m), requiredHeaderOf(m, 'To'), now));
    },
    async ANSWER(ms, m, now) {
      const decision = requiredHeaderOf(m, 'Decision') as Decision;
      const r = await s.answer(sender(ms, m), requiredHeaderOf(m, 'To'), decision, now);
      if (r.ok) return ok(200);
      switch (r.error) {
        case 'no-pending':
          return fail('ERR_NO_PENDING'); // [ADD-9]
        case 'limit':
          return fail('ERR_LIMIT', { Reason: 'contact list full' }); // [ADD-LIMIT-4]
        case 'stale':
          return fail('ERR_STALE_EPOCH');
      }
      return fail('ERR_INTERNAL');
    },
    async REM(ms, m) {
      const r = await s.remove(sender(ms, m), requiredHeaderOf(m, 'User'));
      if (r.ok) return ok(200);
      return r.error === 'not-contact' ? fail('ERR_NOT_CONTACT') : fail('ERR_STALE_EPOCH');
    },
    async BLOCK(ms, m) {
      const r = await s.block(sender(ms, m), requiredHeaderOf(m, 'User'));
      if (r.ok) return ok(200);
      switch (r.error) {
        case 'unknown':
          return fail('ERR_UNKNOWN_USER');
        case 'self': // [BLOCK-7]
          return fail('ERR_FORBIDDEN', { Reason: 'cannot BLOCK oneself' });
        case 'limit':
          return fail('ERR_LIMIT', { Reason: 'block list full' });
        case 'stale':
          return fail('ERR_STALE_EPOCH');
      }
      return fail('ERR_INTERNAL');
    },
    async UNBLOCK(ms, m) {
      const r = await s.unblock(sender(ms, m), requiredHeaderOf(m, 'User'));
      if (r.ok) return ok(200);
      return r.error === 'not-blocked' ? fail('ERR_NOT_CONTACT') : fail('ERR_STALE_EPOCH');
    },
    async LIST(ms, m) {
      const user = requiredHeaderOf(m, 'User');
      const chk = await s.checkSession(user, Number(requiredHeaderOf(m, 'Epoch')), ms.ref);
      if (!chk.ok) return fail('ERR_STALE_EPOCH');
      const [contacts, pending] = await Promise.all([s.listContacts(user), s.pendingFor(user)]);
      const rec = records([...contacts.map(contactRecord), ...pending.map(pendingRecord)]);
      return ok(200, { 'Content-type': rec.contentType }, rec.body);
    },
  };
}

/** A contact record [§4.8 Record Bodies]: User, Relation, Status, and Address/Public-key when visible.
 *  Built directly (a login bundle holds one per contact). */
export function contactRecord(c: ContactEntry): Header[] {
  const status: Presence = c.status;
  const h: Header[] = [
    ['User', c.user],
    ['Relation', c.relation],
    ['Status', status],
  ];
  if (c.address !== undefined) h.push(['Address', c.address]);
  if (c.publicKey !== undefined) h.push(['Public-key', c.publicKey]);
  return h;
}

/** An incoming-request record [§4.8 Record Bodies]: From, Time. */
export function pendingRecord(p: PendingAdd): Header[] {
  return [
    ['From', p.from],
    ['Time', String(p.time)],
  ];
}
