// A fan-in pipeline for the tests where writers race on one checkpoint:
//   split   source "s<k>" → its chunks (2 + k % 3 of them), keyed "c<i>"
//   clean   chunk → chunk (async; `delay(stage, chunk)` ms, or `gate(stage, chunk)` awaited)
//   tidy    chunk → chunk (same)
//   merge   groupBy source: every chunk of the source, sorted; with `stateful`, a stateful
//           stage instead that absorbs every chunk of every source and emits them all at the end
//   write   one file per merged group, named by its task's UDID, written atomically
// Plain JavaScript without imports, so a test (through src/) and a child process
// (through dist/) build the same stages.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const chunksOf = (key) => Array.from({ length: 2 + (Number(key.slice(1)) % 3) }, (_, i) => ({ source: key, i }));

/**
 * @param {{ outDir: string,
 *   delay?: (stage: string, chunk: { source: string, i: number }) => number,
 *   gate?: (stage: string, chunk: { source: string, i: number }) => Promise<unknown> | null,
 *   stateful?: boolean }} options
 */
export function fanInStages({ outDir, delay = () => 0, gate = () => null, stateful = false }) {
  const step = (id) => ({
    id,
    concurrency: 4,
    key: (c) => `c${c.i}`,
    async process(chunk) {
      const wait = gate(id, chunk);
      if (wait) await wait;
      const ms = delay(id, chunk);
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      return chunk;
    },
  });
  return [
    { id: 'split', key: (c) => `c${c.i}`, process: (key) => chunksOf(key) },
    step('clean'),
    step('tidy'),
    stateful ? collectStage() : {
      id: 'merge',
      groupBy: 'source',
      processBatch: (chunks, ctx) => ({ source: ctx.sourceKey, chunks: chunks.map((c) => c.i).sort((a, b) => a - b) }),
    },
    {
      id: 'write',
      process(merged, ctx) {
        mkdirSync(join(outDir, '.tmp'), { recursive: true });
        const temp = join(outDir, '.tmp', `${ctx.udid}.${process.pid}.${Math.random()}`);
        writeFileSync(temp, JSON.stringify(merged));
        renameSync(temp, join(outDir, `${ctx.udid}.json`));
        return merged;
      },
    },
  ];
}

/** Absorbs every chunk that reaches it; `finish` emits them all, sorted. */
function collectStage() {
  const seen = [];
  return {
    id: 'merge',
    absorb: (chunk) => void seen.push(`${chunk.source}/${chunk.i}`),
    finish: () => ({ source: 'all', chunks: [...seen].sort() }),
  };
}
