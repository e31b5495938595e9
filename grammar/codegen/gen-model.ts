// Generator plugin (issue 18): spec/machines/*.json + the rules of the spec -> generated/model/imsp.pml,
// the Promela model that `make model-check` verifies with Spin, and generated/model/README.md, what
// it models and abstracts. The transitions come from the JSON (model/steps.ts); the effects of each
// transition and the cluster around the machines are the rules in model/template.ts.
//
// Every transition of a modelled machine must be known to the model, as modelled or as abstracted
// with a reason: a new transition in spec/machines fails `make generate` until the model says what
// it does. A transition the model refers to that the JSON no longer has is defined as never taken
// (number 255), so a transition removed from the spec is removed from the model too.
import type { GeneratedFile, Generator, GeneratorContext } from './plugin.js';
import { checkMachine, loadMachines, type MachineSpec } from './gen-machines.js';
import { MODEL_MACHINES, ident, machineSteps } from './model/steps.js';
import { MODEL_CONFIGS } from './model/configs.js';
import { CLIENT_RULES, PROCESSES, clientBranches, configBlock, hangable, timerBranches } from './model/template.js';

/** Transitions the model does not take, and why (everything else of a modelled machine is modelled). */
export const ABSTRACTED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'client-session': {
    'login-refused': 'the MS always has capacity and its CRS link is up or being re-established (login-allowed holds)',
    'lock-unknown': 'every user of the model is registered',
    'proof-bad': 'crypto is abstracted: every proof verifies',
    'handshake-timeout': 'the MS handshake timer: modelled by the client closing the connection (handshake-closed)',
    ping: 'heartbeats are not modelled; silence is a closed connection',
    'rate-warning': 'rate limits are not modelled',
    'rate-disconnect': 'rate limits are not modelled',
    silence: 'modelled as the client vanishing (closed)',
    shutdown: 'an MS shutdown ends sessions as a closed CRS link does',
  },
  'client-view': {
    'challenge-bad': 'crypto is abstracted: every challenge is well formed',
    impostor: 'crypto is abstracted: every server proof verifies',
    ping: 'heartbeats are not modelled',
    'rate-notice': 'rate limits are not modelled',
    silence: 'the client hears of a dead MS by the closed connection',
  },
  'ms-enrollment': {
    'enroll-conflict': 'an MS enrolls with a higher incarnation each time',
    'proof-bad': 'crypto is abstracted: the MS key proof verifies',
    'handshake-timeout': 'the ENROLL handshake is one step',
    'handshake-closed': 'the ENROLL handshake is one step',
    ping: 'the MS lease is renewed by every request; its expiry is the ms-lease fault',
    leave: 'LEAVE ends an enrollment as a closed link does (closed)',
  },
  'buddy-relation': {
    unblock: 'UNBLOCK is not a client action in the model; REM of a blocked user (rem-blocked) does the same',
  },
};

/** The transitions the processes refer to by name, per machine prefix. */
const REFERENCED: Readonly<Record<string, readonly string[]>> = {
  UR: [
    'lock',
    'relock-expired',
    'online',
    'unlock',
    'offline',
    'status',
    'lock-expired',
    'ms-gone-online',
    'ms-gone-locked',
  ],
  CS: ['login', 'proof-ok', 'logout', 'handshake-closed', 'closed', 'request'],
  CV: ['challenge', 'accepted', 'logout-done', 'session-ended'],
  ME: [],
  BR: [
    'add',
    'add-crossing',
    'granted',
    'grant',
    'denied',
    'remove',
    'removed',
    'rem-blocked',
    'unblock',
    'block',
    'blocked-while-buddy',
    'blocked-while-pending',
  ],
};

export interface ModelOptions {
  /** Skip the completeness check (the mutant runner generates from mutated machines). */
  lenient?: boolean;
}

/** The effects of a session that ends while its ONLINE is in flight: from the JSON's ended/ONLINE_OK transitions. */
function lateOnline(cs: MachineSpec): string {
  const out: string[] = [];
  for (const t of cs.transitions) {
    const from = Array.isArray(t.from) ? t.from : [t.from];
    if (t.event !== 'ONLINE_OK' || !from.includes('ended')) continue;
    const acts = t.actions.join('; ');
    if (/OFFLINE/.test(acts)) {
      out.push(
        `        :: tid == CS_T_${ident(t.name)} -> printf("@ MS%d CRS OFFLINE User=u%d Epoch=%d (session gone)\\n", m, u, b); m2c[m]!mOFFLINE, minc[m], u, b, 0, 0   /* ${t.reqs.join(', ')} */`,
      );
    } else if (/UNLOCK/.test(acts)) {
      out.push(`        :: tid == CS_T_${ident(t.name)} -> m2c[m]!mUNLOCK, minc[m], u, b, 0, 0`);
    }
  }
  return out.join('\n');
}

/** The Promela text of the model from the machines (sorted by name). */
export function promelaModel(machines: MachineSpec[], opts: ModelOptions = {}): string {
  const problems: string[] = [];
  const byName = new Map(machines.map((m) => [m.name, m] as const));
  const parts: string[] = [];
  parts.push('/* IMSP as a Promela model (issue 18). Check: make model-check. Select a cluster with -DCFG=<n>. */');
  parts.push('#ifndef CFG\n#define CFG 1\n#endif');
  parts.push(
    '/* CLIENT_RULE: 2 = bundle applied after the key blob opens, pushes kept meanwhile (9.1.1, PRESENCE-9; the default);\n   0 = bundle applied on the 200; 1 = the reference before the presence fix (a mutant). */',
  );
  parts.push('#ifndef CLIENT_RULE\n#define CLIENT_RULE 2\n#endif');
  parts.push('#ifndef PRESENCE_SEQ\n#define PRESENCE_SEQ 0\n#endif');
  for (const c of MODEL_CONFIGS) parts.push(configBlock(c));
  for (const [name, prefix] of Object.entries(MODEL_MACHINES)) {
    const m = byName.get(name);
    if (!m) {
      problems.push(`spec/machines/${name}.json is missing`);
      continue;
    }
    parts.push(machineSteps(m, prefix));
    const have = new Set(m.transitions.map((t) => t.name));
    for (const ref of REFERENCED[prefix] ?? []) {
      if (!have.has(ref))
        parts.push(`#define ${prefix}_T_${ident(ref)} 255 /* not in spec/machines/${name}.json: never taken */`);
    }
    const known = new Set([...(REFERENCED[prefix] ?? []), ...Object.keys(ABSTRACTED[name] ?? {})]);
    for (const t of m.transitions) {
      if (!known.has(t.name) && !lateOnlineNames(m).has(t.name) && !STATE_ONLY.has(`${name}/${t.name}`)) {
        problems.push(
          `spec/machines/${name}.json: transition '${t.name}' is new to the model: say what it does in grammar/codegen/model/template.ts, or list it in ABSTRACTED (grammar/codegen/gen-model.ts)`,
        );
      }
    }
  }
  if (problems.length > 0 && !opts.lenient) throw new Error(`gen-model:\n  ${problems.join('\n  ')}`);
  const cs = byName.get('client-session');
  let procs = PROCESSES.replace('@@CLIENT_BRANCHES@@', clientBranches(4))
    .replace('@@HANGABLE@@', hangable(3))
    .replace('@@TIMER_BRANCHES@@', timerBranches(3))
    .replace('@@LATE_ONLINE@@', cs ? lateOnline(cs) : '')
    .replace('@@ACCEPT_RULE@@', CLIENT_RULES.accept)
    .replace('@@PRESENCE_RULE@@', CLIENT_RULES.presence)
    .replace('@@LOAD_RULE@@', CLIENT_RULES.load);
  if (/@@[A-Z_]+@@/.test(procs)) throw new Error('gen-model: a template placeholder is left');
  procs = procs.replace(/^\n+/, '');
  parts.push(procs);
  return parts.join('\n\n');
}

function lateOnlineNames(m: MachineSpec): Set<string> {
  if (m.name !== 'client-session') return new Set();
  return new Set(
    m.transitions
      .filter((t) => t.event === 'ONLINE_OK' && (Array.isArray(t.from) ? t.from : [t.from]).includes('ended'))
      .map((t) => t.name),
  );
}

/** Transitions whose only effect is the state change (and a message the generic handler sends). */
const STATE_ONLY = new Set([
  'client-session/lock-granted',
  'client-session/lock-refused',
  'client-session/online-ok',
  'client-session/online-failed',
  'client-session/session-lost',
  'client-view/send-login',
  'client-view/login-refused',
  'client-view/proof-refused',
  'client-view/handshake-timeout',
  'client-view/send-logout',
  'client-view/closed',
  'ms-enrollment/enroll',
  'ms-enrollment/proof-ok',
  'ms-enrollment/request',
  'ms-enrollment/lease-expired',
  'ms-enrollment/superseded',
  'ms-enrollment/closed',
  'user-record/lock-busy',
  'user-record/lock-online',
  'user-record/online-stale',
  'user-record/offline-stale',
  'buddy-relation/add-withheld',
  'buddy-relation/add-pending',
  'buddy-relation/add-buddy',
  'buddy-relation/add-blocked',
  'buddy-relation/withdraw',
]);

function readme(): string {
  const lines: string[] = [];
  lines.push('# The IMSP model (issue 18)');
  lines.push('');
  lines.push('`imsp.pml` is generated by `make generate` from `spec/machines/*.json` (the transition functions) and');
  lines.push(
    '`grammar/codegen/model/` (the rules around them). `make model-check` verifies it with Spin; `make model-mutants`',
  );
  lines.push('plants faults and expects Spin to find each. Select a configuration with `-DCFG=<n>`:');
  lines.push('');
  lines.push('| CFG | Name | MSs | Users | Clients (user@MS) | Faults | What runs |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const c of MODEL_CONFIGS) {
    lines.push(
      `| ${c.id} | ${c.name} | ${c.ms} | ${c.users} | ${c.clients.map((k) => `u${k.user}@MS${k.ms}`).join(', ')} | ${c.faults} of: ${c.kinds.join(', ') || 'none'} | ${c.text} |`,
    );
  }
  lines.push('');
  lines.push('## Abstracted transitions');
  lines.push('');
  lines.push('| Machine | Transition | Why |');
  lines.push('|---|---|---|');
  for (const [m, ts] of Object.entries(ABSTRACTED))
    for (const [t, why] of Object.entries(ts)) lines.push(`| ${m} | ${t} | ${why} |`);
  lines.push('');
  lines.push('The peer-to-peer machine (12.5) is not modelled: no invariant checked here depends on it.');
  return lines.join('\n');
}

const generate: Generator = (ctx: GeneratorContext): GeneratedFile[] => {
  const loaded = loadMachines(ctx);
  for (const { machine } of loaded) {
    const errs = checkMachine(machine);
    if (errs.length > 0) throw new Error(errs.join('\n'));
  }
  const machines = loaded.map((l) => l.machine).filter((m) => m.name in MODEL_MACHINES);
  const sources = loaded.filter((l) => l.machine.name in MODEL_MACHINES).map((l) => l.file);
  const helpers = [
    'grammar/codegen/model/steps.ts',
    'grammar/codegen/model/template.ts',
    'grammar/codegen/model/configs.ts',
  ];
  return [
    { path: 'model/imsp.pml', content: promelaModel(machines), sources: [...sources, ...helpers] },
    {
      path: 'model/README.md',
      content: readme(),
      sources: ['grammar/codegen/gen-model.ts', 'grammar/codegen/model/configs.ts'],
    },
  ];
};

export default generate;
