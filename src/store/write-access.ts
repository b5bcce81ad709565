/**
 * @internal
 * A run records into its checkpoint, so before a writer touches anything it
 * checks that this process may write there: a checkpoint on a read-only
 * mount, or one this user has no write permission for, is refused with
 * LINEAGE_READ_ONLY naming the path (the read commands still work on it).
 * Without this the first write, deep inside LMDB's open, would fail with a
 * message that reads like damage.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

/** The errno codes that mean "this process may not write here", not "the data is bad". */
export const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

/** Throws LINEAGE_READ_ONLY unless the checkpoint `dir` and the shard `shardDir` (what exists of them) are writable. */
export function assertWritable(dir: string, shardDir: string): void {
  const candidates = [dir, join(dir, 'lineage.json'), join(dir, 'writers'), shardDir, join(shardDir, 'data.mdb'), join(shardDir, 'lock.mdb')];
  const present = candidates.filter((p) => existsSync(p));
  // A checkpoint still to be made is made in the nearest directory that exists.
  if (present.length === 0) {
    let parent = dirname(dir);
    while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
    present.push(parent);
  }
  assertWritablePaths(present, dir);
}

/** Throws LINEAGE_READ_ONLY for the first of `paths` this process may not write; `doing` says what needed it. */
export function assertWritablePaths(paths: readonly string[], dir: string, doing?: string): void {
  for (const path of paths) {
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (NOT_WRITABLE.has(code)) throw notWritable(dir, path, code, err, doing);
      throw err;
    }
  }
}

/** LINEAGE_READ_ONLY for a write refused with `code` at `path` inside the checkpoint `dir`. */
export function notWritable(dir: string, path: string, code: string, cause?: unknown, doing = `a run records into its checkpoint ${dir}`): LineageError {
  const why =
    code === 'EROFS'
      ? `${path} is on a read-only filesystem`
      : `${path} is not writable by this user${typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : ''}`;
  return new LineageError(
    ErrorCodes.READ_ONLY,
    `${why}, and ${doing}. Nothing was changed. The read commands (lineage inspect, stats, plan, verify) ` +
      'work on the checkpoint as it is; for this, ' +
      (code === 'EROFS' ? 'remount it read-write, or copy the checkpoint to a writable disk and use the copy.' : 'run as a user who may write there, or give this user write permission.'),
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The errno name of a permission or read-only-filesystem failure, whichever
 * way it is reported: Node's string codes, or LMDB's numeric errno with its
 * strerror text ("Permission denied: Attempting to setup locks").
 */
export function notWritableCode(err: unknown): string | null {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && NOT_WRITABLE.has(e.code)) return e.code;
  const byNumber: Record<number, string> = { 1: 'EPERM', 13: 'EACCES', 30: 'EROFS' };
  if (typeof e?.code === 'number' && byNumber[e.code]) return byNumber[e.code]!;
  const message = typeof e?.message === 'string' ? e.message : '';
  if (/Read-only file system/i.test(message)) return 'EROFS';
  if (/Permission denied/i.test(message)) return 'EACCES';
  if (/Operation not permitted/i.test(message)) return 'EPERM';
  return null;
}
