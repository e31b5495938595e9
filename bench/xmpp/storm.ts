// The storm scenario of issue 15 against an XMPP server: every user logs in with `concurrency` logins
// in flight, the server works off the presence wave, then fan-out probes with everyone online. The
// same shape as the IMSP storm (reference/load/run.ts), so that the figures compare in one table.
import { fmt, summarize, type Summary } from '../../reference/load/stats.js';
import { collectGarbage, cpuWindow, waitGroupsIdleOrBound, type CpuReport } from '../../reference/load/cpu.js';
import { probeRounds } from '../../reference/load/population.js';
import { XmppClient, markedPresence, type XmppLogin, type XmppTarget } from './client.js';

export interface StormOptions {
  target: XmppTarget;
  /** The measured users, then the `warmup` warm-up users (the anchor is provisioned with all of them). */
  names: string[];
  buddies: (i: number) => number[];
  /**
   * The last `warmup` of `names` log in and out before the measured storm, and the server gets up to
   * `idleMaxMs` to go idle: the same warm-up as IMSP's (reference/load/run.ts, issue 15). Default 0.
   */
  warmup?: number;
  concurrency: number;
  /** Probes of one round. */
  probes: number;
  /** Rounds of `probes` probes (probeRounds, as in the IMSP storm). Default 1. */
  probeRounds?: number;
  /** Probes started per second. */
  rate: number;
  /** Bound of the login phase (ms). */
  maxMs: number;
  /** Bound of the wait for the server to go idle after the storm (ms). */
  idleMaxMs: number;
  serverPid: number;
  serverName: string;
  progress?: (s: string) => void;
  /**
   * Called when the server is still busy at the idle bound after the storm: what the server itself
   * says it is doing then (ejabberd: BEAM's microstate accounting and its longest message queues), so
   * that a report can tell the anchor's own limit from our harness's (Appendix A.8).
   */
  diagnose?: () => string;
}

/** What the comparison table needs from one storm (IMSP's is built from its LoadReport alike). */
export interface StormResult {
  server: string;
  users: number;
  attempted: number;
  ok: number;
  perSecond: number;
  /** connect to the bind result (XMPP) / to the 200 (IMSP), ms. */
  latency: Summary;
  /** Fan-out from the trigger (the marked presence sent / PROOF sent) to the last contact's receipt. */
  fanout: Summary;
  /**
   * IMSP only: the same probes timed when the last buddy's load worker had decoded and opened the push
   * (fanout + the generator's receive path, measured in the same run; Appendix A.8).
   */
  fanoutOpened?: Summary;
  expected: number;
  delivered: number;
  /** CPU seconds per process from the storm's start until the servers went idle, and the machine's. */
  cpu: CpuReport;
  /** ms the servers stayed busy after the last login completed. */
  tailMs: number;
  /**
   * Whether the server went idle within the bound after the storm. When it did not, it was still
   * working off the storm's presence wave: its probes queued behind that backlog, and its CPU per
   * login misses the work it still had to do, so its figures do not make a ratio.
   */
  idle: boolean;
  /**
   * When not idle: the server's and the generator's CPU over the last second of the wait, as a share
   * of one core (which one was still busy), and the server's own account of that moment.
   */
  busyAtBound?: { server: number; generator: number; diagnosis?: string };
  errors: Record<string, number>;
  /** The warm-up's logins and its CPU (login, logout and the idle wait), when there was one. */
  warmup?: { ok: number; failed: number; seconds: number; cpu: CpuReport };
}

/**
 * `concurrency` lanes: logs in each client of `group`, then (all done) logs each out again, and
 * waits (bounded) for the server to go idle. Returns the successful logins.
 */
async function warmUp(
  o: StormOptions,
  group: XmppClient[],
): Promise<{ ok: number; failed: number; seconds: number; cpu: CpuReport }> {
  const window = cpuWindow([
    { name: o.serverName, pid: o.serverPid, role: 'server' },
    { name: 'load generator', pid: process.pid, role: 'generator' },
  ]);
  const t0 = performance.now();
  let ok = 0;
  const lanes = async (each: (c: XmppClient) => Promise<void>): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < group.length) await each(group[next++]!);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, group.length)) }, lane));
  };
  await lanes(async (c) => {
    if ((await c.login(o.target)).ok) ok++;
  });
  const seconds = (performance.now() - t0) / 1000;
  await lanes((c) => c.logout());
  await waitGroupsIdleOrBound([[o.serverPid], [process.pid]], { maxMs: o.idleMaxMs });
  return { ok, failed: group.length - ok, seconds, cpu: window() };
}

/** Runs the storm and the probes; closes every client it opened. */
export async function xmppStorm(o: StormOptions): Promise<StormResult> {
  const say = o.progress ?? (() => undefined);
  const receipts = new Map<number, { count: number; last: number }>();
  let recording = false;
  const onMarker = (user: number, t: number): void => {
    const r = receipts.get(user);
    if (r) {
      r.count++;
      if (t > r.last) r.last = t;
    } else receipts.set(user, { count: 1, last: t });
  };
  const all = o.names.map((n, i) => new XmppClient(i, n, onMarker, () => recording));
  const nWarm = Math.max(0, Math.min(o.warmup ?? 0, all.length - 1));
  const clients = all.slice(0, all.length - nWarm);
  const errors: Record<string, number> = {};
  const logins: XmppLogin[] = [];
  try {
    if (nWarm > 0) say(`${o.serverName}: warm-up, ${nWarm} other users log in and out...`);
    const warmup = nWarm > 0 ? await warmUp(o, all.slice(clients.length)) : undefined;
    const window = cpuWindow([
      { name: o.serverName, pid: o.serverPid, role: 'server' },
      { name: 'load generator', pid: process.pid, role: 'generator' },
    ]);
    const deadline = performance.now() + o.maxMs;
    let next = 0;
    const ticker = setInterval(
      () => say(`${o.serverName}: ${logins.filter((l) => l.ok).length}/${clients.length} logged in`),
      1000,
    );
    try {
      const lane = async (): Promise<void> => {
        while (next < clients.length && performance.now() < deadline) {
          const r = await clients[next++]!.login(o.target);
          logins.push(r);
          if (!r.ok) errors[r.error ?? '?'] = (errors[r.error ?? '?'] ?? 0) + 1;
        }
      };
      await Promise.all(Array.from({ length: Math.min(o.concurrency, clients.length) }, lane));
    } finally {
      clearInterval(ticker);
    }
    const lastDone = performance.now();
    say(`${o.serverName}: waiting for the server to work off the presence wave...`);
    // The server and this generator: a generator still reading the presence wave (one process; with
    // TLS it costs 3-4 ms of CPU per login, more than a core at 300 logins/s) would hold the probes'
    // receipts behind that backlog, and a server waiting on it looks idle (issue 15, Appendix A.8).
    const { idle, shares } = await waitGroupsIdleOrBound([[o.serverPid], [process.pid]], { maxMs: o.idleMaxMs });
    const tailMs = performance.now() - lastDone;
    const cpu = window();
    let busyAtBound: StormResult['busyAtBound'];
    if (!idle) {
      let diagnosis: string | undefined;
      try {
        diagnosis = o.diagnose?.();
      } catch (e) {
        diagnosis = `no diagnosis: ${e instanceof Error ? e.message : String(e)}`;
      }
      busyAtBound = { server: shares[0] ?? 0, generator: shares[1] ?? 0, ...(diagnosis ? { diagnosis } : {}) };
    }
    const ok = logins.filter((l) => l.ok);
    const first = logins.length ? Math.min(...logins.map((l) => l.tStart)) : 0;
    const last = ok.length ? Math.max(...ok.map((l) => l.tDone)) : first;

    // Probes: evenly spaced users in rounds, none another's contact within a round (probeRounds, the
    // IMSP storm's users), re-logged in at `rate`; every online contact must see the marked presence.
    const half = Math.floor(o.buddies(0).length / 2);
    const n = Math.min(o.probes, Math.floor(clients.length / (half + 1)));
    const rounds = probeRounds(clients.length, n, Math.max(1, o.probeRounds ?? 1)).map((r) =>
      r.filter((k) => clients[k]!.online),
    );
    say(
      `${o.serverName}: ${rounds.reduce((a, r) => a + r.length, 0)} fan-out probes at ${o.rate}/s${rounds.length > 1 ? ` in ${rounds.length} rounds` : ''}...`,
    );
    const fan: number[] = [];
    let expected = 0;
    let delivered = 0;
    for (const pick of rounds) {
      // As the IMSP load workers do: the generator's own garbage collected before the probes (Appendix A.8),
      // and receipts kept per round (a probe of an earlier round is online again and may be a contact).
      collectGarbage();
      receipts.clear();
      recording = true;
      const want = new Map<number, { online: number; tPresence: number }>();
      const probe = async (k: number): Promise<void> => {
        const c = clients[k]!;
        const online = o.buddies(k).filter((b) => clients[b]!.online).length;
        await c.logout();
        const r = await c.login(o.target, markedPresence(k));
        if (!r.ok) errors[`probe: ${r.error}`] = (errors[`probe: ${r.error}`] ?? 0) + 1;
        else want.set(k, { online, tPresence: r.tPresence });
      };
      const inflight: Promise<void>[] = [];
      for (const k of pick) {
        inflight.push(probe(k));
        await new Promise((res) => setTimeout(res, 1000 / o.rate));
      }
      await Promise.all(inflight);
      // Stragglers: wait until every expected receipt arrived, or none came for 10 s (at most 60 s); a
      // miss is counted.
      const total = (): number => [...want.keys()].reduce((a, k) => a + (receipts.get(k)?.count ?? 0), 0);
      const complete = (): boolean => [...want].every(([k, w]) => (receipts.get(k)?.count ?? 0) >= w.online);
      const hardEnd = performance.now() + 60_000;
      let seen = total();
      let quietSince = performance.now();
      while (!complete() && performance.now() < hardEnd && performance.now() - quietSince < 10_000) {
        await new Promise((res) => setTimeout(res, 50));
        const now = total();
        if (now !== seen) {
          seen = now;
          quietSince = performance.now();
        }
      }
      recording = false;
      for (const [k, w] of want) {
        const got = receipts.get(k);
        expected += w.online;
        delivered += Math.min(w.online, got?.count ?? 0);
        if (got && got.count >= w.online && w.online > 0) fan.push(got.last - w.tPresence);
      }
    }
    recording = false;
    return {
      server: o.serverName,
      users: clients.length,
      attempted: logins.length,
      ok: ok.length,
      perSecond: ok.length / Math.max(1e-3, (last - first) / 1000),
      latency: summarize(ok.map((l) => l.tDone - l.tStart)),
      fanout: summarize(fan),
      expected,
      delivered,
      cpu,
      tailMs,
      idle,
      ...(busyAtBound ? { busyAtBound } : {}),
      errors,
      ...(warmup ? { warmup } : {}),
    };
  } finally {
    for (const c of all) c.close();
    await Promise.all(all.map((c) => Promise.race([c.closed(), new Promise((r) => setTimeout(r, 2000))])));
  }
}

/**
 * The report line of a storm that did not finish within its bounds (Appendix A.8), or null when it
 * finished: still busy `idleMaxMs` after its last login, or not every login tried by `loginMaxMs`.
 * It says what the server did (logins, rate, how long it stayed busy, which of the server and the
 * generator was busy in the last second, its CPU by then, the probes after it) and, when the server
 * gave one, its own account of that moment on the following lines.
 */
export function unfinishedReport(r: StormResult, bounds: { loginMaxMs: number; idleMaxMs: number }): string | null {
  if (r.idle && r.attempted >= r.users) return null;
  const pct = (v: number | undefined): string => `${fmt((v ?? Number.NaN) * 100, 0)}%`;
  const serverCpu = r.cpu.uses.filter((u) => u.role === 'server').reduce((a, u) => a + u.seconds, 0);
  const how = r.idle
    ? `logins cut at the ${bounds.loginMaxMs / 1000} s bound (${r.attempted} tried)`
    : `still busy ${fmt(r.tailMs / 1000, 0)} s after its last login (in the last second: server ${pct(r.busyAtBound?.server)} of a core, load generator ${pct(r.busyAtBound?.generator)})`;
  const diagnosis = r.busyAtBound?.diagnosis;
  return (
    `${r.server} at ${r.users}: did not finish in ${(r.idle ? bounds.loginMaxMs : bounds.idleMaxMs) / 1000} s: ` +
    `${r.ok}/${r.users} logged in (${fmt(r.perSecond, 0)}/s, p99 ${fmt(r.latency.p99, 0)} ms), ${how}; ` +
    `${fmt(serverCpu, 1)} s of server CPU by then; probes after it: ${r.delivered}/${r.expected} pushes delivered, ` +
    `fan-out p50 ${fmt(r.fanout.p50, 0)} ms (they queued behind that backlog; its CPU per login misses the rest: no ratio is made against it)` +
    (diagnosis ? `\n    ${r.server} at the bound: ${diagnosis.replace(/\n/g, '\n    ')}` : '')
  );
}
