#!/usr/bin/env node
// npm run bench -- [--sources S] [--limit]
// Records workload W1 through the public API, durable at the end, and prints
// one JSON line per measure; the last line is the summary.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineageStore } from '../dist/index.js';
import { recordW1 } from './w1.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const sources = Number(opt('sources', '10000'));
const withLimit = args.includes('--limit');

const dir = mkdtempSync(join(tmpdir(), 'lineage-bench-'));
try {
  const store = await LineageStore.open(dir);
  const t0 = performance.now();
  const emissions = await recordW1(store, sources);
  await store.flush();
  const seconds = (performance.now() - t0) / 1000;
  await store.close();
  const bytes = statSync(join(dir, 'writers', 'main', 'data.mdb')).size;
  const result = {
    workload: 'W1',
    sources,
    emissions,
    seconds: +seconds.toFixed(3),
    emissions_per_s: Math.round(emissions / seconds),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    bytes_on_disk: bytes,
  };
  if (withLimit) {
    const script = join(here, '..', '..', 'shared', 'bench', 'run-limit.sh');
    const line = execFileSync('bash', [script, String(sources), String(sources)], { encoding: 'utf8' }).trim();
    const limit = Number(/emissions_per_s=(\d+)/.exec(line)?.[1]);
    Object.assign(result, { limit_emissions_per_s: limit, ratio_to_limit: +(result.emissions_per_s / limit).toFixed(3) });
  }
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
