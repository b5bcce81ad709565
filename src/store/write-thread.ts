/**
 * @internal
 * The main-thread side of the write worker (write-worker.js): posts batches,
 * one at a time, and tracks which are committed. While a batch is in the
 * worker the next one fills up, so batches grow by themselves when the
 * worker is the slower side and commits stay few and large. A batch whose
 * `udid` merge goes in parts is acknowledged once its rows are committed;
 * the batches posted while the parts go on are committed between them, so
 * recording does not wait for a merge (at S = 100,000 the biggest takes
 * ~0.2 s, and it grows with the index). `whenCommitted` waits for merges too.
 *
 * Small sessions never need the thread: batches are committed on the main
 * thread (the same `commitBatch`) until THREAD_AFTER_ROWS rows were written,
 * then the thread starts; it takes ~0.1 s to load, and main-thread commits
 * go on until it says it is ready. The batches a session sends as it closes
 * never start it: it would load only to be told to stop, and close would
 * wait for that. A thread still loading when the session closes is given up
 * (write-thread-gate.js) rather than waited for.
 *
 * The worker holds the process open only while a batch is in flight, so a
 * program that ends without closing its store is not kept alive by it.
 */
import { Worker } from 'node:worker_threads';
import type { Shard } from './shard.js';
import type { WriteBatch } from './write-batch.js';
import { commitBatch } from './batch-commit.js';
import { giveUpGate, newGate } from './write-thread-gate.js';

/** Rows committed on the main thread before the write thread is started. */
export const THREAD_AFTER_ROWS = 50_000;

/**
 * Batches in the thread at once: with two, the next one is already there
 * when a commit ends, so the thread does not wait for the main thread to
 * turn its event loop and read the acknowledgement.
 */
const MAX_IN_FLIGHT = 2;

export interface IdBlock {
  readonly start: number;
  readonly end: number;
}

interface Ack {
  readonly seq?: number;
  readonly error?: string;
  /** The failed commit's errno, as lmdb-js gave it. */
  readonly code?: number | string;
  readonly ready?: boolean;
  readonly block?: IdBlock | null;
  /** The batch's rows are committed, and its index merge goes on in parts. */
  readonly merging?: boolean;
  /** The index merge of this batch is committed (or failed, with `error`). */
  readonly merged?: number;
}

export class WriteThread {
  private worker: Worker | null = null;
  private ready = false;
  /** Set by stopStarting(): the session is closing. */
  private closing = false;
  /** Decides, while the thread loads, whether it opens the environment or close() gives it up. */
  private readonly gate = newGate();
  private rowsHere = 0;
  private sent = 0;
  private acked = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  /** Acknowledged batches whose index merge is still going on in parts (write-worker.js), oldest first. */
  private readonly merging: number[] = [];
  /** Batches posted to the thread and not acknowledged yet, oldest first (their buffers are still the thread's to read). */
  private readonly inThread: { seq: number; batch: WriteBatch }[] = [];
  /** Set once a batch failed or the worker died; every later call rethrows it. */
  error: Error | null = null;
  /** Id blocks that committed batches claimed (BatchMessage.claim), oldest first, for the session to take. */
  readonly claimed: IdBlock[] = [];

  constructor(
    private readonly shard: Shard,
    /** Called after each batch the thread acknowledged (on the main thread). */
    private readonly onAck: () => void,
  ) {}

  /** True while a batch or an index merge is in the worker (a transaction here would wait for it). */
  get busy(): boolean {
    return this.acked < this.sent || this.merging.length > 0;
  }

  /** True when another batch may be posted now. */
  get canPost(): boolean {
    return this.sent - this.acked < MAX_IN_FLIGHT;
  }

  /** True while batches are committed on this thread, inside post() (the write thread is not there or not ready). */
  get commitsHere(): boolean {
    return !this.ready || this.worker === null;
  }

  /**
   * Hands `batch` to the thread (which reads its shared buffers in place
   * until it acknowledges it) and returns the batch's number; before the
   * thread is ready, commits it here and now.
   */
  post(batch: WriteBatch): number {
    const seq = ++this.sent;
    const message = batch.toMessage(seq);
    const worker = this.worker;
    if (!this.ready || !worker) {
      this.rowsHere += batch.rows;
      if (!worker && !this.closing && this.rowsHere >= THREAD_AFTER_ROWS) this.start();
      const { shard } = this;
      try {
        const block = commitBatch(shard.env, shard, message);
        if (block) this.claimed.push(block);
      } catch (err) {
        this.error ??= err as Error;
      }
      batch.release();
      this.acked = seq;
      return seq;
    }
    worker.ref();
    this.inThread.push({ seq, batch });
    worker.postMessage(message);
    return seq;
  }

  /** Resolves when batch `seq` (and every earlier one) is committed, index merges included. */
  whenCommitted(seq: number): Promise<void> {
    if (this.done(seq)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /**
   * Stops the worker after the batches already posted are committed. The
   * worker closes its handle on the environment and ends by itself: it is
   * never terminated, which could stop it inside LMDB (still loading, say).
   */
  async close(): Promise<void> {
    this.stopStarting();
    const worker = this.worker;
    if (!worker) return;
    await this.whenCommitted(this.sent);
    this.worker = null;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ type: 'close' });
    await exited;
  }

  /**
   * The session is closing: no batch from now on starts the thread, and a
   * thread still loading is given up. Nothing was posted to it (batches go
   * to it once it is ready), so the last batches are committed here.
   */
  stopStarting(): void {
    this.closing = true;
    if (this.worker && !this.ready && giveUpGate(this.gate)) this.worker = null;
  }

  private start(): Worker {
    const worker = new Worker(new URL('./write-worker.js', import.meta.url), {
      workerData: { lineageWriteThread: true, path: this.shard.dir, mapSize: this.shard.mapSize, gate: this.gate },
    });
    worker.unref();
    // A thread given up (stopStarting) ends by itself, touching nothing; what it might still say is no longer this session's.
    const ours = () => this.worker === worker;
    worker.on('message', (ack: Ack) => this.receive(ack));
    worker.on('error', (err) => {
      if (ours()) this.fail(err);
    });
    worker.once('exit', (code) => {
      if (this.busy) this.fail(new Error(`the write thread exited (code ${code}) with batches not committed`));
    });
    this.worker = worker;
    return worker;
  }

  private receive(ack: Ack): void {
    if (ack.ready) this.ready = true;
    if (ack.error !== undefined) this.error ??= Object.assign(new Error(ack.error), { code: ack.code });
    // Merges end in the order they began (write-worker.js keeps the batches' order).
    if (ack.merged !== undefined) {
      this.merging.shift();
    } else {
      if (ack.seq === undefined) return;
      if (ack.block) this.claimed.push(ack.block);
      if (ack.merging) this.merging.push(ack.seq);
      this.acked = ack.seq;
    }
    if (!this.busy) this.worker?.unref();
    this.release();
    // The session learns of a merge that failed, and sends what waited for the thread to be idle.
    if (ack.merged === undefined || ack.error !== undefined || !this.busy) this.onAck();
  }

  /** True when batch `seq` and every earlier one are committed with their merges, or the thread failed. */
  private done(seq: number): boolean {
    return this.error !== null || (this.acked >= seq && !(this.merging.length > 0 && this.merging[0]! <= seq));
  }

  private fail(err: Error): void {
    this.error ??= err;
    this.acked = this.sent;
    this.merging.length = 0;
    this.release();
    this.onAck();
  }

  private release(): void {
    while (this.inThread.length > 0 && this.inThread[0]!.seq <= this.acked) this.inThread.shift()!.batch.release();
    const ready = this.waiters.filter((w) => this.done(w.seq));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}
