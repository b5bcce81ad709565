/**
 * @internal
 * The work waiting at each stage of a run: a queue of tasks in arrival
 * order, and the groups (closed keyed groups, arrival batches) ready for a
 * call. A queue is consumed from a head index and compacted now and then,
 * so taking from it is O(1) per task.
 */
import { isBatchStage, type Stage } from '../model/stage.js';
import type { StageTask } from './stage-adapter.js';

/** The inputs of one call: a keyed group (its key), an arrival batch or a single task (null). */
export interface Group {
  readonly tasks: StageTask[];
  readonly key: string | null;
}

export class StageQueues {
  private readonly n: number;
  private readonly queues: StageTask[][];
  private readonly heads: Int32Array;
  /** Closed groups and arrival batches waiting for a call. */
  private readonly ready: Group[][];
  /** Per stage: the arrival batch size of a `batchSize` stage, else 0. */
  private readonly batchSize: Int32Array;

  constructor(stages: readonly Stage[]) {
    this.n = stages.length;
    this.queues = stages.map(() => []);
    this.heads = new Int32Array(this.n);
    this.ready = stages.map(() => []);
    this.batchSize = Int32Array.from(stages, (s) => (isBatchStage(s) && s.groupBy === undefined ? Math.max(1, s.batchSize ?? 1) : 0));
  }

  push(i: number, task: StageTask): void {
    this.queues[i]!.push(task);
  }

  /** A group whose members are all here is ready for a call of stage i. */
  pushReady(i: number, group: Group): void {
    this.ready[i]!.push(group);
  }

  queued(i: number): number {
    return this.queues[i]!.length - this.heads[i]!;
  }

  /** The next call's inputs at stage i: a ready group, else a full arrival batch or one task; undefined when none is due. */
  next(i: number): Group | undefined {
    const ready = this.ready[i]!;
    if (ready.length > 0) return ready.shift();
    const size = this.batchSize[i]!;
    if (size > 1) return this.queued(i) < size ? undefined : { tasks: this.take(i, size), key: null };
    return this.queued(i) > 0 ? { tasks: this.take(i, 1), key: null } : undefined;
  }

  take(i: number, count: number): StageTask[] {
    const q = this.queues[i]!;
    const head = this.heads[i]!;
    const end = Math.min(q.length, head + count);
    const out = q.slice(head, end);
    if (end === q.length) {
      q.length = 0;
      this.heads[i] = 0;
    } else if (end > 4096 && end * 2 > q.length) {
      q.splice(0, end);
      this.heads[i] = 0;
    } else this.heads[i] = end;
    return out;
  }

  /** Makes the first arrival-order stage's last, partial batch ready; true if there was one. */
  flushPartialBatch(): boolean {
    for (let i = 0; i < this.n; i++) {
      const q = this.queued(i);
      if (this.batchSize[i]! > 1 && q > 0 && q < this.batchSize[i]!) {
        this.ready[i]!.push({ tasks: this.take(i, q), key: null });
        return true;
      }
    }
    return false;
  }
}
