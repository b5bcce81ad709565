// @ts-check
/**
 * @internal
 * How a shard's environment and the sub-DBs a batch writes are opened:
 * Shard (main thread) and the write thread (write-worker.js) both open them
 * from here, so the two handles on a file cannot disagree.
 *
 * Plain JavaScript: the write thread loads it without a TypeScript step.
 */

/** The options of each sub-DB a batch writes. */
export const WRITE_DB_OPTIONS = /** @type {const} */ ({
  udid: { keyEncoding: 'binary', encoding: 'binary' },
  meta: { keyEncoding: 'uint32', encoding: 'binary' },
  parents: { keyEncoding: 'uint32', encoding: 'binary', dupSort: true },
  children: { keyEncoding: 'uint32', encoding: 'binary', dupSort: true },
  sources: { keyEncoding: 'uint32', encoding: 'string' },
  // UTF-8 text, then a CRC32 of it seeded with the id (value-check.js).
  errors: { keyEncoding: 'uint32', encoding: 'binary' },
  info: { encoding: 'json' },
});

/**
 * How Shard and the write thread open a shard's environment: lmdb-js shares
 * one environment per file, so the first open's options hold for both.
 */
export const ENV_OPTIONS = { maxDbs: 16 };

/** The info key listing the id blocks not yet in the `udid` index (udid-tail.ts). */
export const UNINDEXED_KEY = 'unindexed';

