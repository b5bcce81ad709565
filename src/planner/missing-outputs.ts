/**
 * Recorded outputs that no longer exist (docs/design.md §6): each task
 * whose consuming call wrote a file that is gone is not complete, whatever
 * its record says. Paths are checked per directory, in parallel: a directory
 * holding many of them is listed once (one readdir instead of a stat per
 * file), the others are checked file by file.
 */
import { access, readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { LineageStore } from '../store/lineage-store.js';
import { outputPaths, outputTask } from '../store/task-outputs.js';

/** A task whose consuming call wrote `path`, which is gone. */
export interface MissingOutput {
  readonly udid: string;
  readonly sourceKey: string | null;
  /** The stage that emitted the task (null: a source). */
  readonly stage: string | null;
  /** The first of its recorded outputs found missing. */
  readonly path: string;
}

/** Directories (or single files) checked at once. */
const CONCURRENCY = 16;
/** From this many outputs in one directory, it is listed rather than stat'ed file by file. */
const LIST_FROM = 32;

/** Every task of `store` with a recorded output that does not exist, in shard and id order. */
export async function findMissingOutputs(store: LineageStore): Promise<MissingOutput[]> {
  // Per directory: the recorded file names, each with the (shard, id) rows that recorded it.
  const byDir = new Map<string, Map<string, number[]>>();
  const shards = store.shards;
  shards.forEach((shard, k) => {
    for (const { id, paths } of outputPaths(shard)) {
      for (const path of paths) {
        const dir = dirname(path);
        let names = byDir.get(dir);
        if (!names) byDir.set(dir, (names = new Map()));
        const name = basename(path);
        const rows = names.get(name);
        if (rows) rows.push(k, id);
        else names.set(name, [k, id]);
      }
    }
  });
  const gone: { dir: string; name: string; rows: number[] }[] = [];
  const jobs = [...byDir];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const [dir, names] = jobs[next++]!;
      if (names.size >= LIST_FROM) {
        const listed = new Set(await readdir(dir).catch(() => [] as string[]));
        for (const [name, rows] of names) if (!listed.has(name)) gone.push({ dir, name, rows });
        continue;
      }
      for (const [name, rows] of names) {
        await access(`${dir}/${name}`).catch(() => gone.push({ dir, name, rows }));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, worker));
  // One entry per task (the first of its paths found missing).
  const seen = new Set<string>();
  const missing: MissingOutput[] = [];
  for (const { dir, name, rows } of gone) {
    for (let r = 0; r < rows.length; r += 2) {
      const task = outputTask(shards[rows[r]!]!, rows[r + 1]!);
      if (seen.has(task.udid)) continue;
      seen.add(task.udid);
      missing.push({ ...task, path: dir === '/' ? `/${name}` : `${dir}/${name}` });
    }
  }
  return missing;
}
