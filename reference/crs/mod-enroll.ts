// CRS enrollment and discovery [§7.1 Enrollment] [§7.2 De-enrollment and MS Death]: ENROLL and PROOF from an MS (the
// challenge-response on the MS key), its lease (renewed by every message [HB-4]), PING and LEAVE;
// LOCATE from a client.
import type { Header, RequestOf, ResponseMessage } from '../../codec/index.js';
import { requiredHeaderOf, headerOf } from '../../codec/index.js';
import { b64, unb64 } from '../crypto/b64.js';
import { generateKeyShare, x25519 } from '../crypto/keys.js';
import { enrollAuthMessage, msProof, crsProof, verifyProof, enrollLinkKeys, makeNonce } from '../crypto/scram.js';
import { startHeartbeat } from '../net/heartbeat.js';
import type { Link } from '../net/link.js';
import { closeSoon } from '../net/server-link.js';
import { req, ok, fail } from '../proto/messages.js';
import type { CrsContext, MsConn, MsHandlers } from './context.js';

/** An ENROLL answered with its challenge, waiting for the MS's PROOF. */
export interface PendingEnroll {
  msId: string;
  incarnation: number;
  listen: string;
  capacity: number;
  mnonce: string;
  cnonce: string;
  eM: string;
  eR: string;
  ePriv: Buffer;
}

export class Enrollment {
  constructor(
    private readonly crs: CrsContext,
    private readonly msKey: Buffer,
  ) {}

  /** PING and LEAVE of an enrolled MS. */
  handlers(): Pick<MsHandlers, 'PING' | 'LEAVE'> {
    const crs = this.crs;
    return {
      PING: async (ms, m) => {
        const load = headerOf(m, 'Load');
        if (load !== undefined) await this.renew(ms, Number(load));
        return ok(200, { Lease: crs.limits.msLease });
      },
      LEAVE: async (ms, m) => {
        // [ENROLL-9] end the enrollment, answer 200, close. The link leaves the table first, so
        // that the store's 'ms-gone' event (which may arrive before leaveMs resolves) does not
        // close it before the 200 is written.
        if (crs.msConns.get(ms.ref.msId) === ms) crs.msConns.delete(ms.ref.msId);
        crs.metrics.sessions.set({ kind: 'ms' }, crs.msConns.size);
        const r = await crs.store.leaveMs(ms.ref);
        crs.logger.info(
          { event: 'ms_left', ms: ms.ref, freed: r.ok ? r.freed : null, reason: headerOf(m, 'Reason') },
          `MS ${ms.ref.msId} left`,
        );
        closeSoon(ms.link);
        return ok(200);
      },
    };
  }

  /** LOCATE [LOCATE-1]: at most three MSs, lowest load/capacity first, then lower load, then Ms-id. */
  async locate(): Promise<ResponseMessage> {
    const live = await this.crs.store.locateMs(this.crs.now(), 3);
    // [LOCATE-3] no MS that is not full: 503 with Retry-after.
    if (live.length === 0)
      return fail('ERR_UNAVAILABLE', {
        'Retry-after': this.crs.limits.msHeartbeatInterval,
        Reason: 'no Messaging Server available',
      });
    // [LOCATE-2] the Listen address each MS gave in its ENROLL.
    const headers: Header[] = live.map((m) => ['Server', m.listen]);
    return ok(200, {}, undefined, headers);
  }

  async enroll(m: RequestOf<'ENROLL'>): Promise<{ response: ResponseMessage; pending?: PendingEnroll }> {
    if (headerOf(m, 'Imsp-version') !== '1') return { response: fail('ERR_VERSION') };
    if (this.crs.isClosing) return { response: fail('ERR_SHUTDOWN') };
    const msId = requiredHeaderOf(m, 'Ms-id');
    const incarnation = Number(requiredHeaderOf(m, 'Incarnation'));
    const existing = await this.crs.store.getMs(msId);
    // [ENROLL-6] an equal or higher incarnation is enrolled already.
    if (existing && existing.incarnation >= incarnation && existing.leaseExpiresAt > this.crs.now()) {
      return { response: fail('ERR_MS_CONFLICT') };
    }
    const share = generateKeyShare();
    const p: PendingEnroll = {
      msId,
      incarnation,
      listen: requiredHeaderOf(m, 'Listen'),
      capacity: Number(requiredHeaderOf(m, 'Capacity')),
      mnonce: requiredHeaderOf(m, 'Nonce'),
      cnonce: makeNonce(), // [ENROLL-3] fresh each time: a captured exchange cannot be replayed
      eM: requiredHeaderOf(m, 'Key-share'),
      eR: b64(share.publicKey),
      ePriv: share.privateKey,
    };
    return { response: ok(300, { Nonce: p.cnonce, 'Key-share': p.eR }), pending: p };
  }

  async proof(
    link: Link,
    p: PendingEnroll,
    m: RequestOf<'PROOF'>,
  ): Promise<{ response: ResponseMessage; conn?: MsConn }> {
    const crs = this.crs;
    const auth = enrollAuthMessage({
      msId: p.msId,
      incarnation: p.incarnation,
      listen: p.listen,
      capacity: p.capacity,
      mnonce: p.mnonce,
      cnonce: p.cnonce,
      eM: p.eM,
      eR: p.eR,
    });
    let shared: Buffer;
    let proof: Buffer;
    try {
      proof = unb64(requiredHeaderOf(m, 'Proof'));
      shared = x25519(p.ePriv, unb64(p.eM));
    } catch {
      // [ENROLL-17] a low-order Key-share: Node's X25519 refuses an all-zero result (RFC 7748 6.1).
      closeSoon(link);
      return { response: fail('ERR_AUTH_FAILED') };
    }
    // [ENROLL-4] the proof is HMAC(MSkey, "ms," + auth), compared in constant time.
    if (!verifyProof(msProof(this.msKey, auth), proof)) {
      crs.logger.warn(
        { event: 'enroll_failed', msId: p.msId, listen: p.listen, reason: 'bad proof' },
        `enrollment of MS ${p.msId} failed: its MS key differs from ours`,
      );
      closeSoon(link);
      return { response: fail('ERR_AUTH_FAILED') };
    }
    const now = crs.now();
    const r = await crs.store.enrollMs(
      { msId: p.msId, incarnation: p.incarnation, listen: p.listen, capacity: p.capacity },
      now,
      this.storedLease(),
    );
    if (!r.ok) {
      closeSoon(link);
      return { response: fail(r.error === 'conflict' ? 'ERR_MS_CONFLICT' : 'ERR_BAD_VALUE') };
    }
    // A higher incarnation replaced an older one: its link (if on this process) is dead now [ENROLL-7].
    const old = crs.msConns.get(p.msId);
    if (old) {
      crs.msConns.delete(p.msId);
      old.link.close();
    }
    const conn: MsConn = {
      ref: { msId: p.msId, incarnation: p.incarnation },
      listen: p.listen,
      capacity: p.capacity,
      link,
      lastRenew: now,
    };
    crs.msConns.set(p.msId, conn);
    crs.metrics.sessions.set({ kind: 'ms' }, crs.msConns.size);
    // [HB-9] PING an MS we sent nothing to for msHeartbeatInterval; [HB-4] is the sweeper's (store lease).
    // [HB-3] every message from the MS renews its lease, the answers to these PINGs too: an MS that
    // answers our PINGs has sent something and so sends no PING of its own; without this its lease
    // ran out while it was alive and talking, and every session on it ended.
    startHeartbeat(link, {
      interval: crs.limits.msHeartbeatInterval,
      timeout: 0,
      onAnswer: () => crs.track(this.renew(conn)),
    });
    // [SEAL-1] the 200 is the first SEALED envelope CRS->MS; the MS seals from its next message on.
    link.enableSealing(enrollLinkKeys('crs', shared, this.msKey, auth));
    crs.logger.info(
      { event: 'ms_enrolled', ms: conn.ref, listen: p.listen, capacity: p.capacity, replaced: r.replaced },
      `MS ${p.msId} enrolled (incarnation ${p.incarnation}, clients at ${p.listen})`,
    );
    crs.emit('enrolled', conn.ref);
    const response = ok(200, {
      'Server-proof': b64(crsProof(this.msKey, auth)),
      Lease: crs.limits.msLease,
      Heartbeat: crs.limits.msHeartbeatInterval,
    });
    return { response, conn };
  }

  /** [HB-4] The lease written to the store: msLease plus the renewal step. A message that arrives
   *  within msLease/10 of the last write is not written (renewSoon), so the stored expiry must cover
   *  msLease after that message too; without the step the CRS ended a live MS up to msLease/10 early
   *  (crs/fuzz/4 found it). The sweeper may end it up to a step late instead, never early. */
  private storedLease(): number {
    return this.crs.limits.msLease + this.crs.limits.msLease / 10;
  }

  /** [HB-4] renew on a message from the MS: decided here, so that the messages in between (most of
   *  them) cost no promise. */
  renewSoon(ms: MsConn): void {
    if (this.crs.now() - ms.lastRenew >= this.crs.limits.msLease / 10) this.crs.track(this.renew(ms));
  }

  /** [HB-4] every message from an MS renews its lease (written at most every msLease/10). */
  private async renew(ms: MsConn, load?: number): Promise<void> {
    const now = this.crs.now();
    if (load === undefined && now - ms.lastRenew < this.crs.limits.msLease / 10) return;
    ms.lastRenew = now;
    const r = await this.crs.store.renewMs(ms.ref, now, this.storedLease(), load);
    if (!r.ok) {
      // The lease ended (or a newer incarnation took over): this link is dead.
      this.crs.logger.warn({ ms: ms.ref }, 'message from an expired MS enrollment: closing');
      ms.link.notify(req('NOTICE', { 'Error-code': 'ERR_SESSION_ENDED', Reason: 'MS lease expired; enroll again' }));
      closeSoon(ms.link);
    }
  }
}
