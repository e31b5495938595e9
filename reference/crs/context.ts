// What the CRS's method modules (mod-*.ts) share with the server that holds the connections
// (crs.ts): the MS link records and the server operations they call.
import type { Logger } from 'pino';
import type { RequestOf, RequestsOn, ResponseMessage } from '../../codec/index.js';
import type { Link } from '../net/link.js';
import type { ServerMetrics } from '../ops/metrics.js';
import type { ServerLimits } from '../proto/limits.js';
import type { MsRef, Store } from '../store/store.js';

/** An enrolled MS's link on this process. */
export interface MsConn {
  ref: MsRef;
  listen: string;
  capacity: number;
  link: Link;
  lastRenew: number;
}

/** The methods an enrolled MS sends to the CRS: the keys of the CRS's handler table (ENROLL and
 *  PROOF are the handshake, served before the link is an MS link). */
export type MsMethod = Exclude<RequestsOn<'ms', 'crs'>, 'ENROLL' | 'PROOF'>;

/** Serves one request (of method M) of an enrolled MS; `now` is the CRS clock when it arrived. */
export type MsHandler<M extends MsMethod = MsMethod> = (
  ms: MsConn,
  m: RequestOf<M>,
  now: number,
) => Promise<ResponseMessage | undefined>;

/** The CRS's handler table: one entry per MS method of the registry, no more, no less. */
export type MsHandlers = { readonly [M in MsMethod]: MsHandler<M> };

export interface CrsContext {
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  readonly now: () => number;
  /** Enrolled MS links on this process, by Ms-id. */
  readonly msConns: Map<string, MsConn>;
  readonly isClosing: boolean;
  /** Background store work (not tied to a response) that close() waits for. */
  track(p: Promise<unknown>): void;
  emit(event: 'enrolled', ms: MsRef): boolean;
}
