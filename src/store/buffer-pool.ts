/**
 * @internal
 * The buffers a writer session packs its batches into (write-batch.ts). They
 * are shared with the write thread, not moved to it, and reused once the
 * thread has committed their batch.
 *
 * Why: shared, the write thread reads a batch where the session wrote it,
 * with no copy and no transfer; reused, each section of each batch needs no
 * new allocation and none of the page faults of its first writes. (Avoiding
 * V8's cost of a first detach is no longer a reason: docs/performance.md,
 * shared-buffers, measured no gain.)
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  /** Free buffers kept for reuse (two batches of four sections); more are left to the GC. A session has at most three batches alive. */
  static readonly KEEP = 8;

  /** A buffer of at least `size` bytes (a free one, or a new one). */
  take(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.length >= size && (best < 0 || b.length < this.free[best]!.length)) best = i;
    }
    if (best < 0) return Buffer.from(new SharedArrayBuffer(size));
    const [b] = this.free.splice(best, 1);
    return b!;
  }

  /** Takes back a buffer no batch in flight uses any more. */
  give(b: Buffer): void {
    if (this.free.length < BufferPool.KEEP) this.free.push(b);
    else {
      // Full: keep the bigger buffers, which fit every batch.
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.length < this.free[smallest]!.length) smallest = i;
      if (this.free[smallest]!.length < b.length) this.free[smallest] = b;
    }
  }
}
