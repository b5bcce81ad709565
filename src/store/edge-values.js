// @ts-check
/**
 * @internal
 * The values of the edge sub-DBs (`parents`: child → parent, `children`:
 * parent → child; dupSort, keyed by the task id). A value names the tasks
 * at the other end of the key's edges: 4 bytes, one id (u32 BE); or 8
 * bytes, the run of consecutive ids first..last (u32 BE each, last >
 * first). Ids are given in write order, so the children of one emission
 * and the members of a fan-in group mostly come as runs: for W1 a run
 * value makes 18 % fewer rows than one row per edge, and a put is most of
 * the write thread's time. Big-endian first ids sort the values of a key
 * by id. No two values of a key share an id.
 *
 * Plain JavaScript: the write thread (write-worker.js) loads it without a
 * TypeScript step.
 */

/** Bytes of a value naming one id. */
export const ONE_ID = 4;
/** Bytes of a value naming a run of ids. */
export const RUN_IDS = 8;

/**
 * The first and last id of an edge value, or null when it has neither
 * shape (a damaged row: the caller says where).
 * @param {Uint8Array} v @returns {[number, number] | null}
 */
export function edgeRange(v) {
  if (v.length === ONE_ID) {
    const id = be32(v, 0);
    return [id, id];
  }
  if (v.length !== RUN_IDS) return null;
  const first = be32(v, 0);
  const last = be32(v, 4);
  return last > first ? [first, last] : null;
}

/**
 * Appends every id of the edge values of one key to `out`.
 * @param {Iterable<Uint8Array>} values @param {number[]} out @param {string} where names the sub-DB and key, for the error
 */
export function pushEdgeIds(values, out, where) {
  for (const v of values) {
    const range = edgeRange(v);
    if (range === null) throw new Error(`${where}: an edge value of ${v.length} bytes, not ${ONE_ID} or ${RUN_IDS} with last > first`);
    for (let id = range[0]; id <= range[1]; id++) out.push(id);
  }
  return out;
}

/**
 * Encodes the run first..last into `one` (4 bytes) or `run` (8 bytes) and
 * returns the one used. Not views of shared memory: lmdb-js would store garbage.
 * @param {number} first @param {number} last @param {Buffer} one @param {Buffer} run
 */
export function encodeEdge(first, last, one, run) {
  if (first === last) {
    one.writeUInt32BE(first, 0);
    return one;
  }
  run.writeUInt32BE(first, 0);
  run.writeUInt32BE(last, 4);
  return run;
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
    const range = edgeRange(v);
    if (range !== null && id >= range[0] && id <= range[1]) {
      found = [Buffer.from(v), range[0], range[1]];
      break;
    }
  }
  if (found === null) return false;
  const [value, first, last] = found;
  db.removeSync(key, value);
  if (first < id) db.putSync(key, encodeEdge(first, id - 1, Buffer.alloc(ONE_ID), Buffer.alloc(RUN_IDS)));
  if (id < last) db.putSync(key, encodeEdge(id + 1, last, Buffer.alloc(ONE_ID), Buffer.alloc(RUN_IDS)));
  return true;
}

/** @param {Uint8Array} v @param {number} at */
function be32(v, at) {
  return /** @type {number} */ (v[at]) * 0x1000000 + ((/** @type {number} */ (v[at + 1]) << 16) | (/** @type {number} */ (v[at + 2]) << 8) | /** @type {number} */ (v[at + 3]));
}
