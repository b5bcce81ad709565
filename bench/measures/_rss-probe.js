// Preloaded into the `lineage` command by bench/run.js (node --import): samples
// /proc/self/status while the command runs and, at exit, writes the peaks of
// RssAnon (the process's own memory) and RssFile (file-backed pages, mostly
// the LMDB map) to the file named by LINEAGE_BENCH_RSS_OUT.
import { writeFileSync } from 'node:fs';
import { sampleRss } from './_util.js';

const out = process.env.LINEAGE_BENCH_RSS_OUT;
if (out) {
  const peaks = sampleRss(100);
  process.on('exit', () => writeFileSync(out, JSON.stringify(peaks())));
}
