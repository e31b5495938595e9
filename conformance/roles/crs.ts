// The CRS role: the case list, assembled from the section modules in spec order.
import { wireCases, wireFuzzCase } from '../cases/common/04-message-format.js';
import { errorHandlingCases } from '../cases/common/14-error-handling.js';
import { crsArchitectureCases } from '../cases/crs/03-architecture.js';
import { crsMethodCases } from '../cases/crs/05-methods.js';
import { crsCryptoCases } from '../cases/crs/06-cryptography.js';
import { enrollCases } from '../cases/crs/07-enrollment.js';
import { lockCases } from '../cases/crs/08-login.js';
import { contactCases } from '../cases/crs/09-presence-and-contacts.js';
import { profileCases } from '../cases/crs/09.7-profile.js';
import { passwdCases } from '../cases/crs/09.8-passwd.js';
import { searchCases } from '../cases/crs/09.9-search.js';
import { crsLifetimeCases, crsShutdownCases } from '../cases/crs/11-session-lifetime.js';
import { crsEnrollmentFuzzCases } from '../cases/crs/12.1-ms-enrollment.js';
import { crsResponseCases } from '../cases/crs/14-error-handling.js';
import { crsUserRecordCases } from '../cases/crs/12.4-user-record.js';
import { invariantCases } from '../cases/crs/13-invariants.js';
import { relationCases } from '../cases/crs/12.6-buddy-relation.js';
import type { CaseDef } from '../lib/case.js';
import type { RoleModule } from '../lib/config.js';
import { crsCaseBudgetMs, setupCrs, type CrsContext } from '../lib/crs-context.js';
import type { Limits } from '../lib/registry.js';
import { crsWireTarget } from '../lib/wire-target.js';

export function crsCases(limits: Limits): CaseDef<CrsContext>[] {
  return [
    ...wireCases<CrsContext>(crsWireTarget, limits, 'crs'),
    ...errorHandlingCases<CrsContext>(crsWireTarget, limits, 'crs'),
    ...crsArchitectureCases,
    ...crsMethodCases,
    ...enrollCases,
    ...crsCryptoCases,
    ...lockCases,
    ...crsLifetimeCases,
    ...crsResponseCases,
    ...contactCases,
    ...profileCases,
    ...passwdCases,
    ...searchCases,
    wireFuzzCase<CrsContext>(crsWireTarget, limits, 'crs/fuzz/1'),
    ...crsEnrollmentFuzzCases,
    ...crsUserRecordCases,
    ...relationCases,
    ...invariantCases,
    // Last: it stops the CRS under test.
    ...crsShutdownCases,
  ];
}

export const crsRole: RoleModule<CrsContext> = {
  cases: crsCases,
  setup: (cfg, run) => setupCrs(cfg, run, crsCases(cfg.limits)),
  caseBudgetMs: crsCaseBudgetMs,
};
