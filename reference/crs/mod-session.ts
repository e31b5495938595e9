// CRS lock and session [§8.1 Login] [§8.3 The Lock and the Epoch]: the per-user login lock with its lease and fencing
// epoch (LOCK, UNLOCK), and the session it becomes (ONLINE with the login bundle, OFFLINE).
import { requiredHeaderOf } from '../../codec/index.js';
import { isStatus } from '../store/store.js';
import { closeSoon } from '../net/server-link.js';
import { stage } from '../ops/stage-trace.js';
import { req, ok, fail, records } from '../proto/messages.js';
import type { CrsContext, MsHandlers } from './context.js';
import { contactRecord, pendingRecord } from './mod-contacts.js';

export function sessionModule(crs: CrsContext): Pick<MsHandlers, 'LOCK' | 'UNLOCK' | 'ONLINE' | 'OFFLINE'> {
  const s = crs.store;
  return {
    async LOCK(ms, m, now) {
      const user = requiredHeaderOf(m, 'User');
      const r = await s.tryLock(user, ms.ref, now, crs.limits.lockLease);
      if (r.ok) {
        return ok(200, {
          Epoch: r.epoch,
          Lease: crs.limits.lockLease,
          Salt: r.verifier.salt,
          Iterations: r.verifier.iterations,
          'Stored-key': r.verifier.storedKey,
          'Server-key': r.verifier.serverKey,
        });
      }
      switch (r.error) {
        case 'unknown':
          return fail('ERR_UNKNOWN_USER');
        case 'online': // [LOCK-2]
          crs.metrics.lockContention.inc({ result: 'online' });
          return fail('ERR_ALREADY_ONLINE');
        case 'locked': // [LOCK-1]
          crs.metrics.lockContention.inc({ result: 'locked' });
          return fail('ERR_LOCKED');
        case 'ms-unknown':
          ms.link.notify(
            req('NOTICE', { 'Error-code': 'ERR_SESSION_ENDED', Reason: 'MS enrollment expired; enroll again' }),
          );
          closeSoon(ms.link);
          return fail('ERR_LOCKED');
      }
      return fail('ERR_INTERNAL');
    },
    async UNLOCK(ms, m) {
      const r = await s.unlock(requiredHeaderOf(m, 'User'), Number(requiredHeaderOf(m, 'Epoch')), ms.ref);
      return r.ok ? ok(200) : fail('ERR_STALE_EPOCH'); // [LOCK-6]
    },
    async ONLINE(ms, m, now) {
      const user = requiredHeaderOf(m, 'User');
      stage(user, 'crs.online');
      const status = requiredHeaderOf(m, 'Status');
      if (!isStatus(status)) return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
      const r = await s.goOnline(
        user,
        Number(requiredHeaderOf(m, 'Epoch')),
        ms.ref,
        requiredHeaderOf(m, 'Address'),
        status,
        now,
      );
      if (!r.ok) return fail('ERR_STALE_EPOCH'); // [LOCK-6] stale, expired, or another MS
      crs.metrics.logins.inc({ result: 'ok' });
      const rec = records([...r.contacts.map(contactRecord), ...r.pending.map(pendingRecord)]);
      stage(user, 'crs.answer');
      return ok(200, { 'Key-blob': r.keyBlob, 'Public-key': r.publicKey, 'Content-type': rec.contentType }, rec.body);
    },
    async OFFLINE(ms, m) {
      const r = await s.goOffline(requiredHeaderOf(m, 'User'), Number(requiredHeaderOf(m, 'Epoch')), ms.ref);
      return r.ok ? ok(200) : fail('ERR_STALE_EPOCH');
    },
  };
}
