/**
 * Whether a task is complete anywhere in the checkpoint: in the writer's own
 * session, in some shard's `completed` records, or only in the union of the
 * shards, where a child in one completes a parent in another (docs/design.md §7).
 */
import { assertUdid } from '../identity/udid.js';
import { completedOnlyInUnion } from './batch-completion.js';
import type { Shard } from './shard.js';
import type { UdidIndex } from './udid-index.js';
import type { WriterSession } from './writer-session.js';

export class UnionCompletion {
  /** Tasks complete only in the union of shards; null until the first refresh. */
  private onlyInUnion: UdidIndex | null = null;

  constructor(
    private readonly shards: readonly Shard[],
    private readonly session: WriterSession | null,
    private readonly sourcesMode: boolean,
  ) {}

  /** Tasks complete only in the union, for reads that report completion. */
  get unionOnly(): UdidIndex | null {
    return this.onlyInUnion;
  }

  /** Recomputes what the union completes (the batch pass over every shard). */
  refresh(): void {
    this.onlyInUnion = completedOnlyInUnion(this.shards);
  }

  /** `root`: the UDID is known to be a root lineage's (isRootLineage). */
  isCompleted(udid: string, root: boolean): boolean {
    // The session parses (and so checks) the UDID itself: a task it knows needs no second check.
    const inSession = this.session?.completedInSession(udid, root);
    if (inSession === true) return true;
    if (inSession === false && this.shards.length === 1) return false;
    if (inSession === undefined) assertUdid(udid, 'isCompleted');
    // A fresh checkpoint this session alone writes holds no task the session does not know.
    if (inSession === undefined && this.shards.length === 1 && this.session?.soleAuthor()) return false;
    if (this.sourcesMode) return false; // no per-task records: see LineageStore.isSourceCompleted
    const key = Buffer.from(udid, 'hex');
    // A task the session knows (created here, or loaded from disk) has its own shard's
    // state in memory: only the other shards can add to it. This spares the runner a
    // disk lookup for every child it has just recorded. One it does not know is in its
    // own shard only if another session wrote it: its own unindexed blocks need no scan.
    for (let k = inSession === false ? 1 : 0; k < this.shards.length; k++) {
      const shard = this.shards[k]!;
      const id = shard.idOf(key, k === 0 && this.session !== null);
      if (id !== undefined && shard.completedRun(id) !== undefined) return true;
    }
    return this.onlyInUnion !== null && this.onlyInUnion.get(key) !== 0;
  }
}
