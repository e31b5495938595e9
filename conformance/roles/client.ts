// The client role (the kit plays CRS, MS and peers and drives the client through the control
// interface of spec/text/90-conformance.md). NOT YET IMPLEMENTED: the module exists so that the CLI
// and selftest name the role; running it reports the gap instead of passing silently.
import type { KitConfig, RoleModule } from '../cli.js';
import type { CaseResult } from '../lib/case.js';
import type { Workdir } from '../lib/spawn.js';

export const clientRole: RoleModule = {
  cases: () => [],
  async setup() {
    throw new Error('--role client is not implemented yet in this version of the kit');
  },
  caseBudgetMs: () => 0,
};

export async function selftestClient(_o: unknown, _w: Workdir, _cfg: KitConfig, _out: (l: string) => void): Promise<{ role: 'client'; results: CaseResult[]; status: number; error?: string }> {
  return { role: 'client', results: [], status: 2, error: 'the client role is not implemented yet' };
}
