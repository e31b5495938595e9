// MS account methods [§9.7 PROFILE] [§9.8 PASSWD] [§9.9 SEARCH]: PROFILE, PASSWD and SEARCH, relayed to the CRS.
import { requiredHeaderOf, headerOf } from '../../codec/index.js';
import { SCRAM_MIN_ITERATIONS } from '../crypto/scram.js';
import { fail, pick, req } from '../proto/messages.js';
import type { ClientHandlers, MsContext } from './context.js';

export function profileModule(ms: MsContext): Pick<ClientHandlers, 'PROFILE' | 'PASSWD' | 'SEARCH'> {
  return {
    PROFILE: {
      state: 'active',
      async run(s, m) {
        const target = headerOf(m, 'User');
        const changing = (['Full-name', 'Location', 'About'] as const).some((n) => headerOf(m, n) !== undefined);
        // [PROFILE-3] only one's own profile may be changed.
        if (changing && target !== undefined && target !== s.user) return fail('ERR_FORBIDDEN');
        return ms.relay(
          s,
          req('PROFILE', {
            From: s.user,
            Epoch: s.epoch,
            User: target,
            ...pick(m, ['Full-name', 'Location', 'About']),
          }),
        );
      },
    },
    PASSWD: {
      state: 'active',
      async run(s, m) {
        const it = Number(requiredHeaderOf(m, 'Iterations'));
        if (it < SCRAM_MIN_ITERATIONS)
          return fail('ERR_BAD_VALUE', { Reason: `Iterations below ${SCRAM_MIN_ITERATIONS}` }); // [AUTH-5]
        return ms.relay(
          s,
          req('PASSWD', {
            User: s.user,
            Epoch: s.epoch,
            ...pick(m, ['Salt', 'Iterations', 'Stored-key', 'Server-key', 'Key-blob']),
          }),
        );
      },
    },
    SEARCH: {
      state: 'active',
      run: (s, m) =>
        ms.relay(s, req('SEARCH', { From: s.user, Epoch: s.epoch, ...pick(m, ['Query', 'Field', 'Cursor', 'Limit']) })),
    },
  };
}
