// `imsp conformance` / `imsp-conformance`: test a CRS, an MS or a client against the IMSP spec.
// run(argv) is called by the imsp dispatcher with argv[0] === 'conformance'; main(argv) by the
// standalone bin without it. Both return the exit status: 0 all passed, 1 any FAIL, 2 usage error.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { CaseResult } from './lib/case.js';
import { parseHostPort, fmtHostPort } from './lib/conn.js';
import { parseMsKey } from './lib/crypto.js';
import { Limits } from './lib/registry.js';
import { toHtml, toJson, toJunit, writeFile, writeHtml, type RunInfo } from './lib/report.js';
import { runCases, select, summaryLine, type RunOptions } from './lib/runner.js';
import { loadRequirements } from './lib/requirements.js';
import type { KitConfig, RoleModule, RoleName } from './lib/config.js';
import { packageVersion } from './lib/version.js';
import { REQUIREMENTS } from '../codec/index.js';

export type { KitConfig, RoleModule, RoleName } from './lib/config.js';

/**
 * No default spec page: without --spec-base the HTML report links each requirement to its own row,
 * which quotes the requirement's sentence (never to a file:// path of the machine that ran the kit).
 */
export const DEFAULT_SPEC_BASE = '';

export const ROLES: Record<RoleName, () => Promise<RoleModule>> = {
  crs: async () => (await import('./roles/crs.js')).crsRole as RoleModule,
  ms: async () => (await import('./roles/ms.js')).msRole as RoleModule,
  client: async () => (await import('./roles/client.js')).clientRole as RoleModule,
};

const collect = (v: string, prev: string[]): string[] => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** How the kit was started when the caller does not say: through the `imsp` command of this repository. */
const IMSP_SUBCOMMAND = 'npx imsp conformance';

function program(invokedAs: string): Command {
  return new Command(invokedAs.replace(/^npx /, ''))
    .description(
      'Test a CRS, MS or client implementation against the IMSP specification. The kit plays every other role.',
    )
    .version(`imsp-conformance ${packageVersion(import.meta.url, ['imsp', 'imsp-conformance'])}`, '-V, --version')
    .addOption(
      new Option('--role <role>', 'the role under test').choices(['crs', 'ms', 'client']).makeOptionMandatory(),
    )
    .option('--target <host:port>', 'CRS under test: its address')
    .option(
      '--listen <host:port>',
      'MS under test: where the kit listens as the CRS (point the MS at it)',
      '127.0.0.1:7000',
    )
    .option('--ms-key-file <file>', 'the MS key file (b64 of >= 32 octets) shared with the CRS or MS under test')
    .option(
      '--client-cmd <template>',
      'client under test: command line with {crs} (also {user} {password} {ms}) placeholders, speaking the control interface on stdin/stdout',
    )
    .option(
      '--client-ms-cmd <template>',
      'client under test given an MS and no CRS: command line with {ms} (also {user} {password}), for the cases of a client that knows no CRS; without it those cases skip',
    )
    .option(
      '--ms-stop-cmd <cmd>',
      'MS under test: a shell command that stops it on purpose (e.g. kill -TERM PID), for the shutdown case, which runs last; without it that case skips',
    )
    .option(
      '--crs-stop-cmd <cmd>',
      'CRS under test: a shell command that stops it on purpose (e.g. kill -TERM PID), for the shutdown case, which runs last; without it that case skips',
    )
    .option('--seed <n>', 'seed for every random choice (default: random, printed)')
    .option('--runs <n>', 'runs per fuzz case and rounds per concurrency case', '50')
    .option('--timeout <ms>', 'time allowed for one answer', '3000')
    .option(
      '--only <sel>',
      'run only cases matching a section, case id or requirement ID (repeatable, comma-separated)',
      collect,
      [] as string[],
    )
    .option(
      '--exclude <sel>',
      'skip cases matching a section, case id or requirement ID (repeatable)',
      collect,
      [] as string[],
    )
    .option('--strict', 'SHOULD failures (WARN) count as failures')
    .option('--slow', 'run cases that wait out leases and timeouts longer than 5 s')
    .option(
      '--set <name=value>',
      'a limit the target is configured with, e.g. msLease=600 (repeatable)',
      collect,
      [] as string[],
    )
    .option('--path <path>', 'fast-check replay path of a shrunk counterexample (with --seed and --only ID)')
    .option(
      '--replay-path <path>',
      'state-machine fuzzing: which commands of the shrunk sequence ran (printed with --path)',
    )
    .option(
      '--replay <file>',
      'replay the octets of a failing fuzz run saved in a JSON report (the case id and seed are read from it)',
    )
    .option('--json <file>', 'write every case with its wire log as JSON')
    .option('--junit <file>', 'write JUnit XML')
    .option('--html <dir>', 'write an HTML requirement-by-verdict matrix')
    .option(
      '--spec-base <url>',
      'URL (absolute or relative to the report) of the spec page holding the req-<ID> anchors, e.g. the requirement index of the spec site (make site); default: links stay inside the report',
      DEFAULT_SPEC_BASE,
    )
    .option('--list', 'list the cases that would run, with their requirements, and exit')
    .option('--quiet', 'no progress lines, only the summary')
    .option('--fail-fast', 'stop at the first failing case')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
}

function parseConfig(cmd: Command): KitConfig {
  const o = cmd.opts<Record<string, unknown>>();
  const overrides: Record<string, number> = {};
  for (const kv of o.set as string[]) {
    const m = /^([A-Za-z]+)=([0-9]+)$/.exec(kv);
    if (!m) throw new Error(`--set expects name=number, got '${kv}'`);
    overrides[m[1]!] = Number(m[2]);
  }
  const role = o.role as RoleName;
  const cfg: KitConfig = {
    role,
    seed: o.seed !== undefined ? Number(o.seed) : Math.floor(Math.random() * 2 ** 31),
    runs: Math.max(1, Number(o.runs)),
    timeoutMs: Math.max(50, Number(o.timeout)),
    only: o.only as string[],
    exclude: o.exclude as string[],
    strict: !!o.strict,
    slow: !!o.slow,
    limits: new Limits(overrides),
    specBase: o.specBase as string,
    list: !!o.list,
    quiet: !!o.quiet,
    sets: overrides,
    failFast: !!o.failFast,
  };
  if (!Number.isInteger(cfg.seed)) throw new Error('--seed must be an integer');
  if (typeof o.target === 'string') cfg.target = fmtHostPort(parseHostPort(o.target));
  if (typeof o.listen === 'string') cfg.listen = fmtHostPort(parseHostPort(o.listen));
  if (typeof o.msKeyFile === 'string') cfg.msKey = parseMsKey(readFileSync(o.msKeyFile, 'utf8'));
  if (typeof o.clientCmd === 'string') cfg.clientCmd = o.clientCmd;
  if (typeof o.clientMsCmd === 'string') cfg.clientMsCmd = o.clientMsCmd;
  if (typeof o.msStopCmd === 'string') cfg.msStopCmd = o.msStopCmd;
  if (typeof o.crsStopCmd === 'string') cfg.crsStopCmd = o.crsStopCmd;
  if (typeof o.path === 'string') cfg.path = o.path;
  if (typeof o.replayPath === 'string') cfg.replayPath = o.replayPath;
  if (typeof o.json === 'string') cfg.json = o.json;
  if (typeof o.junit === 'string') cfg.junit = o.junit;
  if (typeof o.html === 'string') cfg.html = o.html;
  if (typeof o.replay === 'string') {
    const rep = JSON.parse(readFileSync(o.replay, 'utf8')) as {
      cases?: {
        id: string;
        verdict: string;
        seed?: number;
        path?: string;
        replayPath?: string;
        replayRuns?: number;
      }[];
      id?: string;
      seed?: number;
      path?: string;
      replayPath?: string;
      replayRuns?: number;
    };
    const failing = rep.cases?.find((c) => c.verdict === 'FAIL' && c.seed !== undefined) ?? (rep.id ? rep : undefined);
    if (!failing || failing.seed === undefined)
      throw new Error(`--replay: no failing fuzz case with a seed in ${o.replay}`);
    cfg.only = [failing.id!];
    cfg.seed = failing.seed;
    // A failure that needs the sequences before it (the shrunk one alone passed) replays them all.
    if (failing.replayRuns) cfg.runs = failing.replayRuns;
    else {
      if (failing.path) cfg.path = failing.path;
      if (failing.replayPath) cfg.replayPath = failing.replayPath;
    }
    cfg.replay = o.replay;
  }
  if (!cfg.list) {
    if (role === 'crs' && (!cfg.target || !cfg.msKey))
      throw new Error('--role crs needs --target host:port and --ms-key-file');
    if (role === 'ms' && !cfg.msKey)
      throw new Error('--role ms needs --ms-key-file (the MS under test must use the same key)');
    if (role === 'client' && !cfg.clientCmd) throw new Error("--role client needs --client-cmd 'command ... {crs}'");
  }
  return cfg;
}

export function commandLineOf(cfg: KitConfig, extra: { only?: string; path?: string; seed?: number } = {}): string {
  const parts = [cfg.invokedAs ?? IMSP_SUBCOMMAND, `--role ${cfg.role}`];
  if (cfg.role === 'crs') parts.push(`--target ${cfg.target}`, '--ms-key-file KEYFILE');
  if (cfg.role === 'ms') parts.push(`--listen ${cfg.listen}`, '--ms-key-file KEYFILE');
  if (cfg.role === 'client') parts.push(`--client-cmd '${cfg.clientCmd}'`);
  if (cfg.role === 'client' && cfg.clientMsCmd) parts.push(`--client-ms-cmd '${cfg.clientMsCmd}'`);
  parts.push(`--seed ${extra.seed ?? cfg.seed}`, `--runs ${cfg.runs}`, `--timeout ${cfg.timeoutMs}`);
  for (const [k, v] of Object.entries(cfg.sets ?? {})) parts.push(`--set ${k}=${v}`);
  if (extra.only) parts.push(`--only ${extra.only}`);
  if (extra.path) parts.push(`--path '${extra.path}'`);
  return parts.join(' ');
}

/** Run the kit with a parsed configuration; returns the results (used by tests and selftest). */
export async function runKit(
  cfg: KitConfig,
  out: (line: string) => void = (l) => process.stdout.write(l + '\n'),
  rawArgs: string[] = [],
): Promise<{ results: CaseResult[]; status: number }> {
  const mod = await ROLES[cfg.role]();
  const all = mod.cases(cfg.limits);
  const selected = select(all, cfg.only, cfg.exclude);
  const reqs = await loadRequirements();
  if (cfg.list) {
    for (const c of selected)
      out(
        `${c.id.padEnd(22)} ${c.reqs
          .map((r) => `[${r}]`)
          .join('')
          .padEnd(34)} ${c.level && c.level !== 'MUST' ? `(${c.level}) ` : ''}${c.fuzz ? '(fuzz) ' : ''}${c.title}`,
      );
    out(`${selected.length} cases`);
    return { results: [], status: 0 };
  }
  const commandLine = rawArgs.length
    ? `${cfg.invokedAs ?? IMSP_SUBCOMMAND} ${rawArgs.map((a) => (/[\s'{}]/.test(a) ? `'${a}'` : a)).join(' ')}`
    : commandLineOf(cfg);
  const runOpts: RunOptions = {
    seed: cfg.seed,
    runs: cfg.runs,
    timeoutMs: cfg.timeoutMs,
    strict: cfg.strict,
    limits: cfg.limits,
    slow: cfg.slow,
    progress: cfg.quiet ? () => undefined : out,
    commandLine,
    ...(cfg.path ? { path: cfg.path } : {}),
    ...(cfg.replayPath ? { replayPath: cfg.replayPath } : {}),
    ...(cfg.failFast ? { failFast: true } : {}),
  };
  const started = new Date();
  // A set-up failure (target unreachable, MS key refused, a --set value the target contradicts)
  // throws SetupError here, before any case: main() prints its one message and exits 2.
  const { driver, target, teardown, createdUsers } = await mod.setup(cfg, runOpts);
  let results: CaseResult[] = [];
  try {
    if (!cfg.quiet)
      out(
        `imsp-conformance: role ${cfg.role}, ${cfg.role === 'client' ? 'client command' : 'target'} ${target}, ${selected.length} cases, seed ${cfg.seed}, runs ${cfg.runs}`,
      );
    results = await runCases(driver, selected, runOpts, mod.caseBudgetMs(cfg));
  } finally {
    await teardown();
  }
  const created = createdUsers?.();
  const info: RunInfo = {
    role: cfg.role,
    target,
    seed: cfg.seed,
    runs: cfg.runs,
    startedAt: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    commandLine,
    ...(created ? { createdUsers: created } : {}),
  };
  if (cfg.json) writeFile(cfg.json, toJson(info, results));
  if (cfg.junit) writeFile(cfg.junit, toJunit(info, results));
  if (cfg.html)
    out(
      `HTML report: ${writeHtml(cfg.html, toHtml(info, results, cfg.specBase, reqs?.levels, new Map(REQUIREMENTS.map((q) => [q.id as string, q.text]))))}`,
    );
  if (created && !cfg.quiet)
    out(
      `users created on the target: at most ${created.count} (registrations the kit sent; the refused ones created none), all named ${created.prefix}*; ${created.note}`,
    );
  const unknown = reqs ? [...new Set(selected.flatMap((c) => c.reqs))].filter((r) => !reqs.levels.has(r)) : [];
  if (unknown.length && !cfg.quiet) out(`note: requirement IDs not (yet) defined by the spec: ${unknown.join(', ')}`);
  const line = summaryLine(results);
  out(line);
  return { results, status: results.some((r) => r.verdict === 'FAIL') ? 1 : 0 };
}

/** `invokedAs`: the command the user typed to start the kit (the `imsp-conformance` bin passes its name). */
export async function main(argv: string[], invokedAs = IMSP_SUBCOMMAND): Promise<number> {
  const cmd = program(invokedAs);
  const prog = invokedAs.replace(/^npx /, '');
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  let cfg: KitConfig;
  try {
    cfg = { ...parseConfig(cmd), invokedAs };
  } catch (e) {
    process.stderr.write(`${prog}: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    const { status } = await runKit(cfg, undefined, argv);
    return status;
  } catch (e) {
    process.stderr.write(`${prog}: ${(e as Error).message}\n`);
    return 2;
  }
}

/** Entry point of the `imsp` dispatcher: argv[0] is 'conformance'. */
export async function run(argv: string[]): Promise<number> {
  return main(argv[0] === 'conformance' ? argv.slice(1) : argv);
}
