// node _record.js <dist dir> <checkpoint dir> <sources>
// Records W1 straight through LineageStore.recordEmission (no runner), as the
// record benchmark does, against the build in <dist dir>, durable at close.
// Prints one JSON line.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { recordW1 } from '../w1.js';

const [dist, dir, s] = process.argv.slice(2);
const api = await import(pathToFileURL(join(resolve(dist), 'index.js')).href);
rmSync(dir, { recursive: true, force: true });
const c0 = process.cpuUsage();
const t0 = performance.now();
const store = await api.LineageStore.open(dir);
const emissions = await recordW1(store, Number(s), { api });
await store.close();
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ seconds: +seconds.toFixed(3), cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(3), emissions, failed: 0 }) + '\n');
