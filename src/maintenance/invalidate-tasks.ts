/**
 * Forced reruns (docs/design.md §6): voids chosen tasks and everything
 * downstream of them, as `lineage invalidate` asks.
 *
 * A target is a source (its root), a task, or every task a stage consumed.
 * Everything a target leads to (its descendants, over every shard, by UDID)
 * is removed with its edges; a target, and any kept task one of whose
 * children was removed, keeps its record but loses its outcome, so the next
 * run consumes it again. Every child of one emission depends on all of its
 * parents, so a kept parent never keeps half of its children. Checkpoints of
 * stateful stages that absorbed or emitted a voided task are dropped: their
 * state was built from it. The repair pass then recomputes the task types
 * and completion, and the manifest records the invalidation, so a plan can
 * give the sources it sent back to work the code `invalidated-by-hand`.
 *
 * In source-counter mode only sources can be voided (their state is
 * dropped). Refuses (LINEAGE_LOCKED) while any writer is live; refuses an
 * unknown source, task or stage before anything changes.
 */
import { join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { rootLineage } from '../identity/lineage.js';
import { assertUdid } from '../identity/udid.js';
import { WRITERS_DIR } from '../store/checkpoint-directory.js';
import { removeEdgeId } from '../store/edge-values.js';
import { LineageStore } from '../store/lineage-store.js';
import { readManifest, writeManifest, type Invalidation } from '../store/manifest.js';
import { assertNoLiveWriter, claimShard, type OwnerHeartbeat } from '../store/owner-record.js';
import { Shard } from '../store/shard.js';
import { dropFingerprintsSync } from '../store/source-fingerprints.js';
import { dropStageCheckpointsSync } from '../store/state-checkpoint-log.js';
import { OUTCOME_NONE, clearOutcome, outcomeOf, outcomeStageOf, rootOf, stageOf, udidOf } from '../store/task-record.js';
import { repairCheckpoint } from './repair.js';

export interface InvalidateTargets {
  /** Source keys: each source's root and everything it led to. */
  readonly sources?: readonly string[];
  /** Stage ids: every task the stage consumed, and everything the stage and later ones made of them. */
  readonly stages?: readonly string[];
  /** Task UDIDs: each task and everything downstream of it. */
  readonly udids?: readonly string[];
}

export interface InvalidateTasksSummary {
  /** True when nothing was written (`dryRun`). */
  readonly dryRun: boolean;
  /** Distinct tasks removed: everything downstream of the targets. */
  readonly removed: number;
  /** Distinct kept tasks whose outcome is cleared: the next run consumes them again. */
  readonly reopened: number;
  /** Source keys whose work goes back to the next run, sorted. */
  readonly sources: string[];
  /** Checkpoints of stateful stages dropped (not counted with `dryRun`). */
  readonly checkpointsDropped: number;
}

/** Voids the targets in the checkpoint at `dir` and everything downstream of them. */
export interface InvalidateOptions {
  /** Say what would be voided; change nothing. */
  readonly dryRun?: boolean;
  /**
   * Record the invalidation in the manifest, so a plan calls its sources
   * `invalidated-by-hand` (default true). A run that voids sources whose
   * input changed passes false: it reruns them at once.
   */
  readonly byHand?: boolean;
}

export async function invalidateTasks(dir: string, targets: InvalidateTargets, options: InvalidateOptions = {}): Promise<InvalidateTasksSummary> {
  const asked = { sources: [...(targets.sources ?? [])], stages: [...(targets.stages ?? [])], udids: [...(targets.udids ?? [])] };
  if (asked.sources.length + asked.stages.length + asked.udids.length === 0) {
    throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `invalidate: name what to void in ${dir}: a source key, a stage id or a task UDID.`);
  }
  for (const u of asked.udids) assertUdid(u, 'invalidate');
  const byHand = options.byHand !== false;
  const reader = await LineageStore.open(dir, { readOnly: true });
  const path = reader.dir;
  const mode = reader.mode;
  const writerIds = reader.shards.map((s) => s.writerId);
  try {
    // A run voiding changed inputs may name a source whose root never committed (only its fingerprint did): nothing to void there.
    checkTargetsExist(reader, asked, byHand);
  } finally {
    await reader.close();
  }
  if (mode === 'sources') return voidCountedSources(path, writerIds, asked, options.dryRun === true, byHand);
  if (!options.dryRun) for (const id of writerIds) assertNoLiveWriter(join(path, WRITERS_DIR, id), id, 'Invalidating tasks');

  const beats: OwnerHeartbeat[] = [];
  const shards: Shard[] = [];
  try {
    for (const id of writerIds) {
      const shardDir = join(path, WRITERS_DIR, id);
      if (!options.dryRun) beats.push(claimShard(shardDir, id));
      shards.push(Shard.open(shardDir, id, options.dryRun === true));
    }
    const live = shards.filter((s) => s.initialized);
    const plan = voidPlan(live, asked);
    if (options.dryRun) return { dryRun: true, removed: plan.removed.size, reopened: plan.reopened.size, sources: [...plan.sourceKeys].sort(), checkpointsDropped: 0 };
    let checkpointsDropped = 0;
    for (const shard of live) {
      checkpointsDropped += shard.env.transactionSync(() => {
        // A voided source takes the next fingerprint it is given as its first.
        dropFingerprintsSync(shard, asked.sources);
        return applyVoid(shard, plan);
      });
      await shard.env.flushed;
    }
    for (const s of shards.splice(0)) await s.close();
    for (const b of beats.splice(0)) b.release();
    await repairCheckpoint(path);
    if (byHand) recordInvalidation(path, { at: new Date().toISOString(), ...asked, removed: plan.removed.size, reopened: plan.reopened.size });
    return { dryRun: false, removed: plan.removed.size, reopened: plan.reopened.size, sources: [...plan.sourceKeys].sort(), checkpointsDropped };
  } finally {
    for (const s of shards) await s.close();
    for (const b of beats) b.release();
  }
}

type Asked = { sources: string[]; stages: string[]; udids: string[] };

function checkTargetsExist(store: LineageStore, asked: Asked, strict: boolean): void {
  for (const key of asked.sources) {
    const known = store.mode === 'sources' ? [...store.sourceStates()].some((s) => s.sourceKey === key) : store.has(rootLineage(key).udid);
    if (!known && strict) {
      throw new LineageError(ErrorCodes.UNKNOWN_TASK, `invalidate: the source "${key}" is not in the checkpoint ${store.dir}; nothing was changed. List its sources with: lineage inspect ${store.dir} --sources`);
    }
  }
  if (store.mode === 'sources' && asked.stages.length + asked.udids.length > 0) {
    throw new LineageError(
      ErrorCodes.NOT_ATTRIBUTABLE,
      `invalidate: the checkpoint ${store.dir} is in source-counter mode, which keeps no tasks or stages, only sources; void sources with --source.`,
    );
  }
  for (const u of asked.udids) {
    if (!store.has(u)) throw new LineageError(ErrorCodes.UNKNOWN_TASK, `invalidate: task ${u} is not in the checkpoint ${store.dir}; nothing was changed.`);
  }
  const stages = new Set<string>([...(store.manifest.fingerprint ?? []).map((s) => s.id)]);
  for (const shard of store.shards) for (const { value } of shard.stageRows()) stages.add(value);
  for (const s of asked.stages) {
    if (!stages.has(s)) {
      throw new LineageError(
        ErrorCodes.INVALID_ARGUMENT,
        `invalidate: the checkpoint ${store.dir} knows no stage "${s}" (its stages: ${[...stages].map((x) => `"${x}"`).join(', ') || 'none'}); nothing was changed.`,
      );
    }
  }
}

interface VoidPlan {
  /** UDIDs (hex) of the tasks to remove. */
  readonly removed: Set<string>;
  /** UDIDs (hex) of kept tasks whose outcome is cleared. */
  readonly reopened: Set<string>;
  readonly sourceKeys: Set<string>;
}

/** What voiding the targets removes and reopens, over every shard, by UDID. */
function voidPlan(shards: readonly Shard[], asked: Asked): VoidPlan {
  const targets = new Set<string>([...asked.sources.map((k) => rootLineage(k).udid), ...asked.udids.map((u) => u.toLowerCase())]);
  const stageSet = new Set(asked.stages);
  for (const shard of shards) {
    if (stageSet.size === 0) break;
    for (const { value } of shard.metaRows()) {
      if (outcomeOf(value, 0) !== OUTCOME_NONE && stageSet.has(shard.stageName(outcomeStageOf(value, 0)) ?? '')) targets.add(hexOf(value));
    }
  }
  // Everything the targets lead to, in any shard: a child recorded by one writer may have children in another's shard.
  const removed = new Set<string>();
  let frontier = [...targets];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const shard of shards) {
      for (const u of frontier) {
        const id = shard.idOf(Buffer.from(u, 'hex'));
        if (id === undefined) continue;
        for (const c of shard.childIds(id)) {
          const record = shard.recordOf(c);
          if (!record) continue;
          const cu = hexOf(record);
          if (!removed.has(cu)) {
            removed.add(cu);
            next.push(cu);
          }
        }
      }
    }
    frontier = next;
  }
  const reopened = new Set<string>();
  for (const t of targets) if (!removed.has(t)) reopened.add(t);
  const sourceKeys = new Set<string>();
  for (const shard of shards) {
    for (const u of removed) {
      const id = shard.idOf(Buffer.from(u, 'hex'));
      if (id === undefined) continue;
      for (const p of shard.parentIds(id)) {
        const record = shard.recordOf(p);
        if (record && !removed.has(hexOf(record))) reopened.add(hexOf(record));
      }
    }
    for (const set of [removed, reopened]) {
      for (const u of set) {
        const id = shard.idOf(Buffer.from(u, 'hex'));
        const record = id === undefined ? undefined : shard.recordOf(id);
        const key = record ? shard.sourceKeyOf(rootOf(record, 0)) : undefined;
        if (key !== undefined) sourceKeys.add(key);
      }
    }
  }
  return { removed, reopened, sourceKeys };
}

/** Removes and reopens in one shard, inside its write transaction; returns the stateful-stage checkpoints dropped. */
function applyVoid(shard: Shard, plan: VoidPlan): number {
  const touched = new Set<number>();
  const remove: { id: number; udid: Buffer }[] = [];
  for (const u of plan.removed) {
    const udid = Buffer.from(u, 'hex');
    const id = shard.idOf(udid);
    if (id === undefined) continue;
    const record = shard.recordOf(id);
    if (record) {
      touched.add(stageOf(record, 0));
      if (outcomeOf(record, 0) !== OUTCOME_NONE) touched.add(outcomeStageOf(record, 0));
    }
    remove.push({ id, udid });
  }
  for (const { id, udid } of remove) {
    for (const p of shard.parentIds(id)) removeEdgeId(shard.children as never, p, id);
    for (const c of shard.childIds(id)) removeEdgeId(shard.parents as never, c, id);
    shard.parents.removeSync(id);
    shard.children.removeSync(id);
    shard.removeTask(id, udid);
  }
  for (const u of plan.reopened) {
    const id = shard.idOf(Buffer.from(u, 'hex'));
    if (id === undefined) continue;
    const record = shard.recordOf(id);
    if (record && outcomeOf(record, 0) !== OUTCOME_NONE) touched.add(outcomeStageOf(record, 0));
    shard.editMeta(id, (row) => clearOutcome(row, 0));
  }
  touched.delete(0);
  const dropped = dropStageCheckpointsSync(shard, (n) => touched.has(n));
  return dropped.reduce((n, d) => n + d.ids.length, 0);
}

/** Source-counter mode: the sources' states are dropped, so each reruns whole. */
async function voidCountedSources(path: string, writerIds: readonly string[], asked: Asked, dryRun: boolean, byHand: boolean): Promise<InvalidateTasksSummary> {
  const summary = { dryRun, removed: 0, reopened: asked.sources.length, sources: [...new Set(asked.sources)].sort(), checkpointsDropped: 0 };
  if (dryRun) return summary;
  for (const id of writerIds) assertNoLiveWriter(join(path, WRITERS_DIR, id), id, 'Invalidating sources');
  for (const id of writerIds) {
    const shardDir = join(path, WRITERS_DIR, id);
    const beat = claimShard(shardDir, id);
    const shard = Shard.open(shardDir, id, false);
    try {
      if (!shard.initialized) continue;
      shard.env.transactionSync(() => {
        for (const key of asked.sources) shard.sourceState.removeSync(key);
        dropFingerprintsSync(shard, asked.sources);
      });
      await shard.env.flushed;
    } finally {
      await shard.close();
      beat.release();
    }
  }
  if (byHand) recordInvalidation(path, { at: new Date().toISOString(), ...asked, removed: 0, reopened: summary.reopened });
  return summary;
}

function recordInvalidation(path: string, entry: Invalidation): void {
  const manifest = readManifest(path);
  writeManifest(path, { ...manifest, updatedAt: entry.at, invalidations: [...manifest.invalidations, entry] });
}

function hexOf(record: Buffer): string {
  return Buffer.from(udidOf(record, 0)).toString('hex');
}
