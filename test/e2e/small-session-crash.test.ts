// A small session commits on the calling thread (src/store/write-thread.ts)
// and keeps every guarantee of one whose commits go through the write thread:
// killed with SIGKILL mid-run, in a real child process, it loses nothing that
// an awaited flush reported, what it committed is a consistent checkpoint,
// and recording everything again ends with exactly the checkpoint of an
// uninterrupted run.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { LineageStore, childLineage, planResume, rootLineage } from '../../src/index.js';
import { ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const child = new URL('../children/record-small-live.mjs', import.meta.url).pathname;

/** record-small-live.mjs's DAG for sources part-<from>..part-<to - 1>, recorded in one turn. */
function record(store: LineageStore, from: number, to: number): void {
  for (let s = from; s < to; s++) {
    const root = rootLineage(`part-${s}`);
    const chunks = [0, 1, 2].map((j) => childLineage('split', [root.udid], j));
    store.recordEmission({ stage: 'split', parents: [root], children: chunks });
    const kept = chunks.filter((_, j) => (s + j) % 3 !== 0);
    for (const c of chunks) if (!kept.includes(c)) store.recordEmission({ stage: 'filter', parents: [c], children: [] });
    const merged = childLineage('merge', kept.map((c) => c.udid), 0);
    store.recordEmission({ stage: 'merge', parents: kept, children: [merged] });
    store.recordEmission({ stage: 'write', parents: [merged], children: [childLineage('write', [merged.udid], 0)], terminal: true });
  }
}

/** Tasks a source of that DAG has: the source, three chunks, the merge and the output. */
const TASKS_PER_SOURCE = 6;

/** The tasks committed to the checkpoint so far, as a reader beside the live writer sees them. */
async function taskCount(dir: string): Promise<number> {
  const reader = await LineageStore.open(dir, { readOnly: true });
  try {
    return reader.shards[0]!.taskCount();
  } finally {
    await reader.close();
  }
}

/** The checkpoint's tasks as `lineage inspect` prints them, in UDID order, each with whether it is complete rather than in which run. */
function tasksOf(dir: string): string[] {
  const shown = lineage(['inspect', dir, '--format', 'ndjson']);
  expect(shown.code, shown.stderr).toBe(0);
  return shown.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const task = JSON.parse(line) as { completed: unknown };
      return JSON.stringify({ ...task, completed: task.completed !== null });
    })
    .sort();
}

describe('a small session killed mid-run (SIGKILL, real process)', () => {
  it('keeps what it flushed, leaves a consistent checkpoint, and resumes to the checkpoint of an uninterrupted run', async () => {
    ensureBuilt();
    const flushAt = 300;
    const total = 2000;
    const dir = tempDir();
    const proc = spawn(process.execPath, [child, dir, String(flushAt), String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((done) => proc.on('exit', (_code, signal) => done(signal)));
    const said = await new Promise<string>((done) => createInterface({ input: proc.stdout! }).once('line', done));
    expect(said).toBe(`flushed ${flushAt} threads 0`);
    // Killed once batches it did not flush are committed too, at whatever point its recording has reached.
    for (let deadline = Date.now() + 60_000; (await taskCount(dir)) <= flushAt * TASKS_PER_SOURCE && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    proc.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    // Every source it flushed is there, complete; what else it committed is whole sources, consistent.
    expect(lineage(['verify', dir])).toMatchObject({ code: 0 });
    const plan = await planResume(dir);
    expect(plan.totals.skip).toBeGreaterThan(flushAt);
    expect(plan.totals.skip).toBeLessThan(total);
    const reader = await LineageStore.open(dir, { readOnly: true });
    for (let s = 0; s < flushAt; s++) expect(reader.isCompleted(rootLineage(`part-${s}`).udid)).toBe(true);
    await reader.close();

    // The resume records everything again; the result is the uninterrupted run's, task for task.
    const resumed = await LineageStore.open(dir);
    record(resumed, 0, total);
    await resumed.close();
    const whole = tempDir();
    const clean = await LineageStore.open(whole);
    record(clean, 0, total);
    await clean.close();
    expect(tasksOf(dir)).toEqual(tasksOf(whole));
    expect(lineage(['verify', dir])).toMatchObject({ code: 0 });
    expect((await planResume(dir)).totals.skip).toBe(total);
  }, 120_000);
});
