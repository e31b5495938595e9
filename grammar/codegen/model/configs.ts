// The cluster configurations the model is checked in (issue 18). Each is selected with -DCFG=<n>
// when Spin runs; generated/model/imsp.pml holds one #if block per configuration.

export interface ModelClient {
  user: number;
  ms: number;
}

export interface ModelConfig {
  id: number;
  name: string;
  text: string;
  ms: number;
  users: number;
  clients: ModelClient[];
  /** Users start as buddies of each other (else: no relation). */
  buddies: boolean;
  /** Login attempts per client (a new connection each); a client whose session a fault ended logs in once more. */
  logins: number;
  /** STATUS changes per client. */
  status: number;
  /** LOGOUTs per client. */
  logouts: number;
  /** ADD / ANSWER / REM / BLOCK requests per client. */
  contactOps: number;
  /** Faults in the whole run, and which kinds may happen. */
  faults: number;
  kinds: Array<'crash' | 'ms-lease' | 'vanish' | 'crs-restart' | 'hang'>;
  /** A lock's lease may run out (at any moment) while the login goes on. */
  lockLease: boolean;
}

type FaultKind = ModelConfig['kinds'][number];
const ALL_FAULTS: FaultKind[] = ['crash', 'ms-lease', 'vanish', 'crs-restart', 'hang'];

/** Client i of user i on MS i: one client per user, each on an MS of its own. */
const onePerUser = (n: number): ModelClient[] => Array.from({ length: n }, (_, i) => ({ user: i, ms: i }));

/** Nothing happens unless a configuration says so. */
const QUIET = { status: 0, logouts: 0, contactOps: 0, faults: 0, kinds: [] as FaultKind[], lockLease: false };

/** Two users on two MSs, not yet buddies, exchanging contact requests (configurations 3 and 5). */
function contacts(
  id: number,
  name: string,
  text: string,
  p: Pick<ModelConfig, 'logins' | 'logouts' | 'contactOps'>,
): ModelConfig {
  return { ...QUIET, id, name, text, ms: 2, users: 2, clients: onePerUser(2), buddies: false, ...p };
}

export const MODEL_CONFIGS: ModelConfig[] = [
  {
    ...QUIET,
    id: 1,
    name: 'presence',
    text: 'two buddies on two MSs log in at the same time, change status and log out; one fault of any kind',
    ms: 2,
    users: 2,
    clients: onePerUser(2),
    buddies: true,
    logins: 1,
    status: 1,
    logouts: 1,
    faults: 1,
    kinds: ['crash', 'ms-lease', 'vanish', 'crs-restart'],
  },
  {
    ...QUIET,
    id: 2,
    name: 'lock',
    text: 'one user with a client on each of two MSs racing for the lock; one fault of any kind, a hung login handler included; lock leases run out at any moment',
    ms: 2,
    users: 1,
    clients: [
      { user: 0, ms: 0 },
      { user: 0, ms: 1 },
    ],
    buddies: true,
    logins: 1,
    faults: 1,
    kinds: ALL_FAULTS,
    lockLease: true,
  },
  contacts(
    3,
    'contacts',
    'two users on two MSs, not yet buddies: one ADD, ANSWER, REM or BLOCK each, in any order, logins before and after',
    { logins: 2, logouts: 1, contactOps: 1 },
  ),
  {
    id: 4,
    name: 'cluster-3x3',
    text: 'three users on three MSs, buddies, a second client of one user; logins, status, logout, contacts; one fault of any kind',
    ms: 3,
    users: 3,
    clients: [...onePerUser(3), { user: 0, ms: 2 }],
    buddies: true,
    logins: 1,
    status: 1,
    logouts: 1,
    contactOps: 1,
    faults: 1,
    kinds: ALL_FAULTS,
    lockLease: true,
  },
  contacts(
    5,
    'contacts-2',
    'two users on two MSs, not yet buddies, one login each: two of ADD, ANSWER, REM and BLOCK each, in any order',
    { logins: 1, logouts: 0, contactOps: 2 },
  ),
];
