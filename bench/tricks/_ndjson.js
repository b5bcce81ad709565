// node _ndjson.js <dist dir> <checkpoint dir> <sources>
// Builds <checkpoint dir> with W1 (once, through <dist dir>) when it is
// missing, then times one full NDJSON scan of it (what
// `lineage inspect --format ndjson` prints) against the build in
// <dist dir>, writing to nothing. Prints one JSON line.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, dir, s] = process.argv.slice(2);
const { LineageStore, Pipeline } = await import(pathToFileURL(join(resolve(dist), 'index.js')).href);
if (!existsSync(dir)) {
  const stage = (id) => ({ id, process: (x) => x });
  const split = { id: 'split', process: (s) => [{ s, j: 0 }, { s, j: 1 }, { s, j: 2 }, { s, j: 3 }] };
  const merge = { id: 'merge', batchSize: 4, processBatch: (xs) => xs[0] };
  const sources = function* () {
    for (let i = 0; i < Number(s); i++) yield { key: `src-${i}`, data: i };
  };
  await new Pipeline([split, stage('map'), merge, stage('write')]).run(sources(), { checkpoint: dir, handleSignals: false });
}
const store = await LineageStore.open(dir, { readOnly: true });
let bytes = 0;
const sink = { closed: false, writeChunk: async (chunk) => void (bytes += chunk.length) };
const c0 = process.cpuUsage();
const t0 = performance.now();
const tasks = await store.writeTasksNdjson(sink, Infinity);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
await store.close();
if (tasks === null) throw new Error('the page scan is off for this checkpoint');
process.stdout.write(JSON.stringify({ seconds: +seconds.toFixed(3), cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(3), tasks, bytes, failed: 0 }) + '\n');
