// `make fuzz-roles` (issue 14, "hostile input at volume"): the kit's wire and state fuzzers driven at
// scale (lib/fuzz-scale.ts) against the reference CRS, MS and client, each its own process started
// through reference/bin/imsp.js (the kit never imports reference/). Per role: N hostile inputs over many
// concurrent loopback connections; zero crashes, zero hangs, memory bounded; the target's RSS before
// and after, and inputs/s. Bounded in count and time; every process it starts is stopped.
// Usage: node --import tsx conformance/fuzz-roles.ts [--role crs,ms,client] [--count 1000000]
//   [--max-seconds 1200] [--concurrency 48] [--seed S] [--json FILE]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Message } from '../codec/index.js';
import { setupClient, type ClientContext } from './lib/client-context.js';
import type { KitConfig } from './lib/config.js';
import type { Finding } from './lib/case.js';
import { Transcript, parseHostPort } from './lib/conn.js';
import { drive, jobs, probeOnce, rssKiB, type DriveStats } from './lib/fuzz-scale.js';
import { buildInit } from './lib/p2p.js';
import { Limits } from './lib/registry.js';
import { startReferenceCrs, startReferenceMs, workdir, type Spawned } from './lib/spawn.js';
import { crsWireTarget, msWireTarget, type WireTarget } from './lib/wire-target.js';

export type FuzzRole = 'crs' | 'ms' | 'client';

export interface FuzzRolesOptions {
  root: string;
  roles: FuzzRole[];
  count: number;
  maxSeconds: number;
  concurrency: number;
  seed: number;
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
  inputsPerSecond: number;
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
 * the fuzzer keeps the target busy (an MS losing its enrollment, a client its session).
 */
export const FUZZ_LIMITS: Record<string, number> = { handshakeTimeout: 2000 };
const limits = new Limits(FUZZ_LIMITS);

interface Target {
  t: WireTarget;
  addr: { host: string; port: number };
  pid: number;
  names: string[];
  alive: () => boolean;
  stop: () => Promise<void>;
}

async function startTarget(role: FuzzRole, root: string): Promise<Target> {
  const w = workdir('imsp-fuzz-roles-');
  const alive = (s: Spawned | { child: { exitCode: number | null; signalCode: string | null } }) => () =>
    s.child.exitCode === null && s.child.signalCode === null;
  if (role === 'crs') {
    const crs = await startReferenceCrs(root, w, FUZZ_LIMITS);
    return {
      t: crsWireTarget,
      addr: parseHostPort(crs.address),
      pid: crs.child.pid!,
      names: ['alice', 'kit.fuzz.a', 'ms-1'],
      alive: alive(crs),
      stop: async () => {
        await crs.stop();
        w.dispose();
      },
    };
  }
  if (role === 'ms') {
    const crs = await startReferenceCrs(root, w, FUZZ_LIMITS);
    let ms: Spawned;
    try {
      ms = await startReferenceMs(root, w, crs.address, FUZZ_LIMITS);
    } catch (e) {
      await crs.stop();
      w.dispose();
      throw e;
    }
    return {
      t: msWireTarget(),
      addr: parseHostPort(ms.address),
      pid: ms.child.pid!,
      names: ['alice', 'ghost', 'kit.fuzz.a'],
      alive: alive(ms),
      stop: async () => {
        await ms.stop();
        await crs.stop();
        w.dispose();
      },
    };
  }
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
    const addr = ctx.clientAddress(a);
    // INITs are costly to build (X25519, Ed25519): a pool, reused round robin.
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
      addr,
      pid: client.child.pid!,
      names: [a.name, peer.name, 'stranger'],
      alive: () => client.child.exitCode === null && client.child.signalCode === null,
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

export async function fuzzRole(role: FuzzRole, o: FuzzRolesOptions): Promise<RoleReport> {
  const out = o.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const target = await startTarget(role, o.root);
  const problems: string[] = [];
  try {
    const rssBefore = rssKiB(target.pid);
    let peak = rssBefore;
    const sample = setInterval(() => {
      const r = rssKiB(target.pid);
      if (r > peak) peak = r;
    }, 250);
    const src = jobs(target.t, limits, o.seed, target.names);
    const common = {
      target: target.addr,
      maxMs: o.maxSeconds * 1000,
      concurrency: o.concurrency,
      hangMs: 15_000,
      alive: target.alive,
      probe: () => probeOnce(target.addr, target.t.first, 10_000),
      probeEveryMs: 2000,
    };
    // Warm-up (JIT, pools, caches): 2% of the run (at least 500 inputs, at most a tenth of the time); RSS after it is the baseline.
    const warmCount = Math.max(500, Math.floor(o.count / 50));
    const warm = await drive(src, { ...common, count: warmCount, maxMs: Math.max(1000, o.maxSeconds * 100) });
    const rssWarm = rssKiB(target.pid);
    out(
      `fuzz-roles ${role}: pid ${target.pid}, RSS before ${mb(rssBefore)}, after ${warm.inputs} warm-up inputs ${mb(rssWarm)}`,
    );
    const stats = await drive(src, {
      ...common,
      count: Math.max(0, o.count - warm.inputs),
      maxMs: Math.max(1000, o.maxSeconds * 1000 - warm.ms),
      onProgress: (s) =>
        out(
          `  ${role}: ${s.inputs + warm.inputs} inputs, ${Math.round(s.inputs / (s.ms / 1000))}/s, RSS ${mb(rssKiB(target.pid))}, hangs ${s.hangs}`,
        ),
    });
    clearInterval(sample);
    // Merge the warm-up into the totals.
    const total: DriveStats = {
      ...stats,
      inputs: stats.inputs + warm.inputs,
      connections: stats.connections + warm.connections,
      written: stats.written + warm.written,
      hangs: stats.hangs + warm.hangs,
      connectErrors: stats.connectErrors + warm.connectErrors,
      probes: stats.probes + warm.probes,
      probeFailures: [...warm.probeFailures, ...stats.probeFailures],
      crashed: stats.crashed || warm.crashed,
      ms: stats.ms + warm.ms,
      outcomes: { ...warm.outcomes },
    };
    for (const [k, v] of Object.entries(stats.outcomes)) total.outcomes[k] = (total.outcomes[k] ?? 0) + v;
    // The target still serves after the run, and its process is up.
    const finalProbe = target.alive() ? await probeOnce(target.addr, target.t.first, 10_000) : 'the target exited';
    const rssAfter = rssKiB(target.pid);
    if (!target.alive() || total.crashed) problems.push('crash: the target process exited');
    if (total.hangs) problems.push(`hang: ${total.hangs} connection(s) neither answered nor closed within 15 s`);
    if (total.probeFailures.length)
      problems.push(`hang: probe failures: ${total.probeFailures.slice(0, 3).join('; ')}`);
    if (finalProbe) problems.push(`after the run: ${finalProbe}`);
    if (rssAfter - rssWarm > MEMORY_BOUND_KIB)
      problems.push(`memory: RSS grew ${mb(rssAfter - rssWarm)} after warm-up (bound ${mb(MEMORY_BOUND_KIB)})`);
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
      inputsPerSecond: Math.round(total.inputs / (total.ms / 1000)),
      memoryBoundKiB: MEMORY_BOUND_KIB,
      ok: problems.length === 0,
      problems,
    };
    out(
      `fuzz-roles ${role}: ${total.inputs} hostile inputs answered (${total.written} written) ` +
        `over ${total.connections} connections in ${(total.ms / 1000).toFixed(1)} s = ${rep.inputsPerSecond} inputs/s; ` +
        `RSS before ${mb(rssBefore)}, warm ${mb(rssWarm)}, peak ${mb(peak)}, after ${mb(rssAfter)}; ` +
        `crashes ${total.crashed ? 1 : 0}, hangs ${total.hangs}, probes ${total.probes} (failed ${total.probeFailures.length}); ` +
        `first answers ${JSON.stringify(total.outcomes)}`,
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
