// The MS role: the case list, assembled from the section modules in spec order.
import { wireCases, wireFuzzCase } from '../cases/common/04-message-format.js';
import { msArchitectureCases } from '../cases/ms/03-architecture.js';
import { msFormatCases } from '../cases/ms/04-message-format.js';
import { errorHandlingCases } from '../cases/common/14-error-handling.js';
import { msSealCases } from '../cases/ms/06-cryptography.js';
import { msEnrollCases } from '../cases/ms/07-enrollment.js';
import { msLoginCases } from '../cases/ms/08-login.js';
import { msAddCases, msPresenceCases, msRoutingCases } from '../cases/ms/09-presence-and-contacts.js';
import { msHeartbeatCases, msShutdownCases } from '../cases/ms/11-session-lifetime.js';
import { msRateCases } from '../cases/ms/11.2-rate-limits.js';
import { msStateCases } from '../cases/ms/12.2-client-session.js';
import { msErrorCases } from '../cases/ms/14-error-handling.js';
import type { CaseDef } from '../lib/case.js';
import type { RoleModule } from '../lib/config.js';
import { msCaseBudgetMs, setupMs, type MsContext } from '../lib/ms-context.js';
import type { Limits } from '../lib/registry.js';
import { msWireTarget } from '../lib/wire-target.js';

export const msCases = (limits: Limits): CaseDef<MsContext>[] => [
  ...wireCases<MsContext>(msWireTarget(), limits, 'ms'),
  ...msFormatCases,
  ...errorHandlingCases<MsContext>(msWireTarget(), limits, 'ms'),
  ...msEnrollCases,
  ...msLoginCases,
  ...msPresenceCases,
  ...msAddCases,
  ...msRoutingCases,
  ...msHeartbeatCases,
  ...msRateCases,
  ...msSealCases,
  wireFuzzCase<MsContext>(msWireTarget(), limits, 'ms/fuzz/1'),
  ...msStateCases,
  ...msErrorCases,
  ...msArchitectureCases,
  // Last: it stops the MS under test.
  ...msShutdownCases,
];

export const msRole: RoleModule<MsContext> = {
  cases: msCases,
  setup: (cfg, run) => setupMs(cfg, run, msCases(cfg.limits)),
  caseBudgetMs: msCaseBudgetMs,
};
