/**
 * Every failure a user can cause is a `LineageError` with a stable `code`.
 * Codes never change meaning between versions; messages may be reworded.
 */
export const ErrorCodes = {
  /** A stage id, source key or other argument is empty or of the wrong shape. */
  INVALID_ARGUMENT: 'LINEAGE_INVALID_ARGUMENT',
  /**
   * A key that cannot name a task: a source key, child key or stage id with a
   * lone UTF-16 surrogate (UTF-8 would encode it as U+FFFD, so distinct keys
   * would share one UDID), or a source key too long for source-counter mode.
   */
  INVALID_KEY: 'LINEAGE_INVALID_KEY',
  /** A string that should be a 32-char lowercase hex UDID is not one. */
  INVALID_UDID: 'LINEAGE_INVALID_UDID',
  /** The path does not exist, is not a directory, or holds no checkpoint. */
  NOT_A_CHECKPOINT: 'LINEAGE_NOT_A_CHECKPOINT',
  /** The checkpoint was written by a newer (or unknown) format version. */
  FORMAT_VERSION: 'LINEAGE_FORMAT_VERSION',
  /**
   * An LMDB file or the manifest is truncated, garbage, or inconsistent: a value
   * whose checksum does not match, a page pointer out of bounds, records that
   * contradict each other, or a `lineage` command's process killed by a crash
   * signal while it had the file open. The message names the file.
   */
  CORRUPT: 'LINEAGE_CORRUPT',
  /** The store was closed and cannot be used any more. */
  CLOSED: 'LINEAGE_CLOSED',
  /** A write was attempted on a store opened read-only, or on a read-only filesystem (EROFS). */
  READ_ONLY: 'LINEAGE_READ_ONLY',
  /** The writer shard is held by another live process (one writer id, one process: docs/design.md §7). */
  LOCKED: 'LINEAGE_LOCKED',
  /** The writer's LMDB map is full: reopen with a larger `mapSize`. */
  MAP_FULL: 'LINEAGE_MAP_FULL',
  /** A write to the checkpoint failed for a reason without a code of its own (an I/O error...). */
  WRITE_FAILED: 'LINEAGE_WRITE_FAILED',
  /** The checkpoint's filesystem is full (ENOSPC) or the quota is used up (EDQUOT): free space, then rerun. */
  DISK_FULL: 'LINEAGE_DISK_FULL',
  /** The checkpoint may not be written by this user (EACCES, EPERM). */
  PERMISSION_DENIED: 'LINEAGE_PERMISSION_DENIED',
  /** A run stopped early on SIGINT/SIGTERM or an AbortSignal; what finished was committed (see `InterruptedError`). */
  INTERRUPTED: 'LINEAGE_INTERRUPTED',
  /** Opening the checkpoint did not finish within the configured timeout. */
  TIMEOUT: 'LINEAGE_TIMEOUT',
  /**
   * A run could not go on: stage calls were pending that nothing could ever
   * settle (the event loop was empty). Names the stage and task.
   */
  STALLED: 'LINEAGE_STALLED',
  /** A task UDID was asked for that the checkpoint does not hold. */
  UNKNOWN_TASK: 'LINEAGE_UNKNOWN_TASK',
  /** A stage declared `resumable: false` was used with a checkpoint. */
  STAGE_NOT_RESUMABLE: 'LINEAGE_STAGE_NOT_RESUMABLE',
  /** A stateful stage's `loadCheckpoint` returned a checkpoint id the engine did not offer. */
  UNKNOWN_CHECKPOINT: 'LINEAGE_UNKNOWN_CHECKPOINT',
  /** Source-counter mode was given an output that belongs to several sources. */
  NOT_ATTRIBUTABLE: 'LINEAGE_NOT_ATTRIBUTABLE',
  /** The checkpoint was written in another mode (dag vs sources) than asked for. */
  MODE_MISMATCH: 'LINEAGE_MODE_MISMATCH',
  /** A pipeline definition is inconsistent (duplicate stage ids, no stages...). */
  INVALID_PIPELINE: 'LINEAGE_INVALID_PIPELINE',
  /** A pipeline module given to `lineage run` could not be loaded. */
  MODULE_LOAD: 'LINEAGE_MODULE_LOAD',
  /** A source list file could not be read or parsed. */
  BAD_SOURCES: 'LINEAGE_BAD_SOURCES',
  /** A stage's `outputs()` threw or returned something other than an array of path strings: nothing of that call was recorded. */
  BAD_OUTPUTS: 'LINEAGE_BAD_OUTPUTS',
  /** The `lineage` command line is wrong: unknown command or option, a missing or malformed argument. */
  USAGE: 'LINEAGE_USAGE',
  /** A file could not be read or written for a reason outside the checkpoint format (permissions, I/O error). */
  IO: 'LINEAGE_IO',
  /** An unexpected failure inside lineage-dag (a bug): please report it with the command that caused it. */
  INTERNAL: 'LINEAGE_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class LineageError extends Error {
  override readonly name = 'LineageError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `err` is a LineageError (optionally with the given code). */
export function isLineageError(err: unknown, code?: ErrorCode): err is LineageError {
  return err instanceof LineageError && (code === undefined || err.code === code);
}
