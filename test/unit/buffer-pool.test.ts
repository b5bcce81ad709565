// Batches are packed into shared buffers that the write thread reads in place
// (src/store/buffer-pool.ts): never transferred, so never detached, and
// reused once their batch is committed.
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/store/buffer-pool.js';
import { SECTIONS, WriteBatch } from '../../src/store/write-batch.js';

describe('BufferPool', () => {
  it('hands out shared buffers and reuses the smallest free one that fits', () => {
    const pool = new BufferPool();
    const small = pool.take(100);
    const big = pool.take(10_000);
    expect(small.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(small.length).toBeGreaterThanOrEqual(100);
    pool.give(big);
    pool.give(small);
    expect(pool.take(50)).toBe(small);
    expect(pool.take(50)).toBe(big);
    expect(pool.take(50)).not.toBe(big);
  });

  it('keeps at most KEEP free buffers, the biggest', () => {
    const pool = new BufferPool();
    const sizes = Array.from({ length: BufferPool.KEEP + 4 }, (_, i) => 1000 * (i + 1));
    const buffers = sizes.map((n) => pool.take(n));
    for (const b of buffers) pool.give(b);
    const again = sizes.map(() => pool.take(1));
    expect(again.slice(0, BufferPool.KEEP).sort((a, b) => a.length - b.length)).toEqual(buffers.slice(4));
  });
});

describe('WriteBatch buffers', () => {
  it('a message names the shared buffers the rows were packed in; after release the next batch packs into them again', () => {
    const first = new WriteBatch();
    for (let id = 1; id <= 1000; id++) {
      first.meta(id);
      first.edge(id, id + 1);
    }
    const message = first.toMessage(1);
    for (const name of SECTIONS) expect(message.buffers[name]).toBeInstanceOf(SharedArrayBuffer);
    expect(message.lengths.metaIds).toBe(1000 * 4);
    expect(message.lengths.meta).toBe(1000 * 30);
    // An edge record is (value, key): the first parents row is child 2's parent 1, then 2.
    expect(Buffer.from(message.buffers.parents, 0, 8).readUInt32LE(0)).toBe(1);
    expect(Buffer.from(message.buffers.parents, 0, 8).readUInt32LE(4)).toBe(2);
    const used = new Set(SECTIONS.map((name) => message.buffers[name]));
    const next = new WriteBatch(first);
    // Sized from `first` (a quarter more), so none of its buffers fits until they are given back.
    first.release();
    const reused = new WriteBatch(next);
    next.release();
    const later = reused.toMessage(3);
    expect(new Set(SECTIONS.map((name) => later.buffers[name]))).toEqual(used);
  });

  it('keeps every row when a section outgrows its buffer mid-batch (ids, records and edges in order)', () => {
    const batch = new WriteBatch();
    const n = 20_000;
    for (let id = 1; id <= n; id++) {
      const at = batch.meta(id);
      batch.metaBuffer.writeUInt32LE(id, at + 18);
      batch.edge(id, id + 1);
    }
    const m = batch.toMessage(1);
    const ids = Buffer.from(m.buffers.metaIds, 0, m.lengths.metaIds);
    const recs = Buffer.from(m.buffers.meta, 0, m.lengths.meta);
    const edges = Buffer.from(m.buffers.children, 0, m.lengths.children);
    for (let i = 0; i < n; i++) {
      expect(ids.readUInt32LE(i * 4)).toBe(i + 1);
      expect(recs.readUInt32LE(i * 30 + 18)).toBe(i + 1);
      expect([edges.readUInt32LE(i * 8), edges.readUInt32LE(i * 8 + 4)]).toEqual([i + 2, i + 1]);
    }
  });
});
