/**
 * @internal
 * Incremental completion in a writer session (docs/design.md §4): a BFS upward
 * from a task that completes, in which a parent completes when its last
 * incomplete child does and its own outcome is an emission. The queue is one
 * typed array, reused by every walk, so a walk allocates nothing.
 */
import { OUTCOME_EMITTED } from '../task-record.js';
import type { TaskLoader } from './task-loader.js';
import { COMPLETED, LOADED, MANY_PARENTS, OUTCOME_MASK, grown, type TaskState } from './task-state.js';

export class CompletionWalk {
  private queue = new Uint32Array(1024);
  private queued = 0;

  constructor(
    private readonly tasks: TaskState,
    private readonly loader: TaskLoader,
    /** The run number completed tasks are stamped with. */
    private readonly run: number,
  ) {}

  /** Completes `start` and every ancestor whose last incomplete child that makes complete. */
  complete(start: number): void {
    const t = this.tasks;
    this.queue[0] = start;
    this.queued = 1;
    for (let i = 0; i < this.queued; i++) {
      const id = this.queue[i]!;
      // A diamond can queue a task twice; its parents must be released once.
      if ((t.state[id]! & COMPLETED) !== 0) continue;
      t.state[id]! |= COMPLETED;
      t.completedRun[id] = this.run;
      t.markDirty(id);
      const first = t.parentRef[id]!;
      if ((t.state[id]! & MANY_PARENTS) === 0) {
        if (first !== 0) this.releaseParent(first);
      } else {
        const lists = t.parentLists;
        for (let n = first; n !== 0; n = lists.next(n)) this.releaseParent(lists.parent(n));
      }
    }
  }

  private releaseParent(pid: number): void {
    const t = this.tasks;
    // A parent from an earlier session is loaded now; its count already sees this child complete.
    if ((t.state[pid]! & LOADED) === 0) this.loader.load(pid);
    else if (t.pending[pid]! > 0) t.pending[pid]!--;
    // Read after loading: it may have grown the arrays.
    const s = t.state[pid]!;
    if (t.pending[pid] === 0 && (s & OUTCOME_MASK) === OUTCOME_EMITTED && (s & COMPLETED) === 0) {
      if (this.queued === this.queue.length) this.queue = grown(this.queue);
      this.queue[this.queued++] = pid;
    }
  }
}
