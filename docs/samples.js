// Regenerates the README's sample outputs from real runs, so they cannot go stale.
// Each sample sits between `<!-- sample:<name> -->` and `<!-- /sample -->`; this script runs
// the built CLI (dist/, so `npm run build` first) and the example pipelines in a temp dir and
// rewrites those blocks. Temp paths become /tmp/..., times, dates and durations placeholders.
//
//   node docs/samples.js           rewrite README.md
//   node docs/samples.js --check   exit 1 when README.md differs from a fresh run
//
// The demo and the interrupted run depend on when the crash or the signal lands, so they are
// compared with numbers and UDIDs masked and the plan's per-source lines left out: the wording,
// the steps, the stages and the checkpoint format still are.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const README = join(root, 'README.md');
const BIN = join(root, 'bin', 'lineage.js');
const node = (args, env = {}, extra = {}) =>
  spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20, ...extra });

const work = mkdtempSync(join(tmpdir(), 'lineage-samples-'));
const T = (p) => join(work, p);
/** Temp paths, times and durations: whatever differs between two identical runs. */
const normalise = (s) =>
  s
    .split(work)
    .join('/tmp')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>')
    .replace(/\b\d+(\.\d+)? s\b/g, '<n> s')
    .replace(/\b\d+ ms\b/g, '<n> ms');
const lineage = (args, env) => node([BIN, ...args], env);
/** `$ lineage ...` followed by what it printed (stdout then stderr). */
const shown = (args, { env, prefix = '', display } = {}) => {
  const r = lineage(args, env);
  return `$ ${prefix}lineage ${display ?? args.join(' ')}\n${r.stdout}${r.stderr}`;
};

function build() {
  const samples = {};
  const ckpt = T('ckpt');
  const made = node([join(root, 'fixtures', 'checkpoints', 'small.js'), ckpt]);
  if (made.status !== 0) throw new Error(`small.js failed: ${made.stderr}`);

  // The demo (`npm run demo` without its build step), without its plan's list of sources to run and its closing hints.
  const demo = node([join(root, 'fixtures', 'example', 'demo.js'), T('lineage-demo')]).stdout.split('\n');
  const listFrom = demo.findIndex((l) => /^\s+sources to run /.test(l));
  const listTo = demo.findIndex((l, i) => i > listFrom && /^\s+why a source reruns/.test(l));
  if (listFrom < 0 || listTo < 0) throw new Error(`the demo printed no plan with a list of sources to run:\n${demo.join('\n')}`);
  const hints = demo.findIndex((l) => l.startsWith('explore: '));
  samples.demo = [...demo.slice(0, listFrom), ...demo.slice(listTo, hints < 0 ? demo.length : hints)].join('\n');

  // Errors a user meets first.
  const bad = T('ckpt-with-a-truncated-shard');
  cpSync(ckpt, bad, { recursive: true });
  const shard = join(bad, 'writers', 'main', 'data.mdb');
  const cut = Math.floor(statSync(shard).size / 2);
  truncateSync(shard, cut);
  samples.errors =
    shown(['inspect', T('nope')]) +
    `$ cp -r ${ckpt} ${bad} && truncate -s ${cut} ${shard}\n` +
    shown(['stats', bad]);

  samples.inspect = shown(['inspect', ckpt, '--source', 'part-0001.jsonl']);
  const statsLines = lineage(['stats', ckpt]).stdout.split('\n');
  const statsEnd = statsLines.findIndex((l) => l === 'shards');
  samples.stats = `$ lineage stats ${ckpt} | head -n ${statsEnd - 1}\n${statsLines.slice(0, statsEnd - 1).join('\n')}\n`;
  samples.verify = shown(['verify', ckpt]);
  // The demo shows a whole plan; here, why a source reruns.
  samples.plan = shown(['plan', ckpt, '--explain', 'part-0001.jsonl']);
  samples.merge = shown(['merge', ckpt, '--into', T('ckpt-merged')]);

  // `lineage run` of the example pipeline with an injected failure (the demo shows a resume).
  const job = T('job');
  mkdirSync(job);
  node([join(root, 'fixtures', 'example', 'make-data.js'), join(job, 'data')]);
  const run = ['run', 'fixtures/example/pipeline.js', '--checkpoint', join(job, 'ckpt')];
  const failing = lineage(run, { LINEAGE_EXAMPLE_DIR: job, LINEAGE_EXAMPLE_FAIL: 'part-0005.jsonl:2' });
  samples.run =
    `$ LINEAGE_EXAMPLE_DIR=${job} LINEAGE_EXAMPLE_FAIL=part-0005.jsonl:2 lineage ${run.join(' ')}\n${failing.stdout}${failing.stderr}` +
    `$ echo $?\n${failing.status}\n`;

  // A run stopped by SIGINT (paced so that the signal lands mid-run).
  const stop = T('stop');
  mkdirSync(stop);
  node([join(root, 'fixtures', 'example', 'make-data.js'), join(stop, 'data')]);
  // spawnSync's own timeout closes the pipes, so a small parent sends the signal and passes the output on.
  const parent = `const c = require('node:child_process').spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit' });
    setTimeout(() => c.kill('SIGINT'), 1500); c.on('exit', (code) => process.exit(code ?? 1));`;
  const stopped = node(['-e', parent, BIN, 'run', 'fixtures/example/pipeline.js', '--checkpoint', join(stop, 'ckpt')], {
    LINEAGE_EXAMPLE_DIR: stop,
    LINEAGE_EXAMPLE_SLOW_MS: '300',
  });
  if (stopped.status !== 130) throw new Error(`the interrupted run ended with ${stopped.status ?? stopped.signal}, not 130:\n${stopped.stderr}`);
  samples.interrupted = stopped.stderr.split('\n').filter((l) => l.startsWith('lineage: ')).join('\n') + '\n';

  // A stateful stage's checkpoints, after a crash in `dedup`.
  const dd = T('dedup');
  node([join(root, 'fixtures', 'example', 'make-data.js'), join(dd, 'data')]);
  node([join(root, 'fixtures', 'example', 'run-dedup.js'), dd, '--every', '5', '--keep', '3', '--crash-at', 'dedup:22']);
  const inspectLines = lineage(['inspect', join(dd, 'ckpt')]).stdout.split('\n');
  const from = inspectLines.findIndex((l) => l.startsWith('stateful stage checkpoints'));
  const to = inspectLines.findIndex((l, i) => i > from && l === '');
  const planLine = lineage(['plan', join(dd, 'ckpt')]).stdout.split('\n').find((l) => l.startsWith('stateful'));
  samples.stateful = `${inspectLines.slice(from, to + 1).join('\n')}\n${planLine}\n`;

  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, normalise(v)]));
}

const MASKED = new Set(['demo', 'interrupted']);
const mask = (name, s) =>
  MASKED.has(name)
    ? s
        .split('\n')
        .filter((l) => !/^\s+(resume|[0-9a-f]{8} |… and)/.test(l))
        .join('\n')
        .replace(/\d+(\.\d+)?/g, '#')
    : s;
const BLOCK = /(<!-- sample:([\w-]+) -->\n)([\s\S]*?)(<!-- \/sample -->)/g;

const check = process.argv.includes('--check');
let samples;
try {
  samples = build();
} finally {
  rmSync(work, { recursive: true, force: true });
}
const readme = readFileSync(README, 'utf8');
const seen = new Set();
const stale = [];
const next = readme.replace(BLOCK, (all, open, name, body, close) => {
  if (!(name in samples)) throw new Error(`README.md: no sample named ${name}`);
  seen.add(name);
  const fresh = '```\n' + samples[name].replace(/\n*$/, '\n') + '```\n';
  if (mask(name, fresh) !== mask(name, body)) stale.push(name);
  return MASKED.has(name) && mask(name, fresh) === mask(name, body) ? all : open + fresh + close;
});
const unused = Object.keys(samples).filter((k) => !seen.has(k));
if (unused.length > 0) stale.push(...unused.map((k) => `${k} (not in README.md)`));
if (check) {
  if (stale.length > 0) {
    process.stderr.write(`README.md samples differ from a real run: ${stale.join(', ')}. Run: npm run build && node docs/samples.js\n`);
    process.exit(1);
  }
} else {
  writeFileSync(README, next);
  process.stdout.write(stale.length > 0 ? `rewrote: ${stale.join(', ')}\n` : 'README.md samples are up to date\n');
}
