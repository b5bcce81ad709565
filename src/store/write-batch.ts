/**
 * @internal
 * One group of rows for the write worker (write-worker.js), built on the main
 * thread. Each sub-DB has its own section of packed records in a shared
 * buffer from the session's pool (buffer-pool.ts), so the worker reads the
 * batch where it was written; the buffers go back to the pool once it is
 * committed (`release`).
 *
 * | section  | record                                                   |
 * |----------|----------------------------------------------------------|
 * | metaIds  | id (u32 LE), ascending                                   |
 * | meta     | the record of each id in `metaIds` (META_SIZE bytes)     |
 * | errors   | id (u32 LE), length (u32 LE; REMOVE_ERROR: none), text   |
 * | parents  | parent id, child id (u32 each, native order)             |
 * | children | child id, parent id (u32 each, native order)             |
 * | sources  | root id (u32 LE), length (u32 LE), key (UTF-8)           |
 * | outputs  | id (u32 LE), length (u32 LE), JSON array of paths        |
 *
 * An edge record read as a u64 is key · 2^32 + value, so the write thread
 * sorts a section in place as a BigUint64Array.
 */

import { BufferPool } from './buffer-pool.js';
import { META_SIZE } from './meta-blocks.js';
import { REMOVE_ERROR } from './batch-commit.js';

export const SECTIONS = ['metaIds', 'meta', 'errors', 'parents', 'children', 'sources', 'outputs'] as const;
export type SectionName = (typeof SECTIONS)[number];

/** What is posted to the worker: one buffer and its used length per section. */
export interface BatchMessage {
  readonly type: 'batch';
  readonly seq: number;
  readonly buffers: Record<SectionName, ArrayBufferLike>;
  readonly lengths: Record<SectionName, number>;
  /** Id ranges [start, end) as pairs whose tasks this batch adds to the `udid` index, from their `meta` rows (batch-commit.js). */
  readonly merge: readonly number[];
  /** Starts of the id blocks this batch finishes indexing: unlisted from info `unindexed` (udid-tail.ts). */
  readonly indexed: readonly number[];
  /** When > 0: claim the shard's next block of this many ids in the same transaction (batch-commit.js claimIdBlock). */
  readonly claim: number;
}

/** Adds `id` (the greatest so far) to id ranges [start, end) held as pairs, as BatchMessage.merge holds them. */
export function addToRanges(ranges: number[], id: number): void {
  if (ranges.length > 0 && ranges[ranges.length - 1] === id) ranges[ranges.length - 1] = id + 1;
  else ranges.push(id, id + 1);
}

/** The low 32 bits of `v` (signed or not), little-endian, at `b[at]`. */
// Why: byte stores rather than Buffer#writeUInt32LE and its argument checks: this runs for every edge and every meta row (no benchmark isolates it yet).
function le32(b: Buffer, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}

/** An edge record: `value`, then `key`, as u32 LE (little-endian machines only: see the table above), by byte stores (this runs for every edge). */
function edgeRow(b: Buffer, at: number, key: number, value: number): void {
  le32(b, at, value);
  le32(b, at + 4, key);
}

class Section {
  buf: Buffer;
  at = 0;

  constructor(
    private readonly pool: BufferPool,
    size: number,
  ) {
    this.buf = pool.take(size);
  }

  /** Makes room for `n` more bytes and returns where they start. */
  reserve(n: number): number {
    const at = this.at;
    if (at + n > this.buf.length) {
      const bigger = this.pool.take(Math.max(this.buf.length * 2, at + n));
      this.buf.copy(bigger, 0, 0, at);
      this.pool.give(this.buf);
      this.buf = bigger;
    }
    this.at = at + n;
    return at;
  }
}

/** A section's first buffer: what the previous batch's used, with a quarter more, so a batch rarely grows its buffers. */
function startSize(previous: Section | undefined, least: number): number {
  return previous === undefined ? least : Math.max(least, previous.at + (previous.at >>> 2));
}

export class WriteBatch {
  /** Where its buffers come from and go back to. */
  readonly pool: BufferPool;
  private readonly metaIds: Section;
  private readonly metas: Section;
  private readonly errorRows: Section;
  private readonly parentRows: Section;
  private readonly childRows: Section;
  private readonly sourceRows: Section;
  private readonly outputRows: Section;
  /** The sections by name, for the message and for `release`. */
  private readonly sections: Record<SectionName, Section>;
  /** Rows in the batch. */
  rows = 0;
  /** See BatchMessage.indexed. */
  indexed: readonly number[] = [];
  /** See BatchMessage.claim. */
  claim = 0;
  /** See BatchMessage.merge. */
  merge: readonly number[] = [];

  /** `previous`: the batch before this one, whose pool it shares and whose sizes this one's buffers start from. */
  constructor(previous?: WriteBatch) {
    const pool = (this.pool = previous?.pool ?? new BufferPool());
    this.metaIds = new Section(pool, startSize(previous?.metaIds, 1 << 11));
    this.metas = new Section(pool, startSize(previous?.metas, 1 << 14));
    this.errorRows = new Section(pool, startSize(previous?.errorRows, 1 << 8));
    this.parentRows = new Section(pool, startSize(previous?.parentRows, 1 << 13));
    this.childRows = new Section(pool, startSize(previous?.childRows, 1 << 13));
    this.sourceRows = new Section(pool, startSize(previous?.sourceRows, 1 << 10));
    this.outputRows = new Section(pool, startSize(previous?.outputRows, 1 << 8));
    this.sections = {
      metaIds: this.metaIds,
      meta: this.metas,
      errors: this.errorRows,
      parents: this.parentRows,
      children: this.childRows,
      sources: this.sourceRows,
      outputs: this.outputRows,
    };
  }

  /** The record of `id` (META_SIZE bytes), which the caller fills from the returned offset of `metaBuffer`; ids ascending. */
  meta(id: number): number {
    const ids = this.metaIds;
    // reserve() may replace the buffer: take it after.
    const at = ids.reserve(4);
    le32(ids.buf, at, id);
    this.rows++;
    return this.metas.reserve(META_SIZE);
  }

  /** The error text of failed task `id`, or (null) that it has none any more. */
  error(id: number, text: string | null): void {
    this.text(this.errorRows, id, text);
  }

  /** The files the call that consumed task `id` wrote, as a JSON array of absolute paths. */
  outputs(id: number, json: string): void {
    this.text(this.outputRows, id, json);
  }

  private text(s: Section, id: number, text: string | null): void {
    const length = text === null ? 0 : Buffer.byteLength(text);
    const at = s.reserve(8 + length);
    le32(s.buf, at, id);
    le32(s.buf, at + 4, text === null ? REMOVE_ERROR : length);
    if (text !== null) s.buf.write(text, at + 8);
    this.rows++;
  }

  /** The buffer `meta` rows go into (replaced when it grows: read it after `meta`). */
  get metaBuffer(): Buffer {
    return this.metas.buf;
  }

  /** The edge parent → child: one row in `parents` and one in `children`. */
  edge(parent: number, child: number): void {
    // reserve() may replace the buffer: take it after.
    const p = this.parentRows;
    const at = p.reserve(8);
    edgeRow(p.buf, at, child, parent);
    const c = this.childRows;
    const at2 = c.reserve(8);
    edgeRow(c.buf, at2, parent, child);
    this.rows += 2;
  }

  source(rootId: number, sourceKey: string): void {
    const s = this.sourceRows;
    const length = Buffer.byteLength(sourceKey);
    const at = s.reserve(8 + length);
    s.buf.writeUInt32LE(rootId, at);
    s.buf.writeUInt32LE(length, at + 4);
    s.buf.write(sourceKey, at + 8);
    this.rows++;
  }

  /** The batch as a message for commitBatch (batch-commit.js), which reads the buffers in place: none may change until `release`. */
  toMessage(seq: number): BatchMessage {
    const buffers = {} as Record<SectionName, ArrayBufferLike>;
    const lengths = {} as Record<SectionName, number>;
    for (const name of SECTIONS) {
      const section = this.sections[name];
      buffers[name] = section.buf.buffer;
      lengths[name] = section.at;
    }
    return { type: 'batch', seq, buffers, lengths, merge: this.merge, indexed: this.indexed, claim: this.claim };
  }

  /** The batch is committed (or failed): its buffers go back to the pool, and it is spent. */
  release(): void {
    for (const name of SECTIONS) this.pool.give(this.sections[name].buf);
  }
}
