// @ts-check
/**
 * @internal
 * The values of the edge sub-DBs (`parents`: child → parent, `children`:
 * parent → child; dupSort, keyed by the task id). A value names the tasks
 * at the other end of the key's edges: one id (u32 BE), or the run of
 * consecutive ids first..last (u32 BE each, last > first); then a check
 * byte, the CRC-8 of the key (u32 BE) and the bytes before it. Ids are
 * given in write order, so the children of one emission and the members
 * of a fan-in group mostly come as runs: for W1 a run value makes 18 %
 * fewer rows than one row per edge, and a put is most of the write
 * thread's time. The check byte turns a flipped byte of an edge (or of its
 * key) into damage found on read, where it would otherwise name another
 * task: every single-byte change of key or value changes it. Big-endian
 * first ids sort the values of a key by id. No two values of a key share
 * an id.
 *
 * Plain JavaScript: the write thread (write-worker.js) loads it without a
 * TypeScript step.
 */
import { DamagedValueError } from './value-check.js';

/** Bytes of a value naming one id. */
export const ONE_ID = 5;
/** Bytes of a value naming a run of ids. */
export const RUN_IDS = 9;

/** CRC-8, polynomial x^8 + x^2 + x + 1, a byte at a time. */
const CRC8 = (() => {
  const table = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
    table[i] = c;
  }
  return table;
})();

/** The check byte of `key` and the `n` bytes of `v` from `at`. @param {number} key @param {Uint8Array} v @param {number} at @param {number} n */
function checkOf(key, v, at, n) {
  const t = CRC8;
  let c = /** @type {number} */ (t[(key >>> 24) & 0xff]);
  c = /** @type {number} */ (t[c ^ ((key >>> 16) & 0xff)]);
  c = /** @type {number} */ (t[c ^ ((key >>> 8) & 0xff)]);
  c = /** @type {number} */ (t[c ^ (key & 0xff)]);
  for (let i = at; i < at + n; i++) c = /** @type {number} */ (t[c ^ /** @type {number} */ (v[i])]);
  return c;
}

/**
 * The first and last id of the edge value `v` of `key`, or null when it has
 * neither shape or its check byte does not match (a damaged row: the caller
 * says where).
 * @param {Uint8Array} v @param {number} key @returns {[number, number] | null}
 */
export function edgeRange(v, key) {
  return edgeRangeAt(v, 0, v.length, key);
}

/**
 * As edgeRange, for the value of `size` bytes at `at` of `page` (the page
 * reader's, without a view per value).
 * @param {Uint8Array} page @param {number} at @param {number} size @param {number} key @returns {[number, number] | null}
 */
export function edgeRangeAt(page, at, size, key) {
  if (size === ONE_ID) {
    if (page[at + 4] !== checkOf(key, page, at, 4)) return null;
    const id = be32(page, at);
    return [id, id];
  }
  if (size !== RUN_IDS || page[at + 8] !== checkOf(key, page, at, 8)) return null;
  const first = be32(page, at);
  const last = be32(page, at + 4);
  return last > first ? [first, last] : null;
}

/** Why edgeRange refused a value of `size` bytes, for an error message. @param {Uint8Array | number} v the value, or its size */
export function edgeProblem(v) {
  const size = typeof v === 'number' ? v : v.length;
  return size === ONE_ID || size === RUN_IDS ? 'an edge value whose check byte does not match' : `an edge value of ${size} bytes, not ${ONE_ID} or ${RUN_IDS}`;
}

/**
 * Appends every id of the edge values of `key` to `out`.
 * @param {Iterable<Uint8Array>} values @param {number} key @param {number[]} out @param {string} where names the sub-DB and key, for the error
 */
export function pushEdgeIds(values, key, out, where) {
  for (const v of values) {
    const range = edgeRange(v, key);
    if (range === null) throw new DamagedValueError(`${where} hold ${edgeProblem(v)}`);
    for (let id = range[0]; id <= range[1]; id++) out.push(id);
  }
  return out;
}

/**
 * Encodes the run first..last of `key` into `one` (ONE_ID bytes) or `run`
 * (RUN_IDS bytes) and returns the one used. Not views of shared memory:
 * lmdb-js would store garbage.
 * @param {number} key @param {number} first @param {number} last @param {Buffer} one @param {Buffer} run
 */
export function encodeEdge(key, first, last, one, run) {
  if (first === last) {
    one.writeUInt32BE(first, 0);
    one[4] = checkOf(key, one, 0, 4);
    return one;
  }
  run.writeUInt32BE(first, 0);
  run.writeUInt32BE(last, 4);
  run[8] = checkOf(key, run, 0, 8);
  return run;
}

/** A fresh value naming first..last of `key`. @param {number} key @param {number} first @param {number} [last] */
export function edgeValue(key, first, last = first) {
  return encodeEdge(key, first, last, Buffer.alloc(ONE_ID), Buffer.alloc(RUN_IDS));
}

/**
 * Takes the edge key → id out of `db`, inside the caller's write
 * transaction: the value that names it goes, and what is left of its run
 * is put back. False when no value of `key` names `id`.
 * @param {{ getValues(key: number): Iterable<Uint8Array>, removeSync(key: number, value?: Buffer): boolean, putSync(key: number, value: Buffer): boolean }} db
 * @param {number} key @param {number} id
 */
export function removeEdgeId(db, key, id) {
  /** @type {[Buffer, number, number] | null} */
  let found = null;
  for (const v of db.getValues(key)) {
    const range = edgeRange(v, key);
    if (range !== null && id >= range[0] && id <= range[1]) {
      found = [Buffer.from(v), range[0], range[1]];
      break;
    }
  }
  if (found === null) return false;
  const [value, first, last] = found;
  db.removeSync(key, value);
  if (first < id) db.putSync(key, edgeValue(key, first, id - 1));
  if (id < last) db.putSync(key, edgeValue(key, id + 1, last));
  return true;
}

/** @param {Uint8Array} v @param {number} at */
function be32(v, at) {
  return /** @type {number} */ (v[at]) * 0x1000000 + ((/** @type {number} */ (v[at + 1]) << 16) | (/** @type {number} */ (v[at + 2]) << 8) | /** @type {number} */ (v[at + 3]));
}
