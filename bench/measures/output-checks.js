// node output-checks.js <dir> <sources> [rounds]: the cost of checking recorded outputs.
// A two-stage pipeline writes one small file per source and declares it with
// outputs(); then planResume over the finished checkpoint is timed with and
// without checkOutputs, alternated, and so is a rerun (all complete: the check
// is all it does). The difference is the check: one access() per file, 64 at once.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pipeline, planResume } from '../../dist/index.js';
import { emit, seconds } from './_util.js';

const [dir, s, r] = process.argv.slice(2);
const count = Number(s);
const rounds = Number(r ?? 3);
const out = join(dir, 'out');
mkdirSync(out, { recursive: true });
const ckpt = join(dir, 'ckpt');
const pipeline = new Pipeline([
  { id: 'parse', process: (n) => ({ n, text: `record ${n}\n` }) },
  {
    id: 'write',
    process: (rec, ctx) => {
      const file = join(out, `${ctx.udid}.txt`);
      writeFileSync(file, rec.text);
      return { file };
    },
    outputs: (w) => [w.file],
  },
]);
const sources = () => Array.from({ length: count }, (_, i) => ({ key: `part-${String(i).padStart(6, '0')}`, data: i }));
const t0 = performance.now();
await pipeline.run(sources(), { checkpoint: ckpt, handleSignals: false });
const recordSeconds = seconds(t0);

const timed = async (fn) => {
  const t = performance.now();
  await fn();
  return seconds(t);
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const plan = { on: [], off: [] };
const rerun = { on: [], off: [] };
for (let k = 0; k < rounds; k++) {
  for (const on of k % 2 === 0 ? [true, false] : [false, true]) {
    const key = on ? 'on' : 'off';
    plan[key].push(await timed(() => planResume(ckpt, { checkOutputs: on })));
    rerun[key].push(await timed(() => pipeline.run(sources(), { checkpoint: ckpt, checkOutputs: on, handleSignals: false })));
  }
}
const p = await planResume(ckpt);
emit({
  measure: 'output-checks',
  sources: count,
  outputs: count,
  record_seconds: recordSeconds,
  plan_seconds: median(plan.on),
  plan_unchecked_seconds: median(plan.off),
  check_seconds: Math.max(0, median(plan.on) - median(plan.off)),
  rerun_seconds: median(rerun.on),
  rerun_unchecked_seconds: median(rerun.off),
  rounds,
  all_skip: p.totals.skip === count,
});
