/**
 * Compacts every writer shard of a checkpoint into one environment
 * (`lineage merge`). The union is replayed as emissions into a fresh writer,
 * so the merged checkpoint is built by the same code path as any run, and then
 * checked: the same tasks, edges, outcomes and completed set as the union.
 * Completion is recomputed while replaying (it equals the batch pass over the
 * union); completion run numbers become the merge's run.
 */
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { completedSet, computeCompletion } from '../completion/compute-completion.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { LineageStore } from '../store/lineage-store.js';
import { WRITERS_DIR } from '../store/checkpoint-directory.js';
import { MANIFEST_FILE, readManifest, writeManifest } from '../store/manifest.js';
import { assertNoLiveWriter } from '../store/owner-record.js';
import { PRE_MERGE_DIR, markMergeDir, mergeDirPrefix, recoverInterruptedMerge, removeDeadMergeDirs } from '../store/merge-leftovers.js';
import { assertWritablePaths } from '../store/write-access.js';
import type { TaskInfo } from '../store/types.js';

export interface MergeResult {
  readonly from: string;
  readonly into: string;
  readonly shardsMerged: number;
  readonly tasks: number;
  readonly edges: number;
  readonly completed: number;
}

export interface MergeOptions {
  /** Write the merged checkpoint here (a new or empty directory). Default: replace the shards of `dir` in place. */
  readonly into?: string;
  /** Called every 10,000 tasks with the number replayed so far. */
  readonly onProgress?: (tasksDone: number) => void;
}

export async function mergeCheckpoint(dir: string, options: MergeOptions = {}): Promise<MergeResult> {
  const from = resolve(dir);
  const inPlace = options.into === undefined;
  // Checked before the checkpoint is opened: a refused merge touches nothing, not even a lock file.
  const intoExisted = !inPlace && assertUsableTarget(from, resolve(options.into!));
  if (inPlace) {
    // The merged copy is built beside the checkpoint and swapped into it.
    assertWritablePaths([dirname(from), from, join(from, WRITERS_DIR)].filter((p) => existsSync(p)), from, `an in-place merge builds the merged copy beside ${from} and swaps it in`);
  } else {
    const target = resolve(options.into!);
    assertWritablePaths([existsSync(target) ? target : dirname(target)], target, `the merge writes its copy to ${target}`);
  }
  const source = await LineageStore.open(from, { readOnly: true });
  try {
    if (source.mode !== 'dag') {
      throw new LineageError(ErrorCodes.MODE_MISMATCH, `${from} is a source-counter checkpoint; merge compacts DAG checkpoints only.`);
    }
    // Also for --into: a moving checkpoint cannot be verified against its union.
    for (const shard of source.shards) assertNoLiveWriter(shard.dir, shard.writerId, 'Merge');
  } catch (err) {
    await source.close();
    throw err;
  }
  // Killed merges of this checkpoint left their working directories: ours to remove once their process is gone.
  removeDeadMergeDirs(from);
  const work = inPlace ? mkdtempSync(mergeDirPrefix(from)) : null;
  if (work !== null) markMergeDir(work, from);
  const into = work !== null ? join(work, 'ckpt') : resolve(options.into!);
  try {
    const target = await LineageStore.open(into, { writerId: 'main', create: true, onWarning: () => {} });
    let tasks = 0;
    let edges = 0;
    try {
      target.updateManifest({ fingerprint: source.manifest.fingerprint, acceptedChanges: source.manifest.acceptedChanges, invalidations: source.manifest.invalidations });
      // What the writers recorded beside the tasks: the files calls wrote, the inputs' fingerprints.
      const outputs = new Map<string, readonly string[]>();
      for (const row of source.recordedOutputs()) outputs.set(row.udid, row.paths);
      for (const { sourceKey } of source.sources()) {
        const fingerprint = source.sourceFingerprint(sourceKey);
        if (fingerprint !== undefined) target.recordSourceFingerprint(sourceKey, fingerprint);
      }
      for (const task of source.tasks()) {
        replay(source, target, task, outputs.get(task.udid));
        edges += task.children.length;
        if (++tasks % 10_000 === 0) {
          options.onProgress?.(tasks);
          if (target.needsDrain) await target.drain();
        }
      }
      await target.flush();
      // Verify: the merged checkpoint must say exactly what the union said.
      const expected = completedSet(computeCompletion(source));
      const got = completedSet(computeCompletion(target));
      let mismatch = expected.size !== got.size ? `${expected.size} completed tasks became ${got.size}` : '';
      for (const task of source.tasks()) {
        if (mismatch) break;
        const merged = target.get(task.udid);
        if (!merged) mismatch = `task ${task.udid} is missing`;
        else if (!sameSet(merged.parents, task.parents) || !sameSet(merged.children, task.children)) mismatch = `edges of ${task.udid} differ`;
        else if (merged.outcome?.kind !== task.outcome?.kind) mismatch = `outcome of ${task.udid} differs`;
        else if (expected.has(task.udid) !== got.has(task.udid)) mismatch = `completion of ${task.udid} differs`;
      }
      if (mismatch) {
        // The replay of a consistent checkpoint gives back what it read: a difference means the shards disagree with themselves.
        const files = source.shards.map((s) => s.dataFile).join(', ');
        throw new LineageError(
          ErrorCodes.CORRUPT,
          `merge of ${from} did not verify (${mismatch}): the records in ${files} contradict each other, so the file is damaged. ` +
            `The original shards were left untouched; run \`lineage verify ${from}\` to see the problems.`,
        );
      }
      const result = { from, into: inPlace ? from : into, shardsMerged: source.shards.length, tasks, edges, completed: got.size };
      await target.close();
      await source.close();
      if (work !== null) {
        swapShards(from, into);
        rmSync(work, { recursive: true, force: true });
      }
      return result;
    } finally {
      await target.close().catch(() => undefined);
    }
  } catch (err) {
    // Leave nothing half-merged behind: the working directory, or what --into did not hold before.
    if (work !== null) rmSync(work, { recursive: true, force: true });
    else if (!intoExisted) rmSync(into, { recursive: true, force: true });
    else for (const entry of readdirSync(into)) rmSync(join(into, entry), { recursive: true, force: true });
    throw err;
  } finally {
    await source.close();
  }
}

function replay(source: LineageStore, target: LineageStore, task: TaskInfo, outputs: readonly string[] | undefined): void {
  const ref = task.parents.length === 0 && task.sourceKey ? { udid: task.udid, sourceKey: task.sourceKey } : task.udid;
  const outcome = task.outcome;
  if (outcome?.kind === 'failed' && task.children.length === 0) {
    target.recordFailure({ stage: outcome.stage, task: ref, error: outcome.error ?? '' });
    return;
  }
  if (outcome?.kind === 'filtered' && task.children.length === 0) {
    target.recordEmission({ stage: outcome.stage, parents: [ref], children: [] });
    return;
  }
  // A leaf no stage consumed yet is created by its parents' emissions.
  if (task.children.length === 0) return;
  const children = task.children.map((c) => {
    const child = source.get(c);
    if (!child) {
      const files = source.shards.map((s) => s.dataFile).join(', ');
      throw new LineageError(ErrorCodes.CORRUPT, `${files}: task ${task.udid} has child ${c}, which cannot be found, so the file is damaged. Nothing was changed; run \`lineage verify\` on the checkpoint.`);
    }
    return child;
  });
  const stage = outcome?.stage ?? children[0]!.stage ?? '';
  for (const terminal of [false, true]) {
    const group = children.filter((c) => c.terminal === terminal).map((c) => c.udid);
    if (group.length > 0) target.recordEmission({ stage, parents: [ref], children: group, terminal, ...(outputs ? { outputs } : {}) });
  }
  if (outcome?.kind === 'failed') target.recordFailure({ stage: outcome.stage, task: ref, error: outcome.error ?? '' });
}

/**
 * `--into` must be a new or empty directory outside the checkpoint: merging
 * into an existing checkpoint would mix two DAGs and overwrite its manifest.
 * Returns whether the directory exists (and is empty).
 */
function assertUsableTarget(from: string, into: string): boolean {
  const bad = (found: string) =>
    new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `merge into ${into}: expected a new or empty directory, but ${found}. Nothing was changed. Choose a new directory for the merged checkpoint.`,
    );
  const rel = relative(from, into);
  if (rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel))) {
    throw bad(`it is ${rel === '' ? 'the checkpoint itself' : `inside the checkpoint ${from}`} (to compact in place, leave out the target)`);
  }
  let isDir: boolean;
  try {
    isDir = statSync(into).isDirectory();
  } catch {
    return false;
  }
  if (!isDir) throw bad('it is a file');
  const entries = readdirSync(into);
  if (entries.length > 0) {
    throw bad(`it holds ${entries.includes(MANIFEST_FILE) ? 'a checkpoint' : `${entries.length} ${entries.length === 1 ? 'entry' : 'entries'} (${entries.slice(0, 3).join(', ')})`}`);
  }
  return true;
}

/**
 * Replaces `dir`'s shards with the merged one: rename the old set aside, move
 * the new in, drop the old. A crash between the two renames leaves
 * `writers.pre-merge` and no `writers`: the next open renames it back
 * (`recoverInterruptedMerge`), so the old shards are never the only copy and
 * deleted.
 */
function swapShards(dir: string, merged: string): void {
  recoverInterruptedMerge(dir);
  const old = join(dir, PRE_MERGE_DIR);
  // Left over from a merge that finished its swap but not its clean-up: `writers` holds the merged data.
  if (existsSync(old)) rmSync(old, { recursive: true, force: true });
  renameSync(join(dir, WRITERS_DIR), old);
  renameSync(join(merged, WRITERS_DIR), join(dir, WRITERS_DIR));
  writeManifest(dir, { ...readManifest(merged), createdAt: readManifest(dir).createdAt });
  rmSync(old, { recursive: true, force: true });
  rmSync(merged, { recursive: true, force: true });
  if (!readdirSync(dir).includes(MANIFEST_FILE)) throw new LineageError(ErrorCodes.CORRUPT, `${dir}: the manifest vanished during merge.`);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
