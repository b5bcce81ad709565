/**
 * @internal
 * The time limit of one stage call (`timeoutMs`). A call past it fails that
 * attempt with "timed out after N ms" (the stage's retries apply). The call
 * itself cannot be stopped; whatever it settles with later is ignored.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

/** `pending`'s outcome, or a rejection with "timed out after `ms` ms" once that passed first. */
export function withTimeout<T>(pending: PromiseLike<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    Promise.resolve(pending).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Why a `timeoutMs` value is refused, or null: a positive, finite number of milliseconds. */
export function timeoutProblem(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return null;
  return `timeoutMs ${typeof value === 'number' ? String(value) : JSON.stringify(value)}: give a positive, finite number of milliseconds (e.g. 60000), or leave it out for no limit.`;
}

/** Throws INVALID_ARGUMENT for a bad `RunOptions.timeoutMs`. */
export function checkRunTimeout(value: unknown): void {
  const problem = value === undefined ? null : timeoutProblem(value);
  if (problem) throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `Pipeline.run: the option ${problem}`);
}
