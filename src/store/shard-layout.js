// @ts-check
/**
 * @internal
 * How a shard's environment and the sub-DBs a batch writes are opened:
 * Shard (main thread) and the write thread (write-worker.js) both open them
 * from here, so the two handles on a file cannot disagree.
 *
 * Key layout (format 4), chosen for the write path: every task gets a compact
 * uint32 id in write order, so all sub-DBs but `udid` are keyed by ids that
 * mostly append to the right edge of their B-trees. Only the `udid` index (16
 * raw UDID bytes → id) takes random inserts; it is written in sorted bulk
 * merges and may lag behind `meta` (udid-tail.ts).
 *
 * A task's type, outcome and completion are fields of its `meta` row rather
 * than three sub-DBs of their own (format 1 had `task_type`, `completed`,
 * `outcome`): one B-tree write instead of up to four per change of state,
 * and ~70 bytes less per task (docs/design.md §3).
 *
 * | sub-DB      | key        | value                                              |
 * |-------------|------------|----------------------------------------------------|
 * | udid        | 16 bytes   | up to 48 × (UDID, id u32 LE), sorted (udid-chunks.js) |
 * | meta        | id >>> 5   | 32 task records of 30 bytes (meta-blocks.js)       |
 * | errors      | id         | error text of a failed task (UTF-8)                |
 * | parents     | id         | parent id, or a run of them (edge-values.js), dupSort |
 * | children    | id         | child id, or a run of them (edge-values.js), dupSort  |
 * | sources     | root id    | source key (UTF-8), then a CRC32 seeded with the id |
 * | stages      | stage no.  | stage id (UTF-8)                                   |
 * | runs        | run no.    | JSON { startedAt, writerId, host, pid }            |
 * | info        | string     | JSON (next id, format version, `unindexed` blocks) |
 * | source_state | source key | JSON SourceState: source-counter mode only        |
 * | absorbed    | stage no. (u16 BE) + seq (u32 BE) | input UDID (16 bytes): what a stateful stage absorbed, in order |
 * | state_checkpoints | stage no. | JSON { nextId, checkpoints: [{ id, at, absorbed }] }, oldest first |
 * | fingerprints | source key | the fingerprint of the source's input (UTF-8), then a CRC32 seeded with the key |
 * | outputs     | id         | JSON array of the absolute paths the call that consumed the task wrote, then a CRC32 seeded with the id |
 *
 * A task's record in its `meta` block is task-record.js's codec.
 *
 * `absorbed` and `state_checkpoints` hold the frontiers of stateful stages
 * (docs/design.md §8, see state-checkpoint-log.ts): a checkpoint that absorbed n
 * inputs covers the first n `absorbed` entries of its stage.
 *
 * Plain JavaScript: the write thread loads it without a TypeScript step.
 */

/** The options of each sub-DB a batch writes. */
export const WRITE_DB_OPTIONS = /** @type {const} */ ({
  udid: { keyEncoding: 'binary', encoding: 'binary' },
  meta: { keyEncoding: 'uint32', encoding: 'binary' },
  parents: { keyEncoding: 'uint32', encoding: 'binary', dupSort: true },
  children: { keyEncoding: 'uint32', encoding: 'binary', dupSort: true },
  // UTF-8 source key, then a CRC32 of it seeded with the root id (value-check.js).
  sources: { keyEncoding: 'uint32', encoding: 'binary' },
  // UTF-8 text, then a CRC32 of it seeded with the id (value-check.js).
  errors: { keyEncoding: 'uint32', encoding: 'binary' },
  // The same: UTF-8 JSON, then a CRC32 seeded with the id (task-outputs.ts).
  outputs: { keyEncoding: 'uint32', encoding: 'binary' },
  info: { encoding: 'json' },
});

/**
 * How Shard and the write thread open a shard's environment: lmdb-js shares
 * one environment per file, so the first open's options hold for both.
 */
export const ENV_OPTIONS = { maxDbs: 16 };

/** The info key listing the id blocks not yet in the `udid` index (udid-tail.ts). */
export const UNINDEXED_KEY = 'unindexed';

