// node rerun.js <ckpt> <sources>: records W1 through `Pipeline.run` with a
// checkpoint (in a child process), then, in this process, times a second run
// over the same sources and the same checkpoint: everything is complete, so
// it must make zero stage calls. The time covers opening the checkpoint,
// reading every source, skipping it, and closing.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stageCalls, w1Pipeline, w1Sources } from '../w1-pipeline.js';
import { child, emit, memory, sampleRss, seconds } from './_util.js';

const [dir, s] = process.argv.slice(2);
const count = Number(s);
const first = child(join(fileURLToPath(new URL('.', import.meta.url)), '_w1-run.js'), ['dag', dir, String(count)]);
const peaks = sampleRss();
const t0 = performance.now();
const report = await w1Pipeline().run(w1Sources(count), { checkpoint: dir });
const elapsed = seconds(t0);
emit({
  measure: 'rerun',
  sources: count,
  first_run_seconds: first.seconds,
  first_run_stage_calls: first.stage_calls,
  first_run_peak_rss_anon_mb: first.peak_rss_anon_mb,
  seconds: elapsed,
  stage_calls: stageCalls(report),
  sources_skipped: report.sources.skipped,
  ...memory(),
  ...peaks(),
  peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
});
