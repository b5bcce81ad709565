// node plan.js <ckpt> <sources>: planResume over the whole recorded W1
// checkpoint, for every one of its sources, named as the next run would name
// them (the source keys of record.js), with W1's pipeline. Opening and
// closing the checkpoint are inside the time.
import { planResume } from '../../dist/index.js';
import { emit, memory, sampleRss, seconds } from './_util.js';

const [dir, s] = process.argv.slice(2);
const count = Number(s);
const keys = Array.from({ length: count }, (_, i) => `part-${String(i).padStart(6, '0')}`);
const pipeline = ['split', 'map', 'filter', 'merge', 'write'].map((id) => ({ id }));
const peaks = sampleRss();
const t0 = performance.now();
const plan = await planResume(dir, { sources: keys, pipeline });
const elapsed = seconds(t0);
emit({
  measure: 'plan',
  sources: plan.totals.sources,
  tasks: plan.totals.tasks,
  skip: plan.totals.skip,
  resume: plan.totals.resume,
  new: plan.totals.new,
  seconds: elapsed,
  sources_per_s: Math.round(plan.totals.sources / elapsed),
  // maxRSS: the process's peak resident set (kB), LMDB's file-backed map pages included.
  ...memory(),
  ...peaks(),
  peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
});
