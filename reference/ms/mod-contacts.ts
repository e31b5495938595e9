// MS contacts [§9.3 ADD] [§9.4 ANSWER: Grant and Deny] [§9.5 REM, LIST and CONTACT] [§9.6 Block and Allow Lists]: ADD, ANSWER, REM, BLOCK, UNBLOCK and LIST, relayed to the CRS with
// From and the fencing epoch stamped from the session.
import { requiredHeaderOf } from '../../codec/index.js';
import { fail, req } from '../proto/messages.js';
import type { ClientHandler, ClientHandlers, MsContext } from './context.js';

export function contactsModule(
  ms: MsContext,
): Pick<ClientHandlers, 'ADD' | 'ANSWER' | 'REM' | 'BLOCK' | 'UNBLOCK' | 'LIST'> {
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
        // ADDs per minute are the CRS's to count [ADD-LIMIT-3]: its 429 is relayed like any answer.
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
