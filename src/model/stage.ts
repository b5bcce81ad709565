/**
 * What a stage is (docs/design.md §5): a stable id, an optional version, and one of
 * `process` (one task in, children out) or `processBatch` (several tasks in,
 * children out; every child names all of them as parents). How a batch is
 * formed is the stage's choice:
 *
 * - `groupBy`: the tasks of one source that reach this stage, split by a key
 *   (default: one group per source), handed over when no more of them can
 *   arrive. The same inputs always form the same groups, so a rerun rebuilds
 *   exactly the groups and outputs an uninterrupted run would have: the way
 *   to fan in.
 * - `batchSize`: the next tasks in arrival order. Groups then depend on
 *   scheduling, so a rerun may group (and name) outputs differently; use it
 *   where the grouping does not matter to what the output means.
 *
 * A stateful stage (`absorb` + `finish`) takes every task that reaches it into
 * its own state, one at a time, and emits once no more input can arrive;
 * its children name all absorbed inputs as parents. It may implement
 * `Checkpointable` so a resumed run does not absorb again what a checkpoint
 * already holds (docs/design.md §8).
 */
import type { Lineage } from '../identity/lineage.js';
import type { Checkpointable } from './checkpointable.js';
import { paramsFingerprint } from './stage-params.js';

/** What a stage call returns: a child, several, or none (filtered); see {@link failed}. */
export type StageResult<Out = unknown> = Out | readonly Out[] | null | undefined | Failed;

/** Lineage of the task a stage is called on: name sink outputs by `udid`. */
export interface TaskContext {
  readonly stage: string;
  readonly udid: string;
  readonly sourceKey: string;
  readonly lineage: Lineage;
  /** 0 on the first try, then 1, 2... on retries. */
  readonly attempt: number;
}

/** Lineage of a batch: its tasks in the order `inputs` has them. */
export interface BatchContext {
  readonly stage: string;
  readonly tasks: readonly TaskContext[];
  /** The group's key for `groupBy` stages (`""` for one group per source); null for arrival batches. */
  readonly groupKey: string | null;
  /** The source all tasks come from, or null when an arrival batch mixes sources. */
  readonly sourceKey: string | null;
  readonly attempt: number;
}

/** What `finish` of a stateful stage is told. */
export interface FinishContext {
  readonly stage: string;
  /** Inputs the state holds: absorbed in this run plus those restored from a checkpoint. */
  readonly inputs: number;
  /** The source all inputs come from, or null when they mix sources. */
  readonly sourceKey: string | null;
  readonly attempt: number;
}

interface StageBase<Out> {
  /** Stable id: part of every child's lineage path. Renaming a stage renames its outputs. */
  readonly id: string;
  /** Bump when the stage's output changes meaning: completion recorded by an older version is void. */
  readonly version?: string;
  /**
   * The stage's configuration (plain JSON). Its canonical hash joins the
   * pipeline fingerprint: a change voids this stage's work and the later
   * stages', like a version bump, and the plan names the keys that changed.
   */
  readonly params?: unknown;
  /** `false` for a stage whose outputs cannot be attributed to its inputs; runs with a checkpoint then refuse it. */
  readonly resumable?: boolean;
  /** Calls of this stage running at once. Default: the run's `concurrency`. */
  readonly concurrency?: number;
  /** Extra tries after a thrown error or a `failed()` result. Default: the run's `retries` (0). */
  readonly retries?: number;
  /**
   * Milliseconds one call (`process`, `processBatch`, `absorb`, `finish`) may take
   * before that try fails with "timed out after N ms" (retries apply; the late
   * result is ignored). Only a call that returns a promise can time out. Default:
   * the run's `timeoutMs`, else no limit.
   */
  readonly timeoutMs?: number;
  /**
   * A stable key per child (its slot in the lineage path becomes `k<key>`
   * instead of its index), so identity does not depend on output order.
   */
  key?(child: Out, index: number): string | undefined;
  /**
   * The files a call wrote, given what it returned and its context; called
   * only when the call emitted. Recorded with the task it consumed (relative
   * paths made absolute): a plan or run that finds one gone treats the task
   * as not done, code `output-missing` (docs/design.md §6). Anything but an
   * array of strings, or a throw, stops the run with LINEAGE_BAD_OUTPUTS and
   * records nothing of that call.
   */
  outputs?(result: Out | readonly Out[], ctx: TaskContext | BatchContext | FinishContext): readonly string[];
}

export interface MapStage<In = unknown, Out = unknown> extends StageBase<Out> {
  process(input: In, ctx: TaskContext): StageResult<Out> | Promise<StageResult<Out>>;
}

export interface BatchStage<In = unknown, Out = unknown> extends StageBase<Out> {
  processBatch(inputs: In[], ctx: BatchContext): StageResult<Out> | Promise<StageResult<Out>>;
  /** Group a source's tasks by key (`'source'`: one group per source); the reproducible fan-in. */
  readonly groupBy?: 'source' | ((input: In, ctx: TaskContext) => string);
  /** Arrival-order batches of at most this many tasks (not reproducible across reruns). */
  readonly batchSize?: number;
}

/**
 * A stage with state: `absorb` takes in every task that reaches the stage, in
 * arrival order, one at a time (a thrown error or `failed()` fails that input
 * and holds `finish` back; absorb is not retried, so keep it all-or-nothing).
 * `finish` runs once when no more input can arrive and returns the children,
 * whose lineage names every absorbed input as a parent. It is not called when
 * no input reached the stage. `retries` applies to `finish`.
 */
export interface StatefulStage<In = unknown, Out = unknown> extends StageBase<Out>, Partial<Checkpointable> {
  absorb(input: In, ctx: TaskContext): void | Failed | Promise<void | Failed>;
  finish(ctx: FinishContext): StageResult<Out> | Promise<StageResult<Out>>;
  /** Checkpoints kept (newest first, at least 2). Default: the run's `keepCheckpoints` (20). */
  readonly keepCheckpoints?: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Stage<In = any, Out = any> = MapStage<In, Out> | BatchStage<In, Out> | StatefulStage<In, Out>;

const FAILED: unique symbol = Symbol.for('lineage-dag.failed');

/** A stage's deliberate failure: counts like a thrown error (after retries), with `reason` recorded. */
export interface Failed {
  readonly [FAILED]: true;
  readonly reason: string;
}

/** Returns the failure sentinel: `return failed('bad header in ' + ctx.sourceKey)`. */
export function failed(reason: string | Error): Failed {
  return { [FAILED]: true, reason: reason instanceof Error ? reason.message || String(reason) : String(reason) };
}

export function isFailed(value: unknown): value is Failed {
  return typeof value === 'object' && value !== null && (value as { [FAILED]?: unknown })[FAILED] === true;
}

export function isBatchStage(stage: Stage): stage is BatchStage {
  return typeof (stage as BatchStage).processBatch === 'function';
}

export function isStatefulStage(stage: Stage): stage is StatefulStage {
  return typeof (stage as StatefulStage).absorb === 'function';
}

/** One stage as the checkpoint's fingerprint holds it. */
export interface StageFingerprintOf {
  id: string;
  version?: string;
  params?: string;
  paramKeys?: Readonly<Record<string, string>>;
}

/** Ordered stage ids, versions and params hashes: what the checkpoint's fingerprint compares. Throws INVALID_PIPELINE on params JSON cannot keep. */
export function stageFingerprint(stages: readonly Stage[]): StageFingerprintOf[] {
  return stages.map((s) => {
    const fp: StageFingerprintOf = { id: s.id };
    if (s.version !== undefined) fp.version = s.version;
    if (s.params !== undefined) Object.assign(fp, paramsFingerprint(s.id, s.params));
    return fp;
  });
}
