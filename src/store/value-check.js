// @ts-check
/**
 * @internal
 * The CRC32 trailer of the values lineage-dag packs itself: `meta` blocks
 * (meta-blocks.js) and `udid` chunks (udid-chunks.js). LMDB checks nothing
 * of what it returns, so a flipped bit in a value would otherwise be read as
 * a different task, id or completion. The CRC is seeded with the value's key
 * (a block number, a chunk key), so a value found under the wrong key fails
 * too. One CRC per value put or read (~100 ns for a 960-byte value), never
 * per record.
 *
 * Plain JavaScript: the write thread (write-worker.js) loads it without a
 * TypeScript step.
 */
import { crc32 } from 'node:zlib';

/** Bytes of the trailer: a CRC32, little-endian. */
export const CHECK_SIZE = 4;

/** A value whose trailer does not match its bytes; the store reports it as LINEAGE_CORRUPT naming its file. */
export class DamagedValueError extends Error {}

/**
 * Writes the CRC of `buf[0, bodyLength)` (seeded with `seed`) into the
 * CHECK_SIZE bytes after it.
 * @param {Buffer} buf @param {number} bodyLength @param {number} seed
 */
export function seal(buf, bodyLength, seed) {
  buf.writeUInt32LE(crc32(buf.subarray(0, bodyLength), seed), bodyLength);
}

/**
 * The body of a sealed value (a view), after checking its length is a whole
 * number of `unit`-byte records and its CRC; throws DamagedValueError naming
 * `what` otherwise.
 * @param {Buffer} value @param {number} seed @param {number} unit @param {string} what
 */
export function unseal(value, seed, unit, what) {
  const n = value.length - CHECK_SIZE;
  if (n < 0 || n % unit !== 0) throw new DamagedValueError(`${what} is ${value.length} bytes, not whole records and a checksum`);
  if (crc32(value.subarray(0, n), seed) !== value.readUInt32LE(n)) throw new DamagedValueError(`${what} does not match its checksum`);
  return value.subarray(0, n);
}

/** The seed of a value keyed by bytes (a `udid` chunk). @param {Uint8Array} key */
export function seedOf(key) {
  return crc32(key);
}
