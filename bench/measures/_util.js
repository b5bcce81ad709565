// Shared by the measure scripts: each runs in its own process so that its
// peak RSS is its own, and prints one JSON line.
import { readFileSync } from 'node:fs';

export function memory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return {
    peak_rss_mb: Math.round(kb('VmHWM') / 1024),
    // File-backed pages are the LMDB map the kernel can drop at will; anon is the process's own.
    rss_anon_mb_at_end: Math.round(kb('RssAnon') / 1024),
    rss_file_mb_at_end: Math.round(kb('RssFile') / 1024),
  };
}

export function emit(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
}

export function seconds(t0) {
  return +((performance.now() - t0) / 1000).toFixed(3);
}
