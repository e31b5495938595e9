// The client role: the case list, assembled from the section modules in spec order.
import { wireCases } from '../cases/common/04-message-format.js';
import { errorHandlingCases } from '../cases/common/14-error-handling.js';
import { clientArchitectureCases } from '../cases/client/03-architecture.js';
import { clientMessageFormatCases } from '../cases/client/04-message-format.js';
import { clientSealCases } from '../cases/client/06-cryptography.js';
import { clientLoginCases } from '../cases/client/08-login.js';
import { clientReconnectCases } from '../cases/client/08.5-reconnecting.js';
import { clientPresenceCases } from '../cases/client/09-presence-and-contacts.js';
import { clientProfileCases } from '../cases/client/09.7-profile.js';
import { clientPasswdCases } from '../cases/client/09.8-passwd.js';
import { clientSearchCases } from '../cases/client/09.9-search.js';
import { clientBatchCases, clientP2pCases, clientSessionRuleCases } from '../cases/client/10-peer-to-peer.js';
import { clientFileCases } from '../cases/client/10.3-files.js';
import { clientTypingCases } from '../cases/client/10.4-typing.js';
import { clientLifetimeCases } from '../cases/client/11-session-lifetime.js';
import { clientViewFuzzCases } from '../cases/client/12.3-client-view.js';
import { clientP2pFuzzCases } from '../cases/client/12.5-p2p-session.js';
import { clientInvariantCases } from '../cases/client/13-invariants.js';
import { clientErrorCases } from '../cases/client/14-error-handling.js';
import { clientControlCases } from '../cases/client/90.6-control.js';
import type { CaseDef } from '../lib/case.js';
import { clientCaseBudgetMs, setupClient, type ClientContext } from '../lib/client-context.js';
import type { RoleModule } from '../lib/config.js';
import type { Limits } from '../lib/registry.js';
import { clientWireTarget } from '../lib/wire-target.js';

// The client is a receiver on its peer address ([§10.1 INIT and INIT-ACK]): the [§4 Message Format] wire and registry cases run there too.
export const clientCases = (limits: Limits): CaseDef<ClientContext>[] => [
  ...wireCases<ClientContext>(clientWireTarget, limits, 'client'),
  ...errorHandlingCases<ClientContext>(clientWireTarget, limits, 'client'),
  ...clientArchitectureCases,
  ...clientMessageFormatCases,
  ...clientSealCases,
  ...clientLoginCases,
  ...clientReconnectCases,
  ...clientPresenceCases,
  ...clientProfileCases,
  ...clientPasswdCases,
  ...clientSearchCases,
  ...clientP2pCases,
  ...clientBatchCases,
  ...clientSessionRuleCases,
  ...clientFileCases,
  ...clientTypingCases,
  ...clientLifetimeCases,
  ...clientViewFuzzCases,
  ...clientP2pFuzzCases,
  ...clientInvariantCases,
  ...clientErrorCases,
  ...clientControlCases,
];

export const clientRole: RoleModule<ClientContext> = {
  cases: clientCases,
  setup: (cfg, run) => setupClient(cfg, run, clientCases(cfg.limits)),
  caseBudgetMs: clientCaseBudgetMs,
};
