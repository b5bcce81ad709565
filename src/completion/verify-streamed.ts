/**
 * @internal
 * `verify` of a one-shard checkpoint in a few bytes a task: a proof that
 * every check of verify.ts finds nothing, made in passes over the rows in id
 * order, or null when it cannot be made. Null sends the caller to the full
 * verify (verify.ts), which reads the whole checkpoint into memory and names
 * every problem: so a healthy checkpoint costs bounded memory, and a damaged
 * one gets the same report as ever.
 *
 * How each check is made here:
 * - completion, completed_children: the streamed completion pass
 *   (streamed-completion.ts) gives each task's derived state; its flags are
 *   compared with the recorded ones, and every parents row with both ends'.
 * - symmetry: that pass sums a hash of every edge over both edge sub-DBs;
 *   equal sums and counts mean the same edges (it refuses otherwise).
 * - cycles: that pass succeeds only when every edge goes to a higher id, and
 *   such edges cannot close a cycle.
 * - index: a sum of a hash of (UDID, id) over the meta rows equals the same
 *   sum over the UDID index (the tasks of unmerged blocks left out on both sides).
 * - task_type, outcomes: each record against the keys of both edge sub-DBs,
 *   scanned beside it in id order; a child's stage against its parent's
 *   outcome stage, one byte or two a task for each.
 *
 * Memory: flags (2 bytes a task), the two stage arrays (1 byte a task each
 * with fewer than 256 stages, else 2) and an outcome byte, each sized by the
 * highest id: 5 to 7 bytes a task, plus one chunk of edges of the completion
 * pass.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { ShardScans } from '../store/shard-scans.js';
import type { Shard } from '../store/shard.js';
import { DONE, HAS_RECORD, RECORDED, streamedCompletion } from '../store/streamed-completion.js';
import { FLAG_HAS_CHILDREN, OUTCOME_EMITTED, OUTCOME_FAILED, completedRunOf, flagsOf, outcomeOf, outcomeStageOf, stageOf } from '../store/task-record.js';
import { inBlocks, readUnindexed } from '../store/udid-tail.js';

/** Outcome byte: the kind (0-3) and the record's has-children flag. */
const KIND = 3;
const HAS_CHILDREN = 4;

export interface StreamedVerify {
  readonly tasks: number;
  readonly edges: number;
  /** Run numbers that completed a task, for the sealed-row checks. */
  readonly runs: ReadonlySet<number>;
  /** Ids of the failed tasks, whose error texts the sealed-row checks read. */
  readonly failed: readonly number[];
}

/** Null: some check may fail (or the shard is not in id order); run the full verify. */
export function verifyStreamed(shard: Shard, progress: (phase: string, rows: number) => void): StreamedVerify | null {
  if (!shard.initialized) return null;
  let completion;
  try {
    completion = streamedCompletion(shard);
  } catch (err) {
    // Rows that disagree: the full verify names what it can, or refuses with this same error.
    if (err instanceof LineageError && err.code === ErrorCodes.CORRUPT) return null;
    throw err;
  }
  if (completion === null) return null;
  progress('completion', completion.count);
  const scans = ShardScans.open(shard);
  try {
    const rows = proof(shard, scans, completion.flags, progress);
    return rows && { tasks: completion.count, edges: completion.edges, ...rows };
  } finally {
    scans.close();
  }
}

function proof(shard: Shard, scans: ShardScans, flags: Uint16Array, progress: (phase: string, rows: number) => void): Pick<StreamedVerify, 'runs' | 'failed'> | null {
  const size = flags.length;
  const stageIds = new Set<number>();
  for (const key of shard.stages.getKeys({ transaction: scans.transaction } as never)) stageIds.add(key);
  const wide = Math.max(0, ...stageIds) >= 256;
  const stage = wide ? new Uint16Array(size) : new Uint8Array(size);
  const outcomeStage = wide ? new Uint16Array(size) : new Uint8Array(size);
  const outcome = new Uint8Array(size);
  const unindexed = readUnindexed(shard.info, scans.transaction);
  const fromMeta = { n: 0, a: 0, b: 0 };
  const runs = new Set<number>();
  const failed: number[] = [];
  let ok = true;
  let lastRun = 0;
  scans.forEachRecord((id, r, at) => {
    if (!ok) return;
    const kind = outcomeOf(r, at);
    if (id >= size || kind > OUTCOME_FAILED) {
      ok = false;
      return;
    }
    stage[id] = stageOf(r, at);
    outcomeStage[id] = outcomeStageOf(r, at);
    outcome[id] = kind | ((flagsOf(r, at) & FLAG_HAS_CHILDREN) !== 0 ? HAS_CHILDREN : 0);
    if (kind !== 0 && !stageIds.has(outcomeStage[id]!)) ok = false;
    const run = completedRunOf(r, at);
    if (run !== 0 && run !== lastRun) runs.add((lastRun = run));
    if (kind === OUTCOME_FAILED) {
      if (run !== 0) ok = false;
      failed.push(id);
    }
    if (!inBlocks(unindexed, id)) addPair(fromMeta, r, at, id);
  });
  if (!ok) return null;
  progress('records', fromMeta.n);

  // The UDID index: every entry names a task whose record holds that UDID.
  const fromIndex = { n: 0, a: 0, b: 0 };
  for (const { udid, id } of shard.udidEntries(undefined, scans.transaction)) {
    if (id >= size || (flags[id]! & HAS_RECORD) === 0) return null;
    if (!inBlocks(unindexed, id)) addPair(fromIndex, udid, 0, id);
  }
  if (fromIndex.n !== fromMeta.n || fromIndex.a !== fromMeta.a || fromIndex.b !== fromMeta.b) return null;
  progress('index', fromIndex.n);

  // Records against the keys of the children rows: has-children flag, and the outcome those children need.
  const children = scans.edges('children');
  let next = 0;
  const childless = (upTo: number) => {
    for (; next < upTo; next++) {
      const o = outcome[next]!;
      if ((flags[next]! & HAS_RECORD) !== 0 && ((o & HAS_CHILDREN) !== 0 || (o & KIND) === OUTCOME_EMITTED)) return false;
    }
    return true;
  };
  children.seek(0);
  let last = -1;
  while (children.next()) {
    const p = children.key;
    if (p === last) continue;
    if (!childless(p)) return null;
    const o = outcome[p]!;
    // A filtered task, or one no outcome names, has no children rows.
    if ((o & HAS_CHILDREN) === 0 || (o & KIND) !== OUTCOME_EMITTED) return null;
    next = p + 1;
    last = p;
  }
  if (!childless(size)) return null;

  // Every edge: the child's stage is the one that consumed its parent, and a parent marked complete has complete children.
  const parents = scans.edges('parents');
  parents.seek(0);
  while (parents.next()) {
    const c = parents.key;
    const p = parents.value;
    if ((outcome[p]! & KIND) === OUTCOME_EMITTED && stage[c] !== outcomeStage[p]) return null;
    if ((flags[p]! & RECORDED) !== 0 && (flags[c]! & (RECORDED | DONE)) === 0) return null;
  }
  progress('edges', size);

  // Recorded completion is the derived one.
  for (let id = 0; id < size; id++) {
    const f = flags[id]!;
    if ((f & HAS_RECORD) !== 0 && ((f & RECORDED) !== 0) !== ((f & DONE) !== 0)) return null;
  }
  return { runs, failed };
}

/** Adds (UDID at `at` of `b`, id) to two sums of independent hashes. */
function addPair(sum: { n: number; a: number; b: number }, b: Uint8Array, at: number, id: number): void {
  sum.n++;
  let h = Math.imul(id ^ 0x9e3779b9, 0x85ebca6b);
  let k = Math.imul(id + 0x7f4a7c15, 0xc2b2ae35);
  for (let i = 0; i < 16; i += 4) {
    const w = b[at + i]! | (b[at + i + 1]! << 8) | (b[at + i + 2]! << 16) | (b[at + i + 3]! << 24);
    h = Math.imul(h ^ w, 0x2c1b3c6d) ^ (h >>> 15);
    k = Math.imul(k + w, 0x165667b1) ^ (k >>> 13);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  k = Math.imul(k ^ (k >>> 15), 0x27d4eb2f);
  sum.a = (sum.a + (h ^ (h >>> 13))) >>> 0;
  sum.b = (sum.b + (k ^ (k >>> 16))) >>> 0;
}
