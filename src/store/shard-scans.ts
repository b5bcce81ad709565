/**
 * @internal
 * Scans of one shard's rows in id order, from one snapshot: through the page
 * reader (lmdb-pages.ts) when the file allows it, else through lmdb-js in one
 * read transaction. Each scan holds a page or a row at a time, so what a pass
 * over the checkpoint keeps is what it chooses to keep.
 */
import { edgeProblem, edgeRange } from './edge-values.js';
import { EdgeCursor, LeafCursor, LmdbPageError, PageFile, pageScanEnabled } from './lmdb-pages.js';
import { blockBody, forEachRecord } from './meta-blocks.js';
import type { Shard } from './shard.js';

/** (key, value) pairs of an edge sub-DB in key then value order, every id of a run its own pair. */
export interface EdgeScan {
  readonly key: number;
  readonly value: number;
  next(): boolean;
  /** The next pair is the first whose key is at least `key`. */
  seek(key: number): void;
}

/** One snapshot of a shard to scan: close() it when done. */
export class ShardScans {
  private constructor(
    readonly shard: Shard,
    private readonly file: PageFile | null,
    private readonly txn: { done(): void } | null,
  ) {}

  static open(shard: Shard): ShardScans {
    if (pageScanEnabled()) {
      try {
        return new ShardScans(shard, PageFile.open(shard), null);
      } catch (err) {
        if (!(err instanceof LmdbPageError)) throw err;
      }
    }
    return new ShardScans(shard, null, shard.env.useReadTransaction());
  }

  /** An lmdb-js read transaction for rows the scans do not cover (through the page reader, its snapshot may be older). */
  get transaction(): object {
    return this.txn ?? this.file!.transaction;
  }

  /**
   * Calls `each(id, record, at)` for every task record in id order: the
   * record is `record[at .. at + META_SIZE)`, a view valid during the call.
   */
  forEachRecord(each: (id: number, record: Buffer, at: number) => void): void {
    const file = this.file;
    if (!file) {
      for (const { key, value } of this.shard.metaRows({ transaction: this.txn })) each(key, value, 0);
      return;
    }
    const tree = file.tree('meta');
    if (!tree) return;
    const shard = this.shard;
    for (const c = new LeafCursor(file, tree); c.next(); ) {
      const block = c.intKey;
      const body = shard.checked(() => blockBody(c.value(), block));
      forEachRecord(body, block, (id, at) => each(id, body, at));
    }
  }

  /** Calls `each(rootId, row)` for every `sources` row (the row a view valid during the call). */
  forEachSource(each: (rootId: number, row: Buffer) => void): void {
    const file = this.file;
    if (!file) {
      for (const { key, value } of this.shard.sources.getRange({ transaction: this.txn } as never) as Iterable<{ key: number; value: Buffer }>) each(key, value);
      return;
    }
    const tree = file.tree('sources');
    if (!tree) return;
    for (const c = new LeafCursor(file, tree); c.next(); ) each(c.intKey, c.value());
  }

  /** The rows of `parents` (keyed by child) or `children` (keyed by parent). */
  edges(name: 'parents' | 'children'): EdgeScan {
    const file = this.file;
    if (file) {
      const tree = file.tree(name);
      return tree ? new EdgeCursor(file, tree) : EMPTY;
    }
    return new LmdbEdgeScan(this.shard, name, this.txn!);
  }

  close(): void {
    this.file?.close();
    this.txn?.done();
  }
}

const EMPTY: EdgeScan = { key: 0, value: 0, next: () => false, seek: () => undefined };

class LmdbEdgeScan implements EdgeScan {
  key = 0;
  value = 0;
  private rows: Iterator<{ key: number; value: Buffer }> | null = null;
  private runNext = 1;
  private runLast = 0;

  constructor(
    private readonly shard: Shard,
    private readonly name: 'parents' | 'children',
    private readonly txn: object,
  ) {}

  seek(key: number): void {
    const db = this.name === 'parents' ? this.shard.parents : this.shard.children;
    this.rows = (db.getRange({ start: key, transaction: this.txn } as never) as Iterable<{ key: number; value: Buffer }>)[Symbol.iterator]();
    this.runNext = 1;
    this.runLast = 0;
  }

  next(): boolean {
    if (this.runNext <= this.runLast) {
      this.value = this.runNext++;
      return true;
    }
    if (!this.rows) this.seek(0);
    const step = this.rows!.next();
    if (step.done) return false;
    const { key, value } = step.value;
    if (!Number.isInteger(key) || key < 0 || key > 0xffffffff) throw this.shard.damaged(`a ${this.name} row has the key ${key}, which is not a task id`);
    const range = edgeRange(value, key);
    if (range === null) throw this.shard.damaged(`the ${this.name} rows of task ${key} hold ${edgeProblem(value)}`);
    this.key = key;
    this.value = range[0];
    this.runNext = range[0] + 1;
    this.runLast = range[1];
    return true;
  }
}
