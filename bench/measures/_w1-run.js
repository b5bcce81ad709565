// node _w1-run.js <none|dag|sources> <ckpt> <sources> [merge|no-merge]
// One run of W1 as a Pipeline of no-op stages (../w1-pipeline.js), in this
// process only, so its wall time and peak RSS are its own. With a checkpoint
// the run opens it by path and closes it at the end, so the time includes
// making everything durable. Prints one JSON line.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { stageCalls, w1Pipeline, w1Sources } from '../w1-pipeline.js';
import { emit, memory, sampleRss, seconds } from './_util.js';

const [mode, dir, s, shape = 'merge'] = process.argv.slice(2);
const sources = Number(s);
const pipeline = w1Pipeline({ merge: shape === 'merge' });
const options = mode === 'none' ? {} : { checkpoint: dir, mode };
const peaks = sampleRss();
const c0 = process.cpuUsage();
const t0 = performance.now();
const report = await pipeline.run(w1Sources(sources), options);
const elapsed = seconds(t0);
const cpu = process.cpuUsage(c0);
let bytes;
try {
  bytes = mode === 'none' ? undefined : statSync(join(dir, 'writers', 'main', 'data.mdb')).size;
} catch {
  bytes = undefined;
}
emit({
  mode,
  shape,
  sources,
  seconds: elapsed,
  // CPU time of the whole process (all threads): less sensitive than wall time to a busy machine.
  cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(3),
  stage_calls: stageCalls(report),
  sources_read: report.sources.read,
  sources_skipped: report.sources.skipped,
  failed: report.failed,
  stages: Object.fromEntries(report.stages.map((st) => [st.stage, { calls: st.calls, emitted: st.emitted, filtered: st.filtered, pruned: st.pruned }])),
  ...(bytes !== undefined ? { bytes_on_disk: bytes } : {}),
  max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  ...memory(),
  ...peaks(),
});
