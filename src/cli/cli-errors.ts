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
 */
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

export function exitCodeFor(err: LineageError): number {
  return USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_PROBLEM;
}

/** Any thrown value as a LineageError: system and LMDB errors get the closest code. */
export function asLineageError(err: unknown): LineageError {
  if (isLineageError(err)) return err;
  const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(String(err));
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    return new LineageError(ErrorCodes.IO, `${e.message}. Check that the path exists and that you may read it.`, { cause: err });
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
