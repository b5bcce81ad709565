// node record.js <ckpt> <sources>: records W1 through the public API, durable at the end:
// the time runs until close() has committed everything (the last `udid` index merge
// included) and the OS reports it on disk.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { LineageStore } from '../../dist/index.js';
import { recordW1 } from '../w1.js';
import { emit, memory, sampleRss, seconds } from './_util.js';

const [dir, s] = process.argv.slice(2);
const store = await LineageStore.open(dir);
const peaks = sampleRss();
const t0 = performance.now();
const emissions = await recordW1(store, Number(s));
await store.close();
const elapsed = seconds(t0);
const reader = await LineageStore.open(dir, { readOnly: true });
let tasks = 0;
for (const shard of reader.shards) tasks += shard.taskCount();
await reader.close();
const bytes = statSync(join(dir, 'writers', 'main', 'data.mdb')).size;
emit({
  measure: 'record',
  sources: Number(s),
  emissions,
  tasks,
  seconds: elapsed,
  emissions_per_s: Math.round(emissions / elapsed),
  bytes_on_disk: bytes,
  bytes_per_task: Math.round(bytes / tasks),
  ...memory(),
  ...peaks(),
});
