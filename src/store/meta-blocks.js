// @ts-check
/**
 * @internal
 * The `meta` sub-DB: every task's fixed record (META_SIZE bytes, the codec
 * in task-record.js), BLOCK_TASKS consecutive ids to a value, keyed by the block
 * number (id >>> 5). A failed task's error text is in `errors` (id → text).
 *
 * Why blocks: through the stock lmdb-js, a put costs ~1 µs whatever its
 * size up to ~1 KB, and a W1 run at S = 100,000 writes 1.6 million task
 * records. A batch changes runs of consecutive ids (the tasks it created
 * and those it consumed), so one get and one put of a block replace up to
 * 32 puts, and a scan steps through 32 tasks a cursor step.
 *
 * A record whose root field is 0 is absent (task-record.js isPresent): every
 * task has a root, and ids start at 1. A block is as long as its last present record,
 * then a CRC32 of its records seeded with the block number (value-check.js):
 * every read checks it, so a flipped bit is reported, not read as a task.
 *
 * Plain JavaScript: the write thread (write-worker.js) loads it without a
 * TypeScript step.
 */

import { TASK_RECORD_SIZE, isPresent } from './task-record.js';
import { CHECK_SIZE, seal, unseal } from './value-check.js';

/** Bytes of a task's record. */
export const META_SIZE = TASK_RECORD_SIZE;
/** Tasks a block holds; a power of two. */
export const BLOCK_TASKS = 32;
const BLOCK_SHIFT = 5;

/** @param {number} id */
export function blockOf(id) {
  return id >>> BLOCK_SHIFT;
}

/** The first id of block `block`. @param {number} block */
export function blockStart(block) {
  return block * BLOCK_TASKS;
}

/**
 * The records of block `block`'s stored value (a view), after checking its
 * checksum; throws DamagedValueError when it does not match.
 * @param {Buffer} value @param {number} block
 */
export function blockBody(value, block) {
  return unseal(value, block, META_SIZE, `meta block ${block} (tasks ${blockStart(block)}-${blockStart(block) + BLOCK_TASKS - 1})`);
}

/** Offset of `id`'s record in its block's records (blockBody), or -1 when they hold none. @param {Buffer} value @param {number} id */
export function recordAt(value, id) {
  const at = (id & (BLOCK_TASKS - 1)) * META_SIZE;
  if (at + META_SIZE > value.length) return -1;
  return isPresent(value, at) ? at : -1;
}

/**
 * Calls `each(id, at)` for every present record of a block's records
 * (blockBody), in id order; `at` is the record's offset in `value`.
 * @param {Buffer} value @param {number} block @param {(id: number, at: number) => void} each
 */
export function forEachRecord(value, block, each) {
  const first = blockStart(block);
  for (let at = 0, i = 0; at + META_SIZE <= value.length; at += META_SIZE, i++) {
    if (isPresent(value, at)) each(first + i, at);
  }
}

/**
 * @typedef {{ getBinaryFast(key: number): Buffer | undefined, putSync(key: number, value: Uint8Array, options?: object): unknown, removeSync(key: number): unknown, getKeys(options: object): Iterable<number> }} BlockDb
 */

const APPEND = { append: true };

/**
 * Block `block`'s records (a view valid until the next read, checksum
 * checked), or undefined. getBinaryFast answers with a view of lmdb-js's
 * whole read buffer whose `length` property alone is the value's:
 * Buffer#copy and Buffer.from would read past it, so the view is cut to it.
 * @param {BlockDb} db @param {number} block
 */
export function readBlock(db, block) {
  const v = db.getBinaryFast(block);
  return v && blockBody(v.subarray(0, v.length), block);
}

/**
 * Writes `count` records into the blocks of `db`, inside the caller's write
 * transaction: record i (META_SIZE bytes at `recs[i * META_SIZE]`) is task
 * `ids.readUInt32LE(4 * i)`, ids ascending. Each block is read, overlaid
 * and put once; a run of consecutive ids is one copy. A block after the
 * sub-DB's last is appended, so pages filled in id order stay full.
 * @param {BlockDb} db @param {Buffer} ids @param {Buffer} recs @param {number} count
 */
export function putRecords(db, ids, recs, count) {
  let last = lastKey(db);
  for (let i = 0; i < count; ) {
    const block = ids.readUInt32LE(4 * i) >>> BLOCK_SHIFT;
    let j = i + 1;
    while (j < count && ids.readUInt32LE(4 * j) >>> BLOCK_SHIFT === block) j++;
    const end = ((ids.readUInt32LE(4 * (j - 1)) & (BLOCK_TASKS - 1)) + 1) * META_SIZE;
    const old = block <= last ? readBlock(db, block) : undefined;
    // A fresh buffer: lmdb-js stores a value that views a SharedArrayBuffer (the batch) as garbage.
    const size = Math.max(end, old ? old.length : 0);
    const out = Buffer.alloc(size + CHECK_SIZE);
    if (old) old.copy(out);
    for (let k = i; k < j; ) {
      const first = ids.readUInt32LE(4 * k);
      let run = 1;
      while (k + run < j && ids.readUInt32LE(4 * (k + run)) === first + run) run++;
      recs.copy(out, (first & (BLOCK_TASKS - 1)) * META_SIZE, k * META_SIZE, (k + run) * META_SIZE);
      k += run;
    }
    seal(out, size, block);
    if (block > last) {
      db.putSync(block, out, APPEND);
      last = block;
    } else db.putSync(block, out);
    i = j;
  }
}

/**
 * Rewrites one task's record through `edit` (a copy of it; return false to
 * leave it), or clears it (`edit` null); in the caller's write transaction.
 * Returns false when the task has no record.
 * @param {BlockDb} db @param {number} id @param {((row: Buffer) => boolean | void) | null} edit
 */
export function editRecord(db, id, edit) {
  const block = id >>> BLOCK_SHIFT;
  const old = readBlock(db, block);
  if (!old || recordAt(old, id) < 0) return false;
  const out = Buffer.alloc(old.length + CHECK_SIZE);
  old.copy(out);
  const at = recordAt(out.subarray(0, old.length), id);
  if (edit === null) out.fill(0, at, at + META_SIZE);
  else if (edit(out.subarray(at, at + META_SIZE)) === false) return true;
  let end = old.length;
  while (end > 0 && recordAt(out.subarray(0, end), blockStart(block) + end / META_SIZE - 1) < 0) end -= META_SIZE;
  if (end === 0) db.removeSync(block);
  else {
    seal(out, end, block);
    db.putSync(block, Buffer.from(out.subarray(0, end + CHECK_SIZE)));
  }
  return true;
}

/**
 * Options of a reverse scan of a uint32-keyed sub-DB that reaches key 0:
 * without an `end`, lmdb-js stops before its default first key, which is 0.
 */
export const DOWN_TO_ZERO = /** @type {const} */ ({ reverse: true, end: 0, inclusiveEnd: true });

/**
 * The last key of a uint32-keyed sub-DB (the last block's number), or -1; `transaction`: in that read snapshot.
 * @param {{ getKeys(options: object): Iterable<number> }} db @param {object} [transaction]
 */
export function lastKey(db, transaction) {
  for (const key of db.getKeys({ ...DOWN_TO_ZERO, limit: 1, ...(transaction ? { transaction } : {}) })) return key;
  return -1;
}
