// Flame summaries of V8 .cpuprofile files (node --cpu-prof) for load runs (issue 15): self time per
// function, as a share of the process's busy samples (idle excluded), the top ones per process. The
// samples are wall-clock: on a loaded machine a descheduled process inflates whatever it was running, so
// compare shares within one profile, not times between runs.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

/** One function's self time. */
export interface ProfileItem {
  name: string;
  selfMs: number;
  /** Of the busy time (idle excluded), 0..1. */
  share: number;
}

/** The summary of one profile. */
export interface ProfileSummary {
  file: string;
  busyMs: number;
  idleMs: number;
  gcShare: number;
  top: ProfileItem[];
}

function label(f: ProfileNode['callFrame']): string {
  const name = f.functionName || '(anonymous)';
  if (!f.url) return name;
  const file = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '');
  return `${name} ${file}:${f.lineNumber + 1}`;
}

/** Self time per function of one profile, the `top` largest. */
export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let idle = 0;
  let total = 0;
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // a sample's time is the gap to the next sample (V8's own attribution)
    const dt = Math.max(0, (deltas[i + 1] ?? 0) / 1000);
    const n = byId.get(samples[i]!);
    if (!n) continue;
    total += dt;
    if (n.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const k = label(n.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
  }
  const busy = total - idle;
  const items = [...self.entries()]
    .map(([name, ms]) => ({ name, selfMs: ms, share: busy > 0 ? ms / busy : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return {
    file: basename(file),
    busyMs: busy,
    idleMs: idle,
    gcShare: busy > 0 ? (self.get('(garbage collector)') ?? 0) / busy : 0,
    top: items.slice(0, top),
  };
}

/** Every .cpuprofile in `dir`, summarized. */
export function summarizeProfiles(dir: string, top = 12): ProfileSummary[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => summarizeProfile(join(dir, f), top));
}

/** The summaries as text: per profile, busy time then its top functions with their shares. */
export function renderProfiles(summaries: ProfileSummary[], names: Map<string, string> = new Map()): string {
  return summaries
    .map((s) => {
      const pid = /\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(s.file)?.[1] ?? /-(\d+)\.cpuprofile$/.exec(s.file)?.[1] ?? '';
      const who = names.get(pid) ?? s.file;
      const head = `${who}: busy ${(s.busyMs / 1000).toFixed(2)} s, idle ${(s.idleMs / 1000).toFixed(2)} s, GC ${(s.gcShare * 100).toFixed(1)}% of busy`;
      const lines = s.top.map((t) => `  ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.name}`);
      return [head, ...lines].join('\n');
    })
    .join('\n');
}
