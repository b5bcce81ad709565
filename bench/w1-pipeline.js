// Workload W1 (bench/WORKLOAD.md) as a `Pipeline` of five no-op
// stages that reproduce W1's emissions exactly:
//   split  (source → 4 children, j = 0..3)      S emissions
//   map    (1 → 1)                              4S
//   filter (child j of source s filtered when (s + j) % 5 == 0, else 1 → 1)   4S
//   merge  (arrival order, 4 at a time → 1: `processBatch` with batchSize 4)  ~0.8S
//   write  (final stage, 1 → 1)                 ~0.8S
// With synchronous stages the runner keeps every queue FIFO, so `merge` sees
// the filter outputs in W1's order (source, then j) and forms W1's groups. A
// keyed `groupBy` is the reproducible fan-in; arrival batches are what W1 does.
import { Pipeline } from '../dist/index.js';

const split = { id: 'split', process: (s) => [{ s, j: 0 }, { s, j: 1 }, { s, j: 2 }, { s, j: 3 }] };
const map = { id: 'map', process: (x) => x };
const filter = { id: 'filter', process: (x) => ((x.s + x.j) % 5 === 0 ? null : x) };
const merge = { id: 'merge', batchSize: 4, processBatch: (xs) => xs[0] };
const write = { id: 'write', process: (x) => x };

/** W1 as a pipeline; `{ merge: false }` drops the fan-in stage (for source-counter mode). */
export function w1Pipeline({ merge: withMerge = true } = {}) {
  return new Pipeline(withMerge ? [split, map, filter, merge, write] : [split, map, filter, write]);
}

/** The sources, streamed: `{ key: 'src-' + s, data: s }`. */
export function* w1Sources(count) {
  for (let s = 0; s < count; s++) yield { key: `src-${s}`, data: s };
}

/** Emissions of W1 with `count` sources (with or without the merge stage). */
export function w1Emissions(count, { merge: withMerge = true } = {}) {
  let c = 0;
  for (let s = 0; s < count; s++) for (let j = 0; j < 4; j++) if ((s + j) % 5 !== 0) c++;
  const groups = Math.ceil(c / 4);
  return withMerge ? count + 8 * count + 2 * groups : count + 8 * count + c;
}

/** Sum of `calls` over the stages of a run report. */
export function stageCalls(report) {
  return report.stages.reduce((n, s) => n + s.calls, 0);
}

/** Sum of emissions (calls that emitted or filtered; merge batches count once) in a run report. */
export function reportEmissions(report) {
  return report.stages.reduce((n, s) => n + s.calls - s.failed, 0);
}
