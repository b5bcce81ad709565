// @ts-check
/**
 * @internal
 * Commits a batch (write-batch.ts) to a shard in one synchronous, durable
 * transaction (a big `udid` merge follows in parts, see commitRows). The
 * write thread (write-worker.js) runs it for the batches it is sent, and
 * the main thread (write-thread.ts) for the ones it commits itself before
 * the thread is up.
 *
 * Plain JavaScript (no types to strip) so that the write thread loads it the
 * same way from `src` under the test runner and from `dist`.
 */
import { hostname } from 'node:os';
import { BLOCK_TASKS, blockOf, lastKey, putRecords, readBlock, recordAt } from './meta-blocks.js';
import { ONE_ID, RUN_IDS, encodeEdge } from './edge-values.js';
import { ENTRY, mergeEntries, sortEntries } from './udid-chunks.js';
import { CHECK_SIZE, seal } from './value-check.js';
import { UNINDEXED_KEY } from './shard-layout.js';

/**
 * @typedef {'metaIds' | 'meta' | 'errors' | 'parents' | 'children' | 'sources' | 'outputs'} Section
 * @typedef {{ buffers: Record<Section, ArrayBufferLike>, lengths: Record<Section, number>, merge: readonly number[], indexed: readonly number[], claim: number }} Batch
 * @typedef {{ start: number, end: number }} IdBlock
 * @typedef {{ putSync(key: any, value: any, options?: object): unknown, removeSync(key: any): unknown, get(key: any): any, getBinaryFast(key: any): Buffer | undefined, getKeys(options: object): Iterable<any>, getRange(options: object): Iterable<any> }} Db
 * @typedef {Record<Exclude<Section, 'metaIds' | 'outputs'> | 'udid' | 'info', Db> & { outputs: Db | undefined }} WriteDbs
 */

/**
 * Reserves the next `size` task ids of the shard and lists them as not yet in
 * the `udid` index; the caller holds the write transaction. Null when the
 * shard's ids are exhausted. Blocks keep processes that share a shard apart.
 * @param {Db} info @param {number} size @returns {IdBlock | null}
 */
export function claimIdBlock(info, size) {
  const next = info.get('next_id') ?? 1;
  if (next + size > 0xffffffff) return null;
  info.putSync('next_id', next + size);
  const listed = info.get(UNINDEXED_KEY);
  const block = { start: next, end: next + size, host: hostname(), pid: process.pid };
  info.putSync(UNINDEXED_KEY, [...(Array.isArray(listed) ? listed : []), block]);
  return { start: next, end: next + size };
}

const APPEND = { append: true };

/**
 * Puts the edges of a batch section into a dupSort sub-DB, sorted by key
 * then value. An edge is (value u32, key u32) in native order, so the
 * section read as u64s sorts by key then value in place. The edges of a
 * key with consecutive values become one run value (edge-values.js). A
 * row whose key sorts after the sub-DB's last is appended (its page is
 * left full, not split in half). A put that fails throws, with the row.
 * @param {Db} db @param {string} name @param {ArrayBufferLike} buffer @param {number} count
 */
function putEdges(db, name, buffer, count) {
  if (count === 0) return;
  const words = new Uint32Array(buffer, 0, count * 2);
  const w = (/** @type {number} */ i) => /** @type {number} */ (words[i]);
  for (let i = 1; i < count; i++) {
    const k = w(2 * i + 1);
    const before = w(2 * i - 1);
    if (k < before || (k === before && w(2 * i) < w(2 * i - 2))) {
      new BigUint64Array(buffer, 0, count).sort();
      break;
    }
  }
  let last = lastKey(db);
  for (let i = 0; i < count; ) {
    const key = w(2 * i + 1);
    const first = w(2 * i);
    let end = first;
    // The run: same key, each value the one before + 1 (or the same: a repeat).
    for (i++; i < count && w(2 * i + 1) === key && w(2 * i) - end <= 1; i++) end = w(2 * i);
    const value = encodeEdge(key, first, end, ONE, RUN);
    const ok = key > last ? db.putSync(key, value, APPEND) : db.putSync(key, value);
    if (ok === false) throw new Error(`the ${name} sub-DB refused the row ${key} → ${first}..${end}`);
    if (key > last) last = key;
  }
}

/** The values putEdges writes. */
const ONE = Buffer.alloc(ONE_ID);
const RUN = Buffer.alloc(RUN_IDS);

/**
 * Puts or removes texts keyed by task id (error texts, output paths, source keys by root id): per
 * entry the id (u32 LE), the text's length in bytes (u32 LE; REMOVE_ERROR:
 * take the row out) and the text, sealed with a CRC32 seeded with the id.
 * @param {Db | undefined} db @param {Buffer} rows
 */
function putTexts(db, rows) {
  if (rows.length === 0) return;
  if (!db) throw new Error('a sub-DB the batch writes is not open');
  for (let at = 0; at < rows.length; ) {
    const id = rows.readUInt32LE(at);
    const size = rows.readUInt32LE(at + 4);
    if (size === REMOVE_ERROR) {
      db.removeSync(id);
      at += 8;
    } else {
      const text = Buffer.alloc(size + CHECK_SIZE);
      rows.copy(text, 0, at + 8, at + 8 + size);
      seal(text, size, id);
      db.putSync(id, text);
      at += 8 + size;
    }
  }
}

/** The error-text length that asks for the row's removal. */
export const REMOVE_ERROR = 0xffffffff;

/**
 * The index entries (16-byte UDID, id u32 LE) of the tasks in `ranges`
 * (id pairs [start, end)), read from their meta records in the caller's
 * transaction.
 * @param {Db} meta @param {readonly number[]} ranges @param {number} n
 */
function entriesOf(meta, ranges, n) {
  const out = Buffer.allocUnsafe(n * ENTRY);
  let found = 0;
  for (let r = 0; r < ranges.length; r += 2) {
    const start = /** @type {number} */ (ranges[r]);
    const end = /** @type {number} */ (ranges[r + 1]);
    for (let id = start; id < end; ) {
      const block = blockOf(id);
      const value = readBlock(meta, block);
      const blockEnd = Math.min(end, (block + 1) * BLOCK_TASKS);
      for (; id < blockEnd; id++) {
        const at = value ? recordAt(value, id) : -1;
        if (!value || at < 0) continue;
        const o = found++ * ENTRY;
        for (let b = 0; b < 16; b++) out[o + b] = /** @type {number} */ (value[at + b]);
        out.writeUInt32LE(id, o + 16);
      }
    }
  }
  if (found !== n) throw new Error(`the udid merge found ${found} meta records of the ${n} tasks it was given`);
  return out;
}

/**
 * `udid` rows a transaction puts at most. A big merge (udid-tail.ts) is split
 * into transactions by key range: the new keys land all over the index, so
 * one transaction would copy nearly every leaf page of it, and LMDB keeps the
 * memory of a transaction's page copies for reuse until the environment
 * closes. In key order, each part copies its share of the pages.
 */
export const MERGE_ROWS_PER_TXN = 1 << 16;

/**
 * Commits `batch` to the shard open as `env` with sub-DBs `dbs` and returns
 * the id block it claimed, merge parts included (see commitRows).
 * @param {import('lmdb').RootDatabase} env @param {WriteDbs} dbs @param {Batch} batch
 * @returns {IdBlock | null}
 */
export function commitBatch(env, dbs, batch) {
  const { block, parts } = commitRows(env, dbs, batch);
  if (parts) for (const _ of parts);
  return block;
}

/**
 * Commits every row of `batch` but a big merge's `udid` rows in one
 * transaction (that is what keeps a committed prefix consistent) and returns
 * the id block it claimed and, for a big merge, its parts: each step of
 * `parts` commits one. The last part unlists the merge's blocks, so until
 * then readers still find those tasks through their `meta` rows.
 * @param {import('lmdb').RootDatabase} env @param {WriteDbs} dbs @param {Batch} batch
 * @returns {{ block: IdBlock | null, parts: Generator<void> | null }}
 */
export function commitRows(env, dbs, batch) {
  const view = (/** @type {Section} */ name) => Buffer.from(batch.buffers[name], 0, batch.lengths[name]);
  const n = mergeRows(batch);
  const split = n > MERGE_ROWS_PER_TXN;
  /** @type {Buffer | null} */
  let sorted = null;
  const block = env.transactionSync(() => {
    putRecords(dbs.meta, view('metaIds'), view('meta'), batch.lengths.metaIds / 4);
    putTexts(dbs.errors, view('errors'));
    putTexts(dbs.outputs, view('outputs'));
    putEdges(dbs.parents, 'parents', batch.buffers.parents, batch.lengths.parents / 8);
    putEdges(dbs.children, 'children', batch.buffers.children, batch.lengths.children / 8);
    putTexts(dbs.sources, view('sources'));
    if (n > 0) {
      // The merge's entries from the tasks' meta records, this batch's included, in UDID order.
      sorted = sortEntries(entriesOf(dbs.meta, batch.merge, n), n);
      if (!split) mergeEntries(dbs.udid, sorted, 0, n);
    }
    if (!split) unlist(dbs.info, batch.indexed);
    return batch.claim > 0 ? claimIdBlock(dbs.info, batch.claim) : null;
  });
  return { block, parts: split && sorted ? mergeParts(env, dbs, sorted, n, batch.indexed) : null };
}

/**
 * The transactions of a big merge of `n` sorted entries, in UDID order.
 * @param {import('lmdb').RootDatabase} env @param {WriteDbs} dbs @param {Buffer} sorted @param {number} n @param {readonly number[]} indexed
 * @returns {Generator<void>}
 */
function* mergeParts(env, dbs, sorted, n, indexed) {
  for (let from = 0; from < n; from += MERGE_ROWS_PER_TXN) {
    const to = Math.min(n, from + MERGE_ROWS_PER_TXN);
    env.transactionSync(() => {
      mergeEntries(dbs.udid, sorted, from, to);
      if (to === n) unlist(dbs.info, indexed);
    });
    yield;
  }
}

/** The number of tasks `batch` merges into the index. @param {Batch} batch */
function mergeRows(batch) {
  let n = 0;
  for (let i = 0; i < batch.merge.length; i += 2) n += /** @type {number} */ (batch.merge[i + 1]) - /** @type {number} */ (batch.merge[i]);
  return n;
}

/** True when `batch`'s merge comes in parts. @param {Batch} batch */
export function bigMerge(batch) {
  return mergeRows(batch) > MERGE_ROWS_PER_TXN;
}

/** Takes the id blocks starting at `starts` off the info `unindexed` list. @param {Db} info @param {readonly number[]} starts */
function unlist(info, starts) {
  if (starts.length === 0) return;
  const listed = info.get(UNINDEXED_KEY);
  info.putSync(UNINDEXED_KEY, (Array.isArray(listed) ? listed : []).filter((b) => !starts.includes(b.start)));
}
