// The one test suite every Store implementation passes (SQLite and PostgreSQL call it with their
// own harness), one module per concern (suite-*.ts). Requirement IDs in test names are those of
// spec/registry and spec/text.
import { describe } from 'node:test';
import { usersSuite } from './suite-users.js';
import { lockSuite } from './suite-lock.js';
import { msSuite } from './suite-ms.js';
import { contactsSuite } from './suite-contacts.js';
import { profileSuite } from './suite-profile.js';
import { feedSuite } from './suite-feed.js';
import { persistenceSuite } from './suite-persistence.js';
import { propertiesSuite } from './suite-properties.js';
import type { StoreHarness } from './suite-helpers.js';

export type { DataSet, StoreHarness } from './suite-helpers.js';

export function storeSuite(h: StoreHarness): void {
  describe(`Store (${h.name})`, { concurrency: false }, () => {
    usersSuite(h);
    lockSuite(h);
    msSuite(h);
    contactsSuite(h);
    profileSuite(h);
    feedSuite(h);
    persistenceSuite(h);
    propertiesSuite(h);
  });
}
