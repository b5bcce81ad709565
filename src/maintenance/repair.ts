/**
 * `verify --repair`: recomputes the derived state of a checkpoint from its
 * primary records. Edges are primary: an edge found in only one of `parents`
 * and `children` is restored in the other (a spurious edge can only make a
 * rerun do more, never skip work). Then the task type flags of `meta` are
 * recomputed from edge presence, and completion from the batch completion pass: missing flags are
 * set (under a new run record of the shard), flags the edges do not justify
 * are cleared. Outcomes, index damage and cycles are not derived state and
 * are left for the report.
 *
 * Repair writes every shard, so it refuses to run while a writer holds one
 * (LINEAGE_LOCKED): stop the run first.
 */
import { join } from 'node:path';
import { LineageStore } from '../store/lineage-store.js';
import { WRITERS_DIR } from '../store/checkpoint-directory.js';
import { assertNoLiveWriter, claimShard, type OwnerHeartbeat } from '../store/owner-record.js';
import { edgeValue } from '../store/edge-values.js';
import { Shard } from '../store/shard.js';
import { FLAG_HAS_CHILDREN, FLAG_HAS_PARENTS, flagsOf, setCompletedRun, setFlags, udidOf } from '../store/task-record.js';
import { UdidIndex } from '../store/udid-index.js';
import { completionOfShards } from '../store/batch-completion.js';
import { edgeKeys } from '../store/edge-keys.js';

export interface RepairSummary {
  /** Edges restored in `parents` or `children`. */
  readonly edgesRestored: number;
  readonly taskTypesFixed: number;
  readonly completedMarked: number;
  readonly completedCleared: number;
  readonly shards: string[];
}

/** Repairs the checkpoint in `dir` in place. No writer may be running on it. */
export async function repairCheckpoint(dir: string): Promise<RepairSummary> {
  // Validates the directory, manifest and data files before anything is opened for writing.
  const reader = await LineageStore.open(dir, { readOnly: true });
  const path = reader.dir;
  const writerIds = reader.shards.map((s) => s.writerId);
  const mode = reader.mode;
  await reader.close();
  if (mode !== 'dag') return { edgesRestored: 0, taskTypesFixed: 0, completedMarked: 0, completedCleared: 0, shards: writerIds };

  for (const id of writerIds) assertNoLiveWriter(join(path, WRITERS_DIR, id), id, 'Repair');

  const shards: Shard[] = [];
  const beats: OwnerHeartbeat[] = [];
  try {
    for (const id of writerIds) {
      const shardDir = join(path, WRITERS_DIR, id);
      beats.push(claimShard(shardDir, id));
      shards.push(Shard.open(shardDir, id, false));
    }
    let edgesRestored = 0;
    let taskTypesFixed = 0;
    for (const shard of shards) {
      const fixed = shard.env.transactionSync(() => repairEdgesAndTypes(shard));
      edgesRestored += fixed.edges;
      taskTypesFixed += fixed.types;
    }
    const { completedMarked, completedCleared } = repairCompleted(shards);
    await Promise.all(shards.map((s) => s.env.flushed));
    return { edgesRestored, taskTypesFixed, completedMarked, completedCleared, shards: writerIds };
  } finally {
    await Promise.all(shards.map((s) => s.close()));
    for (const b of beats) b.release();
  }
}

function repairEdgesAndTypes(shard: Shard): { edges: number; types: number } {
  const fromParents = edgeKeys(shard, false);
  const fromChildren = edgeKeys(shard, true);
  const hasParent = new Set<number>();
  const hasChild = new Set<number>();
  let edges = 0;
  let i = 0;
  let j = 0;
  // Merge the two sorted edge lists; an edge in one only is restored in the other.
  while (i < fromParents.length || j < fromChildren.length) {
    const a = i < fromParents.length ? fromParents[i]! : null;
    const b = j < fromChildren.length ? fromChildren[j]! : null;
    const k = a !== null && (b === null || a <= b) ? a : b!;
    const c = Number(k >> 32n);
    const p = Number(k & 0xffffffffn);
    hasParent.add(c);
    hasChild.add(p);
    if (a !== k) {
      shard.parents.putSync(c, edgeValue(c, p) as never);
      edges++;
    } else i++;
    if (b !== k) {
      shard.children.putSync(p, edgeValue(p, c) as never);
      edges++;
    } else j++;
  }
  let types = 0;
  const bits = FLAG_HAS_PARENTS | FLAG_HAS_CHILDREN;
  const fix: { id: number; flags: number }[] = [];
  for (const { key: id, value } of shard.metaRows()) {
    const expected = (hasParent.has(id) ? FLAG_HAS_PARENTS : 0) | (hasChild.has(id) ? FLAG_HAS_CHILDREN : 0);
    if ((flagsOf(value, 0) & bits) !== expected) fix.push({ id, flags: expected });
  }
  for (const { id, flags } of fix) {
    shard.editMeta(id, (row) => setFlags(row, 0, (flagsOf(row, 0) & ~bits) | flags));
    types++;
  }
  return { edges, types };
}

function repairCompleted(shards: readonly Shard[]): { completedMarked: number; completedCleared: number } {
  const snapshot = completionOfShards(shards);
  const derived = new UdidIndex();
  for (let i = 0; i < snapshot.size; i++) if (snapshot.completed[i]) derived.add(Buffer.from(snapshot.udidAt(i), 'hex'), 1);
  let completedMarked = 0;
  let completedCleared = 0;
  for (const shard of shards) {
    const mark: number[] = [];
    const clear: number[] = [];
    for (const { key, value } of shard.metaRows()) {
      const done = derived.get(udidOf(value, 0)) !== 0;
      const recorded = shard.completedRun(key) !== undefined;
      if (done && !recorded) mark.push(key);
      else if (!done && recorded) clear.push(key);
    }
    if (mark.length === 0 && clear.length === 0) continue;
    const run = mark.length > 0 ? shard.startRun() : 0;
    shard.env.transactionSync(() => {
      for (const id of mark) shard.editMeta(id, (row) => setCompletedRun(row, 0, run));
      for (const id of clear) shard.editMeta(id, (row) => setCompletedRun(row, 0, 0));
    });
    completedMarked += mark.length;
    completedCleared += clear.length;
  }
  return { completedMarked, completedCleared };
}
