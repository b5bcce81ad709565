/**
 * The two packed layouts of a shard against plain references, on a real
 * LMDB environment: the `udid` index in chunks (merges in parts, lookups,
 * removals, ordered scans) against a Map, and the `meta` blocks (records
 * written in batches, edited, cleared) against a Map of records.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { META_SIZE, blockBody, editRecord, forEachRecord, putRecords, readBlock } from '../../src/store/meta-blocks.js';
import { CHUNK_ENTRIES, ENTRY, chunkBody, entries, lookup, mergeEntries, removeEntry, sortEntries } from '../../src/store/udid-chunks.js';
import { edgeRange, edgeValue, encodeEdge, pushEdgeIds, removeEdgeId } from '../../src/store/edge-values.js';
import { tempDir } from '../helpers/temp-dir.js';

function rowsOf(list: [Buffer, number][]): Buffer {
  const rows = Buffer.alloc(list.length * ENTRY);
  list.forEach(([udid, id], i) => {
    udid.copy(rows, i * ENTRY);
    rows.writeUInt32LE(id, i * ENTRY + 16);
  });
  return rows;
}

describe('the udid index in chunks', () => {
  it('sorts entries by UDID, ties on the leading bytes and rows at any byte offset included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat()), { maxLength: 300 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 3 }),
        (list, shared, offset) => {
          // A few prefixes of `shared` bytes make many ties on the bits the sort keys on first.
          const prefixes = [randomBytes(16), randomBytes(16), randomBytes(16), randomBytes(16)];
          const entriesIn = list.map(([p, tail, id]) => {
            const udid = Buffer.from(tail);
            prefixes[p]!.copy(udid, 0, 0, shared);
            return [udid, id >>> 0] as [Buffer, number];
          });
          const packed = rowsOf(entriesIn);
          const rows = Buffer.alloc(packed.length + offset).subarray(offset);
          packed.copy(rows);
          const out = sortEntries(rows, entriesIn.length);
          const got = Array.from({ length: entriesIn.length }, (_, i) => out.subarray(i * ENTRY, (i + 1) * ENTRY).toString('hex'));
          const want = Array.from({ length: entriesIn.length }, (_, i) => rows.subarray(i * ENTRY, (i + 1) * ENTRY).toString('hex'));
          expect([...got].sort()).toEqual([...want].sort());
          for (let i = 1; i < got.length; i++) expect(got[i - 1]!.slice(0, 32) <= got[i]!.slice(0, 32)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merges, finds, removes and lists like a Map, whatever the batches, parts and repeats', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.integer({ min: 0, max: 400 }), parts: fc.integer({ min: 1, max: 4 }), repeat: fc.integer({ min: 0, max: 20 }), remove: fc.integer({ min: 0, max: 10 }) }), {
          minLength: 1,
          maxLength: 6,
        }),
        (batches) => {
          const env = open({ path: join(tempDir(), 'env'), maxDbs: 4 });
          const db = env.openDB('udid', { keyEncoding: 'binary', encoding: 'binary' });
          const model = new Map<string, number>();
          let nextId = 1;
          for (const b of batches) {
            const fresh: [Buffer, number][] = Array.from({ length: b.size }, () => [randomBytes(16), nextId++]);
            // Some entries again, with the ids they have: a merge leaves them as they are.
            const known = [...model.entries()].slice(0, b.repeat).map(([hex, id]) => [Buffer.from(hex, 'hex'), id] as [Buffer, number]);
            const list = [...fresh, ...known];
            const sorted = sortEntries(rowsOf(list), list.length);
            const step = Math.ceil(list.length / b.parts) || 1;
            let added = 0;
            for (let from = 0; from < list.length; from += step) {
              added += env.transactionSync(() => mergeEntries(db as never, sorted, from, Math.min(list.length, from + step)));
            }
            expect(added).toBe(fresh.length);
            for (const [udid, id] of fresh) model.set(udid.toString('hex'), id);
            for (const hex of [...model.keys()].slice(0, b.remove)) {
              expect(env.transactionSync(() => removeEntry(db as never, Buffer.from(hex, 'hex')))).toBe(true);
              model.delete(hex);
            }
          }
          for (const [hex, id] of model) expect(lookup(db as never, Buffer.from(hex, 'hex'))).toBe(id);
          expect(lookup(db as never, randomBytes(16))).toBeUndefined();
          const listed = [...entries(db as never)].map((e) => [e.udid.toString('hex'), e.id]);
          expect(listed).toEqual([...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
          // Each chunk: whole entries, then its checksum (chunkBody throws on a mismatch).
          for (const { key, value } of db.getRange() as Iterable<{ key: Buffer; value: Buffer }>) {
            expect(value.length - chunkBody(key, value).length).toBe(4);
            expect(chunkBody(key, value).length / ENTRY).toBeLessThanOrEqual(CHUNK_ENTRIES);
          }
          // A scan from any UDID starts at the chunk that may hold it.
          const from = randomBytes(16);
          const after = [...entries(db as never, { from })].map((e) => e.udid.toString('hex')).filter((h) => h >= from.toString('hex'));
          expect(after).toEqual(listed.map(([h]) => h as string).filter((h) => h >= from.toString('hex')));
          void env.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses a UDID already indexed under another id, in the merge and within one batch', () => {
    const env = open({ path: join(tempDir(), 'env'), maxDbs: 4 });
    const db = env.openDB('udid', { keyEncoding: 'binary', encoding: 'binary' });
    const udid = randomBytes(16);
    env.transactionSync(() => mergeEntries(db as never, rowsOf([[udid, 1]]), 0, 1));
    expect(() => env.transactionSync(() => mergeEntries(db as never, rowsOf([[udid, 2]]), 0, 1))).toThrow(/maps [0-9a-f]{32} to id 1, not 2/);
    const other = randomBytes(16);
    const twice = sortEntries(rowsOf([[other, 3], [other, 4]]), 2);
    expect(() => env.transactionSync(() => mergeEntries(db as never, twice, 0, 2))).toThrow(/to id \d, not \d/);
    expect(lookup(db as never, udid)).toBe(1);
  });
});

describe('task records in meta blocks', () => {
  it('hold what was written last for each id, over batches, edits and clears', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uniqueArray(fc.integer({ min: 1, max: 300 }), { maxLength: 80 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 20 }),
        (batches, cleared) => {
          const env = open({ path: join(tempDir(), 'env'), maxDbs: 4 });
          const db = env.openDB('meta', { keyEncoding: 'uint32', encoding: 'binary' });
          const model = new Map<number, Buffer>();
          batches.forEach((batch, b) => {
            const ids = [...batch].sort((x, y) => x - y);
            const idBuf = Buffer.alloc(ids.length * 4);
            const recs = Buffer.alloc(ids.length * META_SIZE);
            ids.forEach((id, i) => {
              idBuf.writeUInt32LE(id, i * 4);
              const rec = randomBytes(META_SIZE);
              rec.writeUInt32LE(1 + b, 18); // the root field: never 0 for a task
              rec.copy(recs, i * META_SIZE);
              model.set(id, rec);
            });
            env.transactionSync(() => putRecords(db as never, idBuf, recs, ids.length));
          });
          for (const id of cleared) {
            expect(env.transactionSync(() => editRecord(db as never, id, null))).toBe(model.has(id));
            model.delete(id);
          }
          const found = new Map<number, Buffer>();
          for (const { key, value: stored } of db.getRange() as Iterable<{ key: number; value: Buffer }>) {
            // Whole records, then the block's checksum (blockBody throws on a mismatch).
            const value = blockBody(stored, key);
            expect(stored.length - value.length).toBe(4);
            expect(value.length % META_SIZE).toBe(0);
            expect(value.length).toBeGreaterThan(0);
            forEachRecord(value, key, (id, at) => found.set(id, Buffer.from(value.subarray(at, at + META_SIZE))));
          }
          expect([...found.entries()].sort(([a], [b]) => a - b)).toEqual([...model.entries()].sort(([a], [b]) => a - b));
          for (const [id, rec] of model) expect(readBlock(db as never, id >>> 5)!.subarray((id & 31) * META_SIZE, (id & 31) * META_SIZE + META_SIZE)).toEqual(rec);
          void env.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('edge values: one id or a run of ids', () => {
  it('list and remove ids like a Set, runs split where an id in them goes', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 61 }), { maxLength: 20 }), (ids, removals) => {
        const env = open({ path: join(tempDir(), 'env'), maxDbs: 2 });
        const db = env.openDB('children', { keyEncoding: 'uint32', encoding: 'binary', dupSort: true });
        // Written as the write thread does: sorted, consecutive ids as one value.
        const sorted = [...ids].sort((a, b) => a - b);
        env.transactionSync(() => {
          for (let i = 0; i < sorted.length; ) {
            const first = sorted[i]!;
            let last = first;
            for (i++; i < sorted.length && sorted[i] === last + 1; i++) last = sorted[i]!;
            db.putSync(7, encodeEdge(7, first, last, Buffer.alloc(5), Buffer.alloc(9)));
          }
        });
        const model = new Set(ids);
        for (const id of removals) {
          expect(env.transactionSync(() => removeEdgeId(db as never, 7, id))).toBe(model.delete(id));
          expect(pushEdgeIds(db.getValues(7) as Iterable<Uint8Array>, 7, [], 'test')).toEqual([...model].sort((a, b) => a - b));
        }
        expect(pushEdgeIds(db.getValues(7) as Iterable<Uint8Array>, 7, [], 'test').length).toBe(model.size);
        env.close();
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a value of another shape, and a value or key with any byte changed', () => {
    expect(() => pushEdgeIds([Buffer.alloc(6)], 3, [], 'the parents rows of task 3')).toThrow(/parents rows of task 3.*6 bytes/);
    expect(() => pushEdgeIds([edgeValue(3, 9).subarray(0, 4)], 3, [], 'x')).toThrow(/4 bytes/);
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 255 }), (key, first, span, at, mask) => {
        const last = Math.min(0xffffffff, first + span);
        const v = edgeValue(key, first, last);
        expect(edgeRange(v, key)).toEqual([first, last]);
        if (at < v.length) {
          const changed = Buffer.from(v);
          changed[at]! ^= mask;
          expect(edgeRange(changed, key)).toBeNull();
        }
        // A flipped byte of the key the value is stored under.
        const otherKey = (key ^ (mask << (8 * (at % 4)))) >>> 0;
        expect(edgeRange(v, otherKey)).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });
});
