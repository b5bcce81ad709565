// Child process for the small-session crash test: records sources part-0,
// part-1, ... (record-sources.mjs's DAG) in one session small enough to commit
// on its own thread. After the first <flushAt> sources it flushes and prints
// "flushed <flushAt> threads <n>" (n: the threads the process has started,
// seen through Node's `worker_threads` diagnostics channel), then records on,
// a turn every few sources and a pause every twenty, up to <total>, until it is
// killed.
//   node record-small-live.mjs <ckpt> <flushAt> <total>
import { subscribe } from 'node:diagnostics_channel';
import { LineageStore, childLineage, rootLineage } from '../../dist/index.js';

let threads = 0;
subscribe('worker_threads', () => threads++);
const [dir, flushAt, total] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)));
const store = await LineageStore.open(dir, { onWarning: () => {} });
for (let s = 0; s < total; s++) {
  const root = rootLineage(`part-${s}`);
  const chunks = [0, 1, 2].map((j) => childLineage('split', [root.udid], j));
  store.recordEmission({ stage: 'split', parents: [root], children: chunks });
  const kept = chunks.filter((_, j) => (s + j) % 3 !== 0);
  for (const c of chunks) if (!kept.includes(c)) store.recordEmission({ stage: 'filter', parents: [c], children: [] });
  const merged = childLineage('merge', kept.map((c) => c.udid), 0);
  store.recordEmission({ stage: 'merge', parents: kept, children: [merged] });
  store.recordEmission({ stage: 'write', parents: [merged], children: [childLineage('write', [merged.udid], 0)], terminal: true });
  if (s + 1 === flushAt) {
    await store.flush();
    console.log(`flushed ${flushAt} threads ${threads}`);
  }
  if (s % 5 === 4) await new Promise((r) => setImmediate(r));
  if (s % 20 === 19) await new Promise((r) => setTimeout(r, 5));
}
// Not reached in the test: it is killed first.
await new Promise((r) => setTimeout(r, 60_000));
