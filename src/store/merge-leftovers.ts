/**
 * @internal
 * An in-place merge builds the merged checkpoint in a sibling directory
 * `.<name>.merge-XXXXXX` and swaps its shards in at the end. A merge that is
 * killed leaves that directory behind. It is never the only copy of anything
 * (until the swap the original shards are intact; after the first rename the
 * next open puts them back or finds the merged ones in place), so it can be
 * removed, but only when it is provably a merge of this checkpoint whose
 * process is gone: its marker names this checkpoint and a dead process (host,
 * pid, start time, boot), or it is still empty (killed before the marker was
 * written).
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { currentBootId, processStartTime, sameHostProcessAlive } from './process-identity.js';
import { WRITERS_DIR } from './checkpoint-directory.js';

/** The marker inside a merge's working directory. */
const MARKER = 'merge.json';

interface MergeMarker {
  readonly from: string;
  readonly host: string;
  readonly pid: number;
  readonly pidStart?: number;
  readonly bootId?: string;
}

/** The prefix of the working directories of in-place merges of `dir` (for mkdtemp). */
export function mergeDirPrefix(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.merge-`);
}

/** Marks `workDir` as this process's merge of `from`. */
export function markMergeDir(workDir: string, from: string): void {
  const pidStart = processStartTime(process.pid);
  const bootId = currentBootId();
  const marker: MergeMarker = { from, host: hostname(), pid: process.pid, ...(pidStart !== undefined ? { pidStart } : {}), ...(bootId ? { bootId } : {}) };
  writeFileSync(join(workDir, MARKER), JSON.stringify(marker) + '\n');
}

/** Removes the working directories that killed merges of `dir` left; returns their paths. Anything else is left alone. */
export function removeDeadMergeDirs(dir: string): string[] {
  const parent = dirname(dir);
  const prefix = `.${basename(dir)}.merge-`;
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(prefix) && /^[A-Za-z0-9]{6}$/.test(n.slice(prefix.length)));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const work = join(parent, name);
    if (!deadMergeOf(work, dir)) continue;
    rmSync(work, { recursive: true, force: true });
    removed.push(work);
  }
  return removed;
}

function deadMergeOf(work: string, dir: string): boolean {
  let entries: string[];
  try {
    entries = readdirSync(work);
  } catch {
    return false; // not a directory, or not ours to read
  }
  if (entries.length === 0) return true; // nothing in it to lose
  let marker: MergeMarker;
  try {
    marker = JSON.parse(readFileSync(join(work, MARKER), 'utf8')) as MergeMarker;
  } catch {
    return false; // not provably a merge's: leave it
  }
  if (marker.from !== dir || marker.host !== hostname() || typeof marker.pid !== 'number') return false;
  return !sameHostProcessAlive(marker.pid, marker.pidStart, marker.bootId);
}

/** Where an in-place merge puts the old shards while it swaps in the merged one. */
export const PRE_MERGE_DIR = 'writers.pre-merge';

/**
 * An in-place merge interrupted between its two renames leaves the old shards
 * in `writers.pre-merge` and no `writers`: put them back. This only finishes
 * (by undoing) an operation that was cut off; the data is unchanged.
 */
export function recoverInterruptedMerge(dir: string): void {
  const writers = join(dir, WRITERS_DIR);
  const old = join(dir, PRE_MERGE_DIR);
  if (!existsSync(writers) && existsSync(old)) renameSync(old, writers);
}
