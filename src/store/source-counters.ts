/**
 * @internal
 * Source-counter mode (docs/design.md §7): instead of the DAG, one pending count
 * per source — +1 for each live task, −1 when a task is consumed (filtered or
 * emitted) — and a durable "done" mark when a count reaches zero. No edges and
 * no per-task rows: a rerun can only skip whole sources, and an unfinished
 * source reruns from its root. Every emission must belong to one source, so
 * fan-ins across sources are refused.
 */
import { boundErrorText, errorText } from '../errors/error-text.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Shard } from './shard.js';
import { writeFailure } from './write-failure.js';
import type { EmissionRecord, FailureRecord, TaskRef } from './types.js';

/** LMDB's key limit (lmdb-js builds with a 1978-byte maximum): source keys are the `source_state` keys of this mode. */
export const MAX_COUNTED_KEY_BYTES = 1978;

/** Throws LINEAGE_INVALID_KEY for a source key longer than this mode can store. */
export function assertCountableKey(sourceKey: string, dir: string): void {
  if (sourceKey.length * 3 <= MAX_COUNTED_KEY_BYTES) return; // UTF-16 units → at most 3 UTF-8 bytes each
  const bytes = Buffer.byteLength(sourceKey, 'utf8');
  if (bytes <= MAX_COUNTED_KEY_BYTES) return;
  throw new LineageError(
    ErrorCodes.INVALID_KEY,
    `the source key ${JSON.stringify(sourceKey.slice(0, 40))}… is ${bytes} bytes of UTF-8; the source-counter checkpoint ${dir} stores source keys ` +
      `as LMDB keys, at most ${MAX_COUNTED_KEY_BYTES} bytes. Use a shorter stable name for the input (e.g. a hash of it), or a DAG-mode checkpoint, which takes keys of any length.`,
  );
}

export class SourceCounterSession {
  private readonly pending = new Map<string, number>();
  private lastWrite: Promise<unknown> = Promise.resolve();
  private writeError: unknown = null;
  /** Told once when a write fails: a runner stops admitting work at once. */
  onWriteFailure: ((err: unknown) => void) | null = null;
  emissions = 0;

  constructor(
    private readonly shard: Shard,
    readonly run: number,
  ) {}

  recordEmission(rec: EmissionRecord): boolean {
    if (typeof rec.stage !== 'string' || rec.stage.length === 0) {
      throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `recordEmission: the stage id must be a non-empty string, got ${JSON.stringify(rec.stage)}.`);
    }
    if (!Array.isArray(rec.parents) || rec.parents.length === 0 || !Array.isArray(rec.children)) {
      throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `recordEmission: stage "${rec.stage}" needs at least one parent and an array of children.`);
    }
    const source = this.sourceOf(rec);
    // A source is live from its first emission; its root counts as one task.
    let count = this.pending.get(source);
    if (count === undefined) {
      assertCountableKey(source, this.shard.dir);
      count = 1;
      this.watch(this.shard.sourceState.put(source, { state: 'started', run: this.run }));
    }
    count -= new Set(rec.parents.map((p) => (typeof p === 'string' ? p : p.udid))).size;
    if (rec.terminal !== true) count += rec.children.length;
    this.pending.set(source, count);
    if (count <= 0) {
      this.pending.delete(source);
      this.watch(this.shard.sourceState.put(source, { state: 'done', run: this.run }));
    }
    this.emissions++;
    // No task of this mode is ever complete on its own (see LineageStore.isCompleted).
    return false;
  }

  recordFailure(rec: FailureRecord): boolean {
    const source = sourceKeyOf(rec.task, rec.stage);
    const error = typeof rec.error === 'string' ? boundErrorText(rec.error) : errorText(rec.error);
    this.watch(this.shard.sourceState.put(source, { state: 'failed', run: this.run, stage: rec.stage, error }));
    return true;
  }

  /** Count of live tasks of a source in this session (undefined: not started or finished). */
  pendingOf(sourceKey: string): number | undefined {
    return this.pending.get(sourceKey);
  }

  async committed(): Promise<void> {
    await this.lastWrite;
    if (this.writeError) throw this.writeError;
  }

  private sourceOf(rec: EmissionRecord): string {
    let source: string | undefined;
    for (const p of rec.parents) {
      const key = sourceKeyOf(p, rec.stage);
      if (source !== undefined && key !== source) {
        throw new LineageError(
          ErrorCodes.NOT_ATTRIBUTABLE,
          `stage "${rec.stage}" consumed tasks of sources "${source}" and "${key}" together; source-counter mode counts ` +
            'per source and cannot attribute such an output. Group by source in that stage, or use the DAG mode (mode: "dag").',
        );
      }
      source = key;
    }
    return source!;
  }

  private watch(p: Promise<unknown>): void {
    this.lastWrite = p;
    p.then(undefined, (err: unknown) => {
      if (this.writeError) return;
      this.writeError = writeFailure(this.shard.dir, err);
      this.onWriteFailure?.(this.writeError);
    });
  }
}

function sourceKeyOf(ref: TaskRef, stage: string): string {
  const key = typeof ref === 'object' && ref !== null ? ref.sourceKey : undefined;
  if (typeof key !== 'string' || key.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `stage "${stage}": source-counter mode needs the source key of every task it is given; pass lineage objects ` +
        '({ udid, sourceKey }) rather than bare UDIDs.',
    );
  }
  return key;
}
