/**
 * @internal
 * Brings a task written by an earlier session into a writer session's
 * memory: its `meta` row, its parents, and how many of its children are
 * incomplete, which incremental completion needs (docs/design.md §4).
 */
import type { Shard } from '../shard.js';
import { FLAG_TERMINAL } from '../task-record.js';
import type { NewChildren } from './new-children.js';
import type { StageNumbers } from './stage-numbers.js';
import { COMPLETED, ERROR_ROW, HAS_CHILDREN, LOADED, OUTCOME_MASK, TERMINAL, type TaskState } from './task-state.js';

export class TaskLoader {
  constructor(
    private readonly shard: Shard,
    private readonly tasks: TaskState,
    private readonly fresh: NewChildren,
    private readonly stages: StageNumbers,
  ) {}

  /** Brings a task written by an earlier session into memory. */
  load(id: number): number {
    const t = this.tasks;
    t.ensureCapacity(id);
    const meta = this.shard.metaOf(id);
    let s = LOADED;
    if (meta) {
      const u = t.udids;
      for (let i = 0; i < 4; i++) u[id * 4 + i] = meta.udid.readInt32LE(i * 4);
      t.index.addAt(this.fresh.listed(false).find(u[id * 4]!, u[id * 4 + 1]!, u[id * 4 + 2]!, u[id * 4 + 3]!), u[id * 4]!, id);
      t.root[id] = meta.root;
      t.stage[id] = this.stages.localOfShard(meta.stage);
      t.outcomeStage[id] = this.stages.localOfShard(meta.outcomeStage);
      t.completedRun[id] = meta.completedRun;
      s |= meta.outcome & OUTCOME_MASK;
      if (meta.completedRun !== 0) s |= COMPLETED;
      if (meta.flags & FLAG_TERMINAL) s |= TERMINAL;
      if (meta.error !== undefined) {
        t.errors.set(id, meta.error);
        s |= ERROR_ROW;
      }
    } else {
      t.root[id] = id;
    }
    s = t.setParents(id, this.shard.parentIds(id), s);
    let incomplete = 0;
    const children = this.shard.childIds(id);
    if (children.length > 0) s |= HAS_CHILDREN;
    for (const c of children) {
      const done = (t.state[c]! & LOADED) !== 0 ? (t.state[c]! & COMPLETED) !== 0 : this.shard.completedRun(c) !== undefined;
      if (!done) incomplete++;
    }
    t.pending[id] = incomplete;
    t.state[id] = s;
    return id;
  }
}
