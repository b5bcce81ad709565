#!/usr/bin/env node
// npm run bench -- [--sources S] [--limit] [--measures record,completion,...] [--rounds N] [--sweep [--sizes a,b,..]] [--keep DIR]
// npm run bench -- --sources 1000000 [--reference 100000]: the scale suite (issue 22), below.
// --rounds N: record (alternated with the ceiling), inspect and overhead run N times each; the fastest of each kind count.
//
// Runs each measure of workload W1 in its own process (so peak RSS is its
// own), through the public API and the real `lineage` binary, optionally with
// the liblmdb ceiling (bench/limit/run-limit.sh) in the same run. Prints
// one JSON object per measure, each with its targets (BENCHMARKS.md); the last
// line is the summary. A benchmark, not a test: it never fails on a miss.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderSweep } from './plot.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const flag = (name) => args.includes(`--${name}`);
const sources = Number(opt('sources', '10000'));
const ALL = ['record', 'completion', 'plan', 'inspect', 'verify', 'rerun', 'overhead', 'record-sources', 'output-checks'];
const measures = opt('measures', ALL.join(',')).split(',');
const withLimit = flag('limit');

/** Target per measure: [field, 'min' | 'max', value]. From issue 5. */
const TARGETS = {
  record: [['ratio_to_limit', 'min', 1.0], ['peak_rss_anon_mb', 'max', 400], ['bytes_per_task', 'max', 200]],
  completion: [['seconds', 'max', 5]],
  plan: [['seconds', 'max', 3], ['peak_rss_mb', 'max', 300]],
  inspect: [['tasks_per_s', 'min', 500_000], ['peak_rss_mb', 'max', 200]],
  rerun: [['seconds', 'max', 2], ['stage_calls', 'max', 0]],
  verify: [['seconds', 'max', 15]],
  overhead: [['ratio', 'max', 2.0]],
  // Checking S outputs must cost well under the plan's own budget (issue 21).
  'output-checks': [['check_seconds', 'max', 1]],
};

function judge(result) {
  const targets = (TARGETS[result.measure] ?? []).filter(([field]) => result[field] !== undefined);
  result.targets = targets.map(([field, kind, target]) => {
    const value = result[field];
    const ok = kind === 'min' ? value >= target : value <= target;
    // ratio > 1 means better than the target, whichever direction it points.
    const ratio = kind === 'min' ? value / target : value === 0 ? Infinity : target / value;
    return { field, kind, target, value, ok, ratio: Number.isFinite(ratio) ? +ratio.toFixed(3) : null };
  });
  return result;
}

function node(script, scriptArgs) {
  const out = execFileSync(process.execPath, [join(here, 'measures', script), ...scriptArgs], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop());
}

/**
 * Runs the real binary under /usr/bin/time; stdout goes through a pipe to
 * `wc -l` (a consumer that costs next to nothing, as a downstream tool
 * reading the stream would), not into this process: buffering and decoding
 * half a gigabyte here took one of the machine's two cores from the
 * command being measured.
 */
function cli(measure, cliArgs, countLines) {
  // A preloaded probe samples RssAnon/RssFile (what the peak is made of); /usr/bin/time gives the peak itself.
  const probeOut = join(mkdtempSync(join(tmpdir(), 'lineage-rss-')), 'rss.json');
  const probe = ['--import', pathToFileURL(join(here, 'measures', '_rss-probe.js')).href];
  const command = ['/usr/bin/time', '-f', '%e %M', process.execPath, ...probe, join(root, 'bin', 'lineage.js'), ...cliArgs];
  const t = spawnSync('bash', ['-c', 'set -o pipefail; "$@" | wc -l', 'lineage-bench', ...command], {
    encoding: 'utf8',
    env: { ...process.env, LINEAGE_BENCH_RSS_OUT: probeOut },
  });
  const last = t.stderr.trim().split('\n').pop() ?? '';
  const [elapsed, rssKb] = last.split(' ').map(Number);
  const result = { measure, exit_code: t.status, seconds: elapsed, peak_rss_mb: Math.round(rssKb / 1024) };
  if (countLines) result.lines = Number(t.stdout.trim());
  try {
    Object.assign(result, JSON.parse(readFileSync(probeOut, 'utf8')));
  } catch {
    // no probe output: the figures above stand alone
  }
  rmSync(dirname(probeOut), { recursive: true, force: true });
  return result;
}

function limit(s) {
  const script = join(here, 'limit', 'run-limit.sh');
  const line = execFileSync('bash', [script, String(s), String(s)], { encoding: 'utf8' }).trim();
  return Number(/emissions_per_s=(\d+)/.exec(line)?.[1]);
}

/**
 * The record measure, `rounds` times, each time after the ceiling when
 * --limit is given (ceiling, record, ceiling, record...). On a shared machine
 * the fastest run of each is the one least disturbed, so the ratio is of the
 * two fastest; peak RSS is the highest of all rounds. The checkpoint of the
 * last round is the one the later measures read.
 */
function recordRounds(ckpt, rounds) {
  const runs = [];
  const limits = [];
  for (let round = 0; round < rounds; round++) {
    if (withLimit) limits.push(limit(sources));
    rmSync(ckpt, { recursive: true, force: true });
    runs.push(node('record.js', [ckpt, String(sources)]));
  }
  const rec = { ...runs.reduce((a, b) => (b.seconds < a.seconds ? b : a)) };
  if (rounds > 1) {
    rec.rounds = rounds;
    rec.all_emissions_per_s = runs.map((r) => r.emissions_per_s);
    for (const field of ['peak_rss_mb', 'peak_rss_anon_mb', 'peak_rss_file_mb']) rec[field] = Math.max(...runs.map((r) => r[field]));
  }
  if (withLimit) {
    rec.limit_emissions_per_s = Math.max(...limits);
    if (rounds > 1) rec.all_limit_emissions_per_s = limits;
    rec.ratio_to_limit = +(rec.emissions_per_s / rec.limit_emissions_per_s).toFixed(3);
  }
  return rec;
}

function print(result) {
  console.log(JSON.stringify(result));
  return result;
}

async function main() {
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('run `npm run build` first');
  if (flag('sweep')) return sweep();
  if (sources >= 1_000_000 || opt('reference', null) !== null) return scale(Number(opt('reference', String(Math.round(sources / 10)))));
  const keep = opt('keep', null);
  const work = keep ?? mkdtempSync(join(tmpdir(), 'lineage-bench-'));
  const ckpt = join(work, 'w1');
  const results = [];
  try {
    if (keep) rmSync(ckpt, { recursive: true, force: true });
    const rec = recordRounds(ckpt, Number(opt('rounds', '1')));
    if (measures.includes('record')) results.push(print(judge(rec)));
    if (measures.includes('completion')) results.push(print(judge(node('completion.js', [ckpt]))));
    if (measures.includes('plan') && existsSync(join(here, 'measures', 'plan.js'))) results.push(print(judge(node('plan.js', [ckpt, String(sources)]))));
    if (measures.includes('inspect')) {
      // Like record and overhead: the fastest of --rounds runs (a ~2.5 s run moves by a third on a busy machine), the highest RSS.
      const runs = Array.from({ length: Number(opt('rounds', '1')) }, () => cli('inspect', ['inspect', ckpt, '--format', 'ndjson'], true));
      const r = { ...runs.reduce((a, b) => (b.seconds < a.seconds ? b : a)) };
      r.tasks = r.lines;
      r.tasks_per_s = Math.round(r.lines / r.seconds);
      if (runs.length > 1) {
        r.rounds = runs.length;
        r.all_tasks_per_s = runs.map((x) => Math.round(x.lines / x.seconds));
        r.peak_rss_mb = Math.max(...runs.map((x) => x.peak_rss_mb));
      }
      results.push(print(judge(r)));
    }
    if (measures.includes('verify')) results.push(print(judge(cli('verify', ['verify', ckpt], false))));
    for (const m of ['rerun', 'overhead', 'record-sources', 'output-checks']) {
      const extra = m === 'overhead' || m === 'output-checks' ? [opt('rounds', m === 'overhead' ? '1' : '3')] : [];
      if (measures.includes(m) && existsSync(join(here, 'measures', `${m}.js`))) results.push(print(judge(node(`${m}.js`, [join(work, m), String(sources), ...extra]))));
    }
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
  const rec = results.find((r) => r.measure === 'record') ?? {};
  const missed = results.flatMap((r) => r.targets.filter((t) => !t.ok).map((t) => `${r.measure}.${t.field}`));
  console.log(
    JSON.stringify({
      workload: 'W1',
      sources,
      emissions: rec.emissions,
      seconds: rec.seconds,
      emissions_per_s: rec.emissions_per_s,
      ...(rec.ratio_to_limit !== undefined ? { limit_emissions_per_s: rec.limit_emissions_per_s, ratio_to_limit: rec.ratio_to_limit } : {}),
      measures: results.map((r) => r.measure),
      targets_met: results.reduce((n, r) => n + r.targets.filter((t) => t.ok).length, 0),
      targets_missed: missed,
    }),
  );
}

/**
 * The scale suite: each read and write pass at S and at a reference size
 * (S / 10 by default) in the same run, judged by how it grows: the record
 * rate may fall by a tenth, the passes' time may grow 11× for 10× the tasks,
 * and no pass may hold more than 500 MB of RssAnon (a Pipeline.run no more
 * than 1.25× its own at the reference size). Each pass runs in its own
 * process; peaks are sampled from a second thread, so a pass that holds the
 * main thread is sampled too.
 */
function scale(reference) {
  const work = mkdtempSync(join(tmpdir(), 'lineage-scale-'));
  const at = {};
  try {
    for (const s of [reference, sources]) {
      const ckpt = join(work, `w1-${s}`);
      const m = {};
      m.record = node('record.js', [ckpt, String(s)]);
      m.completion = node('completion.js', [ckpt]);
      m.plan = node('plan.js', [ckpt, String(s)]);
      const inspect = cli('inspect', ['inspect', ckpt, '--format', 'ndjson'], true);
      m.inspect = { ...inspect, tasks_per_s: Math.round(inspect.lines / inspect.seconds) };
      m.verify = cli('verify', ['verify', ckpt], false);
      m.stats = cli('stats', ['stats', ckpt, '--json'], false);
      rmSync(ckpt, { recursive: true, force: true });
      // The rerun measure's first run is a whole Pipeline.run of W1 with a checkpoint, in a process of its own.
      m.rerun = node('rerun.js', [join(work, `rerun-${s}`), String(s)]);
      rmSync(join(work, `rerun-${s}`), { recursive: true, force: true });
      m.run = { seconds: m.rerun.first_run_seconds, peak_rss_anon_mb: m.rerun.first_run_peak_rss_anon_mb };
      for (const [measure, r] of Object.entries(m)) print({ measure, sources: s, ...r });
      at[s] = m;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const big = at[sources];
  const ref = at[reference];
  const growth = (measure) => +(big[measure].seconds / ref[measure].seconds).toFixed(2);
  const checks = [
    ['record rate against the reference', +(big.record.emissions_per_s / ref.record.emissions_per_s).toFixed(3), 'min', 0.9],
    ...['record', 'run', 'plan', 'inspect', 'verify'].map((m) => [`${m} peak RssAnon MB`, big[m].peak_rss_anon_mb, 'max', 500]),
    ['run peak RssAnon against the reference', +(big.run.peak_rss_anon_mb / ref.run.peak_rss_anon_mb).toFixed(3), 'max', 1.25],
    ...['plan', 'completion', 'verify', 'rerun', 'stats'].map((m) => [`${m} time against the reference`, growth(m), 'max', 11]),
    ['inspect tasks/s', big.inspect.tasks_per_s, 'min', 800_000],
    ['verify seconds', big.verify.seconds, 'max', 60],
  ].map(([what, value, kind, target]) => ({ what, value, target: `${kind === 'min' ? '≥' : '≤'} ${target}`, ok: kind === 'min' ? value >= target : value <= target }));
  console.log(JSON.stringify({ workload: 'W1', sources, reference, checks, targets_met: checks.filter((c) => c.ok).length, targets_missed: checks.filter((c) => !c.ok).map((c) => c.what) }));
}

/** Throughput and memory against checkpoint size, recorder and ceiling, S = 1,000 .. 1,000,000. */
function sweep() {
  const sizes = opt('sizes', '1000,3000,10000,30000,100000,300000,1000000').split(',').map(Number);
  const points = [];
  for (const s of sizes) {
    const work = mkdtempSync(join(tmpdir(), 'lineage-sweep-'));
    try {
      const rec = node('record.js', [join(work, 'w1'), String(s)]);
      const point = {
        sources: s,
        tasks: rec.tasks,
        recorder_emissions_per_s: rec.emissions_per_s,
        limit_emissions_per_s: limit(s),
        peak_rss_mb: rec.peak_rss_mb,
        peak_rss_anon_mb: rec.peak_rss_anon_mb,
        bytes_per_task: rec.bytes_per_task,
      };
      points.push(print({ measure: 'sweep', ...point }));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const out = join(here, 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'sweep.json'), JSON.stringify(points, null, 2) + '\n');
  writeFileSync(join(out, 'throughput.svg'), renderSweep(points));
  console.log(JSON.stringify({ workload: 'W1', sweep: sizes, points: points.length, svg: 'bench/out/throughput.svg' }));
}

await main();
