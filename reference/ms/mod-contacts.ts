// MS contacts [§9.3 ADD] [§9.4 ANSWER: Grant and Deny] [§9.5 REM, LIST and CONTACT] [§9.6 Block and Allow Lists]: ADD, ANSWER, REM, BLOCK, UNBLOCK and LIST, relayed to the CRS with
// From and the fencing epoch stamped from the session.
import { requiredHeaderOf } from '../../codec/index.js';
import { TokenBucket } from '../net/rate-limit.js';
import { fail, req } from '../proto/messages.js';
import { bucketOf, type ClientHandler, type ClientHandlers, type MsContext } from './context.js';

export function contactsModule(
  ms: MsContext,
): Pick<ClientHandlers, 'ADD' | 'ANSWER' | 'REM' | 'BLOCK' | 'UNBLOCK' | 'LIST'> {
  const addBuckets = new Map<string, TokenBucket>();
  /** REM, BLOCK and UNBLOCK: the same request with From and Epoch from the session. */
  const aboutUser: ClientHandler = {
    state: 'active',
    run: (s, m) => ms.relay(s, req(m.method, { From: s.user, Epoch: s.epoch, User: requiredHeaderOf(m, 'User') })),
  };
  return {
    ADD: {
      state: 'active',
      async run(s, m) {
        const to = requiredHeaderOf(m, 'To');
        // [ADD-LIMIT-3] ADDs per user per minute.
        const perMinute = ms.limits.maxAddsPerMinute;
        const b = bucketOf(addBuckets, s.user, () => new TokenBucket(perMinute / 60, Math.max(1, perMinute), ms.now()));
        if (!b.take(ms.now()))
          return fail('ERR_RATE_LIMITED', {
            'Retry-after': Math.max(1, b.retryAfter(ms.now())),
            Reason: 'too many ADD requests',
          });
        if (to === s.user) return fail('ERR_FORBIDDEN', { Reason: 'cannot ADD oneself' }); // [ADD-6]
        // [ADD-2] From is stamped from the session; a client's From is never used.
        return ms.relay(s, req('ADD', { From: s.user, To: to, Epoch: s.epoch }));
      },
    },
    ANSWER: {
      state: 'active',
      run: (s, m) =>
        ms.relay(
          s,
          req('ANSWER', {
            From: s.user,
            To: requiredHeaderOf(m, 'User'),
            Decision: requiredHeaderOf(m, 'Decision'),
            Epoch: s.epoch,
          }),
        ),
    },
    REM: aboutUser,
    BLOCK: aboutUser,
    UNBLOCK: aboutUser,
    LIST: { state: 'active', run: (s) => ms.relay(s, req('LIST', { User: s.user, Epoch: s.epoch })) },
  };
}
