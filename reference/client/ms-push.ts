// What the MS pushes to a logged-in client [§9 Presence, Contacts and the User's Data]: PRESENCE,
// CONTACT, ADD, ANSWER and NOTICE update the contact book and become events (events.ts). A request
// the client does not serve is answered with the registry's error.
import type { EventEmitter } from 'node:events';
import {
  anyHeader,
  errorResponse,
  isMethodName,
  response,
  type HeaderName,
  type Message,
  type RequestMessage,
} from '../../codec/index.js';
import { linkError } from '../net/link.js';
import type { ContactBook, Presence, Relation } from './contacts.js';
import type { ClientEvents } from './events.js';

/** What a push acts on. */
export interface PushTarget {
  readonly contacts: ContactBook;
  readonly events: EventEmitter<ClientEvents>;
  /** Ends the peer session with `user`, dropping its keys [P2P-10]. */
  dropSession(user: string, reason: string): void;
  /** Called before each push is applied (a LIST in flight replays PRESENCE and CONTACT [PRESENCE-10]). */
  seen(m: RequestMessage): void;
  /** A NOTICE came: its error code and Retry-after; the event is already emitted. */
  notice(code: string, retryAfter: string | undefined): void;
}

/** The client's answer to a request from the MS: PING is answered, anything else refused. */
export function answerMsRequest(m: RequestMessage): Message | undefined {
  if (m.method === 'PING') return response(200);
  // ADD and ANSWER pushes are requests in the registry but get no response on this link.
  return errorResponse(linkError('ERR_METHOD_NOT_ALLOWED', `${m.method} is not served by a client`));
}

/** Applies one push from the MS and emits its events. */
export function applyPush(m: RequestMessage, t: PushTarget): void {
  const h = (n: HeaderName) => anyHeader(m, n);
  const ev = t.events;
  // The Link emits only requests registered on this link [REG-1], so the guard holds for every push.
  if (ev.listenerCount('ms-push') > 0 && isMethodName(m.method)) {
    const [user, status] = [h('User'), h('Status')];
    ev.emit('ms-push', {
      method: m.method,
      ...(user !== undefined && { user }),
      ...(status !== undefined && { status }),
    });
  }
  t.seen(m);
  switch (m.method) {
    case 'PRESENCE':
      presence(h, t);
      return;
    case 'CONTACT':
      contact(h, t);
      return;
    case 'ADD': {
      const from = h('From') ?? '';
      const tm = h('Time');
      const time = tm !== undefined ? Number(tm) : undefined;
      t.contacts.addRequest(from, time);
      ev.emit('request', time === undefined ? { from } : { from, time });
      return;
    }
    case 'ANSWER': {
      const from = h('From') ?? '';
      const decision = h('Decision') === 'grant' ? 'grant' : 'deny';
      t.contacts.answered(from, decision);
      ev.emit('answer', { from, decision });
      return;
    }
    case 'NOTICE': {
      const code = h('Error-code') ?? 'ERR_INTERNAL';
      const reason = h('Reason');
      const ra = h('Retry-after');
      ev.emit('notice', {
        code,
        ...(reason !== undefined ? { reason } : {}),
        ...(ra !== undefined ? { retryAfter: Number(ra) } : {}),
      });
      t.notice(code, ra);
      return;
    }
    default:
      ev.emit('warning', { message: `unexpected ${m.method} from the MS` });
  }
}

type Get = (n: HeaderName) => string | undefined;

function presence(h: Get, t: PushTarget): void {
  const user = h('User') ?? '';
  const status = (h('Status') ?? 'offline') as Presence;
  const change = t.contacts.presence(user, status, h('Address'), h('Public-key'));
  if (!change) return;
  // [P2P-10] the peer went offline: its session key is dropped.
  if (status === 'offline') t.dropSession(user, 'peer went offline');
  t.events.emit('presence', change.after?.address ? { user, status, address: change.after.address } : { user, status });
}

function contact(h: Get, t: PushTarget): void {
  const user = h('User') ?? '';
  const relation = (h('Relation') ?? 'none') as Relation;
  const status = (h('Status') ?? 'offline') as Presence;
  const change = t.contacts.contact(user, relation, status, h('Address'), h('Public-key'));
  // [P2P-10] no longer a buddy (removed or blocked): the session key is dropped.
  if (relation !== 'buddy' || status === 'offline') t.dropSession(user, `relation ${relation}`);
  t.events.emit('contact', { user, relation, status });
  if (change.before?.status !== status)
    t.events.emit(
      'presence',
      change.after?.address ? { user, status, address: change.after.address } : { user, status },
    );
}

/** Applies a push to the contact book again, silently (its events were emitted when it came). */
export function replayPush(m: RequestMessage, contacts: ContactBook): void {
  const h = (n: HeaderName) => anyHeader(m, n);
  const user = h('User') ?? '';
  const status = (h('Status') ?? 'offline') as Presence;
  if (m.method === 'PRESENCE') contacts.presence(user, status, h('Address'), h('Public-key'));
  else if (m.method === 'CONTACT')
    contacts.contact(user, (h('Relation') ?? 'none') as Relation, status, h('Address'), h('Public-key'));
}
