// node _w1.js <dist dir> <checkpoint dir> <sources>
// One W1 run with a checkpoint (the stages of ../w1-pipeline.js) against the
// build in <dist dir>, in this process only. Prints one JSON line.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, dir, s] = process.argv.slice(2);
const { Pipeline } = await import(pathToFileURL(join(resolve(dist), 'index.js')).href);
const split = { id: 'split', process: (s) => [{ s, j: 0 }, { s, j: 1 }, { s, j: 2 }, { s, j: 3 }] };
const map = { id: 'map', process: (x) => x };
const filter = { id: 'filter', process: (x) => ((x.s + x.j) % 5 === 0 ? null : x) };
const merge = { id: 'merge', batchSize: 4, processBatch: (xs) => xs[0] };
const write = { id: 'write', process: (x) => x };
function* sources(count) {
  for (let i = 0; i < count; i++) yield { key: `src-${i}`, data: i };
}
rmSync(dir, { recursive: true, force: true });
const c0 = process.cpuUsage();
const t0 = performance.now();
const report = await new Pipeline([split, map, filter, merge, write]).run(sources(Number(s)), { checkpoint: dir, handleSignals: false });
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
rmSync(dir, { recursive: true, force: true });
const calls = report.stages.reduce((n, st) => n + st.calls, 0);
process.stdout.write(JSON.stringify({ seconds: +seconds.toFixed(3), cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(3), calls, failed: report.failed }) + '\n');
