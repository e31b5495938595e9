// CRS presence [§9.1 Presence]: STATUS from an MS, and the pushes to the MSs (PRESENCE,
// CONTACT, ADD, ANSWER), driven by the store's change feed so that several CRS processes on one
// PostgreSQL database each push to the MSs connected to them.
import { requiredHeaderOf } from '../../codec/index.js';
import type { RequestMessage } from '../../codec/index.js';
import { closeSoon } from '../net/server-link.js';
import { stage } from '../ops/stage-trace.js';
import { req, ok, fail, type Fields } from '../proto/messages.js';
import { isStatus, type MsRef, type StoreEvent } from '../store/store.js';
import type { CrsContext, MsConn, MsHandlers } from './context.js';

export function presenceModule(crs: CrsContext): Pick<MsHandlers, 'STATUS'> {
  return {
    async STATUS(ms, m) {
      const status = requiredHeaderOf(m, 'Status');
      if (!isStatus(status)) return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
      const r = await crs.store.setStatus(
        requiredHeaderOf(m, 'User'),
        Number(requiredHeaderOf(m, 'Epoch')),
        status,
        ms.ref,
      );
      return r.ok ? ok(200) : fail('ERR_STALE_EPOCH');
    },
  };
}

/** The pushes of the store's change feed to the MS links of this process. */
export class CrsPushes {
  /** Online users and their MS, learned from the change feed (every CRS process sees every event). */
  private readonly userMs = new Map<string, { msId: string }>();

  constructor(private readonly crs: CrsContext) {}

  private linkOf(ref: MsRef | { msId: string; incarnation?: number }): MsConn | undefined {
    const c = this.crs.msConns.get(ref.msId);
    if (!c) return undefined;
    if (ref.incarnation !== undefined && c.ref.incarnation !== ref.incarnation) return undefined;
    return c;
  }

  /** The MS link (on this process) of an online user, if any: from the presence feed, else the store. */
  private async msOfUser(user: string): Promise<MsConn | undefined> {
    const known = this.userMs.get(user);
    if (known) return this.linkOf(known);
    const u = await this.crs.store.getUser(user);
    if (!u || u.state.kind !== 'online') return undefined;
    return this.linkOf(u.state);
  }

  private push(conn: MsConn, msg: RequestMessage): void {
    this.crs.metrics.pushes.inc({ method: msg.method });
    conn.link.notify(msg);
  }

  async onStoreEvent(e: StoreEvent): Promise<void> {
    if (this.crs.isClosing) return;
    switch (e.type) {
      case 'presence':
        return this.onPresence(e);
      case 'contact': {
        const c = await this.msOfUser(e.owner);
        if (!c) return;
        const k = e.contact;
        const full = 'address' in k ? k : undefined;
        this.push(
          c,
          req('CONTACT', {
            To: e.owner,
            User: k.user,
            Relation: k.relation,
            Status: k.status,
            Address: full?.address,
            'Public-key': full?.publicKey,
          }),
        );
        return;
      }
      case 'add': {
        const c = await this.msOfUser(e.to);
        if (c) this.push(c, req('ADD', { From: e.from, To: e.to, Time: e.time }));
        return;
      }
      case 'answer': {
        const c = await this.msOfUser(e.to);
        if (c) this.push(c, req('ANSWER', { From: e.from, To: e.to, Decision: e.decision }));
        return;
      }
      case 'ms-gone': {
        const c = this.linkOf(e);
        if (c) {
          this.crs.logger.warn({ ms: c.ref, reason: e.reason }, 'MS enrollment ended: closing its link');
          this.crs.msConns.delete(c.ref.msId);
          this.crs.metrics.sessions.set({ kind: 'ms' }, this.crs.msConns.size);
          if (e.reason === 'expired')
            c.link.notify(req('NOTICE', { 'Error-code': 'ERR_SESSION_ENDED', Reason: 'MS lease expired' }));
          closeSoon(c.link);
        }
        return;
      }
      case 'ms-enrolled':
        return;
    }
  }

  private async onPresence(e: Extract<StoreEvent, { type: 'presence' }>): Promise<void> {
    if (!e.to) {
      if (e.status === 'offline') this.userMs.delete(e.user);
      else if (e.msId) this.userMs.set(e.user, { msId: e.msId });
    }
    const visible = e.status !== 'offline';
    const base: Fields = {
      User: e.user,
      Status: e.status,
      Address: visible ? e.address : undefined,
      'Public-key': visible ? e.publicKey : undefined,
    };
    if (e.to) {
      // A block or unblock: only that user is told [BLOCK-2].
      const c = await this.msOfUser(e.to);
      if (c) this.push(c, req('PRESENCE', { ...base, To: e.to }));
      return;
    }
    // [PRESENCE-2] [PRESENCE-3] every enrolled MS gets the change; each forwards it to its clients
    // that have the user as a buddy [PRESENCE-4]. A block removes the buddy relation both ways
    // [BLOCK-1] (and its CONTACT push reaches the MS first [CONTACT-1]), so no block leaks.
    const msg = req('PRESENCE', base);
    for (const c of this.crs.msConns.values()) this.push(c, msg);
    if (visible) stage(e.user, 'crs.push');
  }
}
