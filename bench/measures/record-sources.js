// node record-sources.js <dir> <sources>: issue 6. Source-counter mode
// (`mode: 'sources'`) against DAG mode on the same workload: W1 without its
// `merge` stage (arrival batches mix sources, so that mode refuses them),
// i.e. split → map → filter → write, no-op stages, through `Pipeline.run`.
// Each mode runs in its own child process, on a fresh checkpoint, durable at
// the end; a run without a checkpoint is the baseline.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { child, emit } from './_util.js';

const [dir, s] = process.argv.slice(2);
const script = join(fileURLToPath(new URL('.', import.meta.url)), '_w1-run.js');
const out = {};
for (const mode of ['none', 'sources', 'dag']) {
  const ckpt = join(dir, mode);
  rmSync(ckpt, { recursive: true, force: true });
  out[mode] = child(script, [mode, ckpt, s, 'no-merge']);
  rmSync(ckpt, { recursive: true, force: true });
}
emit({
  measure: 'record-sources',
  sources: Number(s),
  workload: 'W1 without merge (split, map, filter, write)',
  stage_calls: out.dag.stage_calls,
  seconds_none: out.none.seconds,
  seconds_sources: out.sources.seconds,
  seconds_dag: out.dag.seconds,
  dag_over_sources: +(out.dag.seconds / out.sources.seconds).toFixed(3),
  sources_over_none: +(out.sources.seconds / out.none.seconds).toFixed(3),
  bytes_on_disk_sources: out.sources.bytes_on_disk,
  bytes_on_disk_dag: out.dag.bytes_on_disk,
  peak_rss_mb_sources: out.sources.peak_rss_mb,
  peak_rss_mb_dag: out.dag.peak_rss_mb,
});
