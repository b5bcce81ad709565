/**
 * @internal
 * Everything recorded about one task, gathered from every shard that holds
 * it: the union of its edges, the first completion and the strongest outcome.
 */
import { FLAG_TERMINAL, OUTCOME_KINDS, TASK_TYPES } from './task-record.js';
import type { Shard } from './shard.js';
import type { Completion, Outcome, TaskInfo, TaskType } from './types.js';
import type { UdidIndex } from './udid-index.js';

/** `key`: the task's 16 raw UDID bytes; `unionCompleted`: tasks complete only in the union of shards. */
export function taskInfoOf(shards: readonly Shard[], udid: string, key: Buffer, unionCompleted: UdidIndex | null): TaskInfo | null {
  const parents = new Set<string>();
  const children = new Set<string>();
  let found = false;
  let completed: Completion | null = null;
  let outcome: Outcome | null = null;
  let stage: string | null = null;
  let sourceKey: string | null = null;
  let terminal = false;
  for (const shard of shards) {
    const id = shard.idOf(key);
    if (id === undefined) continue;
    found = true;
    for (const p of shard.parentIds(id)) parents.add(udidIn(shard, p));
    for (const c of shard.childIds(id)) children.add(udidIn(shard, c));
    const meta = shard.metaOf(id);
    if (!meta) continue;
    stage ??= shard.stageName(meta.stage);
    sourceKey ??= shard.sourceKeyOf(meta.root) ?? null;
    terminal ||= (meta.flags & FLAG_TERMINAL) !== 0;
    if (meta.completedRun !== 0 && completed === null) {
      completed = { run: meta.completedRun, runStartedAt: shard.runStartedAt(meta.completedRun), writerId: shard.writerId };
    }
    if (completed === null && unionCompleted?.get(key)) completed = { run: 0, runStartedAt: '', writerId: '(union of shards)' };
    if (meta.outcome !== 0 && (outcome === null || outcome.kind === 'failed')) {
      outcome = {
        kind: OUTCOME_KINDS[meta.outcome] ?? 'failed',
        stage: shard.stageName(meta.outcomeStage) ?? '',
        ...(meta.error !== undefined ? { error: meta.error } : {}),
      };
    }
  }
  if (!found) return null;
  const taskType: TaskType = TASK_TYPES[(parents.size > 0 ? 2 : 0) | (children.size > 0 ? 1 : 0)]!;
  return { udid, parents: [...parents], children: [...children], taskType, completed, outcome, stage, sourceKey, terminal };
}

function udidIn(shard: Shard, id: number): string {
  return shard.metaOf(id)?.udid.toString('hex') ?? '';
}
