/**
 * @internal
 * A shard's `source_state` row (source-counter mode, source-counters.ts).
 */

/** Where a source stands in source-counter mode. */
export interface SourceState {
  readonly state: 'started' | 'done' | 'failed';
  readonly run: number;
  readonly stage?: string;
  readonly error?: string;
}
