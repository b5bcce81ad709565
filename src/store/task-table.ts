/**
 * @internal
 * A columnar, read-only image of every task in a checkpoint's shards: one
 * global index per distinct UDID, typed arrays for what the batch passes need
 * (stage, outcome, terminal flag, recorded completion, root, parents in CSR
 * form). The DAG is never built as objects: a task costs ~60 bytes here, so
 * millions of tasks fit in a few hundred MB at most.
 */
import { edgeProblem, edgeRange } from './edge-values.js';
import { EdgeCursor, LeafCursor, LmdbPageError, PageFile, pageScanEnabled } from './lmdb-pages.js';
import { META_SIZE, type Shard } from './shard.js';
import { FLAG_HAS_PARENTS, FLAG_TERMINAL, OUTCOME_FAILED, UDID_SIZE, completedRunOf, flagsOf, outcomeOf, outcomeStageOf, rootOf, stageOf, udidOf } from './task-record.js';
import { UdidIndex } from './udid-index.js';
import { blockBody, forEachRecord } from './meta-blocks.js';

export interface TaskTable {
  readonly size: number;
  udidAt(i: number): string;
  /** Global index of a UDID (16 raw bytes), or -1. */
  indexOf(udid: Buffer): number;
  /** Stage names by global stage number; 0 is "no stage" (a root). */
  readonly stageNames: readonly string[];
  /** Stage that emitted task i (0 for a root). */
  readonly emitStage: Uint16Array;
  /** Outcome kind of task i (0 none, 1 emitted, 2 filtered, 3 failed). */
  readonly outcome: Uint8Array;
  /** Stage that consumed task i (0 when no outcome). */
  readonly outcomeStage: Uint16Array;
  readonly terminal: Uint8Array;
  /** Completed as recorded in the shards' `meta` rows. */
  readonly recorded: Uint8Array;
  /** Global index of task i's root (source) task. */
  readonly root: Uint32Array;
  /** Parents of i are parents[parentStart[i] .. parentStart[i + 1]). */
  readonly parentStart: Uint32Array;
  readonly parents: Uint32Array;
  /** Distinct children per task. */
  readonly childCount: Uint32Array;
  /** Source key of a root task, by global index. */
  readonly sourceKeys: ReadonlyMap<number, string>;
  /** Error text of failed tasks, by global index. */
  readonly errors: ReadonlyMap<number, string>;
}

export function loadTaskTable(shards: readonly Shard[]): TaskTable {
  const byUdid = shards.length > 1 ? new UdidIndex() : null;
  const stageNames: string[] = [''];
  const stageNo = new Map<string, number>();
  // Sized from the entry counts up front: no regrowth (and no copy) on the way.
  let cap = 1024;
  for (const shard of shards) cap += shard.taskCountEstimate();
  let size = 0;
  let udids = Buffer.alloc(cap * 16);
  let emitStage = new Uint16Array(cap);
  let terminal = new Uint8Array(cap);
  let rootLocal = new Uint32Array(cap);
  let shardOf = new Uint8Array(cap);
  let outcome = new Uint8Array(cap);
  let outcomeStage = new Uint16Array(cap);
  let recorded = new Uint8Array(cap);
  const errors = new Map<number, string>();
  const grow = () => {
    cap *= 2;
    const u = Buffer.alloc(cap * 16);
    udids.copy(u);
    udids = u;
    emitStage = resized(emitStage, cap);
    terminal = resized(terminal, cap);
    rootLocal = resized(rootLocal, cap);
    shardOf = resized(shardOf, cap);
    outcome = resized(outcome, cap);
    outcomeStage = resized(outcomeStage, cap);
    recorded = resized(recorded, cap);
  };
  const parentFlags: Uint8Array[] = [];
  const globalOf: Uint32Array[] = [];
  const stageMaps: Uint16Array[] = [];
  // Each shard's rows are read from its pages in one snapshot when they can be (store/lmdb-pages.ts),
  // else through lmdb-js.
  const files = shards.map(openPages);
  try {
    return build();
  } finally {
    for (const f of files) f?.close();
  }

  function build(): TaskTable {
    for (let k = 0; k < shards.length; k++) {
      const shard = shards[k]!;
      const file = files[k]!;
      // Shard stage numbers → global stage numbers (by name).
      const local: number[] = [0];
      for (const { key, value } of shard.stageRows()) {
        let g = stageNo.get(value);
        if (g === undefined) {
          g = stageNames.length;
          stageNames.push(value);
          stageNo.set(value, g);
        }
        local[key] = g;
      }
      const stageMap = Uint16Array.from({ length: local.length }, (_, i) => local[i] ?? 0);
      stageMaps.push(stageMap);
      const maxId = shard.lastTaskId();
      let g = new Uint32Array(maxId + 1).fill(NO_RECORD);
      let parentFlag = new Uint8Array(maxId + 1);
      for (const [key, v] of metaRows(shard, file)) {
        // A live writer may have added rows after the last key read above.
        if (key >= g.length) g = resized(g, Math.max(key + 1, g.length * 2), NO_RECORD);
        let idx = byUdid ? byUdid.get(udidOf(v, 0)) - 1 : -1;
        if (idx < 0) {
          idx = size++;
          if (idx >= cap) grow();
          // A byte loop: Buffer#copy costs ~1 µs a call here (it builds a view per call).
          const at = idx * UDID_SIZE;
          for (let b = 0; b < UDID_SIZE; b++) udids[at + b] = v[b]!;
          byUdid?.add(udidOf(v, 0), idx + 1);
          emitStage[idx] = stageMap[stageOf(v, 0)] ?? 0;
          rootLocal[idx] = rootOf(v, 0);
          shardOf[idx] = k;
        }
        const flags = flagsOf(v, 0);
        if ((flags & FLAG_TERMINAL) !== 0) terminal[idx] = 1;
        if (key >= parentFlag.length) parentFlag = resized(parentFlag, Math.max(key + 1, parentFlag.length * 2));
        // 1: a record saying "no parents", 2: one saying "has parents"; checked against the edges below.
        parentFlag[key] = (flags & FLAG_HAS_PARENTS) !== 0 ? 2 : 1;
        // With several shards, an emitted or filtered outcome outranks a failure.
        const kind = outcomeOf(v, 0);
        if (kind !== 0 && (outcome[idx] === 0 || outcome[idx] === OUTCOME_FAILED)) {
          outcome[idx] = kind;
          outcomeStage[idx] = stageMap[outcomeStageOf(v, 0)] ?? 0;
          if (kind === OUTCOME_FAILED) errors.set(idx, v.length > META_SIZE ? v.toString('utf8', META_SIZE) : '');
          else errors.delete(idx);
        }
        if (completedRunOf(v, 0) !== 0) recorded[idx] = 1;
        g[key] = idx;
      }
      globalOf.push(g);
      parentFlags.push(parentFlag);
    }

    const root = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      const r = globalOf[shardOf[i]!]![rootLocal[i]!];
      root[i] = r === undefined || r === NO_RECORD ? i : r;
    }
    const sourceKeys = new Map<number, string>();
    const edgeLists: Uint32Array[] = [];
    let mirror: { count: Int32Array; sum: Int32Array } | null = null;
    for (let k = 0; k < shards.length; k++) {
      const shard = shards[k]!;
      const g = globalOf[k]!;
      // (child, parent) pairs in a typed array sized from the entry count, grown if a writer added more meanwhile
      // (or runs hold more edges). The count is LMDB's own field: a damaged file may say anything, so it only sizes the start.
      let list = new Uint32Array(2 * Math.min(entryCount(shard.parents), 1 << 22) + 64);
      let n = 0;
      const file = files[k]!;
      const tree = file?.tree('parents');
      if (file && tree) {
        for (const c = new EdgeCursor(file, tree); c.next(); ) {
          if (n + 2 > list.length) list = resized(list, list.length * 2);
          list[n++] = edgeEnd(shard, g, c.key, c.key);
          list[n++] = edgeEnd(shard, g, c.value, c.key);
        }
      } else if (!file) {
        for (const { key, value } of shard.parents.getRange()) {
          const range = edgeRange(value as Buffer, key);
          if (range === null) throw corruptEdge(shard, key, value as Buffer);
          for (let p = range[0]; p <= range[1]; p++) {
            if (n + 2 > list.length) list = resized(list, list.length * 2);
            list[n++] = edgeEnd(shard, g, key, key);
            list[n++] = edgeEnd(shard, g, p, key);
          }
        }
      }
      edgeLists.push(list.subarray(0, n));
      checkParentFlags(shard, parentFlags[k]!, file, tree);
      mirror ??= { count: new Int32Array(size), sum: new Int32Array(size) };
      checkChildRows(shard, g, list.subarray(0, n), file, mirror);
      for (const [key, row] of sourceRows(shard, file)) {
        const idx = g[key];
        if (idx === undefined || !hasRecord(g, key)) throw shard.damaged(`a source row names task ${key}, which has no record`);
        const value = shard.sourceKeyIn(key, row, udids.subarray(idx * 16, idx * 16 + 16));
        if (!sourceKeys.has(idx)) sourceKeys.set(idx, value);
      }
      file?.close();
    }

    // Parents in CSR form, edges recorded by several shards counted once.
    const parentStart = new Uint32Array(size + 1);
    const childCount = new Uint32Array(size);
    const seen = shards.length > 1 ? new Set<number | string>() : null;
    const wide = size >= 2 ** 26;
    for (const list of edgeLists) {
      for (let j = 0; j < list.length; j += 2) {
        const c = list[j]!;
        const p = list[j + 1]!;
        if (seen) {
          const key = wide ? `${c}:${p}` : c * 2 ** 26 + p;
          if (seen.has(key)) {
            list[j] = 0xffffffff;
            continue;
          }
          seen.add(key);
        }
        parentStart[c + 1]!++;
        childCount[p]!++;
      }
    }
    for (let i = 0; i < size; i++) parentStart[i + 1]! += parentStart[i]!;
    const parents = new Uint32Array(parentStart[size]!);
    const fill = parentStart.slice(0, size);
    for (const list of edgeLists) {
      for (let j = 0; j < list.length; j += 2) {
        const c = list[j]!;
        if (c !== 0xffffffff) parents[fill[c]!++] = list[j + 1]!;
      }
    }

    const single = shards.length === 1 ? shards[0]! : null;
    return {
      size,
      udidAt: (i) => udids.toString('hex', i * 16, i * 16 + 16),
      indexOf: (udid) => {
        if (byUdid) return byUdid.get(udid) - 1;
        const id = single?.idOf(udid);
        if (id === undefined) return -1;
        const idx = globalOf[0]![id];
        return idx === undefined || idx === NO_RECORD ? -1 : idx;
      },
      stageNames,
      emitStage: emitStage.subarray(0, size),
      outcome: outcome.subarray(0, size),
      outcomeStage: outcomeStage.subarray(0, size),
      terminal: terminal.subarray(0, size),
      recorded: recorded.subarray(0, size),
      root,
      parentStart,
      parents,
      childCount,
      sourceKeys,
      errors,
    };
  }
}

function openPages(shard: Shard): PageFile | null {
  try {
    return shard.initialized && pageScanEnabled() ? PageFile.open(shard) : null;
  } catch (err) {
    if (err instanceof LmdbPageError) return null;
    throw err;
  }
}

/** (id, record) of every task, with the error text after a failed task's record; the record is a view valid until the next step. */
function* metaRows(shard: Shard, file: PageFile | null): Generator<[number, Buffer]> {
  if (!file) {
    for (const { key, value } of shard.metaRows()) yield [key, value];
    return;
  }
  const tree = file.tree('meta');
  if (!tree) return;
  for (const c = new LeafCursor(file, tree); c.next(); ) {
    const key = c.intKey;
    const block = shard.checked(() => blockBody(c.value(), key));
    const found: [number, number][] = [];
    forEachRecord(block, key, (id, at) => found.push([id, at]));
    for (const [id, at] of found) {
      const row = block.subarray(at, at + META_SIZE);
      yield [id, outcomeOf(row, 0) === OUTCOME_FAILED ? Buffer.concat([row, Buffer.from(shard.errorOf(id) ?? '')]) : row];
    }
  }
}

/** The sealed source rows (root id, row), from the page file when there is one. */
function* sourceRows(shard: Shard, file: PageFile | null): Generator<[number, Buffer]> {
  if (!file) {
    for (const { key, value } of shard.sources.getRange()) yield [key, value];
    return;
  }
  const tree = file.tree('sources');
  if (!tree) return;
  for (const c = new LeafCursor(file, tree); c.next(); ) yield [c.intKey, c.value()];
}

function corruptEdge(shard: Shard, key: number, value: Buffer): Error {
  return shard.damaged(`the parents rows of task ${key} hold ${edgeProblem(value)}`);
}

/**
 * Every task whose record says it has parents has parent rows in this shard,
 * and no other does: rows a damaged edge tree lost show here. Reads the
 * `parents` keys once more (`flags`: 1 no parents, 2 has parents, by id).
 */
function checkParentFlags(shard: Shard, flags: Uint8Array, file: PageFile | null, tree: ReturnType<PageFile['tree']>): void {
  const seen = new Uint8Array(flags.length);
  const mark = (id: number) => {
    if (id < seen.length) seen[id] = 1;
  };
  if (file && tree) for (const c = new EdgeCursor(file, tree); c.next(); ) mark(c.key);
  else if (!file) for (const key of shard.parents.getKeys() as Iterable<number>) mark(key);
  else return;
  for (let id = 0; id < flags.length; id++) {
    if (flags[id] !== 0 && (flags[id] === 2) !== (seen[id] === 1)) {
      throw shard.damaged(`task ${id}'s record says it has ${flags[id] === 2 ? '' : 'no '}parents, but the parents rows ${flags[id] === 2 ? 'hold none' : 'hold some'}`);
    }
  }
}

/**
 * Each edge is written twice in one transaction, as a parents row and a
 * children row. The table is built from the parents rows alone, so a
 * damaged one (a run cut short, an id changed) would pass for the truth:
 * per parent, the children rows must give the same number of children and
 * the same sum of their indices. `list` holds the shard's (child, parent)
 * pairs as table indices; `mirror` is zero on entry and on return. The
 * second scan costs ~18 % of a plan (W1, 414,000 tasks: 0.50 s against 0.42 s).
 */
function checkChildRows(shard: Shard, g: Uint32Array, list: Uint32Array, file: PageFile | null, mirror: { count: Int32Array; sum: Int32Array }): void {
  const { count, sum } = mirror;
  for (let j = 0; j < list.length; j += 2) {
    const p = list[j + 1]!;
    count[p]!++;
    sum[p] = (sum[p]! + list[j]!) | 0;
  }
  const take = (parent: number, child: number) => {
    const p = edgeEnd(shard, g, parent, parent);
    count[p]!--;
    sum[p] = (sum[p]! - edgeEnd(shard, g, child, parent)) | 0;
  };
  const tree = file?.tree('children');
  if (file && tree) for (const c = new EdgeCursor(file, tree); c.next(); ) take(c.key, c.value);
  else if (!file) {
    for (const { key, value } of shard.children.getRange()) {
      const range = edgeRange(value as Buffer, key);
      if (range === null) throw corruptEdge(shard, key, value as Buffer);
      for (let c = range[0]; c <= range[1]; c++) take(key, c);
    }
  }
  let bad = -1;
  for (let p = 0; p < count.length; p++) {
    if (bad < 0 && (count[p] !== 0 || sum[p] !== 0)) bad = p;
    count[p] = 0;
    sum[p] = 0;
  }
  if (bad >= 0) throw shard.damaged(`its parents and children rows disagree about the children of one task (table index ${bad})`);
}

/** `g`'s mark for an id with no record. */
const NO_RECORD = 0xffffffff;

/** The table index of task `id` of this shard; an edge to a task with no record is damage. */
function edgeEnd(shard: Shard, g: Uint32Array, id: number, of: number): number {
  if (!hasRecord(g, id)) throw shard.damaged(`an edge of task ${of} names task ${id}, which has no record`);
  return g[id]!;
}

/** True when `g` (id → table index, filled from the meta records) has an entry for `id`. */
function hasRecord(g: Uint32Array, id: number): boolean {
  return id < g.length && g[id] !== NO_RECORD;
}

function entryCount(db: { getStats(): unknown }): number {
  return (db.getStats() as { entryCount?: number }).entryCount ?? 0;
}

function resized<T extends Uint8Array | Uint16Array | Uint32Array>(a: T, cap: number, fill = 0): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  if (fill !== 0) b.fill(fill);
  b.set(a);
  return b;
}
