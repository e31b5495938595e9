// `make mutants`: build faulty variants of the reference implementation by script and prove the kit
// catches each one, naming the requirement. For every mutant: copy the parts of the repository the
// reference runs from (reference/, codec/, generated/, spec/, package.json, tsconfig.json; node_modules is
// linked) into a temp dir, apply one textual patch (the shipped code has no fault switches), start
// the mutant through its CLI, run the kit's cases for the role and sections concerned, and record
// whether some case FAILed and with which requirement.
// Usage: node --import tsx conformance/mutants/run.ts [--only NAME,...] [--runs N] [--seed S] [--list]
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { B64URL } from '../../codec/index.js';
import type { RoleName } from '../cli.js';
import { selftestRole } from '../selftest.js';

export interface Mutant {
  name: string;
  /** The fault, in words. */
  fault: string;
  role: RoleName;
  /** Kit selectors (sections/ids) to run: enough to catch it, small enough to be quick. */
  only: string[];
  /** One or more textual patches; each `find` (a string, or a RegExp for code that moves) must occur in `file`. */
  patches: { file: string; find: string | RegExp; replace: string }[];
}

/**
 * TypeScript for `expr` (the b64 of some octets, its length not a multiple of 4) with the lowest unused
 * bit of its last character set: the spelling a lenient decoder reads as the same octets [CRYPTO-4].
 */
const setLastBit = (expr: string): string =>
  `((t: string, a = '${B64URL}') => t.slice(0, -1) + a[a.indexOf(t.at(-1)!) | 1])(${expr})`;

export const MUTANTS: Mutant[] = [
  {
    name: 'double-login',
    fault: 'a double login allowed: LOCK of an online user is granted',
    role: 'crs',
    only: ['lock'],
    patches: [
      {
        file: 'reference/store/sqlite.ts',
        find: "if (r.state === 'online') return { ok: false, error: 'online' };",
        replace: "if (r.state === 'online' && false) return { ok: false, error: 'online' };",
      },
    ],
  },
  {
    name: 'lock-never-expires',
    fault: 'a lock never released: a login lock whose MS never finishes the login is held forever',
    role: 'crs',
    only: ['crs/lock/6'],
    patches: [
      {
        file: 'reference/store/sqlite.ts',
        find: 'for (const u of users) this.q.setOffline.run(u); // [LOCK-3]',
        replace: 'for (const u of users.slice(users.length)) this.q.setOffline.run(u); // [LOCK-3]',
      },
      {
        file: 'reference/store/sqlite.ts',
        find: "if (r.state === 'locked' && (r.lease_expires_at ?? 0) > now) return { ok: false, error: 'locked' };",
        replace: "if (r.state === 'locked') return { ok: false, error: 'locked' };",
      },
    ],
  },
  {
    name: 'live-lock-stolen',
    fault: 'a live lock is taken over by a second LOCK',
    role: 'crs',
    only: ['crs/lock/2', 'crs/login/2'],
    patches: [
      {
        file: 'reference/store/sqlite.ts',
        find: "if (r.state === 'locked' && (r.lease_expires_at ?? 0) > now) return { ok: false, error: 'locked' };",
        replace:
          "if (r.state === 'locked' && (r.lease_expires_at ?? 0) > now + 1e12) return { ok: false, error: 'locked' };",
      },
    ],
  },
  {
    name: 'stale-epoch-accepted',
    fault: 'fencing broken: requests with a stale epoch are accepted',
    role: 'crs',
    only: ['crs/lock/4', 'crs/lock/5'],
    patches: [
      {
        file: 'reference/store/sqlite.ts',
        find: "if (r.epoch !== epoch) return stale('epoch');",
        replace: "if (false) return stale('epoch');",
      },
      { file: 'reference/store/rows.ts', find: "  if (r.epoch !== epoch) return stale('epoch');\n", replace: '' },
    ],
  },
  {
    name: 'rem-ignored',
    fault: 'REM ignored: answered 200 but the relation stays',
    role: 'crs',
    only: ['rem'],
    patches: [
      {
        file: 'reference/store/sqlite.ts',
        find: '        this.q.delBuddy.run(me, other);\n        this.q.delBuddy.run(other, me);',
        replace: '        void 0;',
      },
    ],
  },
  {
    name: 'pending-add-lost',
    fault: 'a pending ADD lost: never delivered in the login bundle',
    role: 'crs',
    only: ['crs/add/1'],
    patches: [
      { file: 'reference/store/sqlite.ts', find: /(pendingFor: p\(`SELECT[^`]*? WHERE )/, replace: '$10 AND ' },
    ],
  },
  {
    name: 'pending-add-twice',
    fault: 'a pending ADD delivered twice in one bundle',
    role: 'crs',
    only: ['crs/add/1'],
    patches: [
      {
        file: 'reference/crs/mod-session.ts',
        find: 'const rec = records([...r.contacts.map(contactRecord), ...r.pending.map(pendingRecord)]);',
        replace:
          'const rec = records([...r.contacts.map(contactRecord), ...r.pending.map(pendingRecord), ...r.pending.map(pendingRecord)]);',
      },
    ],
  },
  {
    name: 'replayed-enrollment',
    fault: 'a replayed enrollment accepted: the MS proof is not checked',
    role: 'crs',
    only: ['enroll'],
    patches: [
      {
        file: 'reference/crs/mod-enroll.ts',
        find: 'if (!verifyProof(msProof(this.msKey, auth), proof)) {',
        replace: 'if (false && !verifyProof(msProof(this.msKey, auth), proof)) {',
      },
    ],
  },
  {
    name: 'ms-lease-ignored',
    fault: 'heartbeat timeout ignored: a silent MS is never declared dead',
    role: 'crs',
    only: ['crs/heartbeat/1'],
    patches: [
      {
        file: 'reference/crs/crs.ts',
        find: 'const gone = await this.store.expireMs(now);',
        replace: 'const gone = (await this.store.expireMs(now - 1e12)).slice(0, 0);',
      },
    ],
  },
  {
    name: 'content-length-off-by-one',
    fault: 'Content-length off by one in every message the reference sends',
    role: 'crs',
    only: ['crs/enroll/1', 'crs/login/1'],
    patches: [
      { file: 'codec/encoder.ts', find: 'Content-length: ${', replace: 'Content-length: ${1 + ' },
      // SEALED envelopes get their head from the Link's sealedHead (8bb68ae), not from encode().
      { file: 'reference/net/sender.ts', find: 'Content-length: ${length}', replace: 'Content-length: ${1 + length}' },
    ],
  },
  {
    name: 'crash-long-header',
    fault: 'a crash on an over-long header line',
    role: 'crs',
    only: ['crs/wire/14'],
    patches: [
      {
        file: 'reference/net/receiver.ts',
        find: '      const err = typedError(e);\n',
        replace:
          "      const err = typedError(e);\n      if ((err as { code?: string }).code === 'ERR_LINE_TOO_LONG') process.exit(70);\n",
      },
    ],
  },
  {
    name: 'crs-key-share-bit',
    fault:
      'the CRS spells its enrollment Key-share with a set bit beyond the last octet, in the challenge and its own transcript (a lenient decoder reads the same key) [CRYPTO-4]',
    role: 'crs',
    only: ['crs/enroll/1'],
    patches: [
      {
        file: 'reference/crs/mod-enroll.ts',
        find: '      eR: b64(share.publicKey),',
        replace: `      eR: ${setLastBit('b64(share.publicKey)')},`,
      },
    ],
  },
  {
    name: 'ms-salt-padded',
    fault:
      "the MS spells a user's Salt with '==' padding, in the login challenge and its own transcript (a lenient decoder reads the same salt) [CRYPTO-4]",
    role: 'ms',
    only: ['ms/login/1'],
    patches: [
      {
        file: 'reference/ms/mod-session.ts',
        find: "      salt: requiredHeaderOf(r, 'Salt'),",
        replace: "      salt: `${requiredHeaderOf(r, 'Salt')}==`,",
      },
    ],
  },
  {
    name: 'client-key-share-bit',
    fault:
      'the client spells its LOGIN Key-share with a set bit beyond the last octet, in LOGIN and its own transcript (a lenient decoder reads the same key) [CRYPTO-4]',
    role: 'client',
    only: ['client/login/1'],
    patches: [
      {
        file: 'reference/client/authenticate.ts',
        find: '  const eC = b64(eph.publicKey);',
        replace: `  const eC = ${setLastBit('b64(eph.publicKey)')};`,
      },
    ],
  },
  {
    name: 'ms-never-reenrolls',
    fault:
      'an MS that lost its CRS link never enrolls again: its reconnect timer does nothing, and it answers every LOGIN 503 for good (kit-mutation seed 13, crs-uplink.ts) [ENROLL-12]',
    role: 'ms',
    only: ['ms/format/2'],
    patches: [
      {
        file: 'reference/ms/crs-uplink.ts',
        find: '      this.reconnectTimer = null;\n      this.connect();',
        replace: '      this.reconnectTimer = null;',
      },
    ],
  },
  {
    name: 'wrong-password-accepted',
    fault: 'a wrong password accepted: the MS does not check the proof',
    role: 'ms',
    only: ['ms/login/2'],
    patches: [
      {
        file: 'reference/ms/mod-session.ts',
        find: "if (a.lock) clientKey = verifyClientProof(a.lock.storedKey, auth, unb64(requiredHeaderOf(m, 'Proof')));",
        replace:
          "if (a.lock) clientKey = verifyClientProof(a.lock.storedKey, auth, unb64(requiredHeaderOf(m, 'Proof'))) ?? Buffer.alloc(32);",
      },
    ],
  },
  {
    name: 'presence-leak',
    fault: 'presence leaked to a non-buddy: the MS forwards every PRESENCE',
    role: 'ms',
    only: ['ms/presence/1'],
    patches: [
      {
        file: 'reference/ms/mod-presence.ts',
        find: "const w = this.watchIndex.get(requiredHeaderOf(m, 'User'));",
        replace: 'const w = [...this.ms.sessions.values()];',
      },
      {
        file: 'reference/ms/mod-presence.ts',
        find: "if (s.contacts.get(requiredHeaderOf(m, 'User')) !== 'buddy') return false;",
        replace:
          "if (!s.contacts.has(requiredHeaderOf(m, 'User'))) { s.conn.link.notify(req('PRESENCE', pick(m, ['User', 'Status']))); return true; }\n        if (s.contacts.get(requiredHeaderOf(m, 'User')) !== 'buddy') return false;",
      },
    ],
  },
  {
    name: 'session-timeout-ignored',
    fault: 'heartbeat timeout ignored at the MS: silent clients are never logged out',
    role: 'ms',
    only: ['ms/heartbeat/1'],
    patches: [
      {
        file: 'reference/ms/ms.ts',
        find: /if \(now - [^\n]*> this\.limits\.sessionTimeout\) \{/,
        replace: 'if (false) {',
      },
    ],
  },
  {
    name: 'init-non-buddy-accepted',
    fault: 'an INIT from a non-buddy accepted: the client skips the buddy check (and the signature when it has no key)',
    role: 'client',
    only: ['client/p2p/2'],
    patches: [
      {
        file: 'reference/crypto/p2p.ts',
        find: /if \(\(peer\.relation !== 'buddy' && !blocked\) \|\| peer\.publicKey === undefined\) throw cryptoError\('ERR_NOT_BUDDY'\);/,
        replace: '',
      },
      {
        file: 'reference/crypto/p2p.ts',
        find: /edPublic = parsePublicKey\(peer\.publicKey\)\.edPublic;/,
        replace: 'edPublic = peer.publicKey ? parsePublicKey(peer.publicKey).edPublic : Buffer.alloc(32);',
      },
      {
        file: 'reference/crypto/p2p.ts',
        find: /if \(!verifySignature\(edPublic,/,
        replace: 'if (peer.publicKey !== undefined && !verifySignature(edPublic,',
      },
    ],
  },
  {
    name: 'stale-session-key',
    fault:
      'a stale session key accepted after logout: peer sessions and their keys survive the logout and still deliver',
    role: 'client',
    only: ['client/p2p/6'],
    patches: [
      { file: 'reference/client/client.ts', find: /this\.peers\.endAllSessions\(/g, replace: 'void (' },
      { file: 'reference/client/peers.ts', find: /for \(const l of this\.peerLinks\) l\.close\(\);/g, replace: '' },
      {
        file: 'reference/client/peer.ts',
        find: /if \(lost\)\s*return this\.refuse\(/,
        replace: 'if (lost && false) return this.refuse(',
      },
    ],
  },
];

export interface MutantOutcome {
  mutant: Mutant;
  caught: boolean;
  by: string;
  detail: string;
}

/** A copy of what the reference runs from, with `m`'s patches applied; the caller removes it. */
export function makeCopy(root: string, m: Mutant): string {
  const dir = mkdtempSync(join(tmpdir(), `imsp-mutant-${m.name}-`));
  for (const d of ['reference', 'codec', 'generated', 'spec']) cpSync(join(root, d), join(dir, d), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) if (existsSync(join(root, f))) cpSync(join(root, f), join(dir, f));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  for (const p of m.patches) {
    const file = join(dir, p.file);
    const text = readFileSync(file, 'utf8');
    const hit =
      typeof p.find === 'string'
        ? text.includes(p.find)
        : new RegExp(p.find.source, p.find.flags.replace('g', '')).test(text);
    if (!hit) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mutant ${m.name}: the patch does not apply to ${p.file} (the reference changed)`);
    }
    writeFileSync(
      file,
      typeof p.find === 'string' ? text.split(p.find).join(p.replace) : text.replace(p.find, p.replace),
    );
  }
  return dir;
}

/** Cases that fail on the unmutated reference cannot prove a catch: find them first. */
export async function baseline(
  root: string,
  role: RoleName,
  only: string[],
  o: { runs: number; seed: number; timeoutMs: number },
): Promise<Set<string>> {
  const r = await selftestRole(role, {
    root,
    roles: [role],
    runs: o.runs,
    seed: o.seed,
    timeoutMs: o.timeoutMs,
    only,
    quiet: true,
    out: () => undefined,
  });
  return new Set(r.results.filter((x) => x.verdict === 'FAIL').map((x) => x.id));
}

export async function runMutant(
  root: string,
  m: Mutant,
  o: { runs: number; seed: number; timeoutMs: number },
  failingOnBaseline: Set<string> = new Set(),
): Promise<MutantOutcome> {
  let dir: string;
  try {
    dir = makeCopy(root, m);
  } catch (e) {
    return { mutant: m, caught: false, by: '', detail: (e as Error).message };
  }
  try {
    const r = await selftestRole(m.role, {
      root: dir,
      roles: [m.role],
      runs: o.runs,
      seed: o.seed,
      timeoutMs: o.timeoutMs,
      only: m.only,
      quiet: true,
      out: () => undefined,
    });
    const failed = r.results.filter((x) => x.verdict === 'FAIL' && !failingOnBaseline.has(x.id));
    const first = failed[0]?.findings.find((f) => f.verdict === 'FAIL');
    if (failed.length)
      return {
        mutant: m,
        caught: true,
        by: `${failed[0]!.id} [${first?.req ?? '?'}]`,
        detail: first?.text.split('\n')[0] ?? '',
      };
    if (r.error) return { mutant: m, caught: true, by: `(start-up) `, detail: r.error.split('\n')[0]! };
    return { mutant: m, caught: false, by: '', detail: `${r.results.length} cases passed` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const get = (n: string): string | undefined => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const only = get('--only')?.split(',');
  const list = MUTANTS.filter((m) => !only || only.includes(m.name));
  if (args.includes('--list')) {
    for (const m of list) process.stdout.write(`${m.name.padEnd(26)} ${m.role.padEnd(6)} ${m.fault}\n`);
    process.exit(0);
  }
  const o = {
    runs: Number(get('--runs') ?? 10),
    seed: Number(get('--seed') ?? 1),
    timeoutMs: Number(get('--timeout') ?? 2000),
  };
  let caught = 0;
  const roles = [...new Set(list.map((m) => m.role))];
  const failing = new Set<string>();
  for (const role of roles) {
    const b = await baseline(root, role, [...new Set(list.filter((m) => m.role === role).flatMap((m) => m.only))], o);
    for (const id of b) failing.add(id);
  }
  if (failing.size)
    process.stdout.write(
      `baseline: these cases fail on the unmutated reference and do not count: ${[...failing].join(', ')}\n`,
    );
  for (const m of list) {
    const r = await runMutant(root, m, o, failing);
    if (r.caught) caught++;
    process.stdout.write(
      `${r.caught ? 'CAUGHT ' : 'MISSED '} ${m.name.padEnd(26)} ${r.caught ? `by ${r.by}` : ''} ${r.detail}\n`,
    );
  }
  process.stdout.write(`${caught}/${list.length} mutants caught\n`);
  process.exitCode = caught === list.length ? 0 : 1;
}
