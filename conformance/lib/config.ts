// The kit's run configuration and what a role plugs into the runner (cli.ts parses the options into
// a KitConfig; roles/ assemble the case lists; lib/<role>-context.ts set up the drivers).
import type { CaseDef } from './case.js';
import type { Limits } from './registry.js';
import type { Driver, RunOptions } from './runner.js';

export type RoleName = 'crs' | 'ms' | 'client';

export interface KitConfig {
  role: RoleName;
  target?: string;
  listen?: string;
  msKey?: Buffer;
  clientCmd?: string;
  /**
   * Client role: the command of the client under test given the kit's MS ({ms}) and no CRS, for the cases of
   * a client that knows no CRS [RECONNECT-3]; without it those cases skip ([§90.5 Running the Kit]).
   */
  clientMsCmd?: string;
  /** MS role: a shell command that stops the MS under test on purpose (the shutdown case). */
  msStopCmd?: string;
  /** CRS role: a shell command that stops the CRS under test on purpose (the shutdown case). */
  crsStopCmd?: string;
  seed: number;
  runs: number;
  timeoutMs: number;
  only: string[];
  exclude: string[];
  strict: boolean;
  slow: boolean;
  path?: string;
  /** fc.commands' replay path of a shrunk state-machine sequence (printed with --path). */
  replayPath?: string;
  limits: Limits;
  json?: string;
  junit?: string;
  html?: string;
  specBase: string;
  list: boolean;
  quiet: boolean;
  replay?: string;
  /** The --set overrides, kept for replay command lines. */
  sets?: Record<string, number>;
  /** --fail-fast: stop at the first FAIL. */
  failFast?: boolean;
  /** How the user started the kit (`imsp-conformance`, or `npx imsp conformance` in this repository):
   * the command lines it prints (report, replays) start with it, so they can be pasted back. */
  invokedAs?: string;
}

/** What a role's set-up returns: the driver, a description of the target, and how to tear down. */
export interface RoleSetup<C> {
  driver: Driver<C>;
  target: string;
  teardown(): Promise<void>;
  /** The users the kit created on the target (CRS role): their common prefix, count, and their fate. */
  createdUsers?(): { prefix: string; count: number; note: string };
}

/**
 * The run cannot start: the target is unreachable, refuses the kit's MS key, or announces a value
 * that contradicts a --set. Thrown by a role's setup before any case; the kit exits 2 with its message.
 */
export class SetupError extends Error {}

/** Every name the kit gives a user (or an MS) it creates on a target starts with this ([§90.5 Running the Kit] [CONF-13]). */
export const KIT_NAME_PREFIX = 'kit.';

/** A role's plug-in: its cases, and a driver set up for one run. */
export interface RoleModule<C = unknown> {
  cases(limits: Limits): CaseDef<C>[];
  setup(cfg: KitConfig, run: RunOptions): Promise<RoleSetup<C>>;
  /** Most time one case may take, given the limits (leases the case waits out). */
  caseBudgetMs(cfg: KitConfig): number;
}
