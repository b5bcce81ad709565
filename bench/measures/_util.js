// Shared by the measure scripts: each runs in its own process so that its
// peak RSS is its own, and prints one JSON line.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

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
 * Samples /proc/self/status every `ms` from a worker thread (so a pass that
 * holds the main thread for seconds is sampled too); returns a function
 * giving the peaks of RssAnon (the process's own memory: heap, buffers,
 * typed arrays) and RssFile (file-backed pages: mostly the LMDB map, which
 * the kernel can drop at will) seen so far.
 */
export function sampleRss(ms = 100) {
  const peaks = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { readFileSync } = require('node:fs');
     const { workerData } = require('node:worker_threads');
     const peaks = new Int32Array(workerData.buffer);
     const take = () => {
       const status = readFileSync('/proc/self/status', 'utf8');
       Atomics.store(peaks, 0, Math.max(Atomics.load(peaks, 0), Number(/RssAnon:\\s+(\\d+)/.exec(status)?.[1] ?? 0)));
       Atomics.store(peaks, 1, Math.max(Atomics.load(peaks, 1), Number(/RssFile:\\s+(\\d+)/.exec(status)?.[1] ?? 0)));
     };
     take();
     setInterval(take, workerData.ms);`,
    { eval: true, workerData: { buffer: peaks.buffer, ms } },
  );
  worker.unref();
  return () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const anon = Math.max(Atomics.load(peaks, 0), Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0));
    const file = Math.max(Atomics.load(peaks, 1), Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? 0));
    void worker.terminate();
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
