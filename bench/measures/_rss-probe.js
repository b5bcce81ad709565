// Preloaded into the `lineage` command by bench/run.js (node --import): samples
// /proc/self/status while the command runs and, at exit, writes the peaks of
// RssAnon (the process's own memory) and RssFile (file-backed pages, mostly
// the LMDB map) to the file named by LINEAGE_BENCH_RSS_OUT. The command runs
// its LMDB work in a child process that inherits the preload: each process
// keeps the higher of its own peaks and those already in the file, so the
// file ends with the peaks of the process that used the most.
import { readFileSync, writeFileSync } from 'node:fs';
import { sampleRss } from './_util.js';

const out = process.env.LINEAGE_BENCH_RSS_OUT;
if (out) {
  const peaks = sampleRss(100);
  process.on('exit', () => {
    const mine = peaks();
    let before = {};
    try {
      before = JSON.parse(readFileSync(out, 'utf8'));
    } catch {
      // the first process to exit
    }
    const merged = { ...before };
    for (const [field, value] of Object.entries(mine)) merged[field] = Math.max(value, before[field] ?? 0);
    writeFileSync(out, JSON.stringify(merged));
  });
}
