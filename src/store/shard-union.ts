/**
 * @internal
 * Reads over the union of a checkpoint's shards, each task or source reported
 * once however many shards hold it. LineageStore's queries delegate here.
 */
import { rootLineage } from '../identity/lineage.js';
import type { Shard } from './shard.js';
import type { SourceState } from './source-state.js';
import { udidOf } from './task-record.js';
import type { TaskInfo } from './types.js';

/** Every task of several shards, each once: a task several shards hold is reported by the first that has it. */
export function* unionTasks(shards: readonly Shard[], get: (udid: string) => TaskInfo | null): Generator<TaskInfo> {
  for (let i = 0; i < shards.length; i++) {
    for (const { value } of shards[i]!.metaRows()) {
      const bytes = udidOf(value, 0);
      if (shards.slice(0, i).some((s) => s.idOf(bytes) !== undefined)) continue;
      const info = get(bytes.toString('hex'));
      if (info) yield info;
    }
  }
}

/** DAG mode: the root tasks of every shard with their source keys, each key once. */
export function* dagSources(shards: readonly Shard[]): Generator<{ sourceKey: string; udid: string }> {
  const seen = new Set<string>();
  for (const shard of shards) {
    for (const { rootId, sourceKey } of shard.sourceRows()) {
      if (seen.has(sourceKey)) continue;
      seen.add(sourceKey);
      const meta = shard.metaOf(rootId);
      if (!meta) continue;
      yield { sourceKey, udid: meta.udid.toString('hex') };
    }
  }
}

/** Source-counter mode: every source some writer started, where it stands (done wins over failed and started). */
export function* sourceStatesOf(shards: readonly Shard[]): Generator<{ sourceKey: string } & SourceState> {
  const rank = { started: 0, failed: 1, done: 2 } as const;
  const best = new Map<string, SourceState>();
  for (const shard of shards) {
    for (const { key, value } of shard.sourceState.getRange()) {
      const had = best.get(key);
      if (!had || rank[value.state] > rank[had.state]) best.set(key, value);
    }
  }
  for (const [sourceKey, state] of best) yield { sourceKey, ...state };
}

/** Source-counter mode: the sources as root tasks. */
export function* countedSources(shards: readonly Shard[]): Generator<{ sourceKey: string; udid: string }> {
  for (const s of sourceStatesOf(shards)) yield { sourceKey: s.sourceKey, udid: rootLineage(s.sourceKey).udid };
}

/** Breadth-first from `start` (not included), each task once; `next`: its parents or its children. */
export function* walkTasks(start: TaskInfo, get: (udid: string) => TaskInfo | null, next: (t: TaskInfo) => string[]): Generator<string> {
  const seen = new Set<string>([start.udid]);
  let frontier = next(start);
  while (frontier.length > 0) {
    const following: string[] = [];
    for (const u of frontier) {
      if (seen.has(u)) continue;
      seen.add(u);
      yield u;
      const t = get(u);
      if (t) following.push(...next(t));
    }
    frontier = following;
  }
}
