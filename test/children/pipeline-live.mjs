// Child process for "verify on a live checkpoint": a Pipeline run over an
// endless stream of sources (split → filter some → merge per source → write),
// paced so that it commits many batches; prints "ready" once the first sources
// are durable, then keeps running until it is killed.
//   node pipeline-live.mjs <ckpt> [writerId]
import { Pipeline } from '../../dist/index.js';

const [checkpoint, writerId = 'main'] = process.argv.slice(2);
const pipeline = new Pipeline([
  { id: 'split', key: (c) => `c${c.i}`, process: (s) => [0, 1, 2, 3].map((i) => ({ s, i })) },
  { id: 'filter', concurrency: 8, process: async (c) => (await new Promise((r) => setTimeout(r, 1)), (c.s + c.i) % 4 === 0 ? null : c) },
  { id: 'merge', groupBy: 'source', processBatch: (chunks) => ({ n: chunks.length }) },
  { id: 'write', process: (m) => m },
]);
async function* sources() {
  for (let s = 0; ; s++) {
    yield { key: `src-${s}`, data: s };
    if (s === 200) setTimeout(() => console.log('ready'), 300);
  }
}
await pipeline.run(sources(), { checkpoint, writerId });
