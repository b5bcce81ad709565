/**
 * @internal
 * What a failed write to the checkpoint means to the user. LMDB, lmdb-js and
 * node:fs report the cause as an errno (a number from lmdb-js, a string such
 * as 'ENOSPC' from node:fs); each cause gets its own code and its own advice,
 * and none of them advises deleting anything: what was committed before the
 * failure is intact, and a rerun resumes from it.
 */
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { isLmdbDamage } from './open-files.js';

/** Errno numbers as Linux numbers them (lmdb-js passes LMDB's return code through as `code`). */
const ERRNO: Readonly<Record<number, string>> = { 1: 'EPERM', 5: 'EIO', 13: 'EACCES', 28: 'ENOSPC', 30: 'EROFS', 122: 'EDQUOT' };

/**
 * Below this many free bytes an EIO from a write counts as a full disk:
 * LMDB turns a short write (the disk filled in the middle of it) into EIO.
 */
const NEARLY_FULL_BYTES = 1 << 20;

/** Failures LMDB itself reported: on a failed page write it prints an unterminated "Write error: ..." to stderr. */
const reportedByLmdb = new WeakSet<object>();

/** True when LMDB may have printed a line of its own (with no newline) for this failure: a CLI ends that line first. */
export function lmdbMayHavePrinted(err: unknown): boolean {
  return typeof err === 'object' && err !== null && reportedByLmdb.has(err);
}

/** The errno name of `err` ('ENOSPC', ...), or null when it carries none. */
export function errnoOf(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  if (typeof code === 'number') return ERRNO[code] ?? null;
  const text = err instanceof Error ? err.message : String(err);
  if (/no space left on device/i.test(text)) return 'ENOSPC';
  if (/disk quota exceeded/i.test(text)) return 'EDQUOT';
  if (/read-only file system/i.test(text)) return 'EROFS';
  if (/permission denied/i.test(text)) return 'EACCES';
  if (/operation not permitted/i.test(text)) return 'EPERM';
  return null;
}

/** Free bytes for an unprivileged writer on the filesystem holding `dir`, or null when it cannot be asked. */
export function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** True when the filesystem holding `dir` has (almost) no room left. */
export function nearlyFull(dir: string): boolean {
  const free = freeBytes(dir);
  return free !== null && free < NEARLY_FULL_BYTES;
}

/**
 * The LineageError for a failed write under `dir` (`what`: the thing that
 * was being written, for the message). Disk full, read-only filesystem and
 * permission problems get their own codes; anything else is WRITE_FAILED.
 */
export function writeFailure(dir: string, err: unknown, what = 'a write to the checkpoint'): LineageError {
  if (err instanceof LineageError) return err;
  const failure = classify(dir, err, what);
  // lmdb-js gives LMDB's return code as a number; node:fs gives a string.
  if (typeof (err as { code?: unknown } | null)?.code === 'number') reportedByLmdb.add(failure);
  return failure;
}

function classify(dir: string, err: unknown, what: string): LineageError {
  const text = err instanceof Error ? err.message : String(err);
  if (/MDB_MAP_FULL/.test(text)) {
    return new LineageError(
      ErrorCodes.MAP_FULL,
      `${dir}: the LMDB map is full; the last group of writes was not committed (a rerun redoes it). ` +
        'Reopen with a larger mapSize (option or LINEAGE_MAP_SIZE, in bytes).',
      { cause: err },
    );
  }
  const errno = errnoOf(err);
  const kept = 'the last group of writes was not committed; everything committed before is kept';
  if (errno === 'ENOSPC' || errno === 'EDQUOT' || (errno === 'EIO' && nearlyFull(dir))) {
    const why = errno === 'EDQUOT' ? 'the disk quota is used up' : 'its filesystem is full';
    return new LineageError(
      ErrorCodes.DISK_FULL,
      `${dir}: ${what} failed: ${why} (${errno === 'EIO' ? 'ENOSPC' : errno}); ${kept}. ` +
        'Free space on that filesystem (or raise the quota), then rerun the same command: completed work is skipped.',
      { cause: err },
    );
  }
  if (errno === 'EROFS') {
    return new LineageError(
      ErrorCodes.READ_ONLY,
      `${dir}: ${what} failed: the filesystem is read-only (EROFS); ${kept}. ` +
        'Remount it read-write (or copy the checkpoint to a writable filesystem), then rerun; read commands work as they are.',
      { cause: err },
    );
  }
  if (errno === 'EACCES' || errno === 'EPERM') {
    return new LineageError(
      ErrorCodes.PERMISSION_DENIED,
      `${dir}: ${what} failed: permission denied (${errno}); ${kept}. ` +
        'Run as a user who may write the checkpoint directory and its files (or fix their permissions), then rerun.',
      { cause: err },
    );
  }
  // The write thread's errors arrive as plain Errors: damage is told by its words (value-check.js, lmdb-js).
  if (/does not match its checksum|not whole records and a checksum/.test(text) || (isLmdbDamage(err) && !/MDB_(MAP_FULL|READERS_FULL|TXN_FULL|DBS_FULL|MAP_RESIZED|BAD_RSLOT)/.test(text))) {
    return new LineageError(
      ErrorCodes.CORRUPT,
      `${join(dir, 'data.mdb')} is damaged: ${what} found ${text}. The last group of writes was not committed. ` +
        'Run `lineage verify` on the checkpoint, and restore it from a backup.',
      { cause: err },
    );
  }
  return new LineageError(
    ErrorCodes.WRITE_FAILED,
    `${dir}: ${what} failed: ${text}${errno ? ` (${errno})` : ''}; ${kept}. Check the disk and its filesystem, then rerun.`,
    { cause: err },
  );
}
