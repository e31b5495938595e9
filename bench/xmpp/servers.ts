// The XMPP anchors of issue 15, run in the same sitting as IMSP: ejabberd 23.01 and Prosody 0.12 from
// Debian, each in a temporary directory, on 127.0.0.1 only, with the same users and mutual rosters as
// the IMSP population, stopped at the end (epmd included). Recipes: /work/shared/TOOLCHAIN.md.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPids, waitIdle } from '../../reference/load/cpu.js';

/** Synchronous clean-ups of what is running now, for a signal that ends the run early. */
const live = new Set<() => void>();

/**
 * On SIGINT, SIGTERM or SIGHUP: runs the live clean-ups (ejabberd, epmd, Prosody, temp dirs), SIGTERMs
 * every other child of this process (the IMSP servers and load workers), and exits.
 */
export function cleanUpOnSignal(): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const f of live) {
        try {
          f();
        } catch {
          // next
        }
      }
      for (const pid of childrenOf(process.pid)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone
        }
      }
      process.exit(130);
    });
  }
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'latin1');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** The password every synthetic XMPP user has. */
export const XMPP_PASSWORD = 'imsp-xmpp-load-password';
export const XMPP_DOMAIN = 'localhost';

/** A running anchor server. */
export interface XmppServer {
  name: string;
  /** The process doing the work (beam.smp, lua). */
  pid: number;
  port: number;
  dir: string;
  /** What the server says it is doing now, when it can tell (ejabberd: {@link EjabberdAnchor.diagnose}). */
  diagnose?: () => string;
  /** Stops it (SIGTERM, SIGKILL after a bound) and anything it started. */
  stop(): Promise<void>;
}

const run = (cmd: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 300_000): string =>
  execFileSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

const installed = (pkg: string): boolean => {
  try {
    return /Status: install ok installed/.test(run('dpkg', ['-s', pkg]));
  } catch {
    return false;
  }
};

/**
 * Installs ejabberd and Prosody from Debian when missing, without starting them: a temporary
 * /usr/sbin/policy-rc.d that exits 101 stops the packages' services from starting.
 */
export function ensureInstalled(log: (s: string) => void): void {
  const missing = ['ejabberd', 'prosody', 'openssl'].filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0)
    throw new Error(`${missing.join(', ')} missing and not root: apt-get install -y ${missing.join(' ')}`);
  const policy = '/usr/sbin/policy-rc.d';
  // A container image may ship one already (Docker's exits 101, as ours would): then it is left as it is.
  const own = !existsSync(policy);
  if (!own && !/^\s*exit\s+101\s*$/m.test(readFileSync(policy, 'utf8')))
    throw new Error(`${policy} exists and does not exit 101: not touching it`);
  log(`installing ${missing.join(', ')} from Debian (services kept stopped)...`);
  if (own) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    run('apt-get', ['update'], { DEBIAN_FRONTEND: 'noninteractive' }, 600_000);
    run(
      'apt-get',
      ['install', '-y', '--no-install-recommends', ...missing],
      { DEBIAN_FRONTEND: 'noninteractive' },
      600_000,
    );
  } finally {
    if (own) unlinkSync(policy);
  }
}

function ids(user: string): { uid: number; gid: number } {
  return { uid: Number(run('id', ['-u', user]).trim()), gid: Number(run('id', ['-g', user]).trim()) };
}

function chownR(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownR(join(path, e), uid, gid);
}

/** A free port on 127.0.0.1 (an external server cannot bind port 0 and tell us). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitPort(port: number, child: ChildProcess, maxMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not listen on ${port} within ${maxMs / 1000} s`);
}

function stopChild(child: ChildProcess, pid: number, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
    if (gone()) return resolve();
    const kill = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      child.kill('SIGKILL');
    }, maxMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  });
}

/** The users as `{<<"u0000000">>,[<<"u0000001">>,...]}.` lines for file:consult. */
function rosterTerms(names: string[], buddies: (i: number) => number[]): string {
  const out: string[] = [];
  for (let i = 0; i < names.length; i++)
    out.push(
      `{<<"${names[i]}">>,[${buddies(i)
        .map((b) => `<<"${names[b]}">>`)
        .join(',')}]}.`,
    );
  return `${out.join('\n')}\n`;
}

// Runs on a hidden provisioning node; the work happens on the ejabberd node through rpc with
// external funs only (fun mnesia:dirty_write/1), in chunks.
//  passwd: registers the first user the regular way (ejabberd_auth:try_register computes the stored
//          form: plain, or SCRAM-SHA-256 with a fresh salt), then writes the same record for everyone;
//  roster: writes the mutual 'both' roster items (record arity checked against the table);
//  clear:  empties the passwd table (so that a restart in SCRAM format has nothing to convert);
//  ramroster: keeps the roster tables in RAM (disc_copies). mod_roster_mnesia creates them
//          disc_only_copies (dets: every lookup a disk read through one server process), and
//          ejabberd converts them back at every start; the roster op's bulk load leaves them
//          disc_copies, so without this the first configuration ran on RAM rosters and the restarted
//          one on dets (issue 15: SCRAM+TLS fan-out p50 4,205 ms at 1,000 users, its c2s processes
//          queued on dets:req behind a dets server in prim_file:pread).

const PROVISION = String.raw`
N = list_to_atom(os:getenv("EJ_NODE")), S = <<"localhost">>, P = list_to_binary(os:getenv("EJ_PASS")),
Ops = string:tokens(os:getenv("EJ_OPS"), ","),
R = fun(M, F, A) -> case rpc:call(N, M, F, A, 600000) of {badrpc, E} -> throw({badrpc, M, F, E}); V -> V end end,
W = fun(Recs) -> lists:foreach(fun(C) -> ok = R(lists, foreach, [fun mnesia:dirty_write/1, C]) end, Chunks(Recs)) end,
% Dirty writes to a disc_copies table go one by one through Mnesia's log: as ram_copies, then back to
% disc_copies, the table is written to disc once.
Bulk = fun(T, Recs) ->
  {atomic, ok} = R(mnesia, change_table_copy_type, [T, N, ram_copies]),
  W(Recs),
  {atomic, ok} = R(mnesia, change_table_copy_type, [T, N, disc_copies]) end,
try
  pong = net_adm:ping(N),
  {ok, Terms} = file:consult(os:getenv("EJ_TERMS")),
  [begin
     case Op of
       "clear" -> {atomic, ok} = R(mnesia, clear_table, [passwd]);
       "passwd" ->
         [{U0, _} | _] = Terms,
         ok = R(ejabberd_auth, try_register, [U0, S, P]),
         [Rec] = R(mnesia, dirty_read, [passwd, {U0, S}]),
         Bulk(passwd, [setelement(2, Rec, {U, S}) || {U, _} <- Terms]);
       "ramroster" ->
         [case R(mnesia, table_info, [T, storage_type]) of
            disc_copies -> ok;
            _ -> {atomic, ok} = R(mnesia, change_table_copy_type, [T, N, disc_copies])
          end || T <- [roster, roster_version]];
       "roster" ->
         10 = R(mnesia, table_info, [roster, arity]),
         Bulk(roster, [{roster, {U, S, {C, S, <<>>}}, {U, S}, {C, S, <<>>}, C, both, none, [], <<>>, []} || {U, Cs} <- Terms, C <- Cs])
     end
   end || Op <- Ops],
  io:format("provisioned~n"), halt(0)
catch K:E:St -> io:format("provision failed: ~p:~p ~p~n", [K, E, St]), halt(1)
end.`;

// Runs on a hidden node: the storage type of each table named in EJ_TABLES, one "table T TYPE" line each.
const STORAGE = String.raw`
N = list_to_atom(os:getenv("EJ_NODE")),
try
  pong = net_adm:ping(N),
  [io:format("table ~s ~p~n", [T, rpc:call(N, mnesia, table_info, [list_to_atom(T), storage_type], 60000)])
   || T <- string:tokens(os:getenv("EJ_TABLES"), ",")],
  halt(0)
catch K:E -> io:format("storage failed: ~p:~p~n", [K, E]), halt(1)
end.`;

// Runs on a hidden node: the diagnosis of EjabberdAnchor.diagnose, computed on the ejabberd node.
const DIAGNOSE = String.raw`
N = list_to_atom(os:getenv("EJ_NODE")),
F = fun() ->
  true = msacc:start(2000),
  St = msacc:stats(),
  Sum = lists:foldl(fun(#{type := T, counters := C}, A) ->
          maps:fold(fun(K, V, A2) -> maps:update_with({T, K}, fun(X) -> X + V end, V, A2) end, A, C) end, #{}, St),
  Q = lists:sublist(lists:reverse(lists:keysort(2,
        [{P, L} || P <- processes(), {message_queue_len, L} <- [process_info(P, message_queue_len)], L > 0])), 5),
  QI = [{L, proplists:get_value(registered_name, I), proplists:get_value(current_function, I),
         proplists:get_value('$initial_call', proplists:get_value(dictionary, I, []))}
        || {P, L} <- Q, I <- [process_info(P, [registered_name, current_function, dictionary])], I =/= undefined],
  D = [{T, dets:info(T, filename), dets:info(T, size)} || T <- dets:all()],
  M = [{T, mnesia:table_info(T, storage_type), mnesia:table_info(T, size)} || T <- mnesia:system_info(tables)],
  {Sum, QI, erlang:statistics(run_queue), length(processes()), erlang:memory(total), D, M}
end,
try
  pong = net_adm:ping(N),
  {Sum, QI, RQ, NP, Mem, D, M} = rpc:call(N, erlang, apply, [F, []], 60000),
  io:format("msacc over 2 s, ms summed over the threads of each type:"),
  [io:format(" ~p/~p ~b", [T, K, V div 1000]) || {{T, K}, V} <- lists:sort(maps:to_list(Sum)), V >= 10000],
  io:format("~nrun queue ~b, processes ~b, memory ~b MB; longest message queues (length, registered name, current function, initial call): ~w~n",
            [RQ, NP, Mem div 1048576, QI]),
  io:format("open dets tables (disk-based, one server process each):"),
  [io:format(" ~p (~s, ~p records)", [T, Fn, Sz]) || {T, Fn, Sz} <- D],
  io:format("~nMnesia tables with records (storage type, records):"),
  [io:format(" ~p (~p, ~b)", [T, Ty, Sz]) || {T, Ty, Sz} <- M, Sz > 0],
  io:format("~n"),
  halt(0)
catch K:E -> io:format("diagnosis failed: ~p:~p~n", [K, E]), halt(1)
end.`;

const CHUNKS = String.raw`Chunks = fun Ch([]) -> []; Ch(L) when length(L) =< 5000 -> [L]; Ch(L) -> {A, B} = lists:split(5000, L), [A | Ch(B)] end,`;

/** ejabberd in one of the two configurations of issue 15. */
export type EjabberdMode = 'plain' | 'scram-tls';

/** An ejabberd installation in a temp dir: provision once, then start it in either mode. */
export class EjabberdAnchor {
  readonly dir: string;
  readonly node: string;
  private readonly cookie = randomBytes(16).toString('hex');
  private readonly ej = ids('ejabberd');
  private readonly termsPath: string;
  private rosterDone = false;
  private readonly epmdBefore: boolean;

  constructor(names: string[], buddies: (i: number) => number[]) {
    this.dir = mkdtempSync(join(tmpdir(), 'imsp-ejabberd-'));
    this.node = `imspbench${randomBytes(3).toString('hex')}@localhost`;
    for (const d of ['spool', 'logs', 'modules.d']) mkdirSync(join(this.dir, d));
    this.termsPath = join(this.dir, 'users.terms');
    writeFileSync(this.termsPath, rosterTerms(names, buddies));
    writeFileSync(
      join(this.dir, 'inetrc'),
      '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n{file, resolv, "/etc/resolv.conf"}.\n',
    );
    // A P-256 certificate for the TLS configuration (ECDSA: the cheapest common choice for the server).
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '2',
      '-keyout',
      join(this.dir, 'key.pem'),
      '-out',
      join(this.dir, 'cert.pem'),
    ]);
    writeFileSync(join(this.dir, 'ejabberd.pem'), run('cat', [join(this.dir, 'cert.pem'), join(this.dir, 'key.pem')]), {
      mode: 0o600,
    });
    writeFileSync(
      join(this.dir, 'ejabberdctl.cfg'),
      [
        `ERLANG_NODE=${this.node}`,
        'ERL_EPMD_ADDRESS=127.0.0.1',
        'INET_DIST_INTERFACE=127.0.0.1',
        `ERL_OPTIONS="-setcookie ${this.cookie} -env ERL_CRASH_DUMP_BYTES 0"`,
        `EJABBERD_PID_PATH=${join(this.dir, 'ejabberd.pid')}`,
        `CONTRIB_MODULES_CONF_DIR=${join(this.dir, 'modules.d')}`,
        '',
      ].join('\n'),
    );
    chownR(this.dir, this.ej.uid, this.ej.gid);
    this.epmdBefore = findPids('epmd').length > 0;
    live.add(this.disposer);
  }

  private config(mode: EjabberdMode, port: number): string {
    const tls = mode === 'scram-tls';
    return [
      'hosts: [localhost]',
      'loglevel: warning',
      'log_rotate_count: 0',
      ...(tls ? [`certfiles: ["${join(this.dir, 'ejabberd.pem')}"]`] : []),
      'listen:',
      `  - port: ${port}`,
      '    ip: "127.0.0.1"',
      '    module: ejabberd_c2s',
      // ejabberd's default accept backlog is 5: 100 connects at once would overflow it and wait for
      // SYN retransmits (1, 3, 7 s...). Node's servers (IMSP) listen with 511.
      '    backlog: 511',
      '    max_stanza_size: 262144',
      '    shaper: c2s_shaper',
      '    access: c2s',
      ...(tls
        ? [
            '    starttls_required: true',
            '    protocol_options: ["no_sslv3", "no_tlsv1", "no_tlsv1_1", "cipher_server_preference", "no_compression"]',
          ]
        : ['    starttls: false']),
      'auth_method: internal',
      `auth_password_format: ${tls ? 'scram' : 'plain'}`,
      'auth_scram_hash: sha256',
      'shaper_rules:',
      '  max_user_sessions: 10',
      '  c2s_shaper: none',
      'acl:',
      '  local:',
      '    user_regexp: ""',
      'access_rules:',
      '  local:',
      '    allow: local',
      '  c2s:',
      '    allow: all',
      'modules:',
      '  mod_roster: {}',
      '',
    ].join('\n');
  }

  /** Runs `code` on a hidden Erlang node of our own (as the ejabberd user) that talks to the ejabberd node. */
  private erlEval(code: string, env: NodeJS.ProcessEnv, timeoutMs: number): string {
    return run(
      'setpriv',
      [
        '--reuid=ejabberd',
        '--regid=ejabberd',
        '--init-groups',
        'erl',
        '-sname',
        `prov${randomBytes(3).toString('hex')}@localhost`,
        '-setcookie',
        this.cookie,
        '-hidden',
        '-noinput',
        '-kernel',
        'inet_dist_use_interface',
        '{127,0,0,1}',
        '-eval',
        code,
      ],
      { HOME: '/var/lib/ejabberd', ERL_EPMD_ADDRESS: '127.0.0.1', EJ_NODE: this.node, ...env },
      timeoutMs,
    );
  }

  private provision(ops: string[]): void {
    const out = this.erlEval(
      `${CHUNKS}${PROVISION}`,
      { EJ_PASS: XMPP_PASSWORD, EJ_OPS: ops.join(','), EJ_TERMS: this.termsPath },
      600_000,
    );
    if (!out.includes('provisioned')) throw new Error(`ejabberd provisioning: ${out.slice(0, 2000)}`);
  }

  /** The Mnesia storage type of each of `tables` on the running ejabberd node (disc_only_copies: dets). */
  storageTypes(tables: string[]): Record<string, string> {
    const out = this.erlEval(STORAGE, { EJ_TABLES: tables.join(',') }, 60_000);
    return Object.fromEntries(
      out
        .split('\n')
        .map((l) => /^table (\w+) (\w+)$/.exec(l.trim()))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
  }

  /**
   * What the running ejabberd node says it is doing now (issue 15): BEAM's microstate accounting over
   * 2 s (per thread type and state, e.g. scheduler emulator / port / check_io / sleep), its run queue,
   * process count and memory, the five longest message queues with the process's registered name,
   * current function and initial call, the open dets tables (each served by one process) and the
   * storage type of every Mnesia table that holds records (disc_only_copies: dets, on disk). Busy schedulers with growing c2s queues are ejabberd's own limit; sleeping
   * schedulers while /proc shows CPU point elsewhere (e.g. our generator, or another process).
   */
  diagnose(): string {
    return this.erlEval(DIAGNOSE, {}, 120_000).trim();
  }

  /** Starts ejabberd in `mode` with every user's password (in that mode's stored form) and roster. */
  async start(mode: EjabberdMode, log: (s: string) => void): Promise<XmppServer> {
    const port = await freePort();
    const cfg = join(this.dir, `ejabberd-${mode}.yml`);
    writeFileSync(cfg, this.config(mode, port));
    chownSync(cfg, this.ej.uid, this.ej.gid);
    const child = spawn(
      'setpriv',
      [
        '--reuid=ejabberd',
        '--regid=ejabberd',
        '--init-groups',
        '/usr/sbin/ejabberdctl',
        '--config-dir',
        this.dir,
        '--config',
        cfg,
        '--ctl-config',
        join(this.dir, 'ejabberdctl.cfg'),
        '--logs',
        join(this.dir, 'logs'),
        '--spool',
        join(this.dir, 'spool'),
        'foreground',
      ],
      { cwd: this.dir, env: { ...process.env, HOME: '/var/lib/ejabberd' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-4000)));
    const name = mode === 'plain' ? 'ejabberd PLAIN' : 'ejabberd SCRAM+TLS';
    let beam = 0;
    const stop = async (): Promise<void> => {
      if (beam) await stopChild(child, beam, 20_000);
      else child.kill('SIGKILL');
      for (const p of findPids('beam', this.node)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    };
    try {
      await waitPort(port, child, 90_000, name);
      beam = findPids('beam', this.node)[0] ?? 0;
      if (!beam) throw new Error('no beam.smp process found');
      const t0 = performance.now();
      // every start: the same roster storage (RAM) in both configurations (see PROVISION)
      this.provision([...(this.rosterDone ? [] : ['roster']), 'ramroster', 'passwd']);
      this.rosterDone = true;
      // Mnesia dumps the provisioning writes to its table files in the background: not the storm's work.
      let idle = await waitIdle([beam], { maxMs: 120_000 });
      // ejabberd's own conversion of the rosters to dets at start may still run when the port opens
      // (at 10,000 users the restart in SCRAM+TLS mode converts 600,000 items): then 'ramroster' saw
      // the old storage and left it, and the conversion ended on dets (the anchor's fan-out then
      // queued behind one dets process: session 10). Checked once the node is idle, and made RAM again.
      for (let attempt = 0; ; attempt++) {
        const types = this.storageTypes(['roster', 'roster_version']);
        if (types['roster'] === 'disc_copies' && types['roster_version'] === 'disc_copies') break;
        if (attempt === 3) throw new Error(`the rosters stay ${JSON.stringify(types)}, not disc_copies`);
        log(`${name}: rosters ${JSON.stringify(types)} after start: made disc_copies again`);
        this.provision(['ramroster']);
        idle += await waitIdle([beam], { maxMs: 120_000 });
      }
      log(
        `${name}: provisioned in ${((performance.now() - t0) / 1000).toFixed(1)} s (idle after ${(idle / 1000).toFixed(1)} s)`,
      );
    } catch (e) {
      await stop();
      throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}; ${err.slice(-500)}`);
    }
    return {
      name,
      pid: beam,
      port,
      dir: this.dir,
      diagnose: () => this.diagnose(),
      stop: async () => {
        try {
          // A restart in SCRAM format would convert plain passwords one PBKDF2 at a time.
          if (child.exitCode === null) this.provision(['clear']);
        } catch {
          // stopping anyway
        }
        await stop();
      },
    };
  }

  private readonly disposer = (): void => this.dispose();

  /** Removes the temp dir and stops the epmd ejabberd started (when none ran before). */
  dispose(): void {
    live.delete(this.disposer);
    for (const p of findPids('beam', this.node)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (!this.epmdBefore) {
      try {
        const names = run('epmd', ['-names'], { ERL_EPMD_ADDRESS: '127.0.0.1' }, 5000);
        if (!/^name /m.test(names)) run('epmd', ['-kill'], { ERL_EPMD_ADDRESS: '127.0.0.1' }, 5000);
      } catch {
        // not running
      }
      for (const p of findPids('epmd')) {
        try {
          if (!this.epmdBefore) process.kill(p, 'SIGTERM');
        } catch {
          // gone
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Prosody with internal_plain storage in a temp dir, PLAIN without TLS, users written as its data files. */
export async function startProsody(
  names: string[],
  buddies: (i: number) => number[],
  log: (s: string) => void,
): Promise<XmppServer> {
  const dir = mkdtempSync(join(tmpdir(), 'imsp-prosody-'));
  const port = await freePort();
  const data = join(dir, 'data');
  const host = join(data, XMPP_DOMAIN); // "localhost" needs no escaping in Prosody's datamanager
  mkdirSync(join(host, 'accounts'), { recursive: true });
  mkdirSync(join(host, 'roster'), { recursive: true });
  const t0 = performance.now();
  for (let i = 0; i < names.length; i++) {
    writeFileSync(join(host, 'accounts', `${names[i]}.dat`), `return {\n\t["password"] = "${XMPP_PASSWORD}";\n};\n`);
    const items = buddies(i)
      .map((b) => `\t["${names[b]}@${XMPP_DOMAIN}"] = {\n\t\t["subscription"] = "both";\n\t\t["groups"] = {};\n\t};\n`)
      .join('');
    writeFileSync(
      join(host, 'roster', `${names[i]}.dat`),
      `return {\n\t[false] = {\n\t\t["version"] = 1;\n\t\t["pending"] = {};\n\t};\n${items}};\n`,
    );
  }
  log(`Prosody: provisioned in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const cfg = join(dir, 'prosody.cfg.lua');
  writeFileSync(
    cfg,
    [
      `data_path = "${data}"`,
      'interfaces = { "127.0.0.1" }',
      `c2s_ports = { ${port} }`,
      'modules_enabled = { "roster"; "saslauth"; "disco"; }',
      'modules_disabled = { "s2s"; "posix"; }',
      'network_settings = { tcp_backlog = 511 }', // as Node's servers (IMSP) listen
      'authentication = "internal_plain"',
      'storage = "internal"',
      'c2s_require_encryption = false',
      'allow_unencrypted_plain_auth = true',
      `log = { warn = "${join(dir, 'prosody.log')}" }`,
      `VirtualHost "${XMPP_DOMAIN}"`,
      '',
    ].join('\n'),
  );
  const p = ids('prosody');
  chownR(dir, p.uid, p.gid);
  const child = spawn(
    'setpriv',
    ['--reuid=prosody', '--regid=prosody', '--init-groups', '/usr/bin/prosody', '-F', '--config', cfg],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-4000)));
  const kill = (): void => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(kill);
  const stop = async (): Promise<void> => {
    live.delete(kill);
    if (child.pid) await stopChild(child, child.pid, 15_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitPort(port, child, 30_000, 'Prosody');
  } catch (e) {
    await stop();
    throw new Error(`${e instanceof Error ? e.message : String(e)}; ${err.slice(-500)}`);
  }
  // setpriv execs prosody's interpreter: the child's pid is the server's.
  return { name: 'Prosody PLAIN', pid: child.pid!, port, dir, stop };
}
