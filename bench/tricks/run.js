// node bench/tricks/run.js <trick|all> [runs=5] [sources=50000]
// Times W1 with a checkpoint on the build in dist/ ("with") and on a copy of
// it with one trick undone ("without"), each run in a process of its own,
// alternated, and prints the median wall and CPU seconds of each side. The
// tricks and what undoing each means are docs/performance.md. Run
// `npm run build` first.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', '..', 'dist');

/** `src` with `from` replaced by `to`; throws when `from` is not there, so a changed trick cannot pass unmeasured. */
function swap(src, from, to) {
  if (!src.includes(from)) throw new Error(`the text to undo is not in the build: ${from.split('\n')[0]}`);
  return src.replace(from, to);
}

/**
 * Per trick: the file of dist/ to patch, the text replaced to undo the trick,
 * and the workload that exercises it (`w1`: a W1 run with a checkpoint,
 * the default; `record`: W1 recorded straight through the store, no runner;
 * `ndjson`: a full NDJSON scan of a W1 checkpoint).
 */
const TRICKS = {
  // The runner's tasks as object literals made at one site (pretenurable) instead of `new Task`.
  'task-class': {
    file: 'runner/task.js',
    undo: (src) => src.replace(/export class Task \{[\s\S]*?\n\}\n/, 'export function Task(data, lineage) {\n    return { data, lineage };\n}\n'),
  },
  // No recorder note on lineages: the recorder parses and looks up every parent's UDID.
  'lineage-note': { file: 'identity/lineage.js', undo: (src) => src.replace('static noteOf(lineage, by) {', 'static noteOf(lineage, by) {\n        return 0;') },
  // One ArrayBuffer detached at load, as transferring a batch to the write thread would do once.
  'shared-buffers': {
    file: 'store/buffer-pool.js',
    workload: 'record',
    undo: (src) => swap(src, 'export class BufferPool {', '{ const b = new ArrayBuffer(8); structuredClone(b, { transfer: [b] }); }\nexport class BufferPool {'),
  },
  // The per-task arrays start large enough that they are first replaced after the hot code is optimised.
  'initial-tasks': { file: 'store/session/task-state.js', workload: 'record', undo: (src) => swap(src, 'const INITIAL_TASKS = 1 << 10;', 'const INITIAL_TASKS = 1 << 17;') },
  // The session index starts large enough that it first grows after its lookups are optimised.
  'index-small': { file: 'store/session/session-index.js', workload: 'record', undo: (src) => swap(src, 'capacity = 1 << 10)', 'capacity = 1 << 18)') },
  // TypedArray#set for every piece of an NDJSON line, however short.
  'ndjson-loop': { file: 'store/shard-ndjson.js', workload: 'ndjson', undo: (src) => swap(src, 'if (n < 16)\n                for (let i = 0; i < n; i++)\n                    out[at + i] = b[i];\n            else\n                out.set(b, at);', 'out.set(b, at);') },
  // readUInt16LE for the entry offset and header of every leaf entry the page scan reads.
  'page-bytes': {
    file: 'store/lmdb-pages.js',
    workload: 'ndjson',
    undo: (src) =>
      [
        ['const at = (p[ptr] | (p[ptr + 1] << 8)) + PAGE_BASE;', 'const at = p.readUInt16LE(ptr) + PAGE_BASE;'],
        ['this.flags = p[at + 4] | (p[at + 5] << 8);', 'this.flags = p.readUInt16LE(at + 4);'],
        ['this.keySize = p[at + 6] | (p[at + 7] << 8);', 'this.keySize = p.readUInt16LE(at + 6);'],
      ].reduce((text, [from, to]) => swap(text, from, to), src),
  },
};

const [which = 'all', runsArg = '5', sourcesArg = '50000'] = process.argv.slice(2);
if (!existsSync(join(dist, 'index.js'))) throw new Error('no dist/: run `npm run build` first');
const names = which === 'all' ? Object.keys(TRICKS) : [which];
for (const name of names) if (!TRICKS[name]) throw new Error(`unknown trick ${name}; one of ${Object.keys(TRICKS).join(', ')}`);

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const work = mkdtempSync(join(tmpdir(), 'tricks-'));
try {
  for (const name of names) {
    const { file, undo, workload = 'w1' } = TRICKS[name];
    // Inside the repository, so that the copy resolves lmdb from its node_modules.
    const variant = join(here, `.without-${name}`);
    rmSync(variant, { recursive: true, force: true });
    cpSync(dist, variant, { recursive: true });
    try {
      const src = readFileSync(join(variant, file), 'utf8');
      const patched = undo(src);
      if (patched === src) throw new Error(`${name}: the text to undo is not in dist/${file} (was the trick changed?)`);
      writeFileSync(join(variant, file), patched);
      const side = { with: { dist, wall: [], cpu: [] }, without: { dist: variant, wall: [], cpu: [] } };
      for (let r = 0; r < Number(runsArg); r++) {
        for (const key of r % 2 === 0 ? ['with', 'without'] : ['without', 'with']) {
          const ckpt = join(work, workload === 'ndjson' ? 'scanned' : 'ckpt');
          const out = execFileSync(process.execPath, [join(here, `_${workload}.js`), side[key].dist, ckpt, sourcesArg], { encoding: 'utf8' });
          const line = JSON.parse(out.trim().split('\n').pop());
          if (line.failed !== 0) throw new Error(`${name} ${key}: ${line.failed} tasks failed`);
          side[key].wall.push(line.seconds);
          side[key].cpu.push(line.cpu_seconds);
        }
      }
      const w = side.with;
      const wo = side.without;
      const gain = (1 - median(w.wall) / median(wo.wall)) * 100;
      console.log(
        JSON.stringify({
          trick: name,
          workload,
          sources: Number(sourcesArg),
          runs: Number(runsArg),
          with_s: median(w.wall),
          without_s: median(wo.wall),
          with_cpu_s: median(w.cpu),
          without_cpu_s: median(wo.cpu),
          wall_gain_pct: +gain.toFixed(1),
          node: process.version,
        }),
      );
    } finally {
      rmSync(variant, { recursive: true, force: true });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
