// Shared by the measure scripts: each runs in its own process so that its
// peak RSS is its own, and prints one JSON line.
import { execFileSync } from 'node:child_process';
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

/**
 * Samples /proc/self/status every `ms` while the event loop turns; returns a
 * function giving the peaks of RssAnon (the process's own memory: heap,
 * buffers, typed arrays) and RssFile (file-backed pages: mostly the LMDB map,
 * which the kernel can drop at will) seen so far.
 */
export function sampleRss(ms = 100) {
  let anon = 0;
  let file = 0;
  const take = () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    anon = Math.max(anon, Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0));
    file = Math.max(file, Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? 0));
  };
  const timer = setInterval(take, ms);
  timer.unref();
  return () => {
    take();
    clearInterval(timer);
    return { peak_rss_anon_mb: Math.round(anon / 1024), peak_rss_file_mb: Math.round(file / 1024) };
  };
}

export function emit(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
}

export function seconds(t0) {
  return +((performance.now() - t0) / 1000).toFixed(3);
}

/** Runs a measure script in a child process (its own heap and peak RSS); returns its last JSON line. */
export function child(script, args, extraNodeArgs = []) {
  const out = execFileSync(process.execPath, [...extraNodeArgs, script, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop());
}
