/**
 * @internal
 * How failures reach the user of `lineage`: one line on stderr,
 * `lineage: <CODE>: <message>`, and an exit code.
 *
 * | exit | meaning |
 * |------|---------|
 * | 0    | fine |
 * | 1    | the checkpoint or the run has a problem (cannot be read, verify found errors, tasks failed) |
 * | 2    | usage error: the command line is wrong, or a file it names (sources list, pipeline module) is unusable |
 * | 130, 143 | `lineage run` stopped by SIGINT, SIGTERM (what finished is committed) |
 */
import { InterruptedError } from '../errors/interrupted-error.js';
import { ErrorCodes, LineageError, isLineageError, type ErrorCode } from '../errors/lineage-error.js';
import { DamagedValueError } from '../store/value-check.js';
import { isLmdbDamage, openedFiles } from '../store/open-files.js';

export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.USAGE,
  ErrorCodes.INVALID_ARGUMENT,
  ErrorCodes.INVALID_UDID,
  ErrorCodes.BAD_SOURCES,
  ErrorCodes.MODULE_LOAD,
]);

export function usageError(message: string): LineageError {
  return new LineageError(ErrorCodes.USAGE, message);
}

/** 2 for usage errors; 130/143 for a run stopped by SIGINT/SIGTERM; else 1. */
export function exitCodeFor(err: LineageError): number {
  if (err instanceof InterruptedError) return err.exitCode;
  return USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_PROBLEM;
}

/** What to do about an OS error met while opening or reading a path, per errno. */
const ERRNO_HINTS: Readonly<Record<string, string>> = {
  ENOENT: 'The path does not exist: check it.',
  ENOTDIR: 'A part of the path is a file, not a directory: check it.',
  EISDIR: 'The path is a directory where a file was expected: check it.',
  EACCES: 'Permission denied: check that this user may read the path (and, for a run, write it).',
  EPERM: 'The operation is not permitted: check the permissions and attributes of the path.',
  ENOSPC: 'The disk is full: free some space (df shows how much is left) and run again; what was committed is kept.',
  EDQUOT: 'The disk quota is exceeded: free some space or raise the quota, and run again; what was committed is kept.',
  EROFS: 'The path is on a read-only filesystem: the read commands work there; to run, remount it read-write or use a copy on a writable disk.',
  EIO: 'The device reported an I/O error: check the disk (dmesg shows its errors) before you trust what it holds.',
  EMFILE: 'This process has too many open files: raise the limit (ulimit -n) and run again.',
  ENFILE: 'The system has too many open files: close some programs or raise the limit, and run again.',
  ENAMETOOLONG: 'The path is too long for the filesystem: use a shorter one.',
  ELOOP: 'The path has a loop of symbolic links: check it.',
};

/** Any thrown value as a LineageError: system and LMDB errors get the closest code. */
export function asLineageError(err: unknown): LineageError {
  if (isLineageError(err)) return err;
  const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(String(err));
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    return new LineageError(ErrorCodes.IO, `${e.message}. ${ERRNO_HINTS[e.code] ?? 'Check the path named above and that you may use it.'}`, { cause: err });
  }
  if (isLmdbDamage(e) || e instanceof DamagedValueError) {
    const files = openedFiles();
    const where = files.length === 0 ? 'The checkpoint' : files.length === 1 ? files[0]! : `One of ${files.join(', ')}`;
    return new LineageError(
      ErrorCodes.CORRUPT,
      `LMDB reported ${e.message}. ${where} may be damaged: run \`lineage verify\` on the checkpoint, or restore it from a backup.`,
      { cause: err },
    );
  }
  return new LineageError(ErrorCodes.INTERNAL, `${e.message} (this is a bug in lineage-dag; set LINEAGE_DEBUG=1 to print the stack trace)`, {
    cause: err,
  });
}

/** The one stderr line for an error. */
export function errorLine(err: LineageError): string {
  return `lineage: ${err.code}: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`;
}
