// Child process for multi-writer tests: records a small W1-like DAG for a range
// of sources into a checkpoint, then prints "done".
//   node record-sources.mjs <ckpt> <writerId> <first> <count> [stagesToRecord]
import { LineageStore, childLineage, rootLineage } from '../../dist/index.js';

const [dir, writerId, first, count, upto = 'write'] = process.argv.slice(2);
const store = await LineageStore.open(dir, { writerId, onWarning: () => {} });
for (let s = Number(first); s < Number(first) + Number(count); s++) {
  const root = rootLineage(`part-${s}`);
  const chunks = [0, 1, 2].map((j) => childLineage('split', [root.udid], j));
  store.recordEmission({ stage: 'split', parents: [root], children: chunks });
  if (upto === 'split') continue;
  const kept = chunks.filter((_, j) => (s + j) % 3 !== 0);
  for (const c of chunks) if (!kept.includes(c)) store.recordEmission({ stage: 'filter', parents: [c], children: [] });
  const merged = childLineage('merge', kept.map((c) => c.udid), 0);
  store.recordEmission({ stage: 'merge', parents: kept, children: [merged] });
  const out = childLineage('write', [merged.udid], 0);
  store.recordEmission({ stage: 'write', parents: [merged], children: [out], terminal: true });
  if (store.needsDrain) await store.drain();
  if (s % 50 === 0) await new Promise((r) => setImmediate(r));
}
await store.close();
console.log('done');
