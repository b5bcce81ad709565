/**
 * Public shapes of the lineage store (docs/design.md §3). UDIDs are always 32-char
 * lowercase hex strings at this boundary, whatever the on-disk encoding.
 */

/** Structural type from edge presence; promotes source_leaf → source/leaf → middle. */
export type TaskType = 'source' | 'middle' | 'leaf' | 'source_leaf';

/** How the stage that consumed a task ended. */
export type OutcomeKind = 'emitted' | 'filtered' | 'failed';

export interface Outcome {
  readonly kind: OutcomeKind;
  /** Id of the stage that consumed the task. */
  readonly stage: string;
  /** Error text, for `failed`. */
  readonly error?: string;
}

export interface Completion {
  /** Run number (1-based, per writer shard) that completed the task. */
  readonly run: number;
  /** When that run started (ISO 8601). */
  readonly runStartedAt: string;
  /** Writer shard that recorded the completion. */
  readonly writerId: string;
}

export interface TaskInfo {
  readonly udid: string;
  readonly parents: string[];
  readonly children: string[];
  readonly taskType: TaskType;
  readonly completed: Completion | null;
  readonly outcome: Outcome | null;
  /** Stage that emitted this task; null for a source (root) task. */
  readonly stage: string | null;
  /** Source key of the input this task descends from, when known. */
  readonly sourceKey: string | null;
  /** Emitted by the final stage: complete once recorded. */
  readonly terminal: boolean;
}

/** A task named by UDID, or by a lineage object (extra fields are ignored). */
export type TaskRef = string | { readonly udid: string; readonly sourceKey?: string };

export interface EmissionRecord {
  /** Id of the stage that consumed `parents` and emitted `children`. */
  readonly stage: string;
  /** Tasks consumed (at least one). Unknown parents are created as source tasks. */
  readonly parents: readonly TaskRef[];
  /** Tasks emitted; none means the parents were filtered. */
  readonly children: readonly TaskRef[];
  /** True when `stage` is the final stage: the children are complete once recorded. */
  readonly terminal?: boolean;
  /**
   * Paths of the files the call wrote (relative ones are made absolute against the
   * working directory). Recorded with the first parent: a run or plan that finds one
   * missing treats that task as not consumed (docs/design.md §6).
   */
  readonly outputs?: readonly string[];
}

export interface FailureRecord {
  readonly stage: string;
  readonly task: TaskRef;
  readonly error: string | Error;
}

export interface OpenOptions {
  /** Open for reading only: nothing on disk changes. Default false. */
  readonly readOnly?: boolean;
  /**
   * Stable id of this writer's shard (never a pid: a retried job must find its
   * shard again). Default: `LINEAGE_WRITER_ID` from the environment, else "main".
   */
  readonly writerId?: string;
  /** Create the checkpoint when the directory is missing or empty. Default true for writers. */
  readonly create?: boolean;
  /**
   * Bytes of address space reserved for the writer's LMDB map; the shard can
   * not grow past it. Default 32 GiB (about 100M tasks); also `LINEAGE_MAP_SIZE`.
   */
  readonly mapSize?: number;
  /**
   * Milliseconds to wait for the checkpoint's filesystem to answer before
   * failing with LINEAGE_TIMEOUT (a hung network mount). Default 30000;
   * also `LINEAGE_OPEN_TIMEOUT_MS`.
   */
  readonly timeoutMs?: number;
  /**
   * `dag` (default) records every task and edge; `sources` keeps only a
   * pending count per source, for pipelines that need source-level skipping
   * (docs/design.md §7). Fixed when the checkpoint is created.
   */
  readonly mode?: 'dag' | 'sources';
  /** Receives warnings (e.g. a checkpoint on a network filesystem). Default: process.emitWarning. */
  readonly onWarning?: (message: string) => void;
}

/** The batch completion pass over every shard of a checkpoint (computeCompletion). */
export interface CompletionSnapshot {
  /** Number of distinct tasks. */
  readonly size: number;
  /** UDID (hex) of global index i. */
  udidAt(i: number): string;
  /** Completed flag per global index, as the batch pass derives it. */
  readonly completed: Uint8Array;
  /** Completed flag per global index, as recorded in the `completed` sub-DBs. */
  readonly recorded: Uint8Array;
}

/** Source-counter mode: where one source stands (LineageStore.sourceStates). */
export interface SourceStatus {
  readonly sourceKey: string;
  readonly state: 'started' | 'done' | 'failed';
  readonly run: number;
  readonly stage?: string;
  readonly error?: string;
}

/** A task's recorded outputs, as the plan and the run read them. */
export interface RecordedOutputs {
  readonly udid: string;
  /** The task's source (root) key, when recorded. */
  readonly sourceKey: string | null;
  /** The stage that emitted the task (null: a source). */
  readonly stage: string | null;
  readonly paths: readonly string[];
}
