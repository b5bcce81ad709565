/**
 * @internal
 * Per-source bookkeeping of the streaming runner, and the decision taken when
 * a keyed group (`groupBy`) is handed over.
 *
 * A keyed group is pruned whole or not at all, decided at handover, never
 * from checks made as each member arrived: another writer (another shard of
 * the same checkpoint) may complete the group's output between two members,
 * and a group that lost the members found complete would be merged short and
 * its wrong output recorded complete. At handover:
 *
 * - every member complete: someone merged the full group; prune all of it.
 * - no member complete: run it with every member that arrived. A member
 *   lost upstream (pruned because its subtree was complete) would mean the
 *   group's output is complete, and with it every member, so none was lost.
 * - some complete, some not: the checkpoint disagrees with itself about the
 *   group. If a task of the source was pruned upstream of the stage, a member
 *   may be missing: hold the group back (as for a failed member; a rerun
 *   redoes it). Otherwise every member is here: run it, which records the
 *   full group's output (the same UDID an uninterrupted run gives).
 *
 * A stateful stage's inputs are such a set too (its `finish` names them all
 * as parents): they are not pruned on their own as they arrive either, and
 * the same rule decides over them once no more can arrive.
 */
import type { StageTask } from './stage-adapter.js';

/** The members of one keyed group that reached the stage so far (a class, not a literal: docs/performance.md#task-class). */
export class KeyedGroup {
  readonly tasks: StageTask[] = [];
  /** Some member may already be complete (its emission's recorder did not rule it out). */
  mayBeComplete = false;
}

/** Per source: tasks alive at each stage, and the open keyed groups of `groupBy` stages (a class, not a literal: docs/performance.md#task-class). */
export class SourceState {
  readonly alive: Int32Array;
  total = 0;
  groups: Map<number, Map<string, KeyedGroup>> | null = null;
  /** Lowest stage at which a task of this source failed (n: none). */
  failedAt: number;
  /** Lowest stage a task of this source was pruned before entering (n: none). */
  prunedAt: number;

  constructor(stages: number) {
    this.alive = new Int32Array(stages);
    this.failedAt = stages;
    this.prunedAt = stages;
  }
}

export type Handover = 'run' | 'prune' | 'hold';

/** What to do with `group` at stage `f` of its source `s` (see the file comment); `isCompleted` asks the checkpoint. */
export function handover(group: KeyedGroup, f: number, s: SourceState, isCompleted: ((udid: string) => boolean) | null): Handover {
  if (s.failedAt < f) return 'hold';
  return decideSet(group.tasks, group.mayBeComplete, s.prunedAt < f, isCompleted);
}

/**
 * The rule for any set whose members become the parents of one output (a
 * keyed group, a stateful stage's inputs): `mayBeComplete` false skips the
 * checks (no member can be complete); `memberMayBeMissing`: a task that could
 * have led to a member was pruned upstream in this run.
 */
export function decideSet(
  tasks: readonly StageTask[],
  mayBeComplete: boolean,
  memberMayBeMissing: boolean,
  isCompleted: ((udid: string) => boolean) | null,
): Handover {
  if (isCompleted === null || !mayBeComplete || tasks.length === 0) return 'run';
  let complete = 0;
  for (const t of tasks) if (isCompleted(t.lineage.udid)) complete++;
  if (complete === 0) return 'run';
  if (complete === tasks.length) return 'prune';
  return memberMayBeMissing ? 'hold' : 'run';
}
