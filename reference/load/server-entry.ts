// Process entry for the servers a load run spawns (`--spawn`): `node server-entry.js crs|ms [flags]`,
// the same as `imsp crs` / `imsp ms`, runnable from the tsc output (dist/) as well as through tsx.
// IMSP_STAGE_TRACE=FILE (set by a load run's stageTrace option, issue 15): the server marks the stages of
// the login -> presence path (reference/ops/stage-trace.ts) and writes them to FILE when it has stopped,
// and its event-loop delay and GC pauses (reference/ops/loop-trace.ts) beside it.
import { writeFileSync } from 'node:fs';
import { run } from '../cli/servers.js';
import { enableStageTrace, stageTraceSnapshot } from '../ops/stage-trace.js';
import { enableLoopTrace, loopTraceSnapshot } from '../ops/loop-trace.js';

const traceFile = process.env['IMSP_STAGE_TRACE'];
if (traceFile) {
  enableStageTrace();
  enableLoopTrace();
}
process.exitCode = await run(process.argv.slice(2));
if (traceFile) {
  writeFileSync(traceFile, JSON.stringify(stageTraceSnapshot()));
  // beside it: NAME.loop.json, the event-loop delay and GC pauses (reference/ops/loop-trace.ts)
  writeFileSync(traceFile.replace(/\.stages\.json$/, '') + '.loop.json', JSON.stringify(loopTraceSnapshot()));
}
