// node overhead.js <dir> <sources> [rounds]: the recording overhead of
// `Pipeline.run`. W1 as five no-op stages, once without a checkpoint and
// once with a fresh one (durable at the end: the run closes the store). Each
// run is its own child process (same heap start, own peak RSS), in the order
// none, dag, none, dag... for `rounds` rounds (default 1); the ratio is of the
// fastest run of each kind.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { child, emit } from './_util.js';

const [dir, s, r = '1'] = process.argv.slice(2);
const script = join(fileURLToPath(new URL('.', import.meta.url)), '_w1-run.js');
const runs = { none: [], dag: [] };
for (let round = 0; round < Number(r); round++) {
  for (const mode of ['none', 'dag']) {
    const ckpt = join(dir, `ckpt-${round}`);
    rmSync(ckpt, { recursive: true, force: true });
    runs[mode].push(child(script, [mode, ckpt, s]));
    rmSync(ckpt, { recursive: true, force: true });
  }
}
const best = (list) => list.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const none = best(runs.none);
const dag = best(runs.dag);
emit({
  measure: 'overhead',
  sources: Number(s),
  processes: 'separate, alternated none/dag',
  rounds: Number(r),
  seconds_without: none.seconds,
  seconds_with: dag.seconds,
  all_without: runs.none.map((x) => x.seconds),
  all_with: runs.dag.map((x) => x.seconds),
  stage_calls: dag.stage_calls,
  ratio: +(dag.seconds / none.seconds).toFixed(3),
  peak_rss_mb_without: none.peak_rss_mb,
  peak_rss_mb_with: dag.peak_rss_mb,
});
