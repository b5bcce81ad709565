// Child process for "a checkpoint being written by a live run": opens a writer
// on <ckpt> and records sources part-0, part-1, ... (the same small DAG as
// record-sources.mjs) until it is killed. Prints "ready" once the first
// hundred sources are committed, so readers have something to read.
//   node record-live.mjs <ckpt> [writerId]
import { LineageStore, childLineage, rootLineage } from '../../dist/index.js';

const [dir, writerId = 'main'] = process.argv.slice(2);
const store = await LineageStore.open(dir, { writerId, onWarning: () => {} });
for (let s = 0; ; s++) {
  const root = rootLineage(`part-${s}`);
  const chunks = [0, 1, 2].map((j) => childLineage('split', [root.udid], j));
  store.recordEmission({ stage: 'split', parents: [root], children: chunks });
  const kept = chunks.filter((_, j) => (s + j) % 3 !== 0);
  for (const c of chunks) if (!kept.includes(c)) store.recordEmission({ stage: 'filter', parents: [c], children: [] });
  const merged = childLineage('merge', kept.map((c) => c.udid), 0);
  store.recordEmission({ stage: 'merge', parents: kept, children: [merged] });
  // Every fifth source stops before the sink: the checkpoint always has incomplete work.
  if (s % 5 !== 4) store.recordEmission({ stage: 'write', parents: [merged], children: [childLineage('write', [merged.udid], 0)], terminal: true });
  if (s === 99) {
    await store.flush();
    console.log('ready');
  }
  // Then a steady trickle: the checkpoint keeps changing but stays small enough to read quickly.
  if (s >= 99) await new Promise((r) => setTimeout(r, 1));
}
