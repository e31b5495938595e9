// The client's limits and options: what a caller can set, and the defaults from the registry's
// limits table (generated/registry.ts) [§8 Login and Logout] [§10 Peer-to-Peer Sessions].
import { LIMITS } from '../../codec/index.js';
import type { SettableStatus } from './contacts.js';
import type { NonceCache } from '../crypto/p2p.js';
import type { FileLimits } from './files.js';

export const LIMIT = LIMITS as unknown as Record<string, number>;

export interface ClientLimits extends FileLimits {
  maxBodySize: number;
  maxClockSkew: number;
  handshakeTimeout: number;
  requestTimeout: number;
  clientHeartbeatInterval: number;
  /** [HB-6] the session ends when nothing came from the MS for this long. */
  sessionTimeout: number;
  scramMaxIterations: number;
  scramMinIterations: number;
  /** Peer sessions at once (incoming and outgoing). */
  maxPeerSessions: number;
  /** [TYPING-2] a peer's `typing` not renewed for this long is reported as `paused` (30 s). */
  typingStaleMs: number;
  /** [RECONNECT-2] upper bound of the first reconnect delay; each later bound doubles. */
  clientReconnectDelay: number;
  /** [RECONNECT-2] largest reconnect delay. */
  clientReconnectMaxDelay: number;
}

export function defaultLimits(): ClientLimits {
  return {
    fileChunkSize: LIMIT.fileChunkSize,
    maxFileSize: LIMIT.maxFileSize,
    maxActiveTransfers: 4,
    maxBodySize: LIMIT.maxBodySize,
    maxClockSkew: LIMIT.maxClockSkew,
    handshakeTimeout: LIMIT.handshakeTimeout,
    requestTimeout: LIMIT.requestTimeout,
    clientHeartbeatInterval: LIMIT.clientHeartbeatInterval,
    sessionTimeout: LIMIT.sessionTimeout,
    scramMaxIterations: LIMIT.scramMaxIterations,
    scramMinIterations: LIMIT.scramMinIterations,
    maxPeerSessions: 64,
    typingStaleMs: 30_000,
    clientReconnectDelay: LIMIT.clientReconnectDelay,
    clientReconnectMaxDelay: LIMIT.clientReconnectMaxDelay,
  };
}

export interface ClientOptions {
  user: string;
  password: string;
  /** CRS `host:port`, asked with LOCATE which MS to use. */
  crs?: string;
  /** MS `host:port`: skips LOCATE. */
  ms?: string;
  /** Where to accept peer sessions; default 127.0.0.1:0 (any free port). */
  listen?: string;
  /** Address to announce in LOGIN; default the bound listen address. */
  advertise?: string;
  status?: SettableStatus;
  /** Where received files go; default $TMPDIR/imsp-<user>. */
  downloadDir?: string;
  limits?: Partial<ClientLimits>;
  /** Clock in ms (tests). */
  now?: () => number;
  /**
   * [MS-SHUTDOWN-4] After NOTICE ERR_SHUTDOWN, LOCATE (needs `crs`) and log in again after a random
   * delay of up to `reloginDelayMax` ms (3000 by default).
   */
  relogin?: boolean;
  reloginDelayMax?: number;
  /**
   * [RECONNECT-1] When the session ends without LOGOUT (the MS died or shut down, the CRS restarted,
   * the link went silent), log in again by itself: LOCATE (with `crs`) and a new login, with backoff
   * and jitter (limits clientReconnectDelay, clientReconnectMaxDelay), keeping ClientKey, ServerKey
   * and the opened private keys, never the password. Default true (`relogin: false` also turns it off).
   * Events: `reconnecting` before each attempt, `reconnected` after a successful one.
   */
  reconnect?: boolean;
  /**
   * [P2P-8] The nonces of the INITs accepted so far. A process that logs in again with a new client
   * (the control loop) passes the same memory, so that an INIT replayed across a logout is refused.
   */
  nonces?: NonceCache | undefined;
}

/** What a client keeps to log in again without the password [RECONNECT-4]: RFC 5802's cached keys. */
export interface ProofKeys {
  salt: string;
  iterations: number;
  clientKey: Buffer;
  serverKey: Buffer;
}
