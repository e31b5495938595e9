// The CRS role module: cases for a CRS under test, and the driver set-up.
import { randomBytes } from 'node:crypto';
import type { KitConfig, RoleModule } from '../cli.js';
import { wireCases } from '../cases/wire.js';
import { enrollCases } from '../cases/crs/enroll.js';
import { lockCases } from '../cases/crs/lock.js';
import { contactCases } from '../cases/crs/contacts.js';
import { relationCases } from '../cases/crs/relation.js';
import { crsFuzzCases, crsWireTarget } from '../cases/crs/fuzz.js';
import { request } from '../../generated/index.js';
import { parseHostPort } from '../lib/conn.js';
import type { Limits } from '../lib/registry.js';
import type { RunOptions } from '../lib/runner.js';
import { CrsDriver, type CrsContext, type CrsEnv } from './crs-driver.js';
import type { CaseDef } from '../lib/case.js';

export function crsCases(limits: Limits): CaseDef<CrsContext>[] {
  const wire = wireCases<CrsContext>(crsWireTarget, limits, 'crs');
  return [...wire, ...enrollCases, ...lockCases, ...contactCases, ...crsFuzzCases(limits), ...relationCases];
}

export const crsRole: RoleModule<CrsContext> = {
  cases: crsCases,
  async setup(cfg: KitConfig, run: RunOptions) {
    const env: CrsEnv = {
      target: parseHostPort(cfg.target!),
      msKey: cfg.msKey!,
      opts: run,
      runId: randomBytes(3).toString('hex').replace(/^[0-9]/, 'k'),
      counter: 0,
      provisioning: null,
    };
    const driver = new CrsDriver(env, crsCases(cfg.limits));
    return {
      driver,
      target: cfg.target!,
      async teardown() {
        const p = env.provisioning;
        if (p && !p.conn.closed) {
          p.stopHeartbeat();
          await p.conn.request(request('LEAVE', []), run.timeoutMs).catch(() => undefined);
          p.conn.destroy();
        }
      },
    };
  },
  caseBudgetMs(cfg: KitConfig) {
    const l = cfg.limits;
    return 20 * cfg.timeoutMs + 3 * Math.max(l.get('msLease'), l.get('lockLease'), l.get('handshakeTimeout')) + cfg.runs * 200;
  },
};
