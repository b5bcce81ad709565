/**
 * A task's identity: its lineage path, UDID and the source it descends from.
 */
import { childPath, rootPath, type Slot } from './lineage-path.js';
import { udidOf } from './udid.js';

export interface Lineage {
  /** Canonical lineage path (DESIGN.md §2). */
  readonly path: string;
  /** 32 lowercase hex characters: SHA-256 of the path, truncated. */
  readonly udid: string;
  /** The user's stable name of the input this task descends from. */
  readonly sourceKey: string;
}

/** Lineage of the root task for the input named `sourceKey`. */
export function rootLineage(sourceKey: string): Lineage {
  const path = rootPath(sourceKey);
  return { path, udid: udidOf(path), sourceKey };
}

/**
 * Lineage of a child emitted by `stageId` from `parents` at `slot`.
 * `sourceKey` is the parents' source (for a fan-in across sources, the
 * caller's choice; the pipeline uses the first parent's).
 * @example childLineage('split', [root.udid], 0, root.sourceKey)
 */
export function childLineage(stageId: string, parentUdids: readonly string[], slot: Slot, sourceKey = ''): Lineage {
  const path = childPath(stageId, parentUdids, slot);
  return { path, udid: udidOf(path), sourceKey };
}
