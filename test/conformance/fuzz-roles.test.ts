// `make fuzz-roles` in its short mode (issue 14): the kit's wire and state fuzzers at scale against
// the reference CRS, MS and client, each in its own process. The short run must not crash the target, must
// count only answered inputs, report RSS and inputs/s, and stop every process it started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fuzzRole } from '../../conformance/fuzz-roles.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const role of ['crs', 'ms', 'client'] as const) {
  test(`[CONN-8] fuzz-roles short mode: ${role} survives hostile input at scale, RSS and inputs/s are reported, the target is stopped`, async () => {
    const lines: string[] = [];
    const rep = await fuzzRole(role, {
      root,
      roles: [role],
      count: 300,
      maxSeconds: 60,
      concurrency: 8,
      seed: 7,
      out: (l) => lines.push(l),
    });
    assert.equal(rep.stats.crashed, false, lines.join('\n'));
    assert.ok(rep.stats.inputs >= 300, 'the hostile inputs were judged');
    // [CONN-9] [ERR-8] every answer keeps its input's verdict (the reference is right on these).
    assert.equal(rep.stats.wrong, 0, rep.stats.wrongExamples.join('\n'));
    assert.ok(rep.stats.written >= rep.stats.inputs);
    assert.ok(Number.isFinite(rep.rssBeforeKiB) && Number.isFinite(rep.rssAfterKiB), 'RSS read from /proc');
    assert.ok(rep.inputsPerSecond > 0);
    assert.match(lines.join('\n'), /inputs\/s; RSS before/);
    assert.equal(alive(rep.pid), false, 'the target process was stopped');
  });
}

test('[CONN-9] [ERR-8] [P2P-7] fuzz-roles judges every answer: a target that answers 200 to everything gets wrong answers counted, one that stays silent gets hangs, a client refusing a connection at capacity does not', async () => {
  // A fake target on loopback: it answers each request it decodes with `answer`, or nothing.
  const { createServer } = await import('node:net');
  const { Decoder, encode, response } = await import('../../codec/index.js');
  const { buildCorpus, drive, jobs, probeOnce } = await import('../../conformance/lib/fuzz-scale.js');
  const { clientWireTarget, msWireTarget } = await import('../../conformance/lib/wire-target.js');
  const { Limits } = await import('../../conformance/lib/registry.js');
  const busy = encode(response(503, [['Error-code', 'ERR_UNAVAILABLE']]));
  const run = async (mode: 'ok' | 'silent' | 'busy', t = msWireTarget()) => {
    const silent = mode === 'silent';
    const server = createServer((sock) => {
      const d = new Decoder();
      sock.on('error', () => undefined);
      sock.on('data', (b) => {
        if (mode === 'busy') {
          // At its limit of open peer sessions: one 503 in clear, then the close [P2P-7].
          sock.end(busy);
          return;
        }
        try {
          for (const m of d.push(b)) if (m.kind === 'request' && !silent) sock.write(encode(response(200, [])));
        } catch {
          sock.destroy();
        }
      });
      sock.on('end', () => sock.end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = { host: '127.0.0.1', port: (server.address() as { port: number }).port };
    const limits = new Limits({});
    const corpus = buildCorpus(t, limits, 3, ['alice'], 200);
    try {
      return await drive(jobs(t, limits, corpus, { maxPipeline: 8, needsFirst: false, firstShare: 0 }, 3), {
        target: () => addr,
        t,
        count: 100,
        maxMs: silent ? 3000 : 20_000,
        concurrency: 4,
        hangMs: silent ? 300 : 5000,
        alive: () => true,
        probe: () => probeOnce(addr, t.first, 2000),
        probeEveryMs: 60_000,
      });
    } finally {
      await new Promise((r) => server.close(r));
    }
  };
  const wrong = await run('ok');
  assert.ok(wrong.wrong > 0, 'a 200 to a validation error is a wrong answer');
  assert.match(wrong.wrongExamples.join('\n'), /expected 4\d\d ERR_/);
  const silent = await run('silent');
  assert.ok(silent.hangs > 0, 'a target that never answers hangs the connections');
  // [P2P-7] a client at capacity refuses the connection with 503 ERR_UNAVAILABLE: not a wrong
  // answer from a client, a wrong one from an MS (which has no such refusal for a session's requests).
  const full = await run('busy', clientWireTarget);
  assert.equal(full.wrong, 0, full.wrongExamples.join('\n'));
  assert.ok((full.outcomes.busy ?? 0) > 0, 'the refusals are counted');
  const msBusy = await run('busy');
  assert.ok(msBusy.wrong > 0, 'an MS that answers 503 to a validation error is wrong');
});
