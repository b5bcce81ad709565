// Child process for the `udid` index tests: records a small DAG for `count`
// sources, waits until it is committed and on disk, says "flushed", then is
// killed with SIGKILL before it could merge its UDIDs into the index.
//   node record-then-die.mjs <ckpt> <count>
import { LineageStore, childLineage, rootLineage } from '../../dist/index.js';

const [dir, count] = process.argv.slice(2);
const store = await LineageStore.open(dir, { onWarning: () => {} });
for (let s = 0; s < Number(count); s++) {
  const root = rootLineage(`part-${s}`);
  const chunks = [0, 1].map((j) => childLineage('split', [root.udid], j));
  store.recordEmission({ stage: 'split', parents: [root], children: chunks });
  const out = childLineage('write', [chunks[0].udid], 0);
  store.recordEmission({ stage: 'write', parents: [chunks[0]], children: [out], terminal: true });
}
await store.flush();
process.stdout.write('flushed\n');
process.kill(process.pid, 'SIGKILL');
