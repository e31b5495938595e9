// The client role's driver stops every client process a case started, not only the last one, and checks
// the control lines of each (conformance/lib/client-context.ts, ClientDriver.cleanup; [§90.1 Purpose and Roles]).
// A case that starts two clients (client/login/8 starts one per spelling) otherwise left the first
// running past the case, and past the run: an implementer's client process outliving the kit, and a
// selftest that never ended; and a schema break by the first client went unreported [CONF-12].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupClient, type ClientContext } from '../../conformance/lib/client-context.js';
import { runCases, type RunOptions } from '../../conformance/lib/runner.js';
import { Limits } from '../../conformance/lib/registry.js';
import type { CaseDef, CaseResult } from '../../conformance/lib/case.js';
import type { KitConfig } from '../../conformance/lib/config.js';
import type { ControlledClient } from '../../conformance/lib/control.js';

/** A stand-in client: prints `ready` [CTL-1] and stays until stdin says quit (or ends). */
const fakeClient = (ready: object): string =>
  `${JSON.stringify(process.execPath)} -e ${JSON.stringify(
    `console.log(JSON.stringify(${JSON.stringify(ready)}));process.stdin.on('data',d=>{if(String(d).includes('quit'))process.exit(0)});process.stdin.on('end',()=>process.exit(0))`,
  )}`;

/** Runs one case that starts two clients and stops neither; the clients it started and its result. */
async function twoClients(ready: object): Promise<{ started: ControlledClient[]; r: CaseResult }> {
  const limits = new Limits({});
  const cfg = { role: 'client', clientCmd: fakeClient(ready), timeoutMs: 2000, limits } as unknown as KitConfig;
  const started: ControlledClient[] = [];
  const c: CaseDef<ClientContext> = {
    id: 'x/1',
    section: 'x',
    title: 'starts two clients and stops neither',
    reqs: ['CTL-1'],
    async run(ctx) {
      const a = ctx.account([]);
      started.push(await ctx.startClient(a), await ctx.startClient(a));
    },
  };
  // The pre-flight start [CONF-14] needs a ready line; a schema break in it is for the case to judge.
  const setup = await setupClient(cfg, {} as RunOptions, [c]);
  const opts: RunOptions = {
    seed: 1,
    runs: 1,
    timeoutMs: 2000,
    strict: false,
    limits,
    slow: false,
    progress: () => undefined,
    commandLine: '',
  };
  try {
    const [r] = await runCases(setup.driver, [c], opts, 60_000);
    return { started, r: r! };
  } finally {
    for (const s of started) if (s.exited === null) s.child.kill('SIGKILL');
    await setup.teardown();
  }
}

test('the client driver stops every client a case started, not only its last', async () => {
  const { started, r } = await twoClients({ event: 'ready', version: 1 });
  assert.equal(r.verdict, 'PASS', JSON.stringify(r.findings));
  assert.deepEqual(
    started.map((c) => c.exited),
    [0, 0],
    'both clients exited on quit when the case ended',
  );
});

test('[CONF-12] the client driver checks the control lines of every client a case started', async () => {
  const { r } = await twoClients({ event: 'ready' }); // no version: breaks the control schema [CTL-7]
  assert.equal(r.verdict, 'FAIL');
  assert.equal(r.findings.filter((f) => f.req === 'CTL-7').length, 2, 'one CTL-7 finding per client');
});
