// `imsp load`: drives simulated clients against running servers (or servers it spawns) and reports
// logins/s, latencies, presence fan-out, sessions, server memory per session, P2P MSG rate and
// errors by code (reference/load). Loopback only; every run is bounded in count and time.
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runLoad, type LoadOptions, type Scenario } from '../load/run.js';
import { reportRows, table } from '../load/report.js';
import { renderSvg } from '../load/plot.js';
import { renderReportStages } from '../load/stages.js';
import { renderProfiles, summarizeProfiles } from '../load/cpuprofile.js';
import { resolve } from 'node:path';

// A bad value is reported by commander ("error: option '--users <n>' argument 'x' is invalid. ..."),
// as `imsp user` does; a CommanderError thrown here ended the command with status 2 and no message.
const int =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^[0-9]+$/.test(v.trim()) || !Number.isSafeInteger(n))
      throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Entry point: argv[0] === 'load'. Resolves with the exit status. */
export async function run(argv: string[]): Promise<number> {
  const cmd = new Command('imsp load')
    .description(
      'Drive simulated clients through the real protocol (LOGIN/PROOF, SEALED links, PRESENCE, PING, P2P MSG) and report.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .addOption(
      new Option('--scenario <name>', 'steady | storm | churn | chat')
        .choices(['steady', 'storm', 'churn', 'chat'])
        .default('storm'),
    )
    .option('--spawn', 'start a CRS (temp SQLite store) and --spawn-ms MS processes', false)
    .option('--spawn-ms <n>', 'MS processes to spawn', int('--spawn-ms'), 2)
    .option('--crs <host:port>', 'a running CRS: the MSs come from its LOCATE answer')
    .option('--ms <host:port,...>', 'running MSs to log in at (instead of LOCATE)', list)
    .option('--store <file>', "with running servers: the CRS's SQLite file, where the synthetic users are registered")
    .option('--metrics <host:port,...>', 'with running servers: their Prometheus endpoints (memory per session)', list)
    .option('--users <n>', 'synthetic users', int('--users'), 1000)
    .option('--buddies <k>', 'mutual contact-list size', int('--buddies'), 10)
    .option('--concurrency <n>', 'logins in flight', int('--concurrency'), 100)
    .option('--duration <seconds>', 'steady: hold time; churn: churn time; chat: send time', Number, 10)
    .option('--max <seconds>', 'bound of the login phase', Number, 300)
    .option('--processes <n>', 'worker processes for the clients (0 = this process)', int('--processes'), 1)
    .option('--sources <ip,...>', 'loopback source addresses, e.g. 127.0.0.2,127.0.0.3', list, [])
    .option(
      '--warmup <n>',
      'before the measured logins, n other users log in and out (JIT and heap warm-up, issue 15)',
      int('--warmup'),
      0,
    )
    .option('--probes <n>', 'fan-out probes after the logins (steady, storm), per round', int('--probes'), 200)
    .option(
      '--probe-rounds <n>',
      'rounds of probes, each shifted so that no user probes twice (more probes than one round holds)',
      int('--probe-rounds'),
      1,
    )
    .option('--rate <n>', 'probes / churn re-logins per second', Number, 50)
    .option('--prefix <p>', 'user name prefix (default u; l + random with running servers)')
    .option('--chat-window <n>', 'chat: MSGs in flight', int('--chat-window'), 256)
    .option('--chat-size <octets>', 'chat: text octets per MSG', int('--chat-size'), 100)
    .option('--chat-max <n>', 'chat: most MSGs', int('--chat-max'), 5_000_000)
    .option('--no-heartbeats', 'no PING from the simulated clients')
    .option('--server-limit <name=value...>', 'spawned servers: --limit overrides', [])
    .option('--server-node-flag <flag...>', 'spawned servers: node flags, e.g. --cpu-prof', [])
    .option('--worker-node-flag <flag...>', 'load worker processes: node flags, e.g. --cpu-prof', [])
    .addOption(
      new Option('--server-durability <level>', 'spawned CRS: --durability (default: the CRS default, full)').choices([
        'full',
        'normal',
      ]),
    )
    .option('--cpu', 'CPU time per login per process (/proc), until the servers are idle again (at most 120 s)', false)
    .option(
      '--cpu-prof <dir>',
      'spawned servers and load workers: V8 CPU profiles into DIR, and a summary of each (top self time)',
    )
    .option('--stages', 'spawned servers: print where the time of a login and its presence push goes (issue 15)', false)
    .option('--json <file>', 'write the report as JSON')
    .option('--plot <file.svg>', 'draw logins/s, sessions and latency over the run as SVG')
    .option('--quiet', 'no progress line', false);
  try {
    cmd.parse(argv.slice(1), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 || e.code === 'commander.helpDisplayed' ? 0 : 2;
    throw e;
  }
  const v = cmd.opts<Record<string, unknown>>();
  if (!v.spawn && !v.crs && !v.ms) {
    process.stderr.write('imsp load: give --spawn, or --crs / --ms of running servers (with --store)\n');
    return 2;
  }
  const tty = process.stderr.isTTY === true;
  const profDir = typeof v.cpuProf === 'string' ? resolve(v.cpuProf) : undefined;
  const profFlags = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  // the workers profile themselves and write before they answer shutdown (reference/load/worker.ts)
  if (profDir) process.env['IMSP_LOAD_WORKER_CPU_PROF'] = profDir;
  const opts: Partial<LoadOptions> = {
    scenario: v.scenario as Scenario,
    spawn: v.spawn === true,
    spawnMs: Math.max(1, v.spawnMs as number),
    ...(typeof v.crs === 'string' ? { crs: v.crs } : {}),
    ...(Array.isArray(v.ms) ? { ms: v.ms as string[] } : {}),
    ...(typeof v.store === 'string' ? { store: v.store } : {}),
    ...(Array.isArray(v.metrics) ? { metrics: v.metrics as string[] } : {}),
    users: v.users as number,
    buddies: v.buddies as number,
    concurrency: Math.max(1, v.concurrency as number),
    durationMs: Math.max(0, Number(v.duration)) * 1000,
    loginTimeoutMs: Math.max(1, Number(v.max)) * 1000,
    processes: v.processes as number,
    sources: v.sources as string[],
    probes: v.probes as number,
    probeRounds: v.probeRounds as number,
    warmup: v.warmup as number,
    rate: Math.max(0.1, Number(v.rate)),
    prefix: typeof v.prefix === 'string' ? v.prefix : v.spawn ? 'u' : `l${Math.random().toString(36).slice(2, 7)}`,
    chatWindow: Math.max(1, v.chatWindow as number),
    chatSize: v.chatSize as number,
    chatMax: v.chatMax as number,
    heartbeats: v.heartbeats !== false,
    serverLimits: v.serverLimit as string[],
    serverNodeFlags: [...(v.serverNodeFlag as string[]), ...profFlags],
    workerNodeFlags: v.workerNodeFlag as string[],
    ...(v.serverDurability === 'full' || v.serverDurability === 'normal'
      ? { serverDurability: v.serverDurability }
      : {}),
    stageTrace: v.stages === true,
    ...(v.cpu === true ? { cpuIdleMaxMs: 120_000 } : {}),
    progress: v.quiet ? undefined : (line) => process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`),
  };
  try {
    const report = await runLoad(opts);
    if (tty && !v.quiet) process.stderr.write('\n');
    process.stdout.write(table(reportRows(report)));
    if (report.stages) process.stdout.write(`\n${renderReportStages(report.stages)}`);
    if (profDir)
      process.stdout.write(
        `\nCPU profiles (${profDir}), self time as a share of busy samples:\n${renderProfiles(summarizeProfiles(profDir), new Map(Object.entries(report.pids)))}\n`,
      );
    if (typeof v.json === 'string') writeFileSync(v.json, JSON.stringify(report, null, 2) + '\n');
    if (typeof v.plot === 'string') {
      writeFileSync(
        v.plot,
        renderSvg(
          `imsp load: ${report.scenario}, ${report.options.users} users, ${report.options.buddies} buddies`,
          report.series,
          [
            `logins/s ${report.logins.perSecond.toFixed(0)}, login p99 ${report.logins.latency.p99.toFixed(1)} ms, fan-out p99 ${report.fanout.fromLogin.p99.toFixed(2)} ms`,
            `started ${report.startedAt}`,
          ],
        ),
      );
    }
    return report.logins.failed > 0 && report.logins.ok === 0 && report.scenario !== 'chat' ? 1 : 0;
  } catch (e) {
    process.stderr.write(`\nimsp load: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
