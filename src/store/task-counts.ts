/**
 * @internal
 * How many tasks a checkpoint holds, by status, type and the stage that
 * emitted them, and how many edges (`lineage stats`). One shard is counted
 * from its records and the keys of its `parents` rows alone, in id order
 * (shard-scans.ts), without reading a UDID.
 * Several shards are counted over the union's task view.
 */
import { ShardScans, type EdgeScan } from './shard-scans.js';
import type { Shard } from './shard.js';
import { FLAG_HAS_CHILDREN, FLAG_HAS_PARENTS, OUTCOME_FAILED, OUTCOME_FILTERED, completedRunOf, flagsOf, outcomeOf, stageOf, typeOfFlags } from './task-record.js';
import type { TaskInfo, TaskType } from './types.js';

export interface StatusCounts {
  completed: number;
  filtered: number;
  failed: number;
  pending: number;
}

export interface TaskCounts {
  readonly tasks: number;
  readonly edges: number;
  readonly sources: { total: number; complete: number };
  readonly byStatus: StatusCounts;
  readonly byType: Record<TaskType, number>;
  /** By the stage that emitted the tasks; null for roots. */
  readonly byStage: Map<string | null, StatusCounts & { tasks: number }>;
}

/** The status `lineage inspect` shows: a filtered task is complete too, but told apart. */
export type TaskStatus = keyof StatusCounts;

const zero = (): StatusCounts => ({ completed: 0, filtered: 0, failed: 0, pending: 0 });

class Counter {
  tasks = 0;
  edges = 0;
  readonly sources = { total: 0, complete: 0 };
  readonly byStatus = zero();
  readonly byType: Record<TaskType, number> = { source: 0, middle: 0, leaf: 0, source_leaf: 0 };
  readonly byStage = new Map<string | null, StatusCounts & { tasks: number }>();

  add(stage: string | null, status: TaskStatus, type: TaskType): void {
    this.tasks++;
    this.byStatus[status]++;
    this.byType[type]++;
    let row = this.byStage.get(stage);
    if (!row) this.byStage.set(stage, (row = { tasks: 0, ...zero() }));
    row.tasks++;
    row[status]++;
    if (stage === null) {
      this.sources.total++;
      if (status === 'completed' || status === 'filtered') this.sources.complete++;
    }
  }
}

/** Bits of a task's byte while a shard is counted. */
const PRESENT = 1;
const SAYS_PARENTS = 2;
const SAYS_CHILDREN = 4;

/**
 * Counts one shard from its rows; `progress` is told the tasks counted now
 * and then. Checks what the task view would check on the way (a record's
 * type against its edge rows, each completing run's record, each source
 * row's checksum), so damage is refused here as there. Memory: a byte a task
 * id and the per-stage counters.
 */
export function countShardTasks(shard: Shard, progress: (tasks: number) => void): TaskCounts {
  const counter = new Counter();
  if (!shard.initialized) return counter;
  const scans = ShardScans.open(shard);
  try {
    let bits = new Uint8Array(shard.lastTaskId() + 1);
    const runs = new Set<number>();
    scans.forEachRecord((id, r, at) => {
      if (id >= bits.length) {
        const grown = new Uint8Array(Math.max(id + 1, bits.length * 2));
        grown.set(bits);
        bits = grown;
      }
      const outcome = outcomeOf(r, at);
      const run = completedRunOf(r, at);
      const flags = flagsOf(r, at);
      bits[id] = PRESENT | ((flags & FLAG_HAS_PARENTS) !== 0 ? SAYS_PARENTS : 0) | ((flags & FLAG_HAS_CHILDREN) !== 0 ? SAYS_CHILDREN : 0);
      if (run !== 0) runs.add(run);
      const status: TaskStatus = outcome === OUTCOME_FILTERED ? 'filtered' : run !== 0 ? 'completed' : outcome === OUTCOME_FAILED ? 'failed' : 'pending';
      counter.add(shard.stageName(stageOf(r, at)), status, typeOfFlags(flags));
      if ((counter.tasks & 0xffff) === 0) progress(counter.tasks);
    });
    for (const run of runs) shard.runStartedAt(run);
    scans.forEachSource((rootId, row) => void shard.sourceKeyIn(rootId, row, rootId < bits.length && (bits[rootId]! & PRESENT) !== 0 ? KNOWN : undefined));
    counter.edges = checkEdgeKeys(shard, bits, scans.edges('parents'), SAYS_PARENTS, 'parents');
    checkEdgeKeys(shard, bits, scans.edges('children'), SAYS_CHILDREN, 'children');
  } finally {
    scans.close();
  }
  return counter;
}

/** Stands for a root's UDID where only its presence is checked (sourceKeyIn). */
const KNOWN = new Uint8Array(16);

/** The rows of an edge sub-DB name recorded tasks, and exactly those whose record says it has such edges; returns the edges. */
function checkEdgeKeys(shard: Shard, bits: Uint8Array, edges: EdgeScan, says: number, name: string): number {
  let count = 0;
  let next = 0;
  const disagree = (id: number) => shard.damaged(`task ${id}'s record and its ${name} rows disagree about whether it has ${name}`);
  while (edges.next()) {
    const key = edges.key;
    const other = edges.value;
    count++;
    if (key < next - 1) throw shard.damaged(`its ${name} rows are not in key order near task ${key}`);
    if (key >= next) {
      for (; next < key; next++) if ((bits[next]! & says) !== 0) throw disagree(next);
      if (key >= bits.length || (bits[key]! & PRESENT) === 0 || (bits[key]! & says) === 0) throw disagree(key);
      next = key + 1;
    }
    if (other >= bits.length || (bits[other]! & PRESENT) === 0) throw shard.damaged(`an edge of task ${key} names task ${other}, which has no record`);
  }
  for (; next < bits.length; next++) if ((bits[next]! & says) !== 0) throw disagree(next);
  return count;
}

/** Counts tasks as the store's task view gives them (several shards: the union). */
export function countTasks(tasks: Iterable<TaskInfo>, progress: (tasks: number) => void): TaskCounts {
  const counter = new Counter();
  for (const task of tasks) {
    const status: TaskStatus =
      task.outcome?.kind === 'filtered' ? 'filtered' : task.completed !== null ? 'completed' : task.outcome?.kind === 'failed' ? 'failed' : 'pending';
    counter.add(task.stage, status, task.taskType);
    counter.edges += task.parents.length;
    if ((counter.tasks & 1023) === 0) progress(counter.tasks);
  }
  return counter;
}
