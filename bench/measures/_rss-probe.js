// Preloaded into the `lineage` command by bench/run.js (node --import): samples
// /proc/self/status while the command runs and, at exit, writes the peaks of
// RssAnon (the process's own memory) and RssFile (file-backed pages, mostly
// the LMDB map) to the file named by LINEAGE_BENCH_RSS_OUT.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.LINEAGE_BENCH_RSS_OUT;
if (out) {
  let anon = 0;
  let file = 0;
  const take = () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    anon = Math.max(anon, Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0));
    file = Math.max(file, Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? 0));
  };
  setInterval(take, 100).unref();
  process.on('exit', () => {
    take();
    writeFileSync(out, JSON.stringify({ peak_rss_anon_mb: Math.round(anon / 1024), peak_rss_file_mb: Math.round(file / 1024) }));
  });
}
