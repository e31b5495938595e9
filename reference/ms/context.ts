// What the MS's method modules (mod-*.ts) share with the server that holds the connections
// (ms.ts): the session and connection records, and the server operations they call. As a Prosody
// module sees `module:` and the host, a module here sees an MsContext and nothing else of the server.
import type { KeyObject } from 'node:crypto';
import type net from 'node:net';
import type { Logger } from 'pino';
import type {
  ErrorCode,
  Relation as RelationValue,
  RequestMessage,
  RequestOf,
  RequestsOn,
  ResponseMessage,
  StateOf,
  Status,
} from '../../codec/index.js';
import type { LoginTranscript } from '../crypto/scram.js';
import type { Link } from '../net/link.js';
import type { TokenBucket } from '../net/rate-limit.js';
import type { ServerMetrics } from '../ops/metrics.js';
import type { ServerLimits } from '../proto/limits.js';
import type { ContactList } from './contact-list.js';
import type { FailureWindow } from './failures.js';
import type { Pushes } from './mod-presence.js';

/**
 * One entry of a session's contact list, as the MS keeps it to filter pushes: the relation only (the
 * MS forwards a PRESENCE by relation [PRESENCE-4] and never reads a contact's status; one string per
 * contact, no object, keeps the per-session memory down).
 */
export type Relation = Exclude<RelationValue, 'none'>;

/** A client connection's state: the client-session machine (spec/machines/client-session.json). */
export type ConnState = StateOf<'client-session'>;

/** The pushes the CRS sends an MS for its clients (one union member per method, so `switch (m.method)` narrows). */
export type PushMethod = 'PRESENCE' | 'CONTACT' | 'ADD' | 'ANSWER';
export type Push = { [M in PushMethod]: RequestOf<M> }[PushMethod];

/** A login between LOGIN and the end of PROOF: the transcript the proof is bound to, and the MS's state. */
export interface LoginAttempt extends LoginTranscript {
  /** The MS's ephemeral X25519 key of this login (kept as a KeyObject, never exported). */
  ePriv: KeyObject;
  status: Status;
  /** Absent for an unknown user: the fake challenge [AUTH-8]. */
  lock?: { epoch: number; storedKey: Buffer; serverKey: Buffer };
}

export interface Session {
  id: string;
  user: string;
  epoch: number;
  address: string;
  status: string;
  conn: ClientConn;
  contacts: ContactList;
  /** When the login completed (ms since the epoch), for the operators' `imsp admin sessions`. */
  startedAt: number;
}

/** The client's TCP address as the MS sees it (ip:port), for the operators' log lines. */
export function clientAddress(conn: ClientConn): string {
  const port = conn.socket.remotePort;
  return port === undefined ? conn.ip : conn.ip.includes(':') ? `[${conn.ip}]:${port}` : `${conn.ip}:${port}`;
}

export interface ClientConn {
  link: Link;
  socket: net.Socket;
  ip: string;
  state: ConnState;
  attempt: LoginAttempt | null;
  session: Session | null;
  /** Pushes that arrived while ONLINE was in flight, delivered after the login response. */
  buffered: Push[] | null;
  /** performance.now() at accept: the login must be complete by since + handshakeTimeout [CONN-4]. */
  since: number;
}

/** The methods a client sends to the MS: the keys of the MS's handler table. */
export type ClientMethod = RequestsOn<'client', 'ms'>;

/**
 * How the MS serves one client method: in which connection state it is allowed ([STATE-1]: any other
 * state is 425), and what it does. Session methods ('active') get the connection's session.
 */
export type ClientHandler<M extends ClientMethod = ClientMethod> =
  | {
      state: Extract<ConnState, 'idle' | 'challenged'>;
      run: (conn: ClientConn, m: RequestOf<M>) => Promise<ResponseMessage>;
    }
  | { state: Extract<ConnState, 'active'>; run: (s: Session, m: RequestOf<M>) => Promise<ResponseMessage> };

/** The MS's handler table: one entry per client method of the registry, no more, no less. */
export type ClientHandlers = { readonly [M in ClientMethod]: ClientHandler<M> };

export interface MsContext {
  readonly msId: string;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  readonly capacity: number;
  readonly now: () => number;
  /** [AUTH-14] the decoy key, HMAC(MS key, "imsp1 decoy key"). */
  readonly decoy: Buffer;
  /** Live sessions by user. */
  readonly sessions: Map<string, Session>;
  /** Users with a login in progress at this MS (between LOGIN and the end of ONLINE). */
  readonly loggingIn: Set<string>;
  /** Connections whose ONLINE is in flight (state 'onlining', no session yet). */
  readonly onlining: Set<ClientConn>;
  readonly failedByUser: FailureWindow;
  readonly failedByAddress: FailureWindow;
  readonly pushes: Pushes;
  readonly isStopping: boolean;
  readonly enrolled: boolean;
  /** A request to the CRS; a 503 response when the CRS link is down or does not answer. */
  crsRequest(m: RequestMessage): Promise<ResponseMessage>;
  /** Relays a request to the CRS and its answer back; a stale epoch ends the session [LOCK-6]. */
  relay(s: Session, m: RequestMessage): Promise<ResponseMessage>;
  /** Ends a session from the server side: NOTICE to the client, OFFLINE to the CRS, close. */
  endSession(s: Session, code: ErrorCode, reason: string, tellCrs?: boolean, notice?: boolean): void;
  /** Removes a session from the tables (idempotent). */
  forget(s: Session): void;
  /** Logs the end of a session (event logout, with the client's address) and emits 'logout'. */
  sessionEnded(s: Session, reason: string, code?: string): void;
  emit(event: 'login', user: string): boolean;
  emit(event: 'logout', user: string, reason: string): boolean;
}

/** The token bucket of `user` in `map` (made on first use; the map is cleared past 100 000 users). */
export function bucketOf(map: Map<string, TokenBucket>, user: string, make: () => TokenBucket): TokenBucket {
  let b = map.get(user);
  if (!b) {
    b = make();
    if (map.size > 100_000) map.clear();
    map.set(user, b);
  }
  return b;
}
