/**
 * Checks the invariants of a checkpoint (docs/design.md §3-§4) over the union of
 * its shards and names the UDIDs that break them:
 *
 * - index: every task has one meta row and one entry in the UDID index;
 * - symmetry: every edge is in both `parents` and `children`;
 * - task_type: the type flags of the meta row match edge presence;
 * - outcomes: emitted ⇔ has children, filtered ⇒ none, failed ⇒ not complete,
 *   and a child's stage is the stage its parent's outcome names;
 * - completed_children: a completed task has only completed children;
 * - completion: the completed flags equal what the batch pass derives from
 *   the edges (with several shards, tasks complete only across shards are
 *   counted, not reported: the batch pass finds them at open);
 * - cycles: the edges form a DAG (Kahn's algorithm; what is left over is
 *   trimmed from below too, so the report names the cycles, not everything
 *   downstream of them).
 *
 * A checkpoint of one shard whose edges all point to higher ids (what a
 * writer records) is first verified in a few bytes a task (verify-streamed.ts),
 * which proves that every check finds nothing; where it cannot, and for
 * several shards, each shard's sub-DBs are read in key order into typed
 * arrays per task and per edge (never the DAG as objects), and every problem
 * is named.
 *
 * A live writer may commit while this runs, so every read of a shard goes
 * through one read transaction (one snapshot for all its sub-DBs), and the
 * batch pass that `completion` compares against runs over the rows read in
 * those snapshots rather than reading the shards again later. The
 * transactions of all shards are taken together, before any row is read, in
 * the store's shard order. Each shard is self-contained (a writer records
 * the parents it consumes in its own shard), so a shard whose snapshot is
 * ahead of another's adds tasks and edges to the union but never names an id
 * of another shard; only the union's completion joins them, and it only
 * grows as writers go on.
 */
import { edgeKeys } from '../store/edge-keys.js';
import { fingerprintRows } from '../store/source-fingerprints.js';
import { outputPaths } from '../store/task-outputs.js';
import { inBlocks, readUnindexed } from '../store/udid-tail.js';
import type { Shard } from '../store/shard.js';
import { META_SIZE } from '../store/shard.js';
import { FLAG_HAS_CHILDREN, FLAG_HAS_PARENTS, OUTCOME_EMITTED as EMITTED, OUTCOME_FAILED as FAILED, OUTCOME_FILTERED as FILTERED, TASK_TYPES, completedRunOf, flagsOf, outcomeOf, outcomeStageOf, stageOf, udidOf } from '../store/task-record.js';
import { cycleMembers } from './cycle-members.js';
import { UnionGraph } from './union-graph.js';
import { verifyStreamed } from './verify-streamed.js';

export const VERIFY_CHECKS = [
  { id: 'index', title: 'every task has one meta row and one UDID index entry', repairable: false },
  { id: 'symmetry', title: 'parents and children agree (every edge is recorded both ways)', repairable: true },
  { id: 'task_type', title: 'task_type matches the edges', repairable: true },
  { id: 'outcomes', title: 'outcomes agree with the edges', repairable: false },
  { id: 'completed_children', title: 'a completed task has only completed children', repairable: true },
  { id: 'completion', title: 'completed flags match the batch completion pass', repairable: true },
  { id: 'cycles', title: 'no cycles', repairable: false },
] as const;

export type VerifyCheckId = (typeof VERIFY_CHECKS)[number]['id'];

export interface VerifyProblem {
  readonly check: VerifyCheckId;
  readonly udid: string;
  /** Shard the problem was found in; null for checks over the union. */
  readonly writerId: string | null;
  readonly message: string;
}

export interface VerifyReport {
  readonly tasks: number;
  readonly edges: number;
  readonly shards: string[];
  /** Problems per check (all of them, even beyond `problems`). */
  readonly counts: Record<VerifyCheckId, number>;
  /** At most `maxPerCheck` problems per check. */
  readonly problems: VerifyProblem[];
  /** Tasks complete only in the union of shards (not a problem). */
  readonly crossShardCompleted: number;
  readonly ok: boolean;
}

export interface VerifyOptions {
  /** Problems listed per check; the counts are always complete. Default 1000. */
  readonly maxPerCheck?: number;
  /** Called now and then with the phase and how many rows were read. */
  readonly onProgress?: (phase: string, rows: number) => void;
}

const noCounts = () => Object.fromEntries(VERIFY_CHECKS.map((c) => [c.id, 0])) as Record<VerifyCheckId, number>;

/** Verifies every shard of an open store (read-only is enough). */
export function verifyCheckpoint(store: { readonly shards: readonly Shard[] }, options: VerifyOptions = {}): VerifyReport {
  const only = store.shards.length === 1 ? store.shards[0]! : null;
  const streamed = only && verifyStreamed(only, options.onProgress ?? (() => undefined));
  if (!only || !streamed) return verifyInFull(store, options);
  checkSealedRows(only, streamed.runs, streamed.failed);
  return { tasks: streamed.tasks, edges: streamed.edges, shards: [only.writerId], counts: noCounts(), problems: [], crossShardCompleted: 0, ok: true };
}

/** @internal The checks over the union of the shards read into memory, naming every problem. */
export function verifyInFull(store: { readonly shards: readonly Shard[] }, options: VerifyOptions = {}): VerifyReport {
  const max = options.maxPerCheck ?? 1000;
  const progress = options.onProgress ?? (() => undefined);
  const counts = noCounts();
  const problems: VerifyProblem[] = [];
  const report = (check: VerifyCheckId, udid: string, writerId: string | null, message: string) => {
    counts[check]++;
    if (counts[check] <= max) problems.push({ check, udid, writerId, message });
  };

  const graph = new UnionGraph();
  const txns = store.shards.map((s) => (s.initialized ? s.env.useReadTransaction() : null));
  try {
    for (let k = 0; k < store.shards.length; k++) checkShard(store.shards[k]!, txns[k] ?? undefined, graph, report, progress);
  } finally {
    for (const t of txns) t?.done();
  }

  const size = graph.size;
  const derived = graph.batchCompletion();
  progress('completion', size);

  const several = store.shards.length > 1;
  let crossShardCompleted = 0;
  for (let g = 0; g < size; g++) {
    if (graph.recorded[g] && !derived[g]) {
      report('completion', graph.udid(g), null, 'marked complete, but its edges and outcomes do not make it complete: a rerun would skip unfinished work');
    } else if (!graph.recorded[g] && derived[g]) {
      if (several) crossShardCompleted++;
      else report('completion', graph.udid(g), null, 'complete by its edges and outcomes, but not marked complete: a rerun would redo it');
    }
  }
  const { child, parent } = graph.edges;
  for (let e = 0; e < child.length; e++) {
    const p = parent[e]!;
    const c = child[e]!;
    if (graph.recorded[p] && !graph.recorded[c] && !derived[c]) {
      report('completed_children', graph.udid(p), null, `marked complete, but its child ${graph.udid(c)} is not complete`);
    }
  }
  for (const g of cycleMembers(size, child, parent)) {
    report('cycles', graph.udid(g), null, 'is on a cycle of parent → child edges (a task cannot descend from itself)');
  }
  return {
    tasks: size,
    edges: child.length,
    shards: store.shards.map((s) => s.writerId),
    counts,
    problems,
    crossShardCompleted,
    ok: Object.values(counts).every((n) => n === 0),
  };
}

type Report = (check: VerifyCheckId, udid: string, writerId: string | null, message: string) => void;

/** The per-shard checks; adds the shard's tasks, edges and completed flags to `graph`. */
function checkShard(shard: Shard, txn: object | undefined, graph: UnionGraph, report: Report, progress: (phase: string, rows: number) => void): void {
  const who = shard.writerId;
  const dedupe = graph.size > 0; // a later shard may repeat tasks and edges of an earlier one
  const maxId = shard.lastTaskId(txn);
  const hasMeta = new Uint8Array(maxId + 1);
  const metaStage = new Uint16Array(maxId + 1);
  const typeBits = new Uint8Array(maxId + 1);
  const completedRow = new Uint8Array(maxId + 1);
  const outcomeKind = new Uint8Array(maxId + 1);
  const outcomeStage = new Uint16Array(maxId + 1);
  const global = new Uint32Array(maxId + 1);
  const udidHex = (id: number) => (id <= maxId && hasMeta[id] ? graph.udid(global[id]!) : `(id ${id})`);
  let rows = 0;
  const runs = new Set<number>();
  let lastRun = 0;
  for (const { key, value: v } of shard.metaRows({ transaction: txn })) {
    const udid = udidOf(v, 0);
    hasMeta[key] = 1;
    metaStage[key] = stageOf(v, 0);
    global[key] = graph.add(udid);
    if (v.length < META_SIZE) {
      report('index', udid.toString('hex'), who, `meta record ${key} is ${v.length} bytes, shorter than the ${META_SIZE} of the record format`);
      continue;
    }
    const flags = flagsOf(v, 0);
    typeBits[key] = ((flags & FLAG_HAS_PARENTS) !== 0 ? 2 : 0) | ((flags & FLAG_HAS_CHILDREN) !== 0 ? 1 : 0);
    graph.noteRecord(global[key]!, flags, outcomeOf(v, 0));
    outcomeKind[key] = outcomeOf(v, 0);
    outcomeStage[key] = outcomeStageOf(v, 0);
    const run = completedRunOf(v, 0);
    if (run !== 0) {
      completedRow[key] = 1;
      graph.markRecorded(global[key]!);
      if (run !== lastRun) runs.add((lastRun = run));
    }
    if ((++rows & 65535) === 0) progress(`tasks of shard ${who}`, rows);
  }
  // One pass over the UDID index instead of a lookup per task: each meta row's UDID must map back to its id,
  // but for the tasks of blocks the writer has not merged into the index yet (read after the meta rows).
  const unindexed = readUnindexed(shard.info, txn);
  const indexed = new Uint8Array(maxId + 1);
  for (const { udid, id } of shard.udidEntries(undefined, txn)) {
    if (id > maxId || !hasMeta[id]) report('index', udid.toString('hex'), who, `the UDID index maps this UDID to id ${id}, which has no meta record`);
    else if (graph.sameUdid(global[id]!, udid)) indexed[id] = 1;
  }
  for (let id = 0; id <= maxId; id++) {
    if (hasMeta[id] && !indexed[id] && !inBlocks(unindexed, id)) {
      const udid = graph.udid(global[id]!);
      const other = shard.idOf(Buffer.from(udid, 'hex'));
      report('index', udid, who, `meta row ${id} names this UDID, but the UDID index maps it to ${other === undefined ? 'nothing' : `id ${other}`}`);
    }
  }

  // Edges in both sub-DBs, as sorted child·2^32+parent keys.
  const fromParents = edgeKeys(shard, false, txn);
  const fromChildren = edgeKeys(shard, true, txn);
  progress(`edges of shard ${who}`, fromParents.length + fromChildren.length);
  const hasParent = new Uint8Array(maxId + 1);
  const hasChild = new Uint8Array(maxId + 1);
  let i = 0;
  let j = 0;
  const edge = (k: bigint, inParents: boolean, inChildren: boolean) => {
    const c = Number(k >> 32n);
    const p = Number(k & 0xffffffffn);
    if (c > maxId || p > maxId || !hasMeta[c] || !hasMeta[p]) {
      report('index', udidHex(hasMeta[c] ? p : c), who, `an edge ${udidHex(p)} → ${udidHex(c)} names a task id with no meta row`);
      return;
    }
    if (inParents) hasParent[c] = 1;
    if (inChildren) hasChild[p] = 1;
    if (!inChildren) report('symmetry', udidHex(p), who, `the edge to child ${udidHex(c)} is in parents but missing from children`);
    if (!inParents) report('symmetry', udidHex(c), who, `the edge from parent ${udidHex(p)} is in children but missing from parents`);
    graph.addEdge(global[p]!, global[c]!, dedupe);
  };
  while (i < fromParents.length || j < fromChildren.length) {
    const a = i < fromParents.length ? fromParents[i]! : null;
    const b = j < fromChildren.length ? fromChildren[j]! : null;
    const k = a !== null && (b === null || a <= b) ? a : b!;
    edge(k, a === k, b === k);
    if (a === k) i++;
    if (b === k) j++;
  }

  for (let id = 0; id <= maxId; id++) {
    if (!hasMeta[id]) continue;
    const expected = (hasParent[id] ? 2 : 0) | (hasChild[id] ? 1 : 0);
    if (typeBits[id] !== expected) {
      report('task_type', udidHex(id), who, `the task type is ${TASK_TYPES[typeBits[id]!]}, but its edges make it ${TASK_TYPES[expected]}`);
    }
  }

  const stageIds = new Set<number>();
  for (const key of shard.stages.getKeys({ transaction: txn } as never)) stageIds.add(key);
  for (let id = 0; id <= maxId; id++) {
    const kind = outcomeKind[id]!;
    if (!hasMeta[id] || kind === 0) continue;
    const stage = outcomeStage[id]!;
    const bad = (message: string) => report('outcomes', udidHex(id), who, message);
    if (kind < EMITTED || kind > FAILED) bad(`outcome kind ${kind} is not emitted (1), filtered (2) or failed (3)`);
    if (!stageIds.has(stage)) bad(`the outcome names stage number ${stage}, which is not in the stage dictionary`);
    if (kind === EMITTED && !hasChild[id]) bad('the outcome says its stage emitted children, but none are recorded');
    if (kind === FILTERED && hasChild[id]) bad('the outcome says it was filtered, but it has children');
    if (kind === FAILED && completedRow[id]) bad('the outcome says its stage failed on it, but it is marked complete');
  }
  for (let id = 0; id <= maxId; id++) {
    if (hasMeta[id] && hasChild[id] && outcomeKind[id] === 0) report('outcomes', udidHex(id), who, 'it has children, but no outcome records the stage that consumed it');
  }
  for (const k of fromParents) {
    const c = Number(k >> 32n);
    const p = Number(k & 0xffffffffn);
    if (c > maxId || p > maxId || !hasMeta[c] || !hasMeta[p] || outcomeKind[p] !== EMITTED) continue;
    if (metaStage[c] !== outcomeStage[p]) {
      report(
        'outcomes',
        udidHex(c),
        who,
        `it was emitted by stage ${shard.stageName(metaStage[c]!) ?? '?'}, but its parent ${udidHex(p)} was consumed by stage ${shard.stageName(outcomeStage[p]!) ?? '?'}`,
      );
    }
  }
  const failed: number[] = [];
  for (let id = 0; id < outcomeKind.length; id++) if (outcomeKind[id] === FAILED) failed.push(id);
  checkSealedRows(shard, runs, failed);
}

/**
 * The rows reads decode beside the task records, each read once so that its
 * check runs: source keys, stage ids, error texts, output paths and
 * fingerprints against their CRC32s, and every run that completed a task has
 * a record that matches its own. A mismatch is LINEAGE_CORRUPT naming the
 * shard's file (these are not per-UDID findings: the row itself is unreadable).
 */
function checkSealedRows(shard: Shard, runs: ReadonlySet<number>, failed: readonly number[]): void {
  for (const run of runs) shard.runStartedAt(run);
  for (const row of shard.sourceRows()) void row;
  for (const row of fingerprintRows(shard)) void row;
  for (const row of shard.stageRows()) void row;
  for (const id of failed) shard.errorOf(id);
  for (const row of outputPaths(shard)) void row;
}
