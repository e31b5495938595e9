// The P2P phase of `make bench-xmpp` alone (issue 15): one pair, 256 pipelined 100-octet MSGs, CPU per
// MSG of each end from /proc. `node dist/bench/p2p-chat.js [--duration S] [--json FILE]`.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { othersShare } from '../reference/load/cpu.js';
import { runLoad } from '../reference/load/run.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const seconds = Number(flag('--duration') ?? '10');
const load0 = loadavg()[0]!;
const r = await runLoad({
  spawn: true,
  heartbeats: true,
  serverDurability: 'normal',
  scenario: 'chat',
  users: 4,
  buddies: 2,
  spawnMs: 1,
  processes: 2,
  durationMs: seconds * 1000,
  chatWindow: Number(flag('--window') ?? '256'),
  chatSize: 100,
  cpuIdleMaxMs: 1,
  progress: () => undefined,
});
const n = r.chat?.messages ?? 0;
const ends = (r.cpu?.uses ?? [])
  .filter((u) => u.name === 'load worker 1' || u.name === 'load worker 2')
  .map((u) => ({
    end: u.name === 'load worker 1' ? 'initiator' : 'responder',
    usPerMsg: n > 0 ? (u.seconds * 1e6) / n : NaN,
  }));
const worst = Math.max(...ends.map((e) => e.usPerMsg));
const others = r.cpu ? othersShare(r.cpu) : undefined;
const out = {
  messages: n,
  msgsPerSecond: r.chat?.msgsPerSecond,
  ends,
  impliedMsgsPerSecondOneCorePerEnd: 1e6 / worst,
  loadAverage: { start: load0, end: loadavg()[0] },
  others,
  errors: r.chat?.errors,
};
process.stdout.write(
  `P2P: ${n} MSGs, ${Math.round(r.chat?.msgsPerSecond ?? 0)} MSG/s; CPU per MSG (us): ${ends.map((e) => `${e.end} ${e.usPerMsg.toFixed(2)}`).join(', ')}; one core per end: ${Math.round(1e6 / worst)} MSG/s; others used ${others !== undefined ? Math.round(others * 100) : '-'}% of the cores; load average ${load0.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)}\n`,
);
const json = flag('--json');
if (json) writeFileSync(json, `${JSON.stringify(out, null, 2)}\n`);
