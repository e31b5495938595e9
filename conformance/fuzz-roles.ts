// `make fuzz-roles` (issue 14, "hostile input at volume"): the kit's wire and state fuzzers driven at
// scale (lib/fuzz-scale.ts) against the reference CRS, MS and client, each its own process started
// through reference/bin/imsp.js (the kit never imports reference/). Per role: N hostile inputs over many
// concurrent loopback connections; zero crashes, zero hangs, memory bounded; the target's RSS before
// and after, and inputs/s. Bounded in count and time; every process it starts is stopped.
// Usage: node --import tsx conformance/fuzz-roles.ts [--role crs,ms,client] [--count 1000000]
//   [--max-seconds 1200] [--concurrency 48] [--pipeline 200] [--seed S] [--json FILE]
// Each answer is judged against its input's verdict (lib/fuzz-scale.ts); a wrong answer, a crash, a
// hang, a failed probe or RSS growth over the bound fails the role.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Message } from '../codec/index.js';
import { setupClient, type ClientContext } from './lib/client-context.js';
import type { KitConfig } from './lib/config.js';
import type { Finding } from './lib/case.js';
import { Transcript, parseHostPort } from './lib/conn.js';
import {
  buildCorpus,
  cpuSeconds,
  drive,
  jobs,
  probeOnce,
  rssKiB,
  type DriveStats,
  type JobShape,
} from './lib/fuzz-scale.js';
import { buildInit } from './lib/p2p.js';
import { Limits } from './lib/registry.js';
import { startReferenceCrs, startReferenceMs, workdir, type Spawned, type Workdir } from './lib/spawn.js';
import { crsWireTarget, msWireTarget, type WireTarget } from './lib/wire-target.js';

export type FuzzRole = 'crs' | 'ms' | 'client';

export interface FuzzRolesOptions {
  root: string;
  roles: FuzzRole[];
  count: number;
  maxSeconds: number;
  concurrency: number;
  seed: number;
  /** Most hostile inputs on one connection (default 200; an MS's rate limit bounds it too). */
  pipeline?: number;
  /** Inputs drawn from each fuzzer for the corpus (default 3000). */
  corpus?: number;
  out?: (line: string) => void;
}

export interface RoleReport {
  role: FuzzRole;
  /** The target process (stopped when fuzzRole returns). */
  pid: number;
  stats: DriveStats;
  rssBeforeKiB: number;
  rssWarmKiB: number;
  rssPeakKiB: number;
  rssAfterKiB: number;
  /** RSS at each progress line (every 10 s). */
  rssCurveKiB: number[];
  inputsPerSecond: number;
  /** CPU the target used during the run (/proc), and the kit (this process, corpus included). */
  targetCpuSeconds: number;
  kitCpuSeconds: number;
  /** Growth from the warmed-up RSS to the end, over the bound: unbounded memory. */
  memoryBoundKiB: number;
  ok: boolean;
  problems: string[];
}

/** RSS growth after warm-up that counts as unbounded (a leak of ~100 octets per input shows well above it at 1e6). */
export const MEMORY_BOUND_KIB = 96 * 1024;

/**
 * The registry's default timers, with a short handshake timeout so that half-open handshakes do not
 * pile up: the short FAST_LIMITS leases of the kit's self-test would expire on a loaded machine while
 * the fuzzer keeps the target busy (an MS losing its enrollment, a client its session). The MS's
 * per-connection bucket is made larger (rateLimitBurst, configurable [RATE-1]) so that long pipelines
 * carry the hostile inputs: the rate limit itself is judged by the kit's cases, not here.
 */
export const FUZZ_LIMITS: Record<string, number> = { handshakeTimeout: 2000, rateLimitBurst: 1000 };
const limits = new Limits(FUZZ_LIMITS);

interface Target {
  t: WireTarget;
  /** Where the target listens now (a client that logged in again may listen on a new port). */
  addr: () => { host: string; port: number };
  pid: number;
  names: string[];
  shape: JobShape;
  /** A connection neither answered nor closed within this long is a hang: longer than the target's own handshake timeout. */
  hangMs: number;
  alive: () => boolean;
  /** Problems the target's own peers saw (the client's session at the kit MS ended...). */
  health?: () => string[];
  stop: () => Promise<void>;
}

const alive = (s: Spawned | { child: { exitCode: number | null; signalCode: string | null } }) => () =>
  s.child.exitCode === null && s.child.signalCode === null;

/** The reference CRS, fuzzed as the CRS role. */
async function startCrsTarget(root: string, w: Workdir): Promise<Target> {
  const crs = await startReferenceCrs(root, w, FUZZ_LIMITS);
  const addr = parseHostPort(crs.address);
  return {
    t: crsWireTarget,
    addr: () => addr,
    pid: crs.child.pid!,
    names: ['alice', 'kit.fuzz.a', 'ms-1'],
    // [CONN-1] the first message decides a CRS connection: hostile pipelines follow a LOCATE.
    shape: { maxPipeline: 1000, needsFirst: true, firstShare: 1 },
    hangMs: 15_000,
    alive: alive(crs),
    stop: async () => {
      await crs.stop();
      w.dispose();
    },
  };
}

/** The reference MS behind a reference CRS, fuzzed as the MS role. */
async function startMsTarget(root: string, w: Workdir): Promise<Target> {
  const crs = await startReferenceCrs(root, w, FUZZ_LIMITS);
  let ms: Spawned;
  try {
    ms = await startReferenceMs(root, w, crs.address, FUZZ_LIMITS);
  } catch (e) {
    await crs.stop();
    w.dispose();
    throw e;
  }
  const addr = parseHostPort(ms.address);
  return {
    t: msWireTarget(),
    addr: () => addr,
    pid: ms.child.pid!,
    names: ['alice', 'ghost', 'kit.fuzz.a'],
    // [RATE-1] under the per-connection bucket (rateLimitBurst), so that most answers are the inputs' own.
    shape: { maxPipeline: Math.max(1, limits.get('rateLimitBurst') - 10), needsFirst: false, firstShare: 0.2 },
    hangMs: 15_000,
    alive: alive(ms),
    stop: async () => {
      await ms.stop();
      await crs.stop();
      w.dispose();
    },
  };
}

/** The reference client's peer listener, the kit playing its CRS and MS. */
async function startClientTarget(root: string): Promise<Target> {
  // The client: the kit plays its CRS and MS (lib/client-context.ts), logs it in, then fuzzes its
  // peer-to-peer listener as a buddy and as strangers would.
  const cfg = {
    role: 'client',
    clientCmd: `${process.execPath} reference/bin/imsp.js client --control --crs {crs}`,
    cwd: root,
    limits,
    timeoutMs: 5000,
  } as unknown as KitConfig;
  const setup = await setupClient(cfg, { seed: 1, runs: 1, timeoutMs: 5000, commandLine: '' } as never, []);
  const findings: Finding[] = [];
  const setupCase = { id: 'fuzz-roles/client', section: 'fuzz', title: 'setup', reqs: [], run: async () => {} };
  const ctx = setup.driver.context(new Transcript(50), findings, setupCase as never) as ClientContext;
  try {
    const peer = await ctx.peer();
    const a = ctx.account([ctx.buddyRecord(peer)]);
    const client = await ctx.startLoggedIn(a);
    // The client announces its peer address in LOGIN; a client that logged in again (after its MS
    // session ended) may listen elsewhere: the target follows its latest LOGIN, and the run reports it.
    const session0 = ctx.svc.sessions.get(a.name);
    let addr = ctx.clientAddress(a);
    const current = (): { host: string; port: number } => {
      try {
        addr = ctx.clientAddress(a);
      } catch {
        // no session at the kit MS right now: the last address
      }
      return addr;
    };
    // INITs are costly to build (X25519, Ed25519): a pool, reused round robin (a reused one is a replay, refused).
    const pool: Message[] = Array.from(
      { length: 32 },
      () => buildInit(peer.name, peer.identity, a.name, a.identity.publicKey).msg,
    );
    let k = 0;
    const t: WireTarget = {
      role: 'client',
      from: 'client',
      start: 'INIT',
      first: () => pool[k++ % pool.length]!,
      firstOk: (r) => r.status === 200 || r.status < 500,
    };
    return {
      t,
      addr: current,
      pid: client.child.pid!,
      names: [a.name, peer.name, 'stranger'],
      // [ERR-8] before INIT every error of a client's listener answers; an INIT starts the handshake, so none leads.
      shape: { maxPipeline: 1000, needsFirst: false, firstShare: 0 },
      // The client runs with the registry's handshakeTimeout (its command line sets no limits): a
      // well-formed SEALED before INIT waits that long before its 425 [CONN-4], so a hang is 15 s more.
      hangMs: new Limits({}).get('handshakeTimeout') + 15_000,
      alive: () => client.child.exitCode === null && client.child.signalCode === null,
      health: () => {
        const now = ctx.svc.sessions.get(a.name);
        const logins = ctx.svc.proofsSeen;
        const out: string[] = [];
        if (now !== session0 || session0?.closed)
          out.push(
            `the client's session at the kit MS ended during the run (${logins} PROOFs seen; it listens at ${JSON.stringify(current())})`,
          );
        return out;
      },
      stop: async () => {
        await setup.driver.cleanup(ctx);
        await setup.teardown();
      },
    };
  } catch (e) {
    await setup.driver.cleanup(ctx);
    await setup.teardown();
    throw new Error(`${(e as Error).message} ${findings.map((f) => f.text).join('; ')}`);
  }
}

async function startTarget(role: FuzzRole, root: string): Promise<Target> {
  if (role === 'client') return startClientTarget(root);
  const w = workdir('imsp-fuzz-roles-');
  return role === 'crs' ? startCrsTarget(root, w) : startMsTarget(root, w);
}

export async function fuzzRole(role: FuzzRole, o: FuzzRolesOptions): Promise<RoleReport> {
  const out = o.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const target = await startTarget(role, o.root);
  const problems: string[] = [];
  try {
    const rssBefore = rssKiB(target.pid);
    const cpu0 = cpuSeconds(target.pid);
    const kit0 = process.cpuUsage();
    let peak = rssBefore;
    const curve: number[] = [];
    const sample = setInterval(() => {
      const r = rssKiB(target.pid);
      if (r > peak) peak = r;
    }, 250);
    // The corpus, drawn once (fast-check, seeded) and judged once; the jobs reuse it with seeded edits.
    const t0 = Date.now();
    const corpus = buildCorpus(target.t, limits, o.seed, target.names, o.corpus ?? 3000);
    out(
      `fuzz-roles ${role}: corpus of ${corpus.body.length} answered and ${corpus.terminal.length} closing/state-dependent inputs in ${Date.now() - t0} ms`,
    );
    const shape = { ...target.shape, maxPipeline: Math.min(target.shape.maxPipeline, o.pipeline ?? 200) };
    const src = jobs(target.t, limits, corpus, shape, o.seed);
    const common = {
      target: target.addr,
      t: target.t,
      concurrency: o.concurrency,
      hangMs: target.hangMs,
      alive: target.alive,
      probe: () => probeOnce(target.addr(), target.t.first, 10_000),
      probeEveryMs: 2000,
    };
    // Warm-up (JIT, pools, caches): 2% of the run (at least 500 inputs, at most a tenth of the time); RSS after it is the baseline.
    const warmCount = Math.max(500, Math.floor(o.count / 50));
    const total = await drive(src, { ...common, count: warmCount, maxMs: Math.max(1000, o.maxSeconds * 100) });
    const warmInputs = total.inputs;
    const rssWarm = rssKiB(target.pid);
    out(
      `fuzz-roles ${role}: pid ${target.pid}, RSS before ${mb(rssBefore)}, after ${warmInputs} warm-up inputs ${mb(rssWarm)}`,
    );
    const mainStart = total.ms;
    await drive(
      src,
      {
        ...common,
        count: o.count,
        maxMs: Math.max(1000, o.maxSeconds * 1000 - total.ms),
        onProgress: (s) => {
          const r = rssKiB(target.pid);
          curve.push(r);
          out(
            `  ${role}: ${s.inputs} inputs, ${Math.round((s.inputs - warmInputs) / ((s.ms - mainStart) / 1000))}/s, ${s.connections} connections, RSS ${mb(r)}, wrong ${s.wrong}, hangs ${s.hangs}`,
          );
        },
      },
      total,
    );
    clearInterval(sample);
    // The target still serves after the run, and its process is up.
    const finalProbe = target.alive()
      ? await probeOnce(target.addr(), target.t.first, 10_000, target.t.firstOk)
      : 'the target exited';
    const rssAfter = rssKiB(target.pid);
    const targetCpu = cpuSeconds(target.pid) - cpu0;
    const kitUse = process.cpuUsage(kit0);
    const kitCpu = (kitUse.user + kitUse.system) / 1e6;
    if (!target.alive() || total.crashed) problems.push('crash: the target process exited');
    if (total.wrong) problems.push(`wrong answers: ${total.wrong}, e.g. ${total.wrongExamples.slice(0, 3).join('; ')}`);
    if (total.hangs)
      problems.push(
        `hang: ${total.hangs} connection(s) neither answered nor closed within ${target.hangMs / 1000} s: ${total.wrongExamples
          .filter((e) => e.startsWith('hang'))
          .slice(0, 3)
          .join('; ')}`,
      );
    if (total.probeFailures.length)
      problems.push(`hang: probe failures: ${total.probeFailures.slice(0, 3).join('; ')}`);
    if (finalProbe) problems.push(`after the run: ${finalProbe}`);
    problems.push(...(target.health?.() ?? []));
    if (rssAfter - rssWarm > MEMORY_BOUND_KIB || peak - rssWarm > 2 * MEMORY_BOUND_KIB)
      problems.push(
        `memory: RSS grew from ${mb(rssWarm)} after warm-up to peak ${mb(peak)}, after ${mb(rssAfter)} (bound ${mb(MEMORY_BOUND_KIB)})`,
      );
    if (total.stoppedBy === 'time' && total.inputs < o.count)
      problems.push(`stopped by the time bound after ${total.inputs} of ${o.count} inputs`);
    const rep: RoleReport = {
      role,
      pid: target.pid,
      stats: total,
      rssBeforeKiB: rssBefore,
      rssWarmKiB: rssWarm,
      rssPeakKiB: peak,
      rssAfterKiB: rssAfter,
      rssCurveKiB: curve,
      inputsPerSecond: Math.round(total.inputs / (total.ms / 1000)),
      targetCpuSeconds: targetCpu,
      kitCpuSeconds: kitCpu,
      memoryBoundKiB: MEMORY_BOUND_KIB,
      ok: problems.length === 0,
      problems,
    };
    out(
      `fuzz-roles ${role}: ${total.inputs} hostile inputs judged (${total.written} written) ` +
        `over ${total.connections} connections in ${(total.ms / 1000).toFixed(1)} s = ${rep.inputsPerSecond} inputs/s; ` +
        `RSS before ${mb(rssBefore)}, warm ${mb(rssWarm)}, peak ${mb(peak)}, after ${mb(rssAfter)}; ` +
        `CPU target ${targetCpu.toFixed(1)} s, kit ${kitCpu.toFixed(1)} s; ` +
        `per connection ${Math.round(total.phaseMs.body / Math.max(1, total.connections))} ms to the body's answers, ${Math.round(total.phaseMs.rest / Math.max(1, total.connections))} ms to the close; ` +
        `crashes ${total.crashed ? 1 : 0}, hangs ${total.hangs}, wrong answers ${total.wrong}, probes ${total.probes} (failed ${total.probeFailures.length}); ` +
        `answers ${JSON.stringify(total.outcomes)}`,
    );
    out(`fuzz-roles ${role}: ${rep.ok ? 'OK' : `FAIL: ${problems.join('; ')}`}`);
    return rep;
  } finally {
    await target.stop();
  }
}

const mb = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;

export async function fuzzRoles(o: FuzzRolesOptions): Promise<RoleReport[]> {
  const reps: RoleReport[] = [];
  for (const r of o.roles) reps.push(await fuzzRole(r, o));
  return reps;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const get = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const seed = Number(get('--seed') ?? Math.floor(Math.random() * 2 ** 31));
  const o: FuzzRolesOptions = {
    root: get('--root') ?? fileURLToPath(new URL('../', import.meta.url)),
    roles: (get('--role')?.split(',') ?? ['crs', 'ms', 'client']) as FuzzRole[],
    count: Number(get('--count') ?? 1_000_000),
    maxSeconds: Number(get('--max-seconds') ?? 1200),
    concurrency: Number(get('--concurrency') ?? 48),
    pipeline: Number(get('--pipeline') ?? 200),
    seed,
  };
  process.stdout.write(
    `fuzz-roles: roles ${o.roles.join(',')}, ${o.count} inputs each, at most ${o.maxSeconds} s each, ${o.concurrency} connections at once, seed ${seed}\n`,
  );

  const reps = await fuzzRoles(o);
  const json = get('--json');
  if (json) writeFileSync(json, JSON.stringify({ seed, options: o, reports: reps }, null, 2));
  process.exitCode = reps.every((r) => r.ok) ? 0 : 1;
}
