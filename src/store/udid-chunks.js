// @ts-check
/**
 * @internal
 * The `udid` sub-DB, UDID → task id, as one sorted run cut into chunks: a
 * value holds up to CHUNK_ENTRIES entries (16 UDID bytes, then the id as
 * u32 LE) in UDID order, under a key that is at most its first UDID and
 * greater than every UDID of the chunk before. A lookup reads the chunk
 * with the greatest key at or below the UDID and searches it.
 *
 * Why chunks: the index is the one sub-DB with random keys, and it is
 * written in bulk merges (udid-tail.ts) that touch most of it. One stock
 * lmdb-js put per entry (~1 µs) was the largest part of a merge; a chunk
 * of 48 entries costs one.
 *
 * Each value ends with a CRC32 of its entries seeded with the CRC of its key
 * (value-check.js); every read checks it.
 *
 * Plain JavaScript: the write thread (write-worker.js) loads it without a
 * TypeScript step.
 */

import { CHECK_SIZE, seal, seedOf, unseal } from './value-check.js';

export const ENTRY = 20;
/** Entries a chunk holds at most: 960 bytes, four values to a 4 KB page. */
export const CHUNK_ENTRIES = 48;
const APPEND = { append: true };

/**
 * @typedef {{ getRange(options: object): Iterable<{ key: Buffer, value: Buffer }>, getKeys(options: object): Iterable<Buffer>, putSync(key: Buffer, value: Buffer, options?: object): unknown, removeSync(key: Buffer): unknown }} ChunkDb
 */

/** The id of `udid` (16 bytes) in a chunk value, or 0. @param {Buffer} chunk @param {Buffer} udid */
export function findInChunk(chunk, udid) {
  let lo = 0;
  let hi = Math.floor(chunk.length / ENTRY) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = udid.compare(chunk, mid * ENTRY, mid * ENTRY + 16, 0, 16);
    if (c === 0) return chunk.readUInt32LE(mid * ENTRY + 16);
    if (c > 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

/**
 * The chunk that holds `udid` if anything does: key and value (copies), or null.
 * @param {ChunkDb} db @param {Buffer} udid @param {object} [txn]
 */
export function chunkOf(db, udid, txn) {
  for (const { key, value } of db.getRange({ start: udid, reverse: true, limit: 1, ...(txn ? { transaction: txn } : {}) })) {
    return { key: Buffer.from(key), value: Buffer.from(chunkBody(key, value)) };
  }
  return null;
}

/**
 * A stored chunk's entries (a view), after checking its checksum; throws DamagedValueError when it does not match.
 * @param {Buffer} key @param {Buffer} value
 */
export function chunkBody(key, value) {
  return unseal(value, seedOf(key), ENTRY, `udid index chunk ${key.toString('hex')}`);
}

/**
 * `entries` sealed for storage under `key`: a copy with its checksum.
 * @param {Buffer} key @param {Buffer} entries
 */
function sealed(key, entries) {
  const out = Buffer.alloc(entries.length + CHECK_SIZE);
  entries.copy(out);
  seal(out, entries.length, seedOf(key));
  return out;
}

/** The id `db` maps `udid` to, or undefined. @param {ChunkDb} db @param {Buffer} udid @param {object} [txn] */
export function lookup(db, udid, txn) {
  const chunk = chunkOf(db, udid, txn);
  const id = chunk ? findInChunk(chunk.value, udid) : 0;
  return id === 0 ? undefined : id;
}

/**
 * Every entry in UDID order, from the chunk that may hold `from` on: the
 * UDID (a view valid until the next step) and the id.
 * @param {ChunkDb} db @param {{ from?: Buffer, transaction?: object }} [options]
 * @returns {Generator<{ udid: Buffer, id: number }>}
 */
export function* entries(db, options = {}) {
  const txn = options.transaction ? { transaction: options.transaction } : {};
  let start = null;
  if (options.from) start = chunkOf(db, options.from, options.transaction)?.key ?? null;
  for (const { key, value: stored } of db.getRange(start ? { start, ...txn } : txn)) {
    const value = chunkBody(key, stored);
    for (let at = 0; at + ENTRY <= value.length; at += ENTRY) yield { udid: value.subarray(at, at + 16), id: value.readUInt32LE(at + 16) };
  }
}

/**
 * Sorts `n` entries packed in `rows` by UDID; returns a new buffer. Each
 * entry becomes one u64 (the UDID's leading bits, then the entry's index in
 * the low bits) sorted by the engine's native sort; entries whose leading
 * bits tie (UDIDs are uniform, so next to none) are put in order by their
 * whole UDID; then the entries are gathered a word at a time. A byte loop
 * and a bucket sort in JavaScript took 2.5 times as long: the gather's
 * random reads dominate, and words make five of them where bytes made twenty.
 * @param {Buffer} rows @param {number} n
 */
export function sortEntries(rows, n) {
  // The index takes the low bits of the second word; the UDID's first 64 - indexBits bits sort.
  const indexBits = Math.max(1, Math.ceil(Math.log2(n)));
  if (indexBits >= 32) throw new RangeError(`sortEntries: ${n} entries are more than one sort takes`);
  const keys = new BigUint64Array(n);
  // Little-endian halves: [2k] is the low word, [2k + 1] the high one.
  const half = new Uint32Array(keys.buffer);
  const mask = 2 ** indexBits - 1;
  for (let i = 0; i < n; i++) {
    half[2 * i + 1] = rows.readUInt32BE(i * ENTRY);
    half[2 * i] = (((rows.readUInt32BE(i * ENTRY + 4) >>> indexBits) << indexBits) | i) >>> 0;
  }
  keys.sort();
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = at(half, 2 * k) & mask;
  /** Sorted positions j and k share the leading bits. @param {number} j @param {number} k */
  const tied = (j, k) => at(half, 2 * j + 1) === at(half, 2 * k + 1) && at(half, 2 * j) >>> indexBits === at(half, 2 * k) >>> indexBits;
  for (let k = 1; k < n; k++) {
    if (at(half, 2 * k + 1) !== at(half, 2 * k - 1) || !tied(k - 1, k)) continue;
    // Among entries tied on the leading bits (positions are contiguous), insertion sort on the whole UDID.
    const x = at(order, k);
    let j = k - 1;
    for (; j >= 0 && tied(j, k); j--) {
      const y = at(order, j);
      if (compareEntries(rows, y, rows, x) <= 0) break;
      order[j + 1] = y;
    }
    order[j + 1] = x;
  }
  const from = rows.byteOffset % 4 === 0 ? rows : Buffer.from(rows.subarray(0, n * ENTRY));
  const src = new Uint32Array(from.buffer, from.byteOffset, n * WORDS);
  const out = Buffer.alloc(n * ENTRY);
  const dst = new Uint32Array(out.buffer, out.byteOffset, n * WORDS);
  for (let k = 0; k < n; k++) {
    const a = at(order, k) * WORDS;
    const d = k * WORDS;
    // Unrolled: as a loop over the five words it took twice as long.
    dst[d] = at(src, a);
    dst[d + 1] = at(src, a + 1);
    dst[d + 2] = at(src, a + 2);
    dst[d + 3] = at(src, a + 3);
    dst[d + 4] = at(src, a + 4);
  }
  return out;
}

/** An entry's length in 32-bit words (the gather in sortEntries copies five). */
const WORDS = 5;

/**
 * Copies entry `i` of `from` to entry `j` of `to`. A byte loop: Buffer#copy
 * costs ~0.5 µs a call (it checks and builds views), which at millions of
 * entries was most of a merge.
 * @param {Buffer} from @param {number} i @param {Buffer} to @param {number} j
 */
function copyEntry(from, i, to, j) {
  const a = i * ENTRY;
  const b = j * ENTRY;
  for (let k = 0; k < ENTRY; k++) to[b + k] = /** @type {number} */ (from[a + k]);
}

/** True when the UDIDs of entry `i` of `a` and entry `j` of `b` are equal. @param {Buffer} a @param {number} i @param {Buffer} b @param {number} j */
function sameUdid(a, i, b, j) {
  return a.readUInt32LE(i * ENTRY) === b.readUInt32LE(j * ENTRY) && a.readUInt32LE(i * ENTRY + 4) === b.readUInt32LE(j * ENTRY + 4) &&
    a.readUInt32LE(i * ENTRY + 8) === b.readUInt32LE(j * ENTRY + 8) && a.readUInt32LE(i * ENTRY + 12) === b.readUInt32LE(j * ENTRY + 12);
}

/**
 * Compares the UDIDs of entry `i` of `a` and entry `j` of `b` in byte order,
 * a big-endian word at a time.
 * @param {Buffer} a @param {number} i @param {Buffer} b @param {number} j
 */
function compareEntries(a, i, b, j) {
  for (let k = 0; k < 16; k += 4) {
    const x = a.readUInt32BE(i * ENTRY + k);
    const y = b.readUInt32BE(j * ENTRY + k);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** `a[i]`, which the caller knows is in bounds. @param {Uint32Array} a @param {number} i */
function at(a, i) {
  return /** @type {number} */ (a[i]);
}

/**
 * Merges entries [from, to) of the sorted `rows` into `db`, inside the
 * caller's write transaction: the chunks whose ranges they fall in are
 * read, merged with them and written again, cut evenly into chunks of at
 * most CHUNK_ENTRIES. An entry already there with the same id is left; a
 * UDID already there with another id is refused (a task has one id).
 * Returns the number of entries added.
 * @param {ChunkDb} db @param {Buffer} rows @param {number} from @param {number} to
 */
export function mergeEntries(db, rows, from, to) {
  if (from >= to) return 0;
  const lo = rows.subarray(from * ENTRY, from * ENTRY + 16);
  const hi = rows.subarray((to - 1) * ENTRY, (to - 1) * ENTRY + 16);
  const first = chunkOf(db, lo);
  /** @type {Buffer[]} */
  const oldKeys = [];
  /** @type {Buffer[]} */
  const oldValues = [];
  for (const { key, value } of db.getRange(first ? { start: first.key, end: hi, inclusiveEnd: true } : { end: hi, inclusiveEnd: true })) {
    oldKeys.push(Buffer.from(key));
    oldValues.push(Buffer.from(chunkBody(key, value)));
  }
  const old = Buffer.concat(oldValues);
  const nOld = old.length / ENTRY;
  const merged = Buffer.allocUnsafe((nOld + to - from) * ENTRY);
  let n = 0;
  let i = 0;
  let j = from;
  let added = 0;
  while (i < nOld || j < to) {
    const c = i >= nOld ? 1 : j >= to ? -1 : compareEntries(old, i, rows, j);
    if (c < 0) copyEntry(old, i++, merged, n++);
    else if (c === 0) {
      // Already indexed: the old entry is copied at the next step.
      sameId(old, i, rows, j++);
    } else if (n > 0 && sameUdid(merged, n - 1, rows, j)) {
      sameId(merged, n - 1, rows, j++);
    } else {
      copyEntry(rows, j++, merged, n++);
      added++;
    }
  }
  if (added === 0) return 0;
  const chunks = Math.ceil(n / CHUNK_ENTRIES);
  /** @type {Buffer[]} */
  const newKeys = [];
  for (let k = 0; k < chunks; k++) {
    const from = Math.floor((k * n) / chunks);
    // The first chunk keeps its key when its entries stay above it: only a smaller key would need it moved.
    const kept = k === 0 ? oldKeys[0] : undefined;
    newKeys.push(kept && kept.compare(merged, 0, 16) <= 0 ? kept : Buffer.from(merged.subarray(from * ENTRY, from * ENTRY + 16)));
  }
  // Both lists are sorted: an old key that is no new key goes.
  let k = 0;
  for (const key of oldKeys) {
    while (k < newKeys.length && /** @type {Buffer} */ (newKeys[k]).compare(key) < 0) k++;
    if (k >= newKeys.length || !(/** @type {Buffer} */ (newKeys[k]).equals(key))) db.removeSync(key);
  }
  let last = null;
  for (const key of db.getKeys({ reverse: true, limit: 1 })) last = Buffer.from(key);
  for (let c = 0; c < chunks; c++) {
    const start = Math.floor((c * n) / chunks);
    const end = Math.floor(((c + 1) * n) / chunks);
    const key = /** @type {Buffer} */ (newKeys[c]);
    const value = sealed(key, merged.subarray(start * ENTRY, end * ENTRY));
    if (last === null || key.compare(last) > 0) {
      db.putSync(key, value, APPEND);
      last = key;
    } else db.putSync(key, value);
  }
  return added;
}

/**
 * @param {Buffer} a @param {number} i @param {Buffer} rows @param {number} j
 */
function sameId(a, i, rows, j) {
  const had = a.readUInt32LE(i * ENTRY + 16);
  const got = rows.readUInt32LE(j * ENTRY + 16);
  if (had !== got) throw new Error(`the udid index maps ${rows.toString('hex', j * ENTRY, j * ENTRY + 16)} to id ${had}, not ${got} (a task has one id)`);
}

/**
 * Takes `udid` out of the index, in the caller's write transaction; false
 * when it was not there.
 * @param {ChunkDb} db @param {Buffer} udid
 */
export function removeEntry(db, udid) {
  const chunk = chunkOf(db, udid);
  if (!chunk) return false;
  const { key, value } = chunk;
  for (let at = 0; at < value.length; at += ENTRY) {
    if (udid.compare(value, at, at + 16, 0, 16) !== 0) continue;
    const rest = Buffer.concat([value.subarray(0, at), value.subarray(at + ENTRY)]);
    if (rest.length === 0) db.removeSync(key);
    else db.putSync(key, sealed(key, rest));
    return true;
  }
  return false;
}
