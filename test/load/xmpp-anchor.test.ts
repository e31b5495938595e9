// The ejabberd anchor of `make bench-xmpp` (issue 15) against the ejabberd from Debian. It runs when
// ejabberd is installed and this is root (bench-xmpp installs it and runs it as its own user; the
// CI image does not have it): skipped otherwise, saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { EjabberdAnchor } from '../../bench/xmpp/servers.js';
import { buddiesOf, userName } from '../../reference/load/population.js';

function installed(pkg: string): boolean {
  try {
    const out = execFileSync('dpkg', ['-s', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /Status: install ok installed/.test(out);
  } catch {
    return false;
  }
}

const skip = !installed('ejabberd')
  ? 'ejabberd is not installed (make bench-xmpp installs it)'
  : process.getuid?.() !== 0
    ? 'needs root (the anchor runs ejabberd as the ejabberd user)'
    : false;

test('both ejabberd configurations keep the rosters in RAM: the restart in SCRAM+TLS mode does not leave them in dets (issue 15, Appendix A.8)', {
  skip,
  timeout: 300_000,
}, async (t) => {
  // mod_roster_mnesia makes the roster disc_only_copies at every start; the bulk load of the first
  // start left it disc_copies, so the first configuration measured RAM rosters and the restarted one
  // read every roster from disk through one dets process (its fan-out p50 4,205 ms at 1,000 users).
  const n = 20;
  const ej = new EjabberdAnchor(
    Array.from({ length: n }, (_, i) => userName(i, 'e')),
    (i) => buddiesOf(i, n, 4),
  );
  t.after(() => ej.dispose());
  for (const mode of ['plain', 'scram-tls'] as const) {
    const server = await ej.start(mode, () => undefined);
    try {
      assert.deepEqual(
        ej.storageTypes(['roster', 'passwd']),
        { roster: 'disc_copies', passwd: 'disc_copies' },
        `ejabberd ${mode}`,
      );
    } finally {
      await server.stop();
    }
  }
});
