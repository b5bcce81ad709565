/**
 * @internal
 * Task ids of a writer session: claimed from the shard in blocks that double
 * up to MAX_BLOCK (so what a session leaves unused stays below twice what it
 * used), the next block claimed ahead so that allocation need not wait for
 * it, and the ids not yet merged into the shard's `udid` index (udid-tail.ts)
 * with the own blocks that merge unlists.
 */
import type { Shard } from '../shard.js';
import { tailLimit } from '../udid-tail.js';
import { addToRanges, type WriteBatch } from '../write-batch.js';
import type { IdBlock } from '../write-thread.js';
import type { TaskState } from './task-state.js';

/** The largest block of ids a session claims at once. */
const MAX_BLOCK = 1 << 22;

/** How long soleAuthor() trusts its last look at the shard's next id. */
const SOLE_CHECK_MS = 50;

export class IdBlocks {
  private nextId = 0;
  private blockSize = 1 << 14;
  private endId = 0;
  /** Start of the block ids come from now. */
  private blockStart = 0;
  /** The next block, claimed ahead (by a batch, or while the write thread was idle). */
  private spare: IdBlock | null = null;
  /** A batch in the thread claims the next block. */
  claimPending = false;
  /** Tasks created since the last merge into the `udid` index: id ranges [start, end) as pairs, in id order, and how many. */
  private unindexed: number[] = [];
  unindexedCount = 0;
  /** Entries of the shard's `udid` index (as of the last merge). */
  private indexedCount: number;
  /** Starts of the id blocks this session claimed that are still listed as unindexed. */
  private ownBlocks: number[] = [];
  /** The shard's next id at open, and the ids this session claimed since: see soleAuthor(). */
  private readonly nextIdAtOpen: number;
  private claimedIds = 0;
  private sole = false;
  private soleCheckedAt = -Infinity;

  constructor(
    private readonly shard: Shard,
    private readonly tasks: TaskState,
  ) {
    this.nextIdAtOpen = nextId(shard);
    this.indexedCount = shard.indexedEstimate();
  }

  /** A new task id, to be merged into the `udid` index later; the task arrays have room for it. */
  allocate(): number {
    if (this.nextId === this.endId) {
      const block = this.spare ?? this.claimBlock();
      this.spare = null;
      this.blockStart = this.nextId = block.start;
      this.endId = block.end;
      // Sized when the block comes into use, not when it is claimed ahead: the spare may never be.
      this.tasks.ensureCapacity(block.end);
    }
    const id = this.nextId++;
    addToRanges(this.unindexed, id);
    this.unindexedCount++;
    return id;
  }

  /**
   * Claims the next block ahead once this one is in use: by `batch` when
   * `inBatch` (the write thread is busy, or the batch is committed on this
   * thread anyway), else here and now.
   */
  claimAhead(batch: WriteBatch, inBatch: boolean): void {
    if (this.spare !== null || this.claimPending || this.endId === 0) return;
    if (inBatch) {
      batch.claim = this.blockSize;
      this.blockSize = Math.min(this.blockSize * 2, MAX_BLOCK);
      this.claimPending = true;
    } else this.spare = this.claimBlock();
  }

  /** Takes a block that a committed batch claimed. */
  adopt(block: IdBlock): void {
    this.claimPending = false;
    this.ownBlock(block);
    this.spare ??= block;
  }

  /** True when the tasks held back from the `udid` index are due to be merged (udid-tail.ts); `closing`: all of them are. */
  indexDue(closing: boolean): boolean {
    return closing ? this.ownBlocks.length > 0 : this.unindexedCount >= tailLimit(this.indexedCount);
  }

  /**
   * Has `batch` merge the held-back tasks into the `udid` index (as id
   * ranges: the write thread reads their UDIDs from their `meta` rows, this
   * batch's included) and unlist the own blocks they complete: every block
   * but the one ids still come from, or all of them at close.
   */
  mergeIndex(batch: WriteBatch, closing: boolean): void {
    batch.merge = this.unindexed;
    this.unindexed = [];
    this.indexedCount += this.unindexedCount;
    this.unindexedCount = 0;
    const open = closing ? [] : [this.blockStart, this.spare?.start];
    const done = this.ownBlocks.filter((b) => !open.includes(b));
    // They stay in tail.own: a reader's list may be older than this merge, and the session knows their tasks anyway.
    batch.indexed = done;
    this.ownBlocks = this.ownBlocks.filter((b) => open.includes(b));
  }

  /**
   * True when no other process has claimed ids in the shard since it was
   * opened (its next id is checked at most every SOLE_CHECK_MS, as the
   * unindexed list is: another process's commits are seen that much later).
   */
  noOtherClaims(): boolean {
    if (this.claimPending) return false;
    const now = performance.now();
    if (now - this.soleCheckedAt > SOLE_CHECK_MS) {
      this.soleCheckedAt = now;
      this.sole = nextId(this.shard) === this.nextIdAtOpen + this.claimedIds;
    }
    return this.sole;
  }

  /**
   * Claims a block of ids: a synchronous commit, which waits for the write
   * thread's transaction when it runs (claimAhead makes this rare).
   */
  private claimBlock(): IdBlock {
    const block = this.shard.claimIds(this.blockSize);
    this.blockSize = Math.min(this.blockSize * 2, MAX_BLOCK);
    this.ownBlock(block);
    return block;
  }

  private ownBlock(block: IdBlock): void {
    this.claimedIds += block.end - block.start;
    this.ownBlocks.push(block.start);
    this.shard.tail.claimedHere(block.start);
  }
}

/** The first id the shard's next claim gets (info `next_id`, write-worker.js claimIdBlock). */
function nextId(shard: Shard): number {
  const next: unknown = shard.info.get('next_id');
  return typeof next === 'number' ? next : 1;
}
