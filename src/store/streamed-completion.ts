/**
 * @internal
 * The batch completion pass over one shard in two bytes a task (docs/design.md §4).
 *
 * A writer gives ids in write order, and a task is recorded before any
 * task it emits (its parent), so every edge of a shard goes from a lower id
 * to a higher one. Then a pass over the `children` rows from the highest
 * parent down decides every task after all of its children: no queue, no
 * parents list, no table of UDIDs. It reads the rows in chunks of CHUNK
 * parents (a seek each), so besides the flags of each id it holds one chunk's
 * edges. A pass over `parents` then checks that both edge sub-DBs hold the
 * same edges and that the record flags match them, and marks the completed
 * tasks under an incomplete parent (where a rerun prunes).
 *
 * An edge from a higher id to a lower one (an executor that recorded a
 * child's emission before its parent's, or a hand-made file) ends the pass
 * with null, and the caller uses the whole-checkpoint table (task-table.ts).
 *
 * Memory: 2 (maxId + 1) bytes, plus 8 bytes per edge of the largest chunk.
 */
import { ShardScans, type EdgeScan } from './shard-scans.js';
import type { Shard } from './shard.js';
import { FLAG_HAS_PARENTS, FLAG_TERMINAL, OUTCOME_EMITTED, OUTCOME_FILTERED, completedRunOf, flagsOf, outcomeOf, outcomeStageOf, stageOf } from './task-record.js';

/** The bits of a task's flags. */
export const HAS_RECORD = 1;
/** Filtered by a stage the pass keeps: complete by itself. */
export const FILTERED = 2;
/** Consumed by a stage that emitted children. */
export const EMITTED = 4;
export const DONE = 8;
/** Marked complete in its record. */
export const RECORDED = 16;
/** Voided (a missing output at or above it): redone whatever it recorded. */
export const VOID = 32;
/** Done, with a parent that is not: a rerun prunes here. */
export const PRUNED = 64;
/** Emitted by the final stage, one the pass keeps: complete by itself. */
export const TERMINAL = 128;
/** Its record says it has parents (checked against the parents rows). */
const HAS_PARENTS = 256;

/** Parents a chunk of the descending pass covers. */
const CHUNK = 1 << 16;

export interface CompletionOptions {
  /** Only terminal tasks emitted by, and filtered tasks decided by, a stage this keeps seed completion (a changed pipeline). */
  readonly keepStage?: (stageName: string) => boolean;
  /** Tasks whose consumption is voided: they and everything below them are redone. */
  readonly voidIds?: Iterable<number>;
}

export interface ShardCompletion {
  /** The bits of each id (0: no task has that id). */
  readonly flags: Uint16Array;
  /** Tasks (ids with a record). */
  readonly count: number;
  readonly edges: number;
}

export function streamedCompletion(shard: Shard, options: CompletionOptions = {}): ShardCompletion | null {
  if (!shard.initialized) return { flags: new Uint16Array(0), count: 0, edges: 0 };
  const scans = ShardScans.open(shard);
  try {
    return pass(shard, scans, options);
  } finally {
    scans.close();
  }
}

function pass(shard: Shard, scans: ShardScans, options: CompletionOptions): ShardCompletion | null {
  const keep = keptStageNumbers(shard, options.keepStage);
  let flags: Uint16Array = new Uint16Array(Math.max(shard.lastTaskId() + 1, 1));
  let count = 0;
  let maxId = -1;
  scans.forEachRecord((id, r, at) => {
    if (id >= flags.length) {
      const grown = new Uint16Array(Math.max(id + 1, flags.length * 2));
      grown.set(flags);
      flags = grown;
    }
    let f = HAS_RECORD;
    const bits = flagsOf(r, at);
    const outcome = outcomeOf(r, at);
    if ((bits & FLAG_TERMINAL) !== 0 && (keep === null || keep[stageOf(r, at)] === 1)) f |= TERMINAL;
    if (outcome === OUTCOME_FILTERED && (keep === null || keep[outcomeStageOf(r, at)] === 1)) f |= FILTERED;
    if (outcome === OUTCOME_EMITTED) f |= EMITTED;
    if (completedRunOf(r, at) !== 0) f |= RECORDED;
    if ((bits & FLAG_HAS_PARENTS) !== 0) f |= HAS_PARENTS;
    flags[id] = f;
    count++;
    maxId = id;
  });
  flags = flags.subarray(0, maxId + 1);

  const parents = scans.edges('parents');
  const children = scans.edges('children');
  if (options.voidIds && !voidBelow(flags, options.voidIds, parents)) return null;
  const fromChildren = completeDownwards(shard, flags, children);
  if (fromChildren === null) return null;
  const fromParents = checkParents(shard, flags, parents);
  if (fromParents.edges !== fromChildren.edges || fromParents.a !== fromChildren.a || fromParents.b !== fromChildren.b) {
    throw shard.damaged(`its parents rows (${fromParents.edges} edges) and children rows (${fromChildren.edges}) do not hold the same edges`);
  }
  return { flags, count, edges: fromChildren.edges };
}

/** Local stage numbers a keepStage predicate keeps (1), or null: all of them. */
function keptStageNumbers(shard: Shard, keepStage: ((name: string) => boolean) | undefined): Uint8Array | null {
  if (!keepStage) return null;
  const rows = [...shard.stageRows()];
  const keep = new Uint8Array(Math.max(0, ...rows.map((r) => r.key)) + 1);
  for (const { key, value } of rows) if (keepStage(value)) keep[key] = 1;
  return keep;
}

/**
 * Every task whose record says it has parents has parent rows, no other
 * does, and every edge names two recorded tasks; sums the edges as
 * completeDownwards summed the children rows, and marks PRUNED.
 */
function checkParents(shard: Shard, flags: Uint16Array, parents: EdgeScan): EdgeSum {
  const sum: EdgeSum = { edges: 0, a: 0, b: 0 };
  let next = 0;
  let last = -1;
  const absent = (id: number) => id >= flags.length || (flags[id]! & HAS_RECORD) === 0;
  const noRows = (upTo: number) => {
    for (; next < upTo; next++) {
      if ((flags[next]! & HAS_PARENTS) !== 0) throw shard.damaged(`task ${next}'s record says it has parents, but the parents rows hold none`);
    }
  };
  parents.seek(0);
  while (parents.next()) {
    const c = parents.key;
    const p = parents.value;
    if (absent(c) || absent(p)) throw shard.damaged(`an edge of task ${c} names task ${absent(c) ? c : p}, which has no record`);
    if (c !== last) {
      noRows(c);
      if ((flags[c]! & HAS_PARENTS) === 0) throw shard.damaged(`task ${c}'s record says it has no parents, but the parents rows hold some`);
      next = c + 1;
      last = c;
    }
    addEdge(sum, p, c);
    if ((flags[c]! & DONE) !== 0 && (flags[p]! & DONE) === 0) flags[c] = flags[c]! | PRUNED;
  }
  noRows(flags.length);
  return sum;
}

/**
 * Marks `voidIds` and every task below them VOID: the named tasks count as
 * not consumed, and nothing below them completes by itself.
 */
function voidBelow(flags: Uint16Array, voidIds: Iterable<number>, parents: EdgeScan): boolean {
  const named = new Set<number>();
  for (const id of voidIds) {
    if (id < flags.length && (flags[id]! & HAS_RECORD) !== 0) {
      flags[id] = (flags[id]! | VOID) & ~(FILTERED | EMITTED);
      named.add(id);
    }
  }
  if (named.size === 0) return true;
  // Ascending by child: a parent (a lower id) is settled before its children.
  parents.seek(0);
  while (parents.next()) {
    const c = parents.key;
    if ((flags[parents.value]! & VOID) !== 0 && !named.has(c)) flags[c] = (flags[c]! | VOID) & ~(FILTERED | EMITTED | TERMINAL);
  }
  return true;
}

/** How many edges, and two sums (mod 2^32) of independent hashes of them: equal sums over both sub-DBs mean the same edges. */
interface EdgeSum {
  edges: number;
  a: number;
  b: number;
}

function addEdge(sum: EdgeSum, parent: number, child: number): void {
  sum.edges++;
  let h = Math.imul(parent ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(child + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  sum.a = (sum.a + (h ^ (h >>> 13))) >>> 0;
  let k = Math.imul(child ^ 0x27d4eb2f, 0x165667b1) ^ Math.imul(parent + 0x7f4a7c15, 0x9e3779b1);
  k = Math.imul(k ^ (k >>> 16), 0x85ebca6b);
  sum.b = (sum.b + (k ^ (k >>> 13))) >>> 0;
}

/** Decides DONE for every id, highest first, from the `children` rows; null at an edge to a lower id. */
function completeDownwards(shard: Shard, flags: Uint16Array, children: EdgeScan): EdgeSum | null {
  const sum: EdgeSum = { edges: 0, a: 0, b: 0 };
  let parent = new Uint32Array(1 << 12);
  let child = new Uint32Array(1 << 12);
  for (let hi = flags.length; hi > 0; hi -= CHUNK) {
    const lo = Math.max(0, hi - CHUNK);
    let n = 0;
    children.seek(lo);
    while (children.next()) {
      const p = children.key;
      if (p >= hi) break;
      if (n === parent.length) {
        parent = grown(parent);
        child = grown(child);
      }
      parent[n] = p;
      child[n++] = children.value;
    }
    let e = n - 1;
    for (let p = hi - 1; p >= lo; p--) {
      let all = true;
      let any = false;
      for (; e >= 0 && parent[e] === p; e--) {
        const c = child[e]!;
        if (c <= p) return null;
        if (c >= flags.length || (flags[c]! & HAS_RECORD) === 0) throw shard.damaged(`an edge of task ${p} names task ${c}, which has no record`);
        if ((flags[c]! & DONE) === 0) all = false;
        any = true;
        addEdge(sum, p, c);
      }
      const f = flags[p]!;
      if ((f & HAS_RECORD) === 0) {
        if (any) throw shard.damaged(`children rows name task ${p} as a parent, but it has no record`);
      } else if ((f & (TERMINAL | FILTERED)) !== 0 || ((f & EMITTED) !== 0 && any && all)) flags[p] = f | DONE;
    }
    // Pairs below lo at the chunk's end are the next chunk's.
    if (e >= 0) throw shard.damaged(`its children rows are not in key order near task ${parent[e]}`);
  }
  return sum;
}

function grown(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}
