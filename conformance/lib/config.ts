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
  seed: number;
  runs: number;
  timeoutMs: number;
  only: string[];
  exclude: string[];
  strict: boolean;
  slow: boolean;
  path?: string;
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
}

/** What a role's set-up returns: the driver, a description of the target, and how to tear down. */
export interface RoleSetup<C> {
  driver: Driver<C>;
  target: string;
  teardown(): Promise<void>;
}

/** A role's plug-in: its cases, and a driver set up for one run. */
export interface RoleModule<C = unknown> {
  cases(limits: Limits): CaseDef<C>[];
  setup(cfg: KitConfig, run: RunOptions): Promise<RoleSetup<C>>;
  /** Most time one case may take, given the limits (leases the case waits out). */
  caseBudgetMs(cfg: KitConfig): number;
}
