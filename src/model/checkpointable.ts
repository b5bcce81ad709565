/**
 * What a stateful stage implements to have its accumulated state
 * checkpointed (docs/design.md §8). The engine owns the checkpoint ids (increasing
 * integers), when they are recorded, which inputs each one has absorbed (its
 * frontier) and how many are kept; the application owns the bytes and writes
 * them wherever it likes.
 *
 * @example
 * shouldCheckpoint: ({ inputs, ms }) => inputs >= 1000 || ms >= 60_000,
 * saveCheckpoint: (stage, id) => writeAtomically(`state/${stage}-${id}.json`, JSON.stringify([...seen])),
 * loadCheckpoint: (stage, available) => (available.length ? (seen = read(`state/${stage}-${available[0]}.json`), available[0]) : null),
 * checkpointExpired: (stage, id) => rmSync(`state/${stage}-${id}.json`, { force: true }),
 */

/** What `shouldCheckpoint` is told: the work since the last recorded checkpoint (or the start of the run). */
export interface CheckpointContext {
  /** Inputs absorbed since then. */
  readonly inputs: number;
  /** Milliseconds since then. */
  readonly ms: number;
}

export interface Checkpointable {
  /** Asked after every absorbed input: take a checkpoint now? */
  shouldCheckpoint(ctx: CheckpointContext): boolean;
  /**
   * Saves the state as it is now under `checkpointId`. The engine records the
   * checkpoint only after this resolved; if it throws, the checkpoint is never
   * recorded nor offered (and `checkpointExpired` is called for its id).
   */
  saveCheckpoint(stageId: string, checkpointId: number): void | Promise<void>;
  /**
   * At the start of a run with a checkpoint: restore one of `available`
   * (recorded checkpoint ids, newest first) and return its id, or reset to an
   * empty state and return null (every input is then absorbed again).
   */
  loadCheckpoint(stageId: string, available: readonly number[]): number | null | Promise<number | null>;
  /** The engine dropped this checkpoint for good: its state may be deleted. */
  checkpointExpired(stageId: string, checkpointId: number): void | Promise<void>;
}

export const CHECKPOINTABLE_METHODS = ['shouldCheckpoint', 'saveCheckpoint', 'loadCheckpoint', 'checkpointExpired'] as const;

/** True when `stage` implements every method of {@link Checkpointable}. */
export function isCheckpointable(stage: unknown): stage is Checkpointable {
  if (typeof stage !== 'object' || stage === null) return false;
  const s = stage as Record<string, unknown>;
  return CHECKPOINTABLE_METHODS.every((m) => typeof s[m] === 'function');
}

/** Checkpoints kept per stateful stage unless the run or the stage says otherwise. */
export const DEFAULT_KEEP_CHECKPOINTS = 20;
