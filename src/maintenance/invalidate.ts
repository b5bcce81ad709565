/**
 * Voids the completion that a pipeline change invalidated (docs/design.md §6).
 * When stage k changed (id, order or version), everything a stage at k or
 * later emitted or decided is removed from every shard: tasks those stages
 * emitted (with their edges), and the outcomes they recorded. What stages
 * before k did stays, except the checkpoints of stateful stages at k or
 * later: their state was built from inputs that changed. Derived state (task type, completion) is then recomputed
 * by the repair pass, so a source stays complete only if it finished before
 * stage k (e.g. filtered early). The checkpoint is then exactly what a run of
 * the changed pipeline would have left after its first k stages.
 *
 * In source-counter mode there are no per-task records: every source state is
 * dropped. Refuses (LINEAGE_LOCKED) while any writer is live.
 */
import { join } from 'node:path';
import { LineageStore } from '../store/lineage-store.js';
import { WRITERS_DIR } from '../store/checkpoint-directory.js';
import { removeEdgeId } from '../store/edge-values.js';
import { assertNoLiveWriter, claimShard } from '../store/owner-record.js';
import { Shard } from '../store/shard.js';
import { dropStageCheckpointsSync } from '../store/state-checkpoint-log.js';
import { OUTCOME_NONE, clearOutcome, outcomeOf, outcomeStageOf, stageOf, udidOf } from '../store/task-record.js';
import { repairCheckpoint } from './repair.js';

export interface InvalidationSummary {
  /** Tasks removed because a changed or later stage emitted them. */
  readonly tasksRemoved: number;
  /** Outcomes removed because a changed or later stage recorded them. */
  readonly outcomesRemoved: number;
  /** Completion flags cleared by the recomputation. */
  readonly completedCleared: number;
  /** Source states dropped (source-counter mode). */
  readonly sourcesReset: number;
  /** Checkpoints of stateful stages dropped, per writer and stage: a run expires its own writer's. */
  readonly checkpointsDropped: { writerId: string; stage: string; ids: number[] }[];
}

/** Removes from the checkpoint in `dir` what any stage not in `keptStages` emitted or decided. */
export async function invalidateStages(dir: string, keptStages: readonly string[]): Promise<InvalidationSummary> {
  const reader = await LineageStore.open(dir, { readOnly: true });
  const path = reader.dir;
  const writerIds = reader.shards.map((s) => s.writerId);
  const mode = reader.mode;
  await reader.close();
  for (const id of writerIds) assertNoLiveWriter(join(path, WRITERS_DIR, id), id, 'A run of a changed pipeline');

  const kept = new Set(keptStages);
  let tasksRemoved = 0;
  let outcomesRemoved = 0;
  let sourcesReset = 0;
  const checkpointsDropped: InvalidationSummary['checkpointsDropped'] = [];
  for (const id of writerIds) {
    const shardDir = join(path, WRITERS_DIR, id);
    const beat = claimShard(shardDir, id);
    const shard = Shard.open(shardDir, id, false);
    try {
      if (!shard.initialized) continue;
      const done = shard.env.transactionSync(() => (mode === 'sources' ? { tasks: 0, outcomes: 0, sources: resetSources(shard), checkpoints: [] } : removeStale(shard, kept)));
      tasksRemoved += done.tasks;
      outcomesRemoved += done.outcomes;
      sourcesReset += done.sources;
      for (const c of done.checkpoints) checkpointsDropped.push({ writerId: id, ...c });
      await shard.env.flushed;
    } finally {
      await shard.close();
      beat.release();
    }
  }
  const repaired = mode === 'dag' ? await repairCheckpoint(path) : null;
  return { tasksRemoved, outcomesRemoved, completedCleared: repaired?.completedCleared ?? 0, sourcesReset, checkpointsDropped };
}

function removeStale(shard: Shard, kept: ReadonlySet<string>): { tasks: number; outcomes: number; sources: number; checkpoints: { stage: string; ids: number[] }[] } {
  const stale = (n: number) => n !== 0 && !kept.has(shard.stageName(n) ?? '');
  const remove: { id: number; udid: Buffer }[] = [];
  for (const { key, value } of shard.metaRows()) {
    if (stale(stageOf(value, 0))) remove.push({ id: key, udid: Buffer.from(udidOf(value, 0)) });
  }
  for (const { id, udid } of remove) {
    for (const p of shard.parentIds(id)) removeEdgeId(shard.children as never, p, id);
    for (const c of shard.childIds(id)) removeEdgeId(shard.parents as never, c, id);
    shard.parents.removeSync(id);
    shard.children.removeSync(id);
    shard.removeTask(id, udid);
  }
  // A kept task consumed by a stale stage loses that outcome (and an error text with it).
  const staleOutcomes: number[] = [];
  for (const { key, value: v } of shard.metaRows()) {
    if (outcomeOf(v, 0) !== OUTCOME_NONE && stale(outcomeStageOf(v, 0))) staleOutcomes.push(key);
  }
  for (const id of staleOutcomes) {
    shard.editMeta(id, (row) => clearOutcome(row, 0));
  }
  const outcomes = staleOutcomes.length;
  return { tasks: remove.length, outcomes, sources: 0, checkpoints: dropStageCheckpointsSync(shard, stale) };
}

function resetSources(shard: Shard): number {
  const keys = [...shard.sourceState.getKeys()];
  for (const k of keys) shard.sourceState.removeSync(k);
  return keys.length;
}
