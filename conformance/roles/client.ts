// The client role: the case list, assembled from the section modules in spec order.
import { clientLoginCases } from '../cases/client/08-login.js';
import { clientPresenceCases } from '../cases/client/09-presence-and-contacts.js';
import { clientP2pCases } from '../cases/client/10-peer-to-peer.js';
import type { CaseDef } from '../lib/case.js';
import { clientCaseBudgetMs, setupClient, type ClientContext } from '../lib/client-context.js';
import type { RoleModule } from '../lib/config.js';

export const clientCases: CaseDef<ClientContext>[] = [...clientLoginCases, ...clientPresenceCases, ...clientP2pCases];

export const clientRole: RoleModule<ClientContext> = {
  cases: () => clientCases,
  setup: (cfg, run) => setupClient(cfg, run, clientCases),
  caseBudgetMs: clientCaseBudgetMs,
};
