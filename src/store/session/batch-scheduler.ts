/**
 * @internal
 * When a writer session's rows go to the write thread. Edge rows go into the
 * open batch as they are recorded; a task whose state changed is marked
 * dirty and its `meta` row is written once, when the batch is sent, however
 * often it changed meanwhile. A batch is sent when the write thread is idle
 * (at the end of the event turn, and at least MIN_BATCH_MS after the last)
 * or has just finished the previous one, and commits as one transaction (a
 * big index merge follows in parts, write-worker.js). A caller that records
 * faster than the thread commits is told to wait (`needsDrain`), and
 * recording stops before the LMDB map is full (`checkRoom`).
 */
import { ErrorCodes, LineageError } from '../../errors/lineage-error.js';
import type { Shard } from '../shard.js';
import { WriteBatch } from '../write-batch.js';
import { writeFailure } from '../write-failure.js';
import { WriteThread } from '../write-thread.js';
import type { IdBlocks } from './id-blocks.js';
import type { StageNumbers } from './stage-numbers.js';
import type { TaskState } from './task-state.js';

/**
 * Rows the open batch may hold while the write thread is busy before
 * `needsDrain` says wait (~5 MB). Bigger transactions cost LMDB more page
 * copies (resident memory) and leave more free pages in the file: 400,000
 * here and 200,000 for SEND_ROWS measured 380-405 MB peak and 183-192 B/task
 * for W1 at S = 100,000, against 359-367 MB and 165-176 B/task.
 */
const DRAIN_ROWS = 200_000;

/**
 * Least time (ms) from one batch to the next, unless the open one reached
 * SEND_ROWS: a task's meta row is written again in every batch in which it
 * changed (created, consumed, completed), so batches sent as fast as the
 * thread commits them wrote W1's meta rows 1.67 times each.
 */
const MIN_BATCH_MS = 100;
const SEND_ROWS = 100_000;

/** Worst-case map bytes a row not yet committed may need (page copies included). */
const QUEUED_BYTES_PER_ROW = 64;

export class BatchScheduler {
  /** The open batch: the session adds edge and source rows to it as it records. */
  batch = new WriteBatch();
  private readonly thread: WriteThread;
  /** Set by finishIndexing(): the next batch indexes everything left and unlists every own block. */
  private closing = false;
  private sendScheduled = false;
  private lastSend = -Infinity;
  /** Sends the open batch once MIN_BATCH_MS have passed since the last. */
  private sendTimer: ReturnType<typeof setTimeout> | null = null;
  private lastSeq = 0;
  private uncommittedRows = 0;
  private drainWaiters: (() => void)[] = [];
  /** The first failure to write: every later call reports it. */
  writeError: unknown = null;
  /** Told once, on the main thread, when a commit fails: a runner stops admitting work at once. */
  onWriteFailure: ((err: unknown) => void) | null = null;

  constructor(
    private readonly shard: Shard,
    private readonly tasks: TaskState,
    private readonly blocks: IdBlocks,
    private readonly stages: StageNumbers,
  ) {
    this.thread = new WriteThread(shard, () => this.afterCommit());
  }

  /** True when the open batch has grown large while the write thread is busy: the caller should `await drain()`. */
  get needsDrain(): boolean {
    return !this.thread.canPost && this.batch.rows + this.tasks.dirtyCount >= DRAIN_ROWS;
  }

  /** Waits until the open batch has been handed to the write thread. */
  async drain(): Promise<void> {
    if (this.needsDrain) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    if (this.writeError) throw this.writeError;
  }

  /** Resolves when every write issued so far is committed (visible to readers, and durable). */
  async committed(): Promise<void> {
    while (this.batch.rows > 0 || this.tasks.dirtyCount > 0 || this.blocks.indexDue(this.closing) || this.thread.busy) {
      if (this.thread.canPost) this.send(true);
      await this.thread.whenCommitted(this.lastSeq);
      if (this.writeError) break;
    }
    if (this.writeError) throw this.writeError;
  }

  /** From now on the next batch merges every task left into the `udid` index: the session is about to close. */
  finishIndexing(): void {
    this.closing = true;
    this.thread.stopStarting();
  }

  /** Commits what is left (the last index merge included) and stops the write thread. */
  async close(): Promise<void> {
    this.finishIndexing();
    try {
      await this.committed();
    } finally {
      if (this.sendTimer) clearTimeout(this.sendTimer);
      this.sendTimer = null;
      await this.thread.close();
    }
  }

  /**
   * Refuses to write once the map is nearly full: LMDB 0.9 under lmdb-js does
   * not always survive MDB_MAP_FULL, so the limit is enforced here, with room
   * for the rows not yet committed.
   */
  checkRoom(): void {
    if (this.writeError) throw this.writeError;
    const stats = this.shard.env.getStats() as { pageSize: number; lastPageNumber: number; mapSize: number };
    const queued = (this.uncommittedRows + this.batch.rows + this.tasks.dirtyCount + this.blocks.unindexedCount) * QUEUED_BYTES_PER_ROW;
    const used = (stats.lastPageNumber + 1) * stats.pageSize + queued;
    const headroom = Math.max(16 * 2 ** 20, stats.mapSize / 8);
    if (used + headroom > stats.mapSize) {
      this.writeError = new LineageError(
        ErrorCodes.MAP_FULL,
        `${this.shard.dir}: the LMDB map (${stats.mapSize} bytes) is nearly full, so recording stopped; what was recorded before is kept. ` +
          'Reopen with a larger mapSize (option or LINEAGE_MAP_SIZE, in bytes) and rerun.',
      );
      throw this.writeError;
    }
  }

  /** Sends the open batch at the end of this event turn, unless the write thread has its fill (then it goes when a batch is done). */
  scheduleSend(): void {
    if (this.sendScheduled || !this.thread.canPost) return;
    this.sendScheduled = true;
    setImmediate(() => {
      this.sendScheduled = false;
      if (this.thread.canPost) this.sendLater();
    });
  }

  /**
   * A send from a timer: nobody is there to catch what it throws (a damaged
   * shard, a store closed meanwhile), so it is kept for the next call to
   * report, as a write thread's failure is, instead of ending the process.
   */
  private sendLater(): void {
    try {
      this.send();
    } catch (err) {
      this.writeError ??= err instanceof LineageError ? err : new LineageError(ErrorCodes.WRITE_FAILED, `${this.shard.dir}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes the dirty tasks' meta rows into the open batch and hands it to the write thread (`now`: without waiting for MIN_BATCH_MS). */
  private send(now = false): void {
    const index = this.blocks.indexDue(this.closing);
    if (this.writeError || (this.batch.rows === 0 && this.tasks.dirtyCount === 0 && !index)) return;
    const wait = this.lastSend + MIN_BATCH_MS - performance.now();
    if (!now && !this.closing && wait > 0 && this.batch.rows + this.tasks.dirtyCount < SEND_ROWS) {
      this.sendTimer ??= setTimeout(() => {
        this.sendTimer = null;
        if (this.thread.canPost) this.sendLater();
      }, wait);
      return;
    }
    if (this.stages.toRegister) {
      // A new stage id is registered by a synchronous commit: wait until the thread is idle, so that it does not block.
      if (this.thread.busy) return;
      try {
        this.stages.registerAll();
      } catch (err) {
        // Reported as a failed batch would be: the numbers the failed transaction gave must not be used.
        this.failed(err);
        return;
      }
    }
    if (index) this.blocks.mergeIndex(this.batch, this.closing);
    // A batch committed here claims the next block in its own transaction: one sync commit fewer.
    if (!this.closing) this.blocks.claimAhead(this.batch, this.thread.busy || this.thread.commitsHere);
    this.tasks.writeDirty(this.batch, this.stages);
    const batch = this.batch;
    this.batch = new WriteBatch(batch);
    this.uncommittedRows = batch.rows;
    this.lastSend = performance.now();
    this.lastSeq = this.thread.post(batch);
    if (!this.thread.busy) this.afterCommit(false);
  }

  /** A commit failed: from now on every call reports it, and the runner is told once. */
  private failed(err: unknown): void {
    if (this.writeError) return;
    this.writeError = writeFailure(this.shard.dir, err as Error);
    this.onWriteFailure?.(this.writeError);
  }

  /** After a batch is committed: reports a failure, and sends what gathered meanwhile (unless `sendMore` is false). */
  private afterCommit(sendMore = true): void {
    if (this.thread.error) this.failed(this.thread.error);
    this.uncommittedRows = 0;
    for (let block = this.thread.claimed.shift(); block; block = this.thread.claimed.shift()) this.blocks.adopt(block);
    if (sendMore && !this.writeError && (this.batch.rows > 0 || this.tasks.dirtyCount > 0)) this.send();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
