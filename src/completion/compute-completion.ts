/**
 * The batch completion pass (docs/design.md §4) as the library offers it: which
 * tasks the primary records make complete over the union of a store's
 * shards, to compare with what the shards record.
 */
import { completionOfShards } from '../store/batch-completion.js';
import type { LineageStore } from '../store/lineage-store.js';
import type { CompletionSnapshot } from '../store/types.js';

/** Batch completion over every shard of an open store. */
export function computeCompletion(store: LineageStore): CompletionSnapshot {
  return completionOfShards(store.shards);
}

/** UDIDs the batch pass finds complete. */
export function completedSet(snapshot: CompletionSnapshot): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < snapshot.size; i++) if (snapshot.completed[i]) out.add(snapshot.udidAt(i));
  return out;
}
