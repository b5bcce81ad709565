/**
 * @internal
 * What a resume plan reads of every task, after the batch completion pass
 * (docs/design.md §4, §6): one visit per task in index order, and a few
 * lookups for the tasks a plan names. One shard whose edges point to higher
 * ids is read by the streamed pass (streamed-completion.ts) in two bytes a
 * task; anything else (several shards, an out-of-order recording) through
 * the whole-checkpoint table (task-table.ts).
 */
import { completeTable } from './batch-completion.js';
import { ShardScans } from './shard-scans.js';
import type { Shard } from './shard.js';
import { DONE, HAS_RECORD, PRUNED, RECORDED, VOID, streamedCompletion, type ShardCompletion } from './streamed-completion.js';
import { FLAG_TERMINAL, OUTCOME_FAILED, flagsOf, outcomeOf, outcomeStageOf, rootOf, stageOf, udidOf } from './task-record.js';
import { loadTaskTable, type TaskTable } from './task-table.js';

/** Bits of a visit: the task is complete / marked complete in its record / complete under an incomplete parent / emitted by the final stage. */
export const TASK_DONE = 1;
export const TASK_RECORDED = 2;
export const TASK_PRUNED = 4;
export const TASK_TERMINAL = 8;

export interface TaskPass {
  /** Tasks. */
  readonly size: number;
  /** Stage names by stage number; 0 is no stage (a root). */
  readonly stageNames: readonly string[];
  /**
   * Visits every task: its index, the stage that emitted it, its outcome
   * kind (0 when none, or when its consumption is voided), its bits, and the
   * index of its root.
   */
  forEach(visit: (i: number, emitStage: number, outcome: number, bits: number, root: number) => void): void;
  bits(i: number): number;
  udidAt(i: number): string;
  /** The index of a UDID (16 raw bytes), or -1. */
  indexOf(udid: Buffer): number;
  emitStage(i: number): number;
  /** The stage that consumed task i (0 when none). */
  outcomeStage(i: number): number;
  /** The error text of a failed task. */
  errorOf(i: number): string;
  /** The root index of each source key (the first root recorded with it). */
  readonly rootByKey: ReadonlyMap<string, number>;
}

export interface TaskPassOptions {
  /** Stages whose completion a changed pipeline keeps; null: all. */
  readonly keptStages: readonly string[] | null;
  /** UDIDs (16 raw bytes) of tasks whose consumption is voided (a missing output): they and everything below are redone. */
  readonly voided: readonly Buffer[];
}

export function taskPass(shards: readonly Shard[], options: TaskPassOptions): TaskPass {
  if (shards.length === 1) {
    const shard = shards[0]!;
    const keep = options.keptStages === null ? null : new Set(options.keptStages);
    const voidIds: number[] = [];
    for (const u of options.voided) {
      const id = shard.idOf(u);
      if (id !== undefined) voidIds.push(id);
    }
    const streamed = streamedCompletion(shard, { ...(keep ? { keepStage: (name: string) => keep.has(name) } : {}), voidIds });
    if (streamed) return streamedPass(shard, streamed);
  }
  return tablePass(loadTaskTable(shards), options);
}

/** By task id. */
function streamedPass(shard: Shard, { flags, count }: ShardCompletion): TaskPass {
  const stageNames: string[] = [''];
  for (const { key, value } of shard.stageRows()) stageNames[key] = value;
  for (let s = 0; s < stageNames.length; s++) stageNames[s] ??= '';
  const bitsOf = (f: number, terminal: boolean) =>
    ((f & DONE) !== 0 ? TASK_DONE : 0) | ((f & RECORDED) !== 0 ? TASK_RECORDED : 0) | ((f & PRUNED) !== 0 ? TASK_PRUNED : 0) | (terminal ? TASK_TERMINAL : 0);
  const record = (i: number) => {
    const r = i < flags.length && (flags[i]! & HAS_RECORD) !== 0 ? shard.recordOf(i) : undefined;
    if (!r) throw shard.damaged(`task ${i} was read, but its record is gone`);
    return r;
  };
  const rootByKey = new Map<string, number>();
  const scans = ShardScans.open(shard);
  try {
    scans.forEachSource((rootId, row) => {
      const present = rootId < flags.length && (flags[rootId]! & HAS_RECORD) !== 0;
      const key = shard.sourceKeyIn(rootId, row, present ? PRESENT : undefined);
      if (!rootByKey.has(key)) rootByKey.set(key, rootId);
    });
  } finally {
    scans.close();
  }
  return {
    size: count,
    stageNames,
    forEach(visit) {
      const scan = ShardScans.open(shard);
      try {
        scan.forEachRecord((id, r, at) => {
          const f = flags[id]!;
          const outcome = (f & VOID) !== 0 ? 0 : outcomeOf(r, at);
          visit(id, stageOf(r, at), outcome, bitsOf(f, (flagsOf(r, at) & FLAG_TERMINAL) !== 0), rootOf(r, at));
        });
      } finally {
        scan.close();
      }
    },
    bits: (i) => bitsOf(flags[i] ?? 0, false),
    udidAt: (i) => udidOf(record(i), 0).toString('hex'),
    indexOf: (udid) => {
      const id = shard.idOf(udid);
      return id !== undefined && id < flags.length && (flags[id]! & HAS_RECORD) !== 0 ? id : -1;
    },
    emitStage: (i) => stageOf(record(i), 0),
    outcomeStage: (i) => outcomeStageOf(record(i), 0),
    errorOf: (i) => (outcomeOf(record(i), 0) === OUTCOME_FAILED ? (shard.errorOf(i) ?? '') : ''),
    rootByKey,
  };
}

/** Stands for a root's UDID where only its presence is checked (sourceKeyIn). */
const PRESENT = new Uint8Array(16);

/** By table index. */
function tablePass(loaded: TaskTable, options: TaskPassOptions): TaskPass {
  const targets: number[] = [];
  for (const u of options.voided) {
    const i = loaded.indexOf(u);
    if (i >= 0) targets.push(i);
  }
  const t = targets.length === 0 ? loaded : voidBelow(loaded, targets);
  const done = options.keptStages === null ? completeTable(t) : completeTable(t, keptStages(t, options.keptStages));
  const rootByKey = new Map<string, number>();
  for (const [i, key] of t.sourceKeys) if (!rootByKey.has(key)) rootByKey.set(key, i);
  const bits = (i: number) => {
    let b = (done[i] ? TASK_DONE : 0) | (t.recorded[i] ? TASK_RECORDED : 0) | (loaded.terminal[i] ? TASK_TERMINAL : 0);
    if (done[i]) for (let e = t.parentStart[i]!; e < t.parentStart[i + 1]!; e++) if (!done[t.parents[e]!]) b |= TASK_PRUNED;
    return b;
  };
  return {
    size: t.size,
    stageNames: t.stageNames,
    forEach(visit) {
      for (let i = 0; i < t.size; i++) visit(i, t.emitStage[i]!, t.outcome[i]!, bits(i), t.root[i]!);
    },
    bits,
    udidAt: t.udidAt,
    indexOf: t.indexOf,
    emitStage: (i) => t.emitStage[i]!,
    outcomeStage: (i) => t.outcomeStage[i]!,
    errorOf: (i) => t.errors.get(i) ?? '',
    rootByKey,
  };
}

/** Global stage numbers whose completion a changed pipeline keeps. */
function keptStages(t: TaskTable, kept: readonly string[]): (stage: number) => boolean {
  const keep = new Set(kept);
  const flags = t.stageNames.map((name, s) => s !== 0 && keep.has(name));
  return (s) => flags[s] === true;
}

/**
 * The table as the run will find it once it voided `targets`: they are no
 * longer consumed, and nothing below them counts as done (no terminal and
 * no filtered task there seeds completion), so it is all redone.
 */
function voidBelow(t: TaskTable, targets: readonly number[]): TaskTable {
  const outcome = t.outcome.slice();
  const terminal = t.terminal.slice();
  // Children lists, from the parents CSR: built only when something is missing.
  const childStart = new Uint32Array(t.size + 1);
  for (let i = 0; i < t.size; i++) for (let e = t.parentStart[i]!; e < t.parentStart[i + 1]!; e++) childStart[t.parents[e]! + 1]!++;
  for (let i = 0; i < t.size; i++) childStart[i + 1]! += childStart[i]!;
  const children = new Uint32Array(childStart[t.size]!);
  const fill = childStart.slice(0, t.size);
  for (let i = 0; i < t.size; i++) for (let e = t.parentStart[i]!; e < t.parentStart[i + 1]!; e++) children[fill[t.parents[e]!]!++] = i;
  const seen = new Uint8Array(t.size);
  const queue: number[] = [];
  for (const i of targets) {
    outcome[i] = 0;
    seen[i] = 1;
    queue.push(i);
  }
  while (queue.length > 0) {
    const i = queue.pop()!;
    for (let e = childStart[i]!; e < childStart[i + 1]!; e++) {
      const c = children[e]!;
      if (seen[c]) continue;
      seen[c] = 1;
      outcome[c] = 0;
      terminal[c] = 0;
      queue.push(c);
    }
  }
  return { ...t, outcome, terminal, udidAt: t.udidAt, indexOf: t.indexOf };
}
