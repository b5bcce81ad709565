/**
 * Batch completion (DESIGN.md §4): recomputes which tasks are complete from the
 * primary records alone — edges, outcomes and terminal flags — over the union
 * of all shards. Kahn-style BFS upward: start from terminal and filtered tasks;
 * a task whose stage emitted children completes when its last child does.
 * Used for cross-shard completion, `verify` and `verify --repair`; must agree
 * with the incremental pass done while recording.
 *
 * Memory is a few typed arrays per task (~40 bytes with the parents) plus,
 * with several shards, a UDID index; the DAG itself is never built.
 */
import { FLAG_TERMINAL, OUTCOME_EMITTED, OUTCOME_FILTERED, type Shard } from '../store/shard.js';
import { UdidIndex } from '../store/udid-index.js';

export interface CompletionSnapshot {
  /** Number of distinct tasks. */
  readonly size: number;
  /** UDID (hex) of global index i. */
  udidAt(i: number): string;
  /** Completed flag per global index, as the batch pass derives it. */
  readonly completed: Uint8Array;
  /** Completed flag per global index, as recorded in the `completed` sub-DBs. */
  readonly recorded: Uint8Array;
}

/** Batch completion over every shard of an open store. */
export function computeCompletion(store: { readonly shards: readonly Shard[] }): CompletionSnapshot {
  return completionOfShards(store.shards);
}

/** @internal */
export function completionOfShards(shards: readonly Shard[]): CompletionSnapshot {
  // Global index per (shard, local id). A single shard needs no map: ids are dense.
  const maps = shards.map((s) => localIndex(s));
  let size = 0;
  const udids: Buffer[] = [];
  const globalOf: Uint32Array[] = [];
  // Several shards may hold the same task: index UDIDs (stored as index + 1).
  const byUdid = shards.length > 1 ? new UdidIndex() : null;
  for (let k = 0; k < shards.length; k++) {
    const { ids, udid } = maps[k]!;
    const g = new Uint32Array(ids.maxId + 1);
    for (let j = 0; j < ids.list.length; j++) {
      const id = ids.list[j]!;
      const bytes = udid[j]!;
      let idx: number | undefined;
      if (byUdid) {
        idx = byUdid.get(bytes) - 1;
        if (idx < 0) {
          idx = size++;
          byUdid.add(bytes, idx + 1);
          udids.push(bytes);
        }
      } else {
        idx = size++;
        udids.push(bytes);
      }
      g[id] = idx;
    }
    globalOf.push(g);
  }

  const pending = new Uint32Array(size);
  const outcome = new Uint8Array(size);
  const completed = new Uint8Array(size);
  const recorded = new Uint8Array(size);
  // Parents in CSR form: count, then fill.
  const parentCount = new Uint32Array(size + 1);
  const seeds: number[] = [];
  const edges: number[][] = [];
  for (let k = 0; k < shards.length; k++) {
    const shard = shards[k]!;
    const g = globalOf[k]!;
    const list: number[] = [];
    for (const { key, value } of shard.parents.getRange()) {
      const child = g[key]!;
      const parent = g[(value as Buffer).readUInt32BE(0)]!;
      list.push(child, parent);
    }
    edges.push(list);
    for (const { key, value } of shard.outcome.getRange()) {
      const i = g[key]!;
      const kind = (value as Buffer)[0]!;
      // With several shards, an emitted or filtered outcome outranks a failure.
      if (outcome[i] === 0 || outcome[i] === 3) outcome[i] = kind;
    }
    for (const { key } of shard.completed.getRange()) recorded[g[key]!] = 1;
    for (const { key, value } of shard.meta.getRange()) {
      if (((value as Buffer)[22]! & FLAG_TERMINAL) !== 0) seeds.push(g[key]!);
    }
  }
  // De-duplicate edges across shards: the same edge may be recorded twice.
  const seen = byUdid ? new Set<number | string>() : null;
  const wide = size >= 2 ** 26;
  for (const list of edges) {
    for (let j = 0; j < list.length; j += 2) {
      const c = list[j]!;
      const p = list[j + 1]!;
      if (seen) {
        const key = wide ? `${c}:${p}` : c * 2 ** 26 + p;
        if (seen.has(key)) {
          list[j] = -1;
          continue;
        }
        seen.add(key);
      }
      parentCount[c + 1]!++;
      pending[p]!++;
    }
  }
  for (let i = 0; i < size; i++) parentCount[i + 1]! += parentCount[i]!;
  const parentsFlat = new Uint32Array(parentCount[size]!);
  const fill = parentCount.slice(0, size);
  for (const list of edges) {
    for (let j = 0; j < list.length; j += 2) {
      const c = list[j]!;
      if (c < 0) continue;
      parentsFlat[fill[c]!++] = list[j + 1]!;
    }
  }
  for (let i = 0; i < size; i++) if (outcome[i] === OUTCOME_FILTERED) seeds.push(i);

  const queue = seeds;
  for (let q = 0; q < queue.length; q++) {
    const i = queue[q]!;
    if (completed[i]) continue;
    completed[i] = 1;
    for (let e = parentCount[i]!; e < parentCount[i + 1]!; e++) {
      const p = parentsFlat[e]!;
      if (--pending[p]! === 0 && outcome[p] === OUTCOME_EMITTED && !completed[p]) queue.push(p);
    }
  }
  return { size, udidAt: (i) => udids[i]!.toString('hex'), completed, recorded };
}

function localIndex(shard: Shard): { ids: { list: number[]; maxId: number }; udid: Buffer[] } {
  const list: number[] = [];
  const udid: Buffer[] = [];
  let maxId = 0;
  for (const { key, value } of shard.meta.getRange()) {
    list.push(key);
    udid.push(Buffer.from((value as Buffer).subarray(0, 16)));
    if (key > maxId) maxId = key;
  }
  return { ids: { list, maxId }, udid };
}

/** UDIDs the batch pass finds complete. */
export function completedSet(snapshot: CompletionSnapshot): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < snapshot.size; i++) if (snapshot.completed[i]) out.add(snapshot.udidAt(i));
  return out;
}
