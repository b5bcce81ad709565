// Child process: runs the fan-in pipeline (fan-in-stages.mjs) as one writer.
//   node fan-in-writer.mjs <ckpt> <outDir> <writerId> <source,source,...> [seed]
// With a seed, every stage call waits a pseudo-random 0-24 ms (seeded by
// writer, stage and chunk), so two writers interleave differently per trial.
// FAN_IN_STATEFUL=1: the fan-in is a stateful stage over every source.
import { Pipeline } from '../../dist/index.js';
import { fanInStages } from './fan-in-stages.mjs';

const [dir, outDir, writerId, list, seed] = process.argv.slice(2);
const hash = (text) => {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
};
const delay = seed === undefined ? () => 0 : (stage, c) => hash(`${seed}/${writerId}/${stage}/${c.source}/${c.i}`) % 25;
const pipeline = new Pipeline(fanInStages({ outDir, delay, stateful: process.env.FAN_IN_STATEFUL === '1' }));
const report = await pipeline.run(list.split(',').map((key) => ({ key, data: key })), { checkpoint: dir, writerId });
console.log(JSON.stringify(report));
