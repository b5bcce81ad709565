// Byte flips in a writer shard's data.mdb, and what every CLI command does on the damaged copy.
//
// A small checkpoint is built with the example pipeline (fixtures/example), with one injected
// failure so that a resume has work left. Baselines are taken from the undamaged checkpoint;
// then each trial copies the whole example directory, flips 1-4 bytes of data.mdb (two trials in
// three at non-zero bytes: the pages in use), runs `inspect --format ndjson`, `stats --json`,
// `plan --json`, `verify`, `merge --into` and a resuming `lineage run`, and sorts each outcome
// into a class. Only `same` and `corrupt` are acceptable: the command gave the undamaged result,
// or refused with LINEAGE_CORRUPT naming the damaged file.
//
//   node bench/fuzz-damage.js [--trials 1000] [--seed 1] [--parallel 2] [--timeout-ms 20000] [--show 5]
//
// (after `npm run build`). Prints the counts per class and command, and the first --show bad
// outcomes with their flips, so that one can be replayed.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeExampleData } from '../fixtures/example/make-data.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'lineage.js');
const EXAMPLE = join(ROOT, 'fixtures', 'example', 'pipeline.js');

export const COMMANDS = ['inspect', 'stats', 'plan', 'verify', 'merge', 'run'];
/** Every class a command's outcome can fall into; only the first two are acceptable. */
export const CLASSES = ['same', 'corrupt', 'signal', 'timeout', 'stack', 'wrong', 'other-error'];

/** A small deterministic PRNG (mulberry32), so that a seed replays the same flips. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function exec(args, { env = {}, timeoutMs }) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole group: a command that runs its work in a child of its own must not leave it behind.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The output files of an example directory: name → content. */
export function outputs(home) {
  const out = join(home, 'out');
  if (!existsSync(out)) return {};
  return Object.fromEntries(
    readdirSync(out)
      .filter((f) => f.endsWith('.jsonl'))
      .sort()
      .map((f) => [f, readFileSync(join(out, f), 'utf8')]),
  );
}

const normalise = (text, paths) => {
  let s = text;
  for (const [p, name] of paths) s = s.split(p).join(name);
  return s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>').replace(/"elapsedMs": \d+/g, '"elapsedMs": 0');
};

const readCommands = (ckpt, into) => ({
  inspect: ['inspect', ckpt, '--format', 'ndjson'],
  stats: ['stats', ckpt, '--json'],
  plan: ['plan', ckpt, '--json'],
  verify: ['verify', ckpt],
  merge: ['merge', ckpt, '--into', into, '--json'],
});

/**
 * Builds the example directory (data/, out/, ckpt/ after a run with one failed chunk) under
 * `parent`, the outputs of an uninterrupted run, and every command's baseline output.
 */
export async function prepare(parent, { timeoutMs = 60_000 } = {}) {
  const reference = join(parent, 'reference');
  makeExampleData(join(reference, 'data'), 4, 120);
  const full = await exec(['run', EXAMPLE, '--checkpoint', join(reference, 'ckpt')], { env: { LINEAGE_EXAMPLE_DIR: reference }, timeoutMs });
  if (full.code !== 0) throw new Error(`the reference run failed: ${full.stderr}`);
  const home = join(parent, 'home');
  makeExampleData(join(home, 'data'), 4, 120);
  const partial = await exec(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt')], {
    env: { LINEAGE_EXAMPLE_DIR: home, LINEAGE_EXAMPLE_FAIL: 'part-0001.jsonl:1' },
    timeoutMs,
  });
  if (partial.code !== 1) throw new Error(`the run with a failed chunk ended with ${partial.code}: ${partial.stderr}`);
  const baseline = {};
  const ckpt = join(home, 'ckpt');
  const into = join(parent, 'baseline-merged');
  for (const [name, args] of Object.entries(readCommands(ckpt, into))) {
    const r = await exec(args, { timeoutMs });
    if (r.stderr !== '' || r.code !== 0) throw new Error(`baseline ${name} failed (${r.code}): ${r.stderr}`);
    baseline[name] = normalise(r.stdout, [[into, '<into>'], [ckpt, '<ckpt>']]);
  }
  rmSync(into, { recursive: true, force: true });
  return { parent, home, baseline, expected: outputs(reference), dataFile: join(ckpt, 'writers', 'main', 'data.mdb') };
}

/** 1-4 flips: offset and XOR mask; two trials in three aim at non-zero bytes (the pages in use). */
export function chooseFlips(rand, file) {
  const size = statSync(file).size;
  const bytes = readFileSync(file);
  const used = rand() < 2 / 3;
  const n = 1 + Math.floor(rand() * 4);
  const flips = [];
  for (let i = 0; i < n; i++) {
    let offset = Math.floor(rand() * size);
    if (used) {
      for (let tries = 0; tries < 64 && bytes[offset] === 0; tries++) offset = Math.floor(rand() * size);
    }
    flips.push({ offset, mask: 1 + Math.floor(rand() * 255) });
  }
  return flips;
}

function applyFlips(file, flips) {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    for (const { offset, mask } of flips) {
      readSync(fd, b, 0, 1, offset);
      b[0] ^= mask;
      writeSync(fd, b, 0, 1, offset);
    }
  } finally {
    closeSync(fd);
  }
}

/** The class of one command's outcome. */
export function classify(r, { named, baseline, isVerify = false }) {
  if (r.timedOut) return 'timeout';
  if (r.signal) return 'signal';
  if (/^\s+at /m.test(r.stderr) || /^\s+at /m.test(r.stdout)) return 'stack';
  if (r.code === 0) return r.stdout === baseline ? 'same' : 'wrong';
  if (r.code === 1 && /lineage: LINEAGE_CORRUPT: /.test(r.stderr) && r.stderr.includes(named)) return 'corrupt';
  // (LMDB itself may print a line of its own before ours, without a newline.)
  // verify's own verdict on a damaged checkpoint: exit 1 with the failed checks marked, naming the shard's file.
  if (isVerify && r.code === 1 && r.stderr === '' && /^✗ /m.test(r.stdout)) return 'corrupt';
  return 'other-error';
}

/** The run's class: `same` needs exit 0 and the uninterrupted run's outputs; no refusal may leave a wrong output. */
function classifyRun(r, home, { named, expected }) {
  const got = outputs(home);
  const wrongFile = Object.entries(got).some(([f, text]) => expected[f] !== text);
  if (r.timedOut) return 'timeout';
  if (r.signal) return 'signal';
  if (/^\s+at /m.test(r.stderr) || /^\s+at /m.test(r.stdout)) return 'stack';
  if (wrongFile) return 'wrong';
  if (r.code === 0) return Object.keys(got).length === Object.keys(expected).length ? 'same' : 'wrong';
  if (r.code === 1 && /lineage: LINEAGE_CORRUPT: /.test(r.stderr) && r.stderr.includes(named)) return 'corrupt';
  return 'other-error';
}

/** One trial: copy, flip, run every command; the class of each, and what it printed when it was bad. */
export async function runTrial(fixture, trial, flips, { timeoutMs = 20_000, commands = COMMANDS } = {}) {
  const home = join(fixture.parent, `trial-${trial}`);
  cpSync(fixture.home, home, { recursive: true });
  const ckpt = join(home, 'ckpt');
  const named = join(ckpt, 'writers', 'main', 'data.mdb');
  applyFlips(named, flips);
  const into = join(home, 'merged');
  const result = { trial, flips, classes: {}, bad: {} };
  try {
    const reads = readCommands(ckpt, into);
    for (const name of commands) {
      let r;
      let cls;
      if (name === 'run') {
        r = await exec(['run', EXAMPLE, '--checkpoint', ckpt], { env: { LINEAGE_EXAMPLE_DIR: home }, timeoutMs });
        cls = classifyRun(r, home, { named, expected: fixture.expected });
      } else {
        r = await exec(reads[name], { timeoutMs });
        r.stdout = normalise(r.stdout, [[into, '<into>'], [ckpt, '<ckpt>']]);
        cls = classify(r, { named, baseline: fixture.baseline[name], isVerify: name === 'verify' });
      }
      result.classes[name] = cls;
      if (cls !== 'same' && cls !== 'corrupt') result.bad[name] = { code: r.code, signal: r.signal, stderr: r.stderr.slice(0, 2000), stdout: r.stdout.slice(0, 400) };
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  return result;
}

/** Runs `trials` trials from `seed`, `parallel` at a time; returns every trial's result. */
export async function fuzz({ trials, seed, parallel = 2, timeoutMs = 20_000, parent, onTrial = () => {} }) {
  const fixture = await prepare(parent);
  const rand = prng(seed);
  // Flips are drawn up front, in trial order, so a seed gives the same flips at any parallelism.
  const plan = Array.from({ length: trials }, (_, i) => ({ trial: i, flips: chooseFlips(rand, fixture.dataFile) }));
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const { trial, flips } = plan[next++];
      const r = await runTrial(fixture, trial, flips, { timeoutMs });
      results.push(r);
      onTrial(r);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return results.sort((a, b) => a.trial - b.trial);
}

/** Class → count, overall and per command. */
export function tally(results) {
  const total = Object.fromEntries(CLASSES.map((c) => [c, 0]));
  const byCommand = Object.fromEntries(COMMANDS.map((n) => [n, Object.fromEntries(CLASSES.map((c) => [c, 0]))]));
  for (const r of results) {
    for (const [name, cls] of Object.entries(r.classes)) {
      total[cls]++;
      byCommand[name][cls]++;
    }
  }
  return { total, byCommand };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
  const trials = opt('--trials', 1000);
  const seed = opt('--seed', 1);
  const show = opt('--show', 5);
  const parent = mkdtempSync(join(tmpdir(), 'lineage-fuzz-damage-'));
  let done = 0;
  try {
    const results = await fuzz({
      trials,
      seed,
      parallel: opt('--parallel', 2),
      timeoutMs: opt('--timeout-ms', 20_000),
      parent,
      onTrial: () => {
        if (++done % 50 === 0) process.stderr.write(`${done}/${trials} trials\n`);
      },
    });
    const { total, byCommand } = tally(results);
    console.log(`${trials} trials, seed ${seed}`);
    console.log(['command', ...CLASSES].map((s) => s.padStart(12)).join(''));
    for (const [name, counts] of Object.entries(byCommand)) console.log([name, ...CLASSES.map((c) => counts[c])].map((s) => String(s).padStart(12)).join(''));
    console.log(['all', ...CLASSES.map((c) => total[c])].map((s) => String(s).padStart(12)).join(''));
    for (const r of results.filter((x) => Object.keys(x.bad).length > 0).slice(0, show)) console.log(JSON.stringify({ trial: r.trial, flips: r.flips, bad: r.bad }));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}
