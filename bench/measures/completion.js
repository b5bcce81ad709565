// node completion.js <ckpt>: the batch completion pass over the whole checkpoint.
import { LineageStore, computeCompletion } from '../../dist/index.js';
import { emit, memory, sampleRss, seconds } from './_util.js';

const store = await LineageStore.open(process.argv[2], { readOnly: true });
const peaks = sampleRss();
const t0 = performance.now();
const snapshot = computeCompletion(store);
const elapsed = seconds(t0);
let completed = 0;
for (let i = 0; i < snapshot.size; i++) completed += snapshot.completed[i];
await store.close();
emit({ measure: 'completion', tasks: snapshot.size, completed, seconds: elapsed, ...memory(), ...peaks() });
