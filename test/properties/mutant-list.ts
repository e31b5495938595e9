// The deliberate faults of `make prop-mutants` (test/properties/mutants.ts), one per invariant: each a
// textual patch of one file and the property that must catch it. Kept apart so that a test can check,
// on every run of make test, that each patch still applies to the code as it is.

export interface Mutant {
  inv: string;
  what: string;
  file: string;
  find: string;
  replace: string;
  test: string;
  pattern: string;
  /** The failure must say this (not some unrelated error such as a timeout). */
  expect: RegExp;
  env?: Record<string, string>;
}

export const MODEL = 'test/properties/invariants.test.ts';
export const MUTANTS: Mutant[] = [
  {
    inv: 'INV-1',
    // Not the test's name ("exactly one wins"): the failed assertion, [INV-1] or its [LOCK-2] follow-up.
    expect: /Got AssertionError.*: (outcomes [\w,]+ for MSs|a login while online must be refused)/,
    what: 'the CRS grants the lock to a user who is online (double login)',
    file: 'reference/store/sqlite.ts',
    find: "if (r.state === 'online') return { ok: false, error: 'online' };\n      // [LOCK-1]",
    replace: '// [LOCK-1]',
    test: 'test/properties/concurrency.test.ts',
    pattern: 'concurrent logins',
    // A run catches it only when the winner and the late login are at different MSs: 4 runs missed
    // 1 time in 10; a run takes about 0.1 s.
    env: { IMSP_PROP_RUNS: '20' },
  },
  {
    inv: 'INV-2',
    expect: /store: u\d is locked, model says offline/,
    what: 'expired lock leases are never swept (a lock outlives its lease)',
    file: 'reference/store/sqlite.ts',
    find: 'const users = this.q.expiredLocks.all(now) as string[];',
    replace: 'const users: string[] = [];',
    test: MODEL,
    pattern: 'SQLite',
    env: { IMSP_PROP_RUNS: '15' },
  },
  {
    inv: 'INV-3',
    expect: /sees u\d as .*"status":"(online|busy)".*model says .*away/,
    what: "the MS drops PRESENCE pushes whose status is 'away' (presence never converges)",
    file: 'reference/ms/mod-presence.ts',
    find: "if (s.contacts.get(requiredHeaderOf(m, 'User')) !== 'buddy') return false;",
    replace:
      "if (s.contacts.get(requiredHeaderOf(m, 'User')) !== 'buddy') return false;\n        if (requiredHeaderOf(m, 'Status') === 'away') return false;",
    test: 'test/properties/scenarios.test.ts',
    pattern: 'presence state',
    // Only a run that sets 'away' can catch it: 10 runs, not 6, so that all missing it is negligible.
    env: { IMSP_PROP_RUNS_SCENARIO: '10' },
  },
  {
    inv: 'INV-3',
    // Issue 14's login race, as the reference client had it: the pushes that arrive while the client
    // opens its key blob (after the 200 to PROOF) were dropped, so a buddy who logged in at the same
    // moment stayed offline. The patch reverts the fix [PRESENCE-9]. Shrunk counterexample of a run:
    // [0,0,0,1] (both at ms0, no gap, a 1 ms burst): "u0 sees u1 as {relation: buddy, status: offline},
    // model says online".
    expect: /sees u\d as .*"status":"offline".*model says .*"status":"online"/,
    what: 'the client drops the pushes that arrive while it opens its key blob (the login race of issue 14)',
    file: 'reference/client/client.ts',
    find: '(bundleApplied ? this.onPush(m) : early.push(m))',
    replace: '(bundleApplied ? this.onPush(m) : undefined)',
    test: 'test/properties/scenarios.test.ts',
    pattern: 'same moment',
    env: { IMSP_PROP_RUNS_SCENARIO: '6' },
  },
  {
    inv: 'INV-4',
    // The directed property: in the model run (15 runs) an ADD followed by its target's login came
    // by chance, and the mutant survived one full run of 2.
    expect: /\[INV-4\] requests delivered to u1 at login/,
    what: 'the login bundle leaves out the pending ADD requests',
    file: 'reference/store/sqlite.ts',
    find: 'pending: this.pendingOf(r.username),',
    replace: 'pending: [],',
    test: 'test/properties/scenarios.test.ts',
    pattern: 'unanswered ADD',
    env: { IMSP_PROP_RUNS_SCENARIO: '6' },
  },
  {
    inv: 'INV-5',
    // Every way a session ends, on either side (logout, closed MS link, BYE, closed connection,
    // PRESENCE offline), goes through PeerSession.end: the one place where the keys are erased.
    expect: /\[INV-5\] \d of the 4 session keys of u\d and u\d not erased/,
    what: 'an ended peer session drops its keys without erasing them (either side, however it ends)',
    file: 'reference/client/peer.ts',
    find: 'this.keys.send.fill(0);\n      this.keys.receive.fill(0);\n      this.keys = undefined;',
    replace: 'this.keys = undefined;',
    test: 'test/properties/scenarios.test.ts',
    pattern: 'peer session outlives',
    env: { IMSP_PROP_RUNS_SCENARIO: '6' },
  },
  {
    inv: 'INV-6',
    // Reachable since the property has u0 log in again after its ADD: the pending entry is then in
    // the MS's copy of u0's list, and the MS's relation check is all that keeps u1's presence out.
    expect: /\[INV-6\] u0 (learned u1 is (online|busy|away)|holds the address or key of u1)/,
    what: 'the MS forwards presence to pending contacts too (a leak to a non-buddy)',
    file: 'reference/ms/mod-presence.ts',
    find: "if (s.contacts.get(requiredHeaderOf(m, 'User')) !== 'buddy') return false;",
    replace: "if (s.contacts.get(requiredHeaderOf(m, 'User')) === 'blocked') return false;",
    test: 'test/properties/scenarios.test.ts',
    pattern: 'learns nothing',
    env: { IMSP_PROP_RUNS_SCENARIO: '6' },
  },
  {
    inv: 'INV-7',
    expect: /\[INV-7\]|\[INV-9\]|sees u\d as/,
    what: 'a CRS restart forgets the buddy relations',
    file: 'reference/store/sqlite.ts',
    find: 'this.q.resetUsers.run();',
    replace: "this.q.resetUsers.run();\n      this.db.exec('DELETE FROM buddies');",
    test: MODEL,
    pattern: 'SQLite',
    env: { IMSP_PROP_RUNS: '20' },
  },
  {
    inv: 'INV-8',
    expect: /Got AssertionError.*: (STATUS with the stale epoch \d+ got 200|the new session changed)/,
    what: 'the CRS accepts STATUS without checking the epoch (a stale holder acts)',
    file: 'reference/store/sqlite.ts',
    find: "const bad = sessionStale(r, epoch, ms, 'online'); // [LOCK-6]\n      if (bad) return bad;",
    replace:
      "const bad = r.state === 'online' ? null : sessionStale(r, epoch, ms, 'online');\n      if (bad) return bad;",
    test: 'test/properties/fencing.test.ts',
    pattern: 'expired epoch',
    // Only a run that tries STATUS can catch it (1 to 4 of 6 methods): 5 runs would miss about 1 time in 10.
    env: { IMSP_PROP_RUNS_FENCING: '20' },
  },
  {
    inv: 'INV-9',
    expect: /\[INV-9\]/,
    what: 'a granted ADD makes only one side a buddy',
    file: 'reference/store/sqlite.ts',
    find: 'this.q.addBuddy.run(b, a, now);',
    replace: '',
    test: MODEL,
    pattern: 'SQLite',
    env: { IMSP_PROP_RUNS: '15' },
  },
];
