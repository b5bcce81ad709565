/** @internal The sources a run reads: its iterator, and the check each source read must pass. */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Source } from '../model/source.js';
import { assertFingerprint } from '../store/source-fingerprints.js';

export interface SourceIterator {
  readonly iterator: Iterator<Source> | AsyncIterator<Source>;
  /** True for a synchronous iterator: its `next()` gives a result, not a promise. */
  readonly sync: boolean;
}

/** The iterator of `sources`, synchronous when it has one; throws INVALID_ARGUMENT for anything not iterable. */
export function sourceIterator(sources: Iterable<Source> | AsyncIterable<Source>): SourceIterator {
  const it = sources as Partial<Iterable<Source> & AsyncIterable<Source>>;
  const syncIt = it[Symbol.iterator];
  const asyncIt = it[Symbol.asyncIterator];
  if (typeof syncIt === 'function') return { iterator: syncIt.call(sources), sync: true };
  if (typeof asyncIt === 'function') return { iterator: asyncIt.call(sources), sync: false };
  throw new LineageError(ErrorCodes.INVALID_ARGUMENT, 'Pipeline.run: sources must be an iterable or async iterable of { key, data }.');
}

/** Throws INVALID_ARGUMENT unless the `ordinal`-th source read (1-based) has a non-empty string key. */
export function checkSource(source: Source, ordinal: number): void {
  if (source === null || typeof source !== 'object' || typeof source.key !== 'string' || source.key.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `Pipeline.run: source #${ordinal} has no key (got ${JSON.stringify(source)?.slice(0, 80)}); ` +
        'every source needs a stable, non-empty key such as its file path.',
    );
  }
  if (source.fingerprint !== undefined) assertFingerprint(source.key, source.fingerprint, 'Pipeline.run');
}
