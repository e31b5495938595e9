// The printed form of a load report: one aligned table of the figures, then errors by code.
import { fmt } from './stats.js';
import type { LoadReport } from './run.js';

const kb = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : (v / 1024).toFixed(1));
const mb = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : (v / 1048576).toFixed(1));

/** Rows of [figure, value] for a report. */
export function reportRows(r: LoadReport): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    [
      'scenario',
      `${r.scenario}: ${r.options.users} users, ${r.options.buddies} buddies, ${r.options.concurrency} in flight, ${Math.max(1, r.options.processes)} worker(s)`,
    ],
    ['registration', `${r.registration.users} users in ${fmt(r.registration.seconds)} s`],
  ];
  if (r.scenario !== 'chat') {
    rows.push(
      ['logins ok / attempted', `${r.logins.ok} / ${r.logins.attempted}`],
      ['logins/s', fmt(r.logins.perSecond, 0)],
      [
        'login latency p50 / p99 / max (ms)',
        `${fmt(r.logins.latency.p50)} / ${fmt(r.logins.latency.p99)} / ${fmt(r.logins.latency.max)}`,
      ],
      ['re-logins ok / failed, p99 (ms)', `${r.relogins.ok} / ${r.relogins.failed}, ${fmt(r.relogins.latency.p99)}`],
      ['fan-out probes (delivered/expected)', `${r.fanout.probes} (${r.fanout.delivered}/${r.fanout.expected})`],
      ['fan-out from 200, p50 / p99 (ms)', `${fmt(r.fanout.fromLogin.p50, 2)} / ${fmt(r.fanout.fromLogin.p99, 2)}`],
      ['fan-out from PROOF, p50 / p99 (ms)', `${fmt(r.fanout.fromProof.p50, 2)} / ${fmt(r.fanout.fromProof.p99, 2)}`],
      [
        'fan-out from PROOF to the push opened by the generator, p50 / p99 (ms)',
        `${fmt(r.fanout.fromProofOpened.p50, 2)} / ${fmt(r.fanout.fromProofOpened.p99, 2)}`,
      ],
      ['sessions peak / held at the end', `${r.sessions.peak} / ${r.sessions.held}`],
    );
  }
  for (const m of r.memory) {
    rows.push([
      `${m.name}: sessions, RSS MB before->after, heap MB before->after`,
      `${m.sessions}, ${mb(m.rssBefore)}->${mb(m.rssAfter)}, ${mb(m.heapBefore)}->${mb(m.heapAfter)}`,
    ]);
    rows.push([`${m.name}: RSS / heap per session (kB)`, `${kb(m.rssPerSession)} / ${kb(m.heapPerSession)}`]);
  }
  rows.push(['load generator RSS / heap (MB)', `${mb(r.generator.rss)} / ${mb(r.generator.heap)}`]);
  if (r.cpu && r.logins.ok > 0) {
    // issue 15: CPU per login per process (/proc), from the first login until the servers went idle
    const per = (sec: number): string => ((sec * 1000) / r.logins.ok).toFixed(2);
    const role = (k: 'server' | 'generator'): number =>
      r.cpu!.uses.filter((u) => u.role === k).reduce((a, u) => a + u.seconds, 0);
    rows.push(
      ['CPU per login, servers / generator (ms)', `${per(role('server'))} / ${per(role('generator'))}`],
      ['CPU per login by process (ms)', r.cpu.uses.map((u) => `${u.name} ${per(u.seconds)}`).join(', ')],
    );
  }
  if (r.warmup && r.warmup.ok > 0) {
    // issue 15: the warm-up's own CPU per login (login, logout and the idle wait), for comparison
    const w = r.warmup;
    const per = (k: 'server' | 'generator'): string =>
      ((w.cpu.uses.filter((u) => u.role === k).reduce((a, u) => a + u.seconds, 0) * 1000) / w.ok).toFixed(2);
    rows.push([
      'warm-up: logins ok / failed, s; CPU per login in+out, servers / generator (ms)',
      `${w.ok} / ${w.failed}, ${fmt(w.seconds, 1)}; ${per('server')} / ${per('generator')}`,
    ]);
  }
  if (r.chat) {
    rows.push(
      ['chat: MSGs, seconds', `${r.chat.messages}, ${fmt(r.chat.seconds, 2)}`],
      ['chat: MSG/s per pair', fmt(r.chat.msgsPerSecond, 0)],
      ['chat: MB/s per pair (body octets)', fmt(r.chat.mbPerSecond, 2)],
      ['chat: INIT to INIT-ACK (ms)', fmt(r.chat.handshakeMs, 2)],
    );
  }
  const errs = Object.entries(r.errors)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const serr = Object.entries(r.serverErrors)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  rows.push(
    ['client errors by code', errs || 'none'],
    ['server errors by code', serr || 'none'],
    ['elapsed (s)', fmt(r.elapsedSeconds)],
  );
  return rows;
}

/** A two-column text table. */
export function table(rows: Array<[string, string]>): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}
