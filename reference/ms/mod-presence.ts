// MS presence [§9.1 Presence]: STATUS from a client, and the pushes CRS -> MS -> client
// (PRESENCE, CONTACT, ADD, ANSWER), filtered by each session's copy of its contact list.
import type { RequestMessage } from '../../codec/index.js';
import { requiredHeaderOf, headerOf } from '../../codec/index.js';
import { fail, pick, req } from '../proto/messages.js';
import { stage, stageTraceOn } from '../ops/stage-trace.js';
import type { ClientConn, ClientHandlers, MsContext, Push, Relation, Session } from './context.js';

export function presenceModule(ms: MsContext): Pick<ClientHandlers, 'STATUS'> {
  return {
    STATUS: {
      state: 'active',
      async run(s, m) {
        const status = requiredHeaderOf(m, 'Status');
        if (status !== 'online' && status !== 'busy' && status !== 'away')
          return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
        const r = await ms.relay(s, req('STATUS', { User: s.user, Epoch: s.epoch, Status: status }));
        if (r.status === 200) s.status = status;
        return r;
      },
    },
  };
}

/** The pushes from the CRS and the index of who watches whom. */
export class Pushes {
  /**
   * user -> local sessions whose contact list holds that user (any relation): who may watch it. One
   * watcher is kept as itself, more in an array (a Set per watched user cost ~450 octets of heap per
   * session at 10 contacts, and an MS watches more users than it holds sessions; issue 15).
   */
  private readonly watchIndex = new Map<string, Session | Session[]>();
  /**
   * What the MS forwards of a push from the CRS, built once for all its local targets: those of
   * onPush and those that take it from their buffer after their login (interleaved, per session).
   */
  private readonly forwards = new WeakMap<RequestMessage, RequestMessage>();

  constructor(private readonly ms: Pick<MsContext, 'sessions' | 'onlining' | 'metrics'>) {}

  setContact(s: Session, user: string, relation: Relation): void {
    if (s.contacts.set(user, relation)) this.watch(s, user); // else already listed: already watching
  }

  /** Adds `s` to the watchers of `user`. */
  private watch(s: Session, user: string): void {
    const w = this.watchIndex.get(user);
    if (w === undefined) this.watchIndex.set(user, s);
    else if (Array.isArray(w)) w.push(s);
    else this.watchIndex.set(user, [w, s]);
  }

  unsetContact(s: Session, user: string): void {
    if (s.contacts.delete(user)) this.unwatch(s, user);
  }

  /** Adds a new session to the watch index: it watches every user of its contact list. */
  index(s: Session): void {
    for (const user of s.contacts.keys()) this.watch(s, user);
  }

  /** Drops a session from the watch index (its contact list is no longer watched). */
  unindex(s: Session): void {
    for (const user of s.contacts.keys()) this.unwatch(s, user);
  }

  /** Drops `s` from the watchers of `user`. */
  private unwatch(s: Session, user: string): void {
    const w = this.watchIndex.get(user);
    if (w === s) this.watchIndex.delete(user);
    else if (Array.isArray(w)) {
      const i = w.indexOf(s);
      if (i === -1) return;
      w.splice(i, 1);
      if (w.length === 1) this.watchIndex.set(user, w[0]!);
    }
  }

  private targetsOf(m: Push): ClientConn[] {
    const to = headerOf(m, 'To');
    if (to !== undefined) {
      const s = this.ms.sessions.get(to);
      if (s) return [s.conn];
      for (const c of this.ms.onlining) if (c.attempt?.user === to) return [c];
      return [];
    }
    // An untargeted PRESENCE: the local sessions that list the user, and logins in flight.
    if (m.method !== 'PRESENCE') return [];
    const out: ClientConn[] = [];
    const w = this.watchIndex.get(requiredHeaderOf(m, 'User'));
    if (Array.isArray(w)) for (const s of w) out.push(s.conn);
    else if (w !== undefined) out.push(w.conn);
    for (const c of this.ms.onlining) out.push(c);
    return out;
  }

  /** A push from the CRS: delivered to its local targets, or buffered for a login in flight. */
  onPush(m: Push): void {
    // issue 15: the stage table of a load run times an untargeted online PRESENCE in and out
    const traced =
      stageTraceOn() &&
      m.method === 'PRESENCE' &&
      headerOf(m, 'To') === undefined &&
      headerOf(m, 'Status') !== 'offline';
    if (traced) stage(requiredHeaderOf(m, 'User'), 'ms.pushIn');
    let sent = 0;
    for (const c of this.targetsOf(m)) {
      if (c.buffered) {
        // [PRESENCE-8] ONLINE is in flight, or its 200 is not written yet: kept, to follow the bundle in order.
        c.buffered.push(m);
        continue;
      }
      if (c.session && this.deliver(c.session, m)) sent++;
    }
    if (sent > 0) this.ms.metrics.pushes.inc({ method: m.method }, sent);
    if (traced) stage(requiredHeaderOf(m, 'User'), 'ms.pushOut');
  }

  /** What the MS forwards of push `m` to a client that may see it (the same for every local target). */
  private forwarded(m: Push): RequestMessage {
    let f = this.forwards.get(m);
    if (f) return f;
    switch (m.method) {
      case 'PRESENCE':
        f = req('PRESENCE', pick(m, ['User', 'Status', 'Address', 'Public-key']));
        break;
      case 'CONTACT':
        f = req('CONTACT', pick(m, ['User', 'Relation', 'Status', 'Address', 'Public-key']));
        break;
      case 'ADD':
        f = req('ADD', pick(m, ['From', 'Time']));
        break;
      default:
        f = req('ANSWER', pick(m, ['From', 'Decision']));
    }
    // Frozen: the same object goes to every local target, and the Sender encodes it once for all.
    Object.freeze(f);
    Object.freeze(f.headers);
    this.forwards.set(m, f);
    return f;
  }

  /**
   * Applies one push to a session's contact list and forwards what the client may see.
   * @returns whether a message was sent to the client (the caller counts pushes in the metrics)
   */
  deliver(s: Session, m: Push): boolean {
    switch (m.method) {
      case 'PRESENCE': {
        // [PRESENCE-4] only to a client that has the user as a buddy (not pending, not blocked by it).
        if (s.contacts.get(requiredHeaderOf(m, 'User')) !== 'buddy') return false;
        break;
      }
      case 'CONTACT': {
        const user = requiredHeaderOf(m, 'User');
        const relation = requiredHeaderOf(m, 'Relation');
        // [CONTACT-1] applied to the MS's copy before it is forwarded (and before later PRESENCE).
        if (relation === 'none') this.unsetContact(s, user);
        else if (relation === 'buddy' || relation === 'pending' || relation === 'blocked')
          this.setContact(s, user, relation);
        break;
      }
      case 'ADD':
      case 'ANSWER':
        break;
      default:
        return false;
    }
    s.conn.link.notify(this.forwarded(m));
    return true;
  }
}

const CR = 13;
const LF = 10;
const COLON = 58;

/** Whether body[at..at+lower.length) is the ASCII letters of `lower` in any case (header names are case-insensitive). */
function nameIs(body: Buffer, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((body[at + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The value of a header line body[from..end) after its colon, without the surrounding spaces and tabs. */
function lineValue(body: Buffer, from: number, end: number): string {
  while (from < end && (body[from] === 32 || body[from] === 9)) from++;
  while (end > from && (body[end - 1] === 32 || body[end - 1] === 9)) end--;
  return body.toString('latin1', from, end);
}

/**
 * [User, Relation] of each record of a login bundle (application/imsp-records, [§4.8 Record Bodies]), the first
 * of each per record, undefined when absent. The body is the CRS's ONLINE response, which the Link has
 * already validated in full (registry validation of a records body parses it, [REC-2]): this only picks
 * the two fields the MS keeps, without making strings of the others (Status, Address, Public-key), and
 * gives what parseRecords would for a valid body (test/reference/ms-push.test.ts checks both agree).
 */
export function bundleContacts(body: Buffer): Array<[user: string | undefined, relation: string | undefined]> {
  const out: Array<[string | undefined, string | undefined]> = [];
  let user: string | undefined;
  let relation: string | undefined;
  let fields = 0;
  let pos = 0;
  const len = body.length;
  while (pos < len) {
    const lf = body.indexOf(LF, pos);
    const next = lf === -1 ? len : lf + 1;
    const end = lf === -1 ? len : lf > pos && body[lf - 1] === CR ? lf - 1 : lf;
    if (end === pos) {
      // the empty line between two records
      if (fields > 0) out.push([user, relation]);
      user = relation = undefined;
      fields = 0;
    } else {
      fields++;
      const colon = body.indexOf(COLON, pos);
      if (colon !== -1 && colon < end) {
        const n = colon - pos;
        if (n === 4 && user === undefined && nameIs(body, pos, 'user')) user = lineValue(body, colon + 1, end);
        else if (n === 8 && relation === undefined && nameIs(body, pos, 'relation'))
          relation = lineValue(body, colon + 1, end);
      }
    }
    pos = next;
  }
  if (fields > 0) out.push([user, relation]);
  return out;
}
