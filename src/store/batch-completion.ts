/**
 * Batch completion (docs/design.md §4): recomputes which tasks are complete from the
 * primary records alone — edges, outcomes and terminal flags — over the union
 * of all shards. Kahn-style BFS upward: start from terminal and filtered tasks;
 * a task whose stage emitted children completes when its last child does.
 * Used for cross-shard completion, `verify` and `verify --repair`; must agree
 * with the incremental pass done while recording.
 *
 * One shard whose edges all point to higher ids (what a writer records) is
 * done in two bytes a task (streamed-completion.ts). Otherwise memory is a few
 * typed arrays per task (~40 bytes with the parents) plus, with several
 * shards, a UDID index; the DAG itself is never built.
 */
import type { Shard } from './shard.js';
import { DONE, HAS_RECORD, RECORDED, streamedCompletion, type ShardCompletion } from './streamed-completion.js';
import { OUTCOME_EMITTED, OUTCOME_FILTERED, udidOf } from './task-record.js';
import { loadTaskTable, type TaskTable } from './task-table.js';
import type { CompletionSnapshot } from './types.js';
import { UdidIndex } from './udid-index.js';

/** @internal */
export function completionOfShards(shards: readonly Shard[]): CompletionSnapshot {
  const streamed = shards.length === 1 ? streamedCompletion(shards[0]!) : null;
  if (streamed) return snapshotOf(shards[0]!, streamed);
  const table = loadTaskTable(shards);
  return { size: table.size, udidAt: table.udidAt, completed: completeTable(table), recorded: table.recorded };
}

/**
 * @internal
 * The upward BFS over a task table. With `keepStage`, only terminal tasks
 * emitted by, and filtered tasks decided by, a kept stage seed it: the
 * completion a changed pipeline still trusts (docs/design.md §6).
 */
export function completeTable(
  t: Pick<TaskTable, 'size' | 'terminal' | 'outcome' | 'parentStart' | 'parents' | 'childCount'> & Partial<Pick<TaskTable, 'emitStage' | 'outcomeStage'>>,
  keepStage?: (stage: number) => boolean,
): Uint8Array {
  const pending = t.childCount.slice();
  const completed = new Uint8Array(t.size);
  const queue = new Uint32Array(t.size);
  let tail = 0;
  for (let i = 0; i < t.size; i++) {
    const seed =
      (t.terminal[i] === 1 && (!keepStage || keepStage(t.emitStage![i]!))) ||
      (t.outcome[i] === OUTCOME_FILTERED && (!keepStage || keepStage(t.outcomeStage![i]!)));
    if (seed) {
      completed[i] = 1;
      queue[tail++] = i;
    }
  }
  for (let q = 0; q < tail; q++) {
    const i = queue[q]!;
    for (let e = t.parentStart[i]!; e < t.parentStart[i + 1]!; e++) {
      const p = t.parents[e]!;
      if (--pending[p]! === 0 && t.outcome[p] === OUTCOME_EMITTED && !completed[p]) {
        completed[p] = 1;
        queue[tail++] = p;
      }
    }
  }
  return completed;
}

/** The snapshot of one shard's streamed pass: the tasks in id order, a UDID read from the shard when asked for. */
function snapshotOf(shard: Shard, { flags, count }: ShardCompletion): CompletionSnapshot {
  const completed = new Uint8Array(count);
  const recorded = new Uint8Array(count);
  // Where the ids with a record jump (unused ids of a claimed block, removed tasks): index → id by a search over these.
  const starts: number[] = [];
  const firstIds: number[] = [];
  let i = 0;
  for (let id = 0; id < flags.length; id++) {
    const f = flags[id]!;
    if ((f & HAS_RECORD) === 0) continue;
    if (i === 0 || id - i !== firstIds[firstIds.length - 1]! - starts[starts.length - 1]!) {
      starts.push(i);
      firstIds.push(id);
    }
    completed[i] = (f & DONE) !== 0 ? 1 : 0;
    recorded[i] = (f & RECORDED) !== 0 ? 1 : 0;
    i++;
  }
  const idAt = (at: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return firstIds[lo]! + (at - starts[lo]!);
  };
  return {
    size: count,
    completed,
    recorded,
    udidAt: (at) => {
      const id = idAt(at);
      const record = shard.recordOf(id);
      if (!record) throw shard.damaged(`task ${id} was read, but its record is gone`);
      return udidOf(record, 0).toString('hex');
    },
  };
}

/** @internal Tasks the batch pass over several shards finds complete that no shard records as complete (a child in one completes a parent in another). */
export function completedOnlyInUnion(shards: readonly Shard[]): UdidIndex | null {
  const snapshot = completionOfShards(shards);
  const extra = new UdidIndex(1024);
  for (let i = 0; i < snapshot.size; i++) {
    if (snapshot.completed[i] && !snapshot.recorded[i]) extra.add(Buffer.from(snapshot.udidAt(i), 'hex'), 1);
  }
  return extra.size > 0 ? extra : null;
}
